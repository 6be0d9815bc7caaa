"""Evaluation of a simulator sweep's run: the base scenario with the point's values, one seed, its KPIs."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.city import City
from simulator.config import Scenario, apply_overrides
from simulator.experiments.cache import PreparedRun, bundle_key, cached_city, prepared_run
from simulator.experiments.run import simulate_replication
from simulator.experiments.sweep.design import RunTask
from simulator.experiments.sweep.spec import DEFAULT_KPIS, UTILISATION_KPI
from simulator.results import DAILY_COUNT_COLUMNS, SUMMARY_KPIS


def scenario_kpis(
    scenario: Scenario,
    seed: int,
    city: City,
    kpis: Sequence[str] = DEFAULT_KPIS,
    *,
    prepared: PreparedRun | None = None,
) -> dict[str, float]:
    """Simulate one replication of ``scenario`` with ``seed`` and return its KPIs.

    The KPIs are those of :meth:`simulator.results.RunResult.replication_kpis` (totals
    over the horizon for counts, last-day values for shares and means) and
    ``mean_store_utilisation``, the mean over stores with capacity of their utilisation
    on open days (:meth:`simulator.model.FootprintModel.store_utilisation`, the value
    :func:`simulator.results.store_totals` gives from the per-store rows). Only what they
    need is built: the daily table, from which the columns of the KPIs asked for; no
    per-store, zone or cell table. ``prepared`` gives the population, stores and
    exposure already built (:func:`simulator.experiments.cache.prepared_run`).
    """
    outcome = simulate_replication(scenario, seed, city, prepared=prepared, tables={"daily"})
    values = daily_kpis(outcome.daily, outcome.weight, [kpi for kpi in kpis if kpi != UTILISATION_KPI])
    values[UTILISATION_KPI] = outcome.mean_store_utilisation
    return {name: values[name] for name in kpis}


def daily_kpis(daily: pd.DataFrame, weight: float, kpis: Sequence[str]) -> dict[str, float]:
    """The end-of-horizon KPIs ``kpis`` of one replication's daily table, from their columns only.

    The values of :meth:`simulator.results.RunResult.replication_kpis` (totals over the
    horizon for counts, a ``_scaled`` count being the count times ``weight`` each day;
    last-day values for shares and means), computed on the few columns these KPIs need
    rather than on the whole table with every scaled twin. Totals of scaled counts use
    the compensated sum of pandas' grouped sum (:func:`compensated_sum`), so the values
    are the same to the last bit (``tests/test_reuse.py`` and ``tests/test_sweep.py``
    check it against ``footprint run``).
    """
    how = {kpi: rule for kpi, _label, _unit, rule in SUMMARY_KPIS}
    values: dict[str, float] = {}
    for kpi in kpis:
        base = kpi.removesuffix("_scaled")
        scaled = kpi != base and base in DAILY_COUNT_COLUMNS
        column = daily[base if scaled else kpi].to_numpy()
        if scaled:
            column = column * weight
        if how[kpi] != "total":
            values[kpi] = float(column[-1])
        elif column.dtype.kind in "iu":
            values[kpi] = float(column.sum())
        else:
            values[kpi] = compensated_sum(column)
    return values


def compensated_sum(values: np.ndarray) -> float:
    """Kahan's compensated sum in order, as pandas sums a group of floats.

    ``y = x - c; t = s + y; c = (t - s) - y; s = t`` (a NaN compensation, after an
    infinite value, is reset to 0).
    """
    total = compensation = 0.0
    for value in values.tolist():
        y = value - compensation
        t = total + y
        compensation = t - total - y
        if compensation != compensation:
            compensation = 0.0
        total = t
    return total


@dataclass(frozen=True)
class ScenarioEvaluator:
    """Evaluation function of a simulator sweep (picklable, so it runs on any executor).

    Calling it with a :class:`RunTask` applies the task's values to the base scenario at
    every target key path (:func:`simulator.config.apply_overrides`), loads the city
    once per worker process (:func:`simulator.experiments.cache.cached_city`), takes the
    population, stores and exposure from the process's caches
    (:func:`simulator.experiments.cache.prepared_run`: a point that changes only
    behaviour or levers reuses them) and returns :func:`scenario_kpis` for the task's seed.
    """

    base: Scenario
    targets: tuple[tuple[str, tuple[str, ...]], ...]
    kpis: tuple[str, ...]

    def __call__(self, task: RunTask) -> dict[str, float]:
        changes = {path: task.values[key] for key, paths in self.targets for path in paths}
        scenario = apply_overrides(self.base, changes, source_name=f"run {task.run_id}")
        bundle = bundle_key(scenario)
        city = cached_city(bundle)
        prepared = prepared_run(bundle, city, scenario, task.seed)
        return scenario_kpis(scenario, task.seed, city, self.kpis, prepared=prepared)


def evaluator_name(evaluate: Callable) -> str:
    """``<module>.<name>`` of an evaluation function (part of a sweep's fingerprint).

    A function or class that its package exports under the same name is named after the
    package (``simulator.experiments.sweep.ScenarioEvaluator``), so that moving it between
    the package's modules does not change the fingerprint of existing sweep folders.
    """
    target = evaluate.func if isinstance(evaluate, functools.partial) else evaluate
    target = target if isinstance(target, type) or hasattr(target, "__qualname__") else type(target)
    module = getattr(target, "__module__", "?")
    name = getattr(target, "__qualname__", type(target).__name__)
    package = module.rpartition(".")[0]
    if package and getattr(importlib.import_module(package), name, None) is target:
        module = package
    return f"{module}.{name}"

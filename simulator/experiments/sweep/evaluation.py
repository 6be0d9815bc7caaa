"""Evaluation of a simulator sweep's run: the base scenario with the point's values, one seed, its KPIs."""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from simulator.city import City
from simulator.config import Scenario, apply_overrides
from simulator.experiments.cache import bundle_key, cached_city
from simulator.experiments.run import simulate_replication
from simulator.experiments.sweep.design import RunTask
from simulator.experiments.sweep.spec import DEFAULT_KPIS, UTILISATION_KPI
from simulator.results import store_totals


def scenario_kpis(scenario: Scenario, seed: int, city: City, kpis: Sequence[str] = DEFAULT_KPIS) -> dict[str, float]:
    """Simulate one replication of ``scenario`` with ``seed`` and return its KPIs.

    The KPIs are those of :meth:`simulator.results.RunResult.replication_kpis` (totals
    over the horizon for counts, last-day values for shares and means) and
    ``mean_store_utilisation``, the mean over stores with capacity of their utilisation
    on open days (:func:`simulator.results.store_totals`).
    """
    outcome = simulate_replication(scenario, seed, city)
    values = outcome.kpis()
    if UTILISATION_KPI in kpis:
        stores = outcome.stores.assign(replication=0)
        totals = store_totals(stores, outcome.plan) if len(stores) else pd.DataFrame(columns=["capacity"])
        with_capacity = totals[pd.to_numeric(totals["capacity"], errors="coerce") > 0]
        values[UTILISATION_KPI] = float(with_capacity["utilisation"].mean()) if len(with_capacity) else math.nan
    return {name: values[name] for name in kpis}


@dataclass(frozen=True)
class ScenarioEvaluator:
    """Evaluation function of a simulator sweep (picklable, so it runs on any executor).

    Calling it with a :class:`RunTask` applies the task's values to the base scenario at
    every target key path (:func:`simulator.config.apply_overrides`), loads the city
    once per worker process (:func:`simulator.experiments.cache.cached_city`) and returns
    :func:`scenario_kpis` for the task's seed.
    """

    base: Scenario
    targets: tuple[tuple[str, tuple[str, ...]], ...]
    kpis: tuple[str, ...]

    def __call__(self, task: RunTask) -> dict[str, float]:
        changes = {path: task.values[key] for key, paths in self.targets for path in paths}
        scenario = apply_overrides(self.base, changes, source_name=f"run {task.run_id}")
        return scenario_kpis(scenario, task.seed, cached_city(bundle_key(scenario)), self.kpis)


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

"""Running a comparison: every plan, and with ``marginal`` every variant, under common random numbers.

:func:`compare` executes the tasks of :mod:`simulator.experiments.compare.tasks` on any
executor, assembles one :class:`~simulator.results.RunResult` per plan and aggregates the
comparison's tables.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from simulator.city import City, load_city
from simulator.config import FootprintError
from simulator.experiments.cache import bundle_key, city_in_cache
from simulator.experiments.compare.loading import load_comparison
from simulator.experiments.compare.result import ComparisonResult
from simulator.experiments.compare.spec import ComparisonSpec
from simulator.experiments.compare.statistics import CONFIDENCE_LEVEL
from simulator.experiments.compare.tables import aggregate, comparison_metadata
from simulator.experiments.compare.tasks import NO_STORES, PlanTask, build_tasks, run_plan_task
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.options import resolve_consumers
from simulator.experiments.run import ReplicationOutcome, assemble_result
from simulator.model import place_stores
from simulator.results import RunResult

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(runs_done, runs_total)`` after every finished run."""


def compare(
    comparison: ComparisonSpec | Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    consumers: int | str | None = None,
    days: int | None = None,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    marginal: bool = False,
    jobs: int | None = None,
    executor: ExecutorSpec | None = None,
    city: City | None = None,
    progress: ProgressCallback | None = None,
    command: str | None = None,
    confidence: float = CONFIDENCE_LEVEL,
) -> ComparisonResult:
    """Run every plan of a comparison under common random numbers and compare them.

    Parameters
    ----------
    comparison : ComparisonSpec, path or paths
        A spec from :func:`load_comparison`, or what it reads (one comparison file, or
        two or more scenario files).
    consumers, days, seed, replications, overrides
        Overrides applied to every plan (ignored when a spec is given).
    marginal : bool
        Also run each plan without each of its stores, and without any store, with the
        same seeds: the marginal contribution of every store of every plan.
    jobs : int, optional
        Local worker processes (``--jobs``); ``executor`` gives any other executor.
    city : City, optional
        The already loaded city of the plans.
    progress : callable, optional
        ``progress(runs_done, runs_total)``.
    command : str, optional
        Command line recorded in the metadata.
    confidence : float
        Level of the confidence intervals.

    Returns
    -------
    ComparisonResult
        Identical for any number of jobs: every run carries its own seed.
    """
    started = time.perf_counter()
    spec = (
        comparison
        if isinstance(comparison, ComparisonSpec)
        else load_comparison(
            comparison, consumers=consumers, days=days, seed=seed, replications=replications, overrides=overrides
        )
    )
    executor = executor if executor is not None else ExecutorSpec.from_options(jobs=jobs)
    bundle = bundle_key(spec.baseline.scenario)
    if city is None:
        city = load_city(bundle)
    spec = _with_consumers_resolved(spec, city.population_total)
    for plan in spec.plans:
        place_stores(plan.scenario, city, source_name=plan.source)
    seeds = spec.seeds
    tasks = build_tasks(spec, seeds, bundle, marginal)
    prepared = time.perf_counter()
    with city_in_cache(bundle, city):
        outcomes, task_seconds = _run_tasks(spec, tasks, executor, progress)
    simulated = time.perf_counter()
    runs = _assemble_runs(spec, seeds, tasks, outcomes, city, command)
    result = aggregate(spec, runs, tasks, outcomes, city, confidence, marginal)
    finished = time.perf_counter()
    timings = {
        "setup_s": prepared - started,
        "simulate_s": simulated - prepared,
        "aggregate_s": finished - simulated,
        "total_s": finished - started,
        "task_seconds_sum": task_seconds,
    }
    result.metadata = comparison_metadata(spec, runs, city, marginal, executor, timings, command, confidence)
    return result


def _with_consumers_resolved(spec: ComparisonSpec, population_total: float) -> ComparisonSpec:
    """The spec with every plan's ``population.consumers = "all"`` replaced by the city's residents."""
    plans = tuple(
        dataclasses.replace(plan, scenario=resolve_consumers(plan.scenario, population_total)) for plan in spec.plans
    )
    return dataclasses.replace(spec, plans=plans)


def _run_tasks(
    spec: ComparisonSpec, tasks: Sequence[PlanTask], executor: ExecutorSpec, progress: ProgressCallback | None
) -> tuple[dict[int, ReplicationOutcome], float]:
    """Every task's outcome by task position, and the sum of the tasks' durations.

    Raises
    ------
    FootprintError
        A run failed on bad input (the message names the plan and the replication).
    RuntimeError
        A run failed otherwise (the message ends with the traceback).
    """
    outcomes: dict[int, ReplicationOutcome] = {}
    task_seconds = 0.0
    for done, outcome in enumerate(execute(run_plan_task, tasks, executor), start=1):
        if outcome.error is not None:
            raise _task_error(spec, tasks[outcome.index], outcome.error)
        outcomes[outcome.index] = outcome.value
        task_seconds += outcome.seconds
        if progress is not None:
            progress(done, len(tasks))
    return outcomes, task_seconds


def _task_error(spec: ComparisonSpec, task: PlanTask, error: str) -> Exception:
    """The error of a failed run: a domain error in one line, anything else with its traceback."""
    where = f"plan '{spec.plans[task.plan_index].name}'"
    if task.variant:
        where += f" without {'any store' if task.variant == NO_STORES else repr(task.variant)}"
    message = f"{where}, replication {task.replication}: {error}"
    return RuntimeError(message) if "\n" in error else FootprintError(message)


def _assemble_runs(
    spec: ComparisonSpec,
    seeds: Sequence[int],
    tasks: Sequence[PlanTask],
    outcomes: dict[int, ReplicationOutcome],
    city: City,
    command: str | None,
) -> dict[str, RunResult]:
    """One RunResult per plan from its replications (as :func:`simulator.experiments.run.run` builds it).

    Once a plan's result is assembled, its outcomes in ``outcomes`` are replaced by their
    daily tables (all the aggregation needs), so that the per-store, zone and cell tables
    of the runs are held once, in the results, and not twice.
    """
    by_plan: dict[int, dict[int, int]] = {}
    for position, task in enumerate(tasks):
        if task.variant == "":
            by_plan.setdefault(task.plan_index, {})[task.replication] = position
    runs: dict[str, RunResult] = {}
    for index, plan in enumerate(spec.plans):
        positions = [by_plan[index][replication] for replication in range(len(seeds))]
        runs[plan.name] = assemble_result(
            plan.scenario,
            list(seeds),
            [outcomes[position].unpacked() for position in positions],
            city,
            command=command,
            extra={"comparison": spec.name, "plan": plan.name},
        )
        runs[plan.name].metadata["seed"] = spec.seed
        for position in positions:
            outcomes[position] = outcomes[position].daily_only()
    return runs

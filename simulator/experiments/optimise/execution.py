"""Running an optimisation: screening, the journalled simulations on the executors, the search, the tables.

Every plan is simulated as one *superset* scenario: the fixed stores and every
shortlisted candidate, the candidates not in the plan opening only after the horizon.
Sightings of a store that is not open are masked and its destination never chosen, so the
run's tables are those of the plan alone, to the last bit (``tests/test_optimise.py``),
while the exposure rates, which depend only on the stores' positions
(:func:`simulator.experiments.cache.exposure_key`), are built once per replication and
worker process and reused by every plan, as the population is.

Figures, map, ``report.html`` and ``summary.xlsx`` are drawn by
:func:`simulator.reports.optimise_report.write_optimisation_outputs`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulator.config import FootprintError, Scenario, canonical_json, parse_canonical_json, scenario_hash
from simulator.experiments.cache import bundle_key, cached_city, clear_caches, prepared_run
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.optimise import journal
from simulator.experiments.optimise.loading import Optimisation
from simulator.experiments.optimise.search import Plan, SearchProblem, SearchResult, optimise_plan
from simulator.experiments.optimise.spec import OPTIMISE_SCHEMA_VERSION
from simulator.experiments.optimise.surrogate import surrogate_inputs, surrogate_order, surrogate_scores
from simulator.experiments.optimise.tables import OptimisationResult, write_tables
from simulator.experiments.resources import check_memory
from simulator.experiments.sweep.evaluation import scenario_kpis
from simulator.model import build_exposure, place_rivals, place_stores, run_generators, synthesize_population
from simulator.results import check_free_space, folder_lock

ProgressCallback = Callable[[int, int], None]


def superset_scenario(base: Scenario, stores: Sequence[dict[str, Any]], name: str) -> Scenario:
    """The base scenario with ``stores`` after its own (validated)."""
    data = base.model_dump(mode="python")
    data["plan"] = {**data["plan"], "name": name, "stores": [*data["plan"]["stores"], *stores], "stores_file": None}
    scenario = Scenario.model_validate(data)
    scenario._base_dir = base.base_dir
    return scenario


@functools.lru_cache(maxsize=2)
def _parsed(text: str) -> Scenario:
    return parse_canonical_json(text, "optimisation task")


@dataclasses.dataclass(frozen=True)
class PlanTask:
    """One simulation: the shortlisted candidates open (positions), one replication."""

    key: str
    active: tuple[int, ...]
    replication: int
    seed: int


@dataclasses.dataclass(frozen=True)
class PlanEvaluator:
    """Simulate a plan of the superset scenario for one seed; return ``sign * KPI`` (picklable).

    The candidates not in the plan open on the day after the horizon (``open_day = days``),
    so they are never open; population and exposure come from the worker's caches.
    """

    superset_json: str
    bundle: str | Path
    n_fixed: int
    kpi: str
    sign: float

    def scenario(self, active: Sequence[int]) -> Scenario:
        superset = _parsed(self.superset_json)
        days = superset.horizon.days
        chosen = {self.n_fixed + position for position in active}
        stores = tuple(
            store
            if index < self.n_fixed or index in chosen
            else store.model_copy(update={"open_day": days, "close_day": None})
            for index, store in enumerate(superset.plan.stores)
        )
        return superset.model_copy(update={"plan": superset.plan.model_copy(update={"stores": stores})})

    def __call__(self, task: PlanTask) -> float:
        scenario = self.scenario(task.active)
        city = cached_city(self.bundle)
        prepared = prepared_run(self.bundle, city, scenario, task.seed)
        value = scenario_kpis(scenario, task.seed, city, [self.kpi], prepared=prepared)[self.kpi]
        return self.sign * float(value)


def screen(optimisation: Optimisation, problem_for: Callable[..., SearchProblem]) -> tuple[np.ndarray, list[int]]:
    """Surrogate scores of every candidate and the shortlist (candidate indices, greedy order on the surrogate)."""
    base, candidates = optimisation.base, optimisation.candidates
    city = cached_city(bundle_key(base))
    consumers = min(int(optimisation.spec.search.surrogate_consumers), int(base.population.consumers))
    settings = base.population.model_copy(update={"consumers": consumers})
    population_rng, _model_rng, _key = run_generators(optimisation.seeds[0])
    population = synthesize_population(city, settings, population_rng)
    superset = superset_scenario(base, candidates.stores, "all candidates")
    stores, rivals = place_stores(superset, city), place_rivals(superset, city)
    exposure = build_exposure(city, population, stores, superset.behaviour, settings)
    inputs = surrogate_inputs(city, population, stores, rivals, exposure, superset.behaviour)
    n_fixed = len(base.plan.stores)
    columns = [n_fixed + i for i in range(len(candidates))]
    scores = surrogate_scores(inputs, range(n_fixed), columns)
    spec = optimisation.spec
    size = spec.search.shortlist or max(2 * optimisation.store_budget, optimisation.store_budget + 8)
    ranking = problem_for(tuple(range(len(candidates))), ranking=True)
    order = surrogate_order(inputs, range(n_fixed), columns, size, ranking.feasible)
    return scores, order


def search_problem(optimisation: Optimisation, order: Sequence[int], ranking: bool = False) -> SearchProblem:
    """The search over candidate indices ``order``; ``ranking``: the constraints only (no budget)."""
    spec, candidates, base = optimisation.spec, optimisation.candidates, optimisation.base
    city = cached_city(bundle_key(base))
    fixed = place_stores(base, city)
    from simulator.model.plan import zone_of_points

    fixed_zone = zone_of_points(city, fixed.xy) if len(fixed) else np.zeros(0, dtype=int)
    return SearchProblem(
        order=tuple(order),
        xy=candidates.xy,
        zone=np.asarray(candidates.zone),
        cost=candidates.cost,
        fixed_xy=fixed.xy,
        fixed_zone=np.asarray(fixed_zone),
        max_stores=None if ranking else spec.budget.stores,
        max_cost=None if ranking else spec.budget.total_cost,
        min_distance_m=float(spec.constraints.min_distance_m),
        max_per_district=spec.constraints.max_per_district,
        confidence=float(spec.search.confidence),
        swap_alternatives=int(spec.search.swap_alternatives),
        swap_passes=int(spec.search.swap_passes),
    )


class JournalledEvaluation:
    """``evaluate(plans)`` of the search: journal look-ups, then the missing simulations on the executor."""

    def __init__(
        self,
        optimisation: Optimisation,
        folder: Path,
        shortlist: Sequence[int],
        spec: ExecutorSpec,
        progress: ProgressCallback | None,
        expected: int,
    ) -> None:
        self.optimisation, self.folder, self.spec, self.progress = optimisation, folder, spec, progress
        self.shortlist = list(shortlist)
        self.position = {candidate: p for p, candidate in enumerate(self.shortlist)}
        stores = [optimisation.candidates.stores[i] for i in self.shortlist]
        superset = superset_scenario(optimisation.base, stores, "shortlist")
        self.evaluator = PlanEvaluator(
            canonical_json(superset),
            bundle_key(superset),
            len(optimisation.base.plan.stores),
            optimisation.kpi,
            optimisation.sign,
        )
        self.journal = journal.read_journal(folder)
        self.reused = len(self.journal)
        self.executed = 0
        self.run_seconds = 0.0
        self.batches = 0
        self.expected = expected
        self.done = 0

    def key(self, plan: Plan) -> str:
        return journal.plan_key(str(self.optimisation.candidates.ids[i]) for i in plan)

    def __call__(self, plans: Sequence[Plan]) -> list[np.ndarray]:
        seeds = self.optimisation.seeds
        # Replication-major, alternating direction between batches: a worker keeps the
        # populations (and exposures) of the last replications it ran for the next batch.
        replications = list(range(len(seeds)))
        if self.batches % 2:
            replications.reverse()
        self.batches += 1
        tasks, seen = [], set()
        for r in replications:
            for plan in plans:
                key = self.key(plan)
                if (key, r) in self.journal or (key, r) in seen:
                    continue
                seen.add((key, r))
                tasks.append(PlanTask(key, tuple(sorted(self.position[i] for i in plan)), r, seeds[r]))
        self.done += len(plans) * len(seeds) - len(tasks)
        self._report()
        for outcome in execute(self.evaluator, tasks, self.spec):
            task = tasks[outcome.index]
            if outcome.error is not None:
                raise FootprintError(
                    f"a simulation failed (replication {task.replication}): {outcome.error.splitlines()[0]}"
                )
            self.journal[(task.key, task.replication)] = float(outcome.value)
            ids = sorted(str(self.optimisation.candidates.ids[self.shortlist[p]]) for p in task.active)
            journal.write_record(
                self.folder,
                {
                    "plan_key": task.key,
                    "plan": ids,
                    "replication": task.replication,
                    "seed": task.seed,
                    "value": float(outcome.value),
                    "seconds": outcome.seconds,
                },
            )
            self.executed += 1
            self.run_seconds += outcome.seconds
            self.done += 1
            self._report()
        return [np.array([self.journal[(self.key(plan), r)] for r in range(len(seeds))]) for plan in plans]

    def _report(self) -> None:
        self.expected = max(self.expected, self.done)
        if self.progress is not None:
            self.progress(self.done, self.expected)


def _expected_simulations(optimisation: Optimisation, shortlist: int) -> int:
    k = min(optimisation.store_budget, shortlist)
    search = optimisation.spec.search
    plans = 1 + sum(shortlist - step for step in range(k)) + k * search.swap_alternatives * min(search.swap_passes, 1)
    return plans * optimisation.replications


def manifest(optimisation: Optimisation, scores: np.ndarray, shortlist: Sequence[int]) -> dict[str, Any]:
    """``optimise.json``: what determines the simulations, and its fingerprint."""
    candidates = optimisation.candidates
    identity = {
        "spec": optimisation.spec.model_dump(mode="json", exclude={"name", "description", "base"}),
        "base_scenario_hash": scenario_hash(optimisation.base),
        "candidates": [dict(store) for store in candidates.stores],
        "seeds": optimisation.seeds,
        "kpi": optimisation.kpi,
        "shortlist": [str(candidates.ids[i]) for i in shortlist],
    }
    return {
        "schema_version": OPTIMISE_SCHEMA_VERSION,
        "kind": "footprint-optimisation",
        "fingerprint": journal.fingerprint(identity),
        "name": optimisation.name,
        "description": optimisation.spec.description,
        "source": optimisation.source,
        "identity": identity,
        "base_scenario": canonical_json(optimisation.base),
        "surrogate_scores": [float(s) for s in scores],
    }


def run_optimisation(
    optimisation: Optimisation,
    out: str | Path,
    *,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> OptimisationResult:
    """Run (or resume) an optimisation into ``out``: screening, greedy and swaps, tables and plan files.

    Every simulation is journalled in ``runs/`` as it finishes; started again with the
    same arguments (after any interruption, even SIGKILL) it simulates only what is
    missing and reaches the same plan. The folder is locked for the command
    (:func:`simulator.config.atomic.folder_lock`).
    """
    folder = Path(out)
    with folder_lock(folder, what="optimisation folder"):
        started = time.perf_counter()
        check_memory(optimisation.base, spec.workers if spec.kind == "processes" else 1)
        check_free_space(folder, 20_000_000, what="optimisation folder")
        scores, shortlist = screen(optimisation, functools.partial(search_problem, optimisation))
        content = manifest(optimisation, scores, shortlist)
        journal.prepare_folder(folder, content)
        evaluation = JournalledEvaluation(
            optimisation, folder, shortlist, spec, progress, _expected_simulations(optimisation, len(shortlist))
        )
        problem = search_problem(optimisation, shortlist)
        try:
            result: SearchResult = optimise_plan(problem, evaluation)
        finally:
            clear_caches()
        timings = {
            "wall_seconds": time.perf_counter() - started,
            "run_seconds_this_time": evaluation.run_seconds,
            "simulations_executed": evaluation.executed,
            "simulations_reused": evaluation.reused,
        }
        return write_tables(optimisation, folder, content, scores, shortlist, result, spec.describe(), command, timings)

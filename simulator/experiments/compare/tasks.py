"""The runs of a comparison as picklable tasks: a plan (or a variant without some stores) and a seed.

Tasks come replication by replication, so a worker process builds each replication's
population once and every plan sees the same consumers (common random numbers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from simulator.config import (
    Scenario,
    canonical_json,
    parse_canonical_json,
    plain_value,
)
from simulator.experiments.cache import cached_city, prepared_run
from simulator.experiments.compare.spec import ComparisonSpec
from simulator.experiments.run import ReplicationOutcome, simulate_replication


@dataclasses.dataclass(frozen=True)
class PlanTask:
    """One run: a plan (or a variant of it) and one replication."""

    plan_index: int
    variant: str  # "" = the plan; a store id = the plan without that store; NO_STORES = without any store
    replication: int
    seed: int
    scenario_json: str
    bundle: str | Path
    full_tables: bool


NO_STORES = "*no stores*"
"""Variant of a plan without any store (the reference of the plan's total effect)."""


def run_plan_task(task: PlanTask) -> ReplicationOutcome:
    """Run one plan (or variant) for one replication seed; return its tables (a variant: the daily one).

    The replication's population, the plan's stores and their exposure come from the
    process's caches (:func:`simulator.experiments.cache.prepared_run`): every plan of a
    replication shares the population, and plans that differ only in levers or in their
    stores' days and capacities share the exposure too. The per-store and cell tables
    come back compressed (:meth:`ReplicationOutcome.packed_tables`): the comparison holds
    every run's outcome until it assembles the plans.
    """
    scenario = parse_canonical_json(task.scenario_json, "comparison task")
    city = cached_city(task.bundle)
    prepared = prepared_run(task.bundle, city, scenario, task.seed)
    if task.full_tables:
        return simulate_replication(scenario, task.seed, city, prepared=prepared).packed_tables()
    outcome = simulate_replication(scenario, task.seed, city, prepared=prepared, tables={"daily"})
    return outcome.daily_only()


def _variant_scenario(scenario: Scenario, keep: Sequence[int], suffix: str) -> Scenario:
    """The scenario with only the stores at ``keep`` (same everything else)."""
    data = plain_value(scenario.model_dump(mode="python"))
    data["plan"]["stores"] = [data["plan"]["stores"][i] for i in keep]
    data["plan"]["name"] = f"{scenario.plan.name} {suffix}"
    variant = Scenario.model_validate(data)
    variant._base_dir = scenario.base_dir
    return variant


def build_tasks(spec: ComparisonSpec, seeds: Sequence[int], bundle: str | Path, marginal: bool) -> list[PlanTask]:
    """Tasks replication by replication (so a process can reuse the replication's population)."""
    variants: list[tuple[int, str, str]] = []
    for index, plan in enumerate(spec.plans):
        variants.append((index, "", canonical_json(plan.scenario)))
    if marginal:
        for index, plan in enumerate(spec.plans):
            n = plan.n_stores
            if n == 0:
                continue
            for j, store in enumerate(plan.scenario.plan.stores):
                keep = [k for k in range(n) if k != j]
                variants.append(
                    (index, store.id, canonical_json(_variant_scenario(plan.scenario, keep, f"without {store.id}")))
                )
            variants.append((index, NO_STORES, canonical_json(_variant_scenario(plan.scenario, [], "without stores"))))
    return [
        PlanTask(index, variant, replication, seed, text, bundle, full_tables=(variant == ""))
        for replication, seed in enumerate(seeds)
        for index, variant, text in variants
    ]

"""The tables of a comparison from the runs of its plans: KPIs, differences, stores, zones, marginal.

Each table carries ``plan`` and ``plan_slug`` columns; differences to the baseline are
paired by replication (see :mod:`simulator.experiments.compare.statistics`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.city import City
from simulator.config import (
    canonical_json,
    scenario_hash,
)
from simulator.experiments.compare.result import (
    COMPARISON_KIND,
    MARGINAL_KPIS,
    RUNS_DIR,
    ZONE_DIFFERENCE_COLUMNS,
    ComparisonResult,
)
from simulator.experiments.compare.spec import ComparisonSpec, PlanSpec
from simulator.experiments.compare.statistics import (
    difference_table,
    grouped_paired_intervals,
    is_significant,
    label_and_unit,
    paired_interval,
)
from simulator.experiments.compare.tasks import NO_STORES, PlanTask
from simulator.experiments.executors import ExecutorSpec
from simulator.experiments.run import ReplicationOutcome
from simulator.results import (
    SCHEMA_VERSION,
    RunResult,
    merge_warnings,
    package_versions,
    replication_means,
    store_totals,
    to_jsonable,
    transfer_table,
    utc_now_iso,
)
from simulator.results.aggregates import with_scaled_counts
from simulator.results.batch_means import within_run_difference_se
from simulator.results.uncertainty import order_se_columns, replication_se, se_name


def with_plan(frame: pd.DataFrame, plan: PlanSpec) -> pd.DataFrame:
    """A copy of ``frame`` with the ``plan`` and ``plan_slug`` columns first."""
    frame = frame.copy()
    frame.insert(0, "plan_slug", plan.slug)
    frame.insert(0, "plan", plan.name)
    return frame


def aggregate(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    tasks: Sequence[PlanTask],
    outcomes: Mapping[int, ReplicationOutcome],
    city: City,
    confidence: float,
    marginal: bool,
) -> ComparisonResult:
    """The comparison's tables from the runs of its plans (and of their variants with ``marginal``).

    The metadata is left empty: :func:`comparison_metadata` adds it once the timings are known.
    """
    baseline = spec.baseline
    kpis = {plan.name: runs[plan.name].replication_kpis() for plan in spec.plans}
    seeds = spec.seeds
    run_kpis = pd.concat(
        [
            with_plan(kpis[plan.name].reset_index().assign(seed=lambda f: [seeds[r] for r in f["replication"]]), plan)
            for plan in spec.plans
        ],
        ignore_index=True,
    )
    ordered = ["plan", "plan_slug", "replication", "seed"]
    run_kpis = run_kpis[ordered + [c for c in run_kpis.columns if c not in ordered]]
    plans = pd.concat(
        [
            with_plan(runs[plan.name].summary(confidence), plan).assign(
                is_baseline=plan is baseline, n_stores=plan.n_stores
            )
            for plan in spec.plans
        ],
        ignore_index=True,
    )
    labels = plans.drop_duplicates("kpi").set_index("kpi")[["label", "unit"]]
    differences = difference_table(spec, kpis, labels, confidence, _within_run(spec, runs, kpis))
    daily = pd.concat([with_plan(runs[plan.name].daily, plan) for plan in spec.plans], ignore_index=True)
    stores = _stores_table(spec, runs)
    zones = _zones_table(spec, runs, city, confidence)
    marginal_table = marginal_runs = None
    if marginal:
        marginal_table, marginal_runs = _marginal_tables(spec, runs, kpis, tasks, outcomes, labels, confidence)
    return ComparisonResult(
        spec=spec,
        runs=dict(runs),
        run_kpis=run_kpis,
        plans=plans,
        differences=differences,
        stores=stores,
        daily=daily,
        zones=zones,
        marginal=marginal_table,
        marginal_runs=marginal_runs,
        metadata={},
        city=city,
        transfers=_transfers_table(spec, runs),
    )


def _transfers_table(spec: ComparisonSpec, runs: Mapping[str, RunResult]) -> pd.DataFrame:
    """Per non-baseline plan: bookings moved between the baseline's and the plan's destinations (:func:`transfer_table`)."""
    base = runs[spec.baseline.name]
    frames = [
        with_plan(
            transfer_table(
                base.bookings,
                runs[plan.name].bookings,
                n_replications=len(spec.seeds),
                weight=runs[plan.name].consumer_weight,
            ),
            plan,
        )
        for plan in spec.plans
        if plan is not spec.baseline
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _within_run(
    spec: ComparisonSpec, runs: Mapping[str, RunResult], kpis: Mapping[str, pd.DataFrame]
) -> dict[str, dict[str, tuple[float, str, int]]] | None:
    """With one replication, each plan's within-run SE of its differences to the baseline (else None)."""
    baseline = runs[spec.baseline.name]
    if baseline.n_replications != 1:
        return None
    columns = list(kpis[spec.baseline.name].columns)
    return {
        plan.name: within_run_difference_se(runs[plan.name], baseline, columns)
        for plan in spec.plans[1:]
        if runs[plan.name].n_replications == 1
    }


def _stores_table(spec: ComparisonSpec, runs: Mapping[str, RunResult]) -> pd.DataFrame:
    """Per plan and store: totals (mean over replications) and utilisation with their ``_se``, queue, change vs baseline.

    ``queue_mean_se`` is the spread over replications only (NaN with one); ``queue_max`` has none.
    """
    frames = []
    for plan in spec.plans:
        run = runs[plan.name]
        weight = run.consumer_weight
        totals = store_totals(run.stores, run.plan)
        stores = run.stores
        if len(stores):
            open_rows = stores[stores["is_open"].astype(bool)] if "is_open" in stores else stores
            queue = open_rows.groupby("store_id", sort=False)["queue_length"].agg(queue_mean="mean", queue_max="max")
            # the queue is a state carried from day to day: no within-run SE, only the spread over replications
            by_replication = open_rows.groupby(["store_id", "replication"], sort=False)["queue_length"].mean()
            queue["queue_mean_se"] = by_replication.groupby(level="store_id", sort=False).agg(replication_se)
            queue.index = queue.index.astype(str)
            totals = totals.merge(queue, left_on="store_id", right_index=True, how="left")
        else:
            totals = totals.assign(queue_mean=np.nan, queue_mean_se=np.nan, queue_max=np.nan)
        for column in (
            "sightings",
            "bookings_requested",
            "test_drives",
            "bookings_lost",
            "purchases",
            "queue_mean",
            "queue_max",
        ):
            if column in totals.columns:
                totals[f"{column}_scaled"] = totals[column].astype(float) * weight
            if se_name(column) in totals.columns:
                totals[se_name(f"{column}_scaled")] = totals[se_name(column)].astype(float) * weight
        frames.append(with_plan(order_se_columns(totals), plan))
    table = pd.concat(frames, ignore_index=True)
    base = table[table["plan"] == spec.baseline.name].set_index("store_id")["bookings_requested_scaled"]
    table["bookings_requested_scaled_baseline"] = table["store_id"].map(base)
    table["in_baseline"] = table["store_id"].isin(base.index)
    return table


def _zones_table(spec: ComparisonSpec, runs: Mapping[str, RunResult], city: City, confidence: float) -> pd.DataFrame:
    """Per plan and zone: replication means and paired differences to the baseline."""

    def per_replication(run: RunResult) -> pd.DataFrame:
        zones = run.zones.copy()
        zones["zone_id"] = zones["zone_id"].astype(str)
        zones["bookings_requested_scaled"] = zones["bookings_requested"].astype(float) * run.consumer_weight
        if "bookings_requested_se" in zones.columns:
            zones["bookings_requested_scaled_se"] = zones["bookings_requested_se"].astype(float) * run.consumer_weight
        return zones

    baseline = per_replication(runs[spec.baseline.name])
    names = pd.DataFrame(
        {
            "zone_id": np.asarray(city.zone_ids).astype(str),
            "zone_name": city.zone_names,
            "zone_name_en": city.zone_names_en,
        }
    )
    frames = []
    for plan in spec.plans:
        zones = per_replication(runs[plan.name])
        means = replication_means(zones, "zone_id")
        paired = zones.merge(baseline, on=["replication", "zone_id"], suffixes=("", "_base"))
        for column in ZONE_DIFFERENCE_COLUMNS:
            paired[f"{column}_difference"] = paired[column].astype(float) - paired[f"{column}_base"].astype(float)
            stats_frame = grouped_paired_intervals(paired, ["zone_id"], f"{column}_difference", confidence)
            means = means.merge(
                stats_frame.rename(
                    columns={
                        "mean": f"{column}_difference",
                        "ci_low": f"{column}_difference_ci_low",
                        "ci_high": f"{column}_difference_ci_high",
                    }
                ),
                left_on="zone_id",
                right_index=True,
                how="left",
            )
        means = with_scaled_counts(names.merge(means, on="zone_id", how="right"), runs[plan.name].consumer_weight)
        frames.append(with_plan(means, plan))
    return pd.concat(frames, ignore_index=True)


def _marginal_tables(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    kpis: Mapping[str, pd.DataFrame],
    tasks: Sequence[PlanTask],
    outcomes: Mapping[int, ReplicationOutcome],
    labels: pd.DataFrame,
    confidence: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Marginal contribution of each store: KPI(plan) - KPI(plan without the store), paired.

    Returns the contributions (one row per plan, store and KPI) and the KPIs of the
    variants' runs (one row per plan, variant and replication).
    """
    marginal_runs = _variant_runs(spec, tasks, outcomes)
    rows = []
    for plan in spec.plans:
        if plan.n_stores == 0:
            continue
        full = kpis[plan.name]
        mine = marginal_runs[marginal_runs["plan"] == plan.name]
        none = mine[mine["variant"] == "no_stores"].set_index("replication").sort_index()
        frame = runs[plan.name].plan.set_index("store_id")
        for store in plan.scenario.plan.stores:
            without = mine[mine["removed"] == store.id].set_index("replication").sort_index()
            for kpi in MARGINAL_KPIS:
                if kpi not in full.columns:
                    continue
                plan_values = full.loc[without.index, kpi].to_numpy(dtype=float)
                paired = paired_interval(plan_values - without[kpi].to_numpy(dtype=float), confidence)
                effect = float(
                    np.mean(full.loc[none.index, kpi].to_numpy(dtype=float) - none[kpi].to_numpy(dtype=float))
                )
                rows.append(
                    {
                        "plan": plan.name,
                        "plan_slug": plan.slug,
                        "store_id": store.id,
                        "store_name": store.name,
                        "format": store.format,
                        "zone_id": str(frame.loc[store.id, "zone_id"]) if store.id in frame.index else "",
                        "kpi": kpi,
                        **label_and_unit(labels, kpi),
                        **_contribution(paired),
                        "plan_value": float(plan_values.mean()),
                        "plan_effect": effect,
                        "share_of_plan_effect": paired["mean"] / effect if effect != 0 else math.nan,
                    }
                )
    return pd.DataFrame(rows), marginal_runs


def _variant_runs(
    spec: ComparisonSpec, tasks: Sequence[PlanTask], outcomes: Mapping[int, ReplicationOutcome]
) -> pd.DataFrame:
    """KPIs of every run of a variant (a plan without one store, or without any)."""
    rows = []
    for position, task in enumerate(tasks):
        if task.variant == "":
            continue
        plan = spec.plans[task.plan_index]
        rows.append(
            {
                "plan": plan.name,
                "plan_slug": plan.slug,
                "removed": "all stores" if task.variant == NO_STORES else task.variant,
                "variant": "no_stores" if task.variant == NO_STORES else "without_store",
                "replication": task.replication,
                "seed": task.seed,
                **outcomes[position].kpis(),
            }
        )
    return pd.DataFrame(rows)


def _contribution(paired: Mapping[str, float]) -> dict[str, Any]:
    """The columns of a marginal contribution from its :func:`paired_interval`."""
    return {
        "contribution": paired["mean"],
        "std": paired["std"],
        "se": paired["se"],
        "ci_low": paired["ci_low"],
        "ci_high": paired["ci_high"],
        "n_replications": paired["n"],
        "significant": is_significant(paired),
    }


def comparison_metadata(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    city: City,
    marginal: bool,
    executor: ExecutorSpec,
    timings: Mapping[str, float],
    command: str | None,
    confidence: float,
) -> dict[str, Any]:
    """``metadata.json`` of a comparison: plans with their scenarios and hashes, seeds, executor, timings."""
    baseline = spec.baseline.scenario
    weight = runs[spec.baseline.name].consumer_weight
    return to_jsonable(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": COMPARISON_KIND,
            "name": spec.name,
            "description": spec.description,
            "mode": spec.mode,
            "sources": list(spec.sources),
            "comparison_hash": spec.comparison_hash(),
            "baseline": spec.baseline.name,
            "plans": [
                {
                    "name": plan.name,
                    "slug": plan.slug,
                    "source": plan.source,
                    "stores": plan.n_stores,
                    "scenario_hash": scenario_hash(plan.scenario),
                    "scenario": json.loads(canonical_json(plan.scenario)),
                    "run_folder": f"{RUNS_DIR}/{plan.slug}",
                }
                for plan in spec.plans
            ],
            "seed": spec.seed,
            "replications": spec.replications,
            "replication_seeds": spec.seeds,
            "common_random_numbers": True,
            "confidence_level": confidence,
            "marginal": marginal,
            "executor": executor.describe(),
            "consumers": baseline.population.consumers,
            "consumer_weight": weight,
            "population_total": float(city.population_total),
            "city": city.name,
            "horizon_days": baseline.horizon.days,
            "start_date": baseline.horizon.start_date,
            "package_versions": package_versions(),
            "timings": dict(timings),
            "warnings": merge_warnings({name: run.metadata.get("warnings") or [] for name, run in runs.items()}),
            "created_utc": utc_now_iso(),
            "command": command,
        }
    )

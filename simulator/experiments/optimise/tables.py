"""The optimisation folder's tables and plan files: candidates, curve, moves, base and best plan, metadata.

==========================  ================================================================
file                        holds
==========================  ================================================================
``candidates.parquet``      every candidate, ranked: surrogate score and rank, shortlisted,
                            chosen, simulated marginal gain over the base plan and when added,
                            each with its paired interval
``curve.parquet``           the objective against the number of new stores along the search
                            (base, each addition, each accepted swap), with intervals
``moves.parquet``           every simulated move (addition or swap) and its paired gain
``best_plan.toml``          the best plan as a scenario file (``footprint run``, ``compare``)
``base_plan.toml``          the base plan (fixed stores only) with the same settings
``metadata.json``           objective, budget, result, stop reason, executor, timings
==========================  ================================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.experiments.compare.statistics import paired_interval
from simulator.experiments.optimise.loading import Optimisation
from simulator.experiments.optimise.plan_file import plan_scenario_data, write_plan_scenario
from simulator.experiments.optimise.search import SearchResult
from simulator.experiments.optimise.spec import OPTIMISE_SCHEMA_VERSION
from simulator.results import package_versions, utc_now_iso, write_json, write_parquet

CANDIDATES_FILE = "candidates.parquet"
CURVE_FILE = "curve.parquet"
MOVES_FILE = "moves.parquet"
BEST_PLAN_FILE = "best_plan.toml"
BASE_PLAN_FILE = "base_plan.toml"
METADATA_FILE = "metadata.json"


@dataclasses.dataclass
class OptimisationResult:
    """What an optimisation produced (its folder's tables, metadata and plan files)."""

    folder: Path
    candidates: pd.DataFrame
    curve: pd.DataFrame
    moves: pd.DataFrame
    metadata: dict[str, Any]
    manifest: dict[str, Any]
    chosen: tuple[str, ...]
    best_plan: Path
    base_plan: Path


def mean_interval(values: np.ndarray, confidence: float) -> dict[str, float]:
    """Mean of per-replication values with its Student-t interval (the paired formula against 0)."""
    return paired_interval(np.asarray(values, dtype=np.float64), confidence)


def _candidate_table(
    optimisation: Optimisation, scores: np.ndarray, shortlist: Sequence[int], result: SearchResult
) -> pd.DataFrame:
    candidates = optimisation.candidates
    from simulator.experiments.cache import bundle_key, cached_city
    from simulator.model.plan import lonlat_of

    city = cached_city(bundle_key(optimisation.base))
    lonlat = lonlat_of(city, candidates.xy)
    surrogate_rank = np.empty(len(scores), dtype=np.int64)
    surrogate_rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    frame = pd.DataFrame(
        {
            "candidate_id": candidates.ids.astype(str),
            "name": candidates.names.astype(str),
            "format": candidates.formats.astype(str),
            "zone_id": city.zone_ids[candidates.zone].astype(str),
            "district": city.zone_names_en[candidates.zone].astype(str),
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "cost": candidates.cost,
            "surrogate_score": np.asarray(scores, dtype=np.float64),
            "surrogate_rank": surrogate_rank,
            "shortlist_rank": -1,
            "chosen": False,
            "step_added": -1,
        }
    )
    for rank, index in enumerate(shortlist, start=1):
        frame.loc[index, "shortlist_rank"] = rank
    for column in (
        "gain_vs_base",
        "gain_vs_base_low",
        "gain_vs_base_high",
        "gain_when_added",
        "gain_when_added_low",
        "gain_when_added_high",
    ):
        frame[column] = math.nan
    for move in result.moves:
        if move["kind"] == "add" and move["step"] == 1:
            frame.loc[move["candidate"], ["gain_vs_base", "gain_vs_base_low", "gain_vs_base_high"]] = [
                move["gain"],
                move["gain_low"],
                move["gain_high"],
            ]
    steps_by_candidate = {}
    for number, step in enumerate(result.steps, start=1):
        steps_by_candidate[step["added"]] = (number, step)
    for index in result.plan:
        number, step = steps_by_candidate[index]
        frame.loc[index, ["chosen", "step_added"]] = [True, number]
        frame.loc[index, ["gain_when_added", "gain_when_added_low", "gain_when_added_high"]] = [
            step["gain"],
            step["gain_low"],
            step["gain_high"],
        ]
    frame["shortlisted"] = frame["shortlist_rank"] > 0
    order_key = np.where(frame["chosen"], frame["step_added"], 10**9)
    frame = frame.assign(_order=order_key, _gain=frame["gain_vs_base"].fillna(-math.inf))
    frame = frame.sort_values(["_order", "_gain", "surrogate_rank"], ascending=[True, False, True], kind="stable")
    frame = frame.drop(columns=["_order", "_gain"]).reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def _curve(optimisation: Optimisation, result: SearchResult) -> pd.DataFrame:
    confidence = float(optimisation.spec.search.confidence)
    ids = optimisation.candidates.ids
    rows: list[dict[str, Any]] = []
    path: list[tuple[str, tuple[int, ...], int | None, int | None, np.ndarray, Mapping[str, Any] | None]] = [
        ("base", (), None, None, result.base_values, None)
    ]
    path += [(s["kind"], s["plan"], s["added"], s["removed"], s["values"], s) for s in result.steps]
    for kind, plan, added, removed, values, step in path:
        level = mean_interval(values, confidence)
        over_base = paired_interval(values - result.base_values, confidence)
        rows.append(
            {
                "step": len(rows),
                "kind": kind,
                "new_stores": len(plan),
                "added": "" if added is None else str(ids[added]),
                "removed": "" if removed is None else str(ids[removed]),
                "plan": " ".join(str(ids[i]) for i in plan),
                "objective": level["mean"],
                "objective_low": level["ci_low"],
                "objective_high": level["ci_high"],
                "gain": math.nan if step is None else step["gain"],
                "gain_low": math.nan if step is None else step["gain_low"],
                "gain_high": math.nan if step is None else step["gain_high"],
                "gain_over_base": over_base["mean"],
                "gain_over_base_low": over_base["ci_low"],
                "gain_over_base_high": over_base["ci_high"],
            }
        )
    return pd.DataFrame(rows)


def _moves(optimisation: Optimisation, result: SearchResult) -> pd.DataFrame:
    ids = optimisation.candidates.ids
    frame = pd.DataFrame(
        result.moves, columns=["kind", "step", "candidate", "removed", "gain", "gain_low", "gain_high"]
    )
    frame["candidate"] = [str(ids[i]) for i in frame["candidate"]]
    frame["removed"] = [
        "" if (i is None or (isinstance(i, float) and math.isnan(i))) else str(ids[int(i)]) for i in frame["removed"]
    ]
    frame["significant"] = frame["gain_low"] > 0
    return frame


def _plan_files(optimisation: Optimisation, folder: Path, result: SearchResult) -> tuple[Path, Path]:
    base = optimisation.base
    fixed = [store.model_dump() for store in base.plan.stores]
    chosen = [optimisation.candidates.stores[i] for i in result.plan]
    name = optimisation.name
    header = (
        f"The best plan found by footprint optimise ({name}): the base scenario's {len(fixed)} stores\n"
        f"and {len(chosen)} new ones ({', '.join(str(s['id']) for s in chosen) or 'none'}).\n"
        f"footprint run {folder.name}/{BEST_PLAN_FILE}\n"
        f"footprint compare {folder.name}/{BASE_PLAN_FILE} {folder.name}/{BEST_PLAN_FILE} --replications 8"
    )
    best = plan_scenario_data(base, fixed + chosen, f"{name}-best", optimisation.seed, optimisation.replications)
    base_data = plan_scenario_data(base, fixed, f"{name}-base", optimisation.seed, optimisation.replications)
    best_path = write_plan_scenario(folder / BEST_PLAN_FILE, best, header)
    base_path = write_plan_scenario(
        folder / BASE_PLAN_FILE,
        base_data,
        f"The base plan of {name}: the base scenario's stores only, the same settings.",
    )
    return best_path, base_path


def write_tables(
    optimisation: Optimisation,
    folder: Path,
    manifest: dict[str, Any],
    scores: np.ndarray,
    shortlist: Sequence[int],
    result: SearchResult,
    executor: str,
    command: str | None,
    timings: dict[str, Any],
) -> OptimisationResult:
    """Write the folder's tables, plan files and ``metadata.json``; return them."""
    candidates = _candidate_table(optimisation, scores, shortlist, result)
    curve = _curve(optimisation, result)
    moves = _moves(optimisation, result)
    write_parquet(candidates, folder / CANDIDATES_FILE)
    write_parquet(curve, folder / CURVE_FILE)
    write_parquet(moves, folder / MOVES_FILE)
    best_path, base_path = _plan_files(optimisation, folder, result)
    confidence = float(optimisation.spec.search.confidence)
    chosen = tuple(str(optimisation.candidates.ids[i]) for i in result.plan)
    gain = paired_interval(result.values - result.base_values, confidence)
    spec = optimisation.spec
    metadata = {
        "schema_version": OPTIMISE_SCHEMA_VERSION,
        "name": optimisation.name,
        "description": spec.description,
        "fingerprint": manifest["fingerprint"],
        "objective": spec.objective.kpi,
        "objective_label": optimisation.objective_label,
        "kpi": optimisation.kpi,
        "sign": optimisation.sign,
        "budget": spec.budget.model_dump(mode="json"),
        "constraints": spec.constraints.model_dump(mode="json"),
        "search": spec.search.model_dump(mode="json"),
        "candidates": len(optimisation.candidates),
        "shortlist": [str(optimisation.candidates.ids[i]) for i in shortlist],
        "fixed_stores": [store.id for store in optimisation.base.plan.stores],
        "chosen": list(chosen),
        "stop_reason": result.stop_reason,
        "base_objective": mean_interval(result.base_values, confidence),
        "best_objective": mean_interval(result.values, confidence),
        "gain_over_base": gain,
        "total_cost": float(sum(optimisation.candidates.cost[i] for i in result.plan)),
        "consumers": int(optimisation.base.population.consumers),
        "days": int(optimisation.base.horizon.days),
        "replications": optimisation.replications,
        "root_seed": optimisation.seed,
        "seeds": optimisation.seeds,
        "executor": executor,
        "command": command,
        "created_utc": utc_now_iso(),
        "package_versions": package_versions(),
        "timings": timings,
    }
    write_json(metadata, folder / METADATA_FILE)
    return OptimisationResult(folder, candidates, curve, moves, metadata, manifest, chosen, best_path, base_path)

"""Reading a comparison folder back into a :class:`ComparisonResult` (for drawing its report again).

The folder's ``metadata.json`` holds every plan's canonical scenario, its Parquet tables
the comparison's results and ``runs/<plan-slug>/`` each plan's run folder
(:func:`simulator.results.read_run`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.city import City
from simulator.config import ResultsError, parse_canonical_json
from simulator.experiments.compare.result import (
    COMPARISON_KIND,
    MARGINAL_FILES,
    METADATA_FILE,
    RUNS_DIR,
    TABLE_FILES,
    ComparisonResult,
)
from simulator.experiments.compare.spec import ComparisonSpec, PlanSpec
from simulator.results import read_run

__all__ = ["read_comparison", "read_folder_metadata"]


def read_folder_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``metadata.json`` of a results folder as a dict.

    Raises
    ------
    ResultsError
        The folder or its ``metadata.json`` is missing or is not a JSON object.
    """
    path = Path(folder) / METADATA_FILE
    if not Path(folder).is_dir():
        raise ResultsError(f"{folder}: folder not found")
    if not path.is_file():
        raise ResultsError(f"{path}: missing (not a run, comparison or sweep folder?)")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None
    if not isinstance(metadata, dict):
        raise ResultsError(f"{path}: expected a JSON object at the top level")
    return metadata


def _table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ResultsError(f"{path}: missing")
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types
        raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None


def read_comparison(folder: str | os.PathLike[str], city: City) -> ComparisonResult:
    """Read a comparison folder written by :func:`simulator.reports.compare_report.write_comparison`.

    Parameters
    ----------
    folder : path-like
        The comparison folder.
    city : City
        The comparison's city (maps and zone names).

    Raises
    ------
    ResultsError
        A file is missing or unreadable, or the folder is not a comparison's.
    """
    target = Path(folder)
    metadata = read_folder_metadata(target)
    if metadata.get("kind") != COMPARISON_KIND:
        raise ResultsError(
            f"{target / METADATA_FILE}: kind: expected '{COMPARISON_KIND}', got {metadata.get('kind')!r}"
        )
    plans = []
    for index, entry in enumerate(metadata.get("plans") or []):
        where = f"{target / METADATA_FILE}: plans[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("scenario"), dict):
            raise ResultsError(f"{where}: expected a plan with its scenario")
        scenario = parse_canonical_json(json.dumps(entry["scenario"]), where)
        plans.append(PlanSpec(str(entry["name"]), str(entry["slug"]), scenario, str(entry.get("source", ""))))
    if len(plans) < 2:
        raise ResultsError(f"{target / METADATA_FILE}: plans: expected two or more")
    spec = ComparisonSpec(
        name=str(metadata.get("name") or target.name),
        description=str(metadata.get("description") or ""),
        plans=tuple(plans),
        seed=int(metadata["seed"]),
        replications=int(metadata["replications"]),
        sources=tuple(str(s) for s in metadata.get("sources") or []),
        mode=str(metadata.get("mode") or "comparison_file"),
    )
    tables = {name: _table(target / f"{name}.parquet") for name in TABLE_FILES}
    marginal = {name: _table(target / f"{name}.parquet") for name in MARGINAL_FILES if metadata.get("marginal")}
    return ComparisonResult(
        spec=spec,
        runs={plan.name: read_run(target / RUNS_DIR / plan.slug) for plan in plans},
        run_kpis=tables["runs"],
        plans=tables["plans"],
        differences=tables["differences"],
        stores=tables["stores"],
        daily=tables["daily"],
        zones=tables["zones"],
        marginal=marginal.get("marginal"),
        marginal_runs=marginal.get("marginal_runs"),
        metadata=metadata,
        city=city,
    )

"""The sweep folder: ``sweep.json`` (what determines the runs), one file per run, the summary.

Resume: a folder holding the same sweep (same fingerprint) keeps its finished runs; a
folder holding another sweep is refused, so results are never mixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import (
    ResultsError,
    canonical_json,
    kind_of,
    scenario_hash,
    show_value,
)
from simulator.experiments.sweep.design import Design, RunTask
from simulator.experiments.sweep.parsing import Sweep
from simulator.experiments.sweep.spec import RUNS_DIR, SUMMARY_FILE, SWEEP_FILE, SWEEP_SCHEMA_VERSION
from simulator.model import replication_seeds
from simulator.results import to_jsonable, write_json


def _canonical(obj: Any) -> str:
    """Canonical JSON of ``obj`` (sorted keys, no spaces): what the fingerprint hashes."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def build_manifest(sweep: Sweep, design: Design, tasks: Sequence[RunTask], evaluator: str) -> dict[str, Any]:
    """The content of ``sweep.json``: everything that determines the runs, and its fingerprint.

    ``fingerprint`` is the SHA-256 of the canonical JSON of the ``identity`` part:
    the sweep file's settings (without name and description), the base scenario's hash,
    the evaluator, the root seed, the replication seeds and the design points.
    """
    spec = sweep.spec.model_dump(mode="json", exclude={"name", "description", "scenario"})
    identity = {
        "sweep": spec,
        "base_scenario_hash": scenario_hash(sweep.base) if sweep.base is not None else None,
        "evaluator": evaluator,
        "root_seed": sweep.root_seed,
        "replication_seeds": replication_seeds(sweep.root_seed, sweep.replications),
        "parameters": [{"key": p.key, "targets": list(p.targets), "kind": p.kind} for p in sweep.parameters],
        "points": design.points.to_dict("split")["data"],
    }
    fingerprint = hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "footprint-sweep",
        "fingerprint": fingerprint,
        "name": sweep.name,
        "description": sweep.spec.description,
        "source": sweep.source_name,
        "scenario_file": sweep.spec.scenario,
        "identity": identity,
        "base_scenario": json.loads(canonical_json(sweep.base)) if sweep.base is not None else None,
        "design": {"kind": design.kind, "points": design.size, "unit": design.unit},
        "parameters": [
            {
                "key": p.key,
                "label": p.label,
                "targets": list(p.targets),
                "kind": p.kind,
                "values": list(p.values) if p.values is not None else None,
                "distribution": p.distribution,
                "low": p.low,
                "high": p.high,
                "mean": p.mean,
                "sd": p.sd,
            }
            for p in sweep.parameters
        ],
        "runs": [task.run_id for task in tasks],
    }


_IDENTITY_PARTS = {
    "sweep": "sweep settings (design, parameters, replications, KPIs, overrides or analysis)",
    "base_scenario_hash": "base scenario (the scenario file, --consumers, --days or --set)",
    "evaluator": "evaluation function",
    "root_seed": "root seed (--seed or seed)",
    "replication_seeds": "replication seeds",
    "parameters": "parameters",
    "points": "design points",
}


def prepare_folder(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Create the sweep folder and write ``sweep.json``, or check that it holds this sweep.

    Raises
    ------
    ResultsError
        The folder holds another sweep (different sweep file or overrides), or is not a
        sweep folder.
    """
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    sweep_path = folder / SWEEP_FILE
    if sweep_path.is_file():
        try:
            existing = json.loads(sweep_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ResultsError(f"{sweep_path}: cannot be read: {error}".splitlines()[0]) from None
        if existing.get("fingerprint") != manifest["fingerprint"]:
            old = existing.get("identity") or {}
            differing = [
                text
                for part, text in _IDENTITY_PARTS.items()
                if _canonical(old.get(part)) != _canonical(manifest["identity"].get(part))
            ] or ["the sweep definition"]
            raise ResultsError(
                f"{folder}: holds a different sweep (it differs in: {'; '.join(differing)}); "
                "results are never mixed: use another --out or remove the folder"
            )
    elif folder.is_dir() and any(p.name != RUNS_DIR for p in folder.iterdir()):
        raise ResultsError(f"{folder}: exists and is not a sweep folder (no {SWEEP_FILE}); use another --out")
    (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not sweep_path.is_file():
        write_json(manifest, sweep_path)


def _run_path(runs: Path, rid: str) -> Path:
    return runs / f"{rid}.json"


def _error_path(runs: Path, rid: str) -> Path:
    return runs / f"{rid}.error.json"


def clean_temporaries(runs: Path) -> None:
    """Remove temporary files left by a killed sweep (``.<name>.<random>.tmp``)."""
    for leftover in runs.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def finished_runs(runs: Path) -> set[str]:
    return {p.name[: -len(".json")] for p in runs.glob("*.json") if not p.name.endswith(".error.json")}


def write_run_record(runs: Path, task: RunTask, kpis: Mapping[str, float], seconds: float) -> None:
    record = {
        "run_id": task.run_id,
        "point": task.point,
        "replication": task.replication,
        "seed": task.seed,
        "parameters": dict(task.values),
        "kpis": dict(kpis),
        "seconds": seconds,
    }
    write_json(record, _run_path(runs, task.run_id))
    with contextlib.suppress(FileNotFoundError):
        _error_path(runs, task.run_id).unlink()


def write_failure_record(runs: Path, task: RunTask, error: str, seconds: float) -> None:
    record = {
        "run_id": task.run_id,
        "point": task.point,
        "replication": task.replication,
        "seed": task.seed,
        "parameters": dict(task.values),
        "error": error,
        "seconds": seconds,
    }
    write_json(record, _error_path(runs, task.run_id))


def checked_kpis(value: Any, kpis: Sequence[str]) -> dict[str, float]:
    """The evaluation's KPIs as floats; raises TypeError or ValueError for a bad or missing KPI."""
    if not isinstance(value, Mapping):
        raise TypeError(f"the evaluation returned {kind_of(value)}, expected a table of KPIs")
    missing = [k for k in kpis if k not in value]
    if missing:
        raise ValueError(f"the evaluation returned no value for KPI(s) {', '.join(missing)}")
    checked = {}
    for name in kpis:
        item = value[name]
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise TypeError(f"KPI {name}: expected a number, got {kind_of(item)} ({show_value(item)})")
        checked[name] = float(item)
    return checked


def assemble_summary(sweep: Sweep, tasks: Sequence[RunTask], runs: Path) -> pd.DataFrame:
    """One row per run in run order, read from the run files."""
    rows = []
    for task in tasks:
        row: dict[str, Any] = {
            "point": task.point,
            "replication": task.replication,
            "run_id": task.run_id,
            "seed": task.seed,
        }
        row.update(task.values)
        ok_path = _run_path(runs, task.run_id)
        error_path = _error_path(runs, task.run_id)
        kpis: Mapping[str, Any] = {}
        if ok_path.is_file():
            record = _read_record(ok_path)
            kpis, status, error = record.get("kpis") or {}, "ok", None
        elif error_path.is_file():
            record = _read_record(error_path)
            status, error = "failed", str(record.get("error", "")).splitlines()[0] if record.get("error") else "failed"
        else:
            status, error = "missing", "no result was written"
        for name in sweep.kpis:
            value = kpis.get(name)
            row[name] = float(value) if value is not None else math.nan
        row["status"] = status
        row["error"] = error
        rows.append(row)
    columns = [
        "point",
        "replication",
        "run_id",
        "seed",
        *(p.key for p in sweep.parameters),
        *sweep.kpis,
        "status",
        "error",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["point"] = frame["point"].astype("int64")
    frame["replication"] = frame["replication"].astype("int64")
    frame["seed"] = frame["seed"].astype("int64")
    for parameter in sweep.parameters:
        if parameter.kind == "integer":
            frame[parameter.key] = frame[parameter.key].astype("int64")
        elif parameter.kind == "number":
            frame[parameter.key] = frame[parameter.key].astype("float64")
        elif parameter.kind == "boolean":
            frame[parameter.key] = frame[parameter.key].astype(bool)
    for name in sweep.kpis:
        frame[name] = frame[name].astype("float64")
    frame["error"] = frame["error"].astype(object)
    return frame


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None
    if not isinstance(record, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return record


def read_summary(folder: str | Path) -> pd.DataFrame:
    """Read ``summary.parquet`` of a sweep folder."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: missing (not a finished sweep folder?)")
    return pd.read_parquet(path)

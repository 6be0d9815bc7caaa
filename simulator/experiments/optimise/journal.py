"""The optimisation folder's journal: ``optimise.json`` (what determines the simulations) and one file per simulation.

Every simulation (a plan and a replication) is written to ``runs/<plan key>-r<replication>.json``
atomically as soon as it finishes. The search is deterministic given the simulated values,
so a search started again (after a kill -9) reads the journal instead of simulating again
and takes the same path to the same result. A folder holding another optimisation
(another fingerprint) is refused, so results are never mixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simulator.config import ResultsError
from simulator.experiments.optimise.spec import OPTIMISE_SCHEMA_VERSION
from simulator.results import to_jsonable, write_json

MANIFEST_FILE = "optimise.json"
RUNS_DIR = "runs"


def canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces), what fingerprints hash."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def fingerprint(identity: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``identity``."""
    return hashlib.sha256(canonical(identity).encode("utf-8")).hexdigest()


def plan_key(candidate_ids: Iterable[str]) -> str:
    """A plan's file-name key: 20 hex digits of the SHA-256 of its sorted candidate ids (``base``: none)."""
    ids = sorted(candidate_ids)
    if not ids:
        return "base"
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()[:20]


def prepare_folder(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Create the folder and write ``optimise.json``, or check that it holds this optimisation."""
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    path = folder / MANIFEST_FILE
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None
        if existing.get("fingerprint") != manifest["fingerprint"]:
            raise ResultsError(
                f"{folder}: holds a different optimisation (other file, base scenario, candidates, seeds or "
                "options); results are never mixed: use another --out or remove the folder"
            )
    elif folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir()):
        raise ResultsError(
            f"{folder}: exists and is not an optimisation folder (no {MANIFEST_FILE}); use another --out"
        )
    (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        write_json(manifest, path)


def run_file(folder: Path, key: str, replication: int) -> Path:
    return folder / RUNS_DIR / f"{key}-r{replication}.json"


def read_journal(folder: Path) -> dict[tuple[str, int], float]:
    """Every journalled simulation: ``(plan key, replication) -> objective value``."""
    runs = folder / RUNS_DIR
    for leftover in runs.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
    journal: dict[tuple[str, int], float] = {}
    for path in sorted(runs.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            journal[(str(record["plan_key"]), int(record["replication"]))] = float(record["value"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # an unreadable record is simulated again
    return journal


def write_record(folder: Path, record: Mapping[str, Any]) -> None:
    """Write one simulation's record atomically."""
    write_json(dict(record), run_file(folder, str(record["plan_key"]), int(record["replication"])))


__all__ = [
    "MANIFEST_FILE",
    "OPTIMISE_SCHEMA_VERSION",
    "RUNS_DIR",
    "canonical",
    "fingerprint",
    "plan_key",
    "prepare_folder",
    "read_journal",
    "run_file",
    "write_record",
]

"""The calibration folder: ``calibration.json`` (what determines the simulations), one file per simulation.

Resume: a folder holding the same calibration (same fingerprint) keeps its finished
simulations; a folder holding another calibration is refused, so results are never mixed.
Also the calibrated scenario's TOML file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from simulator.config import ResultsError, Scenario, canonical_json, scenario_hash
from simulator.config.overrides import plain_value
from simulator.config.scenario import is_bundle_name
from simulator.experiments.calibrate.parsing import Calibration
from simulator.experiments.calibrate.spec import CALIBRATION_FILE, CALIBRATION_SCHEMA_VERSION, SIMULATIONS_DIR
from simulator.results import atomic_write_text, to_jsonable, write_json


@dataclass(frozen=True)
class SimulationTask:
    """One simulation: a parameter point of a generation and one seed.

    ``sim_id`` is ``g<generation>-p<point>-r<replication>``; ``values`` maps each
    parameter key to its value, ``unit`` is the point in the unit cube.
    """

    sim_id: str
    generation: int
    point: int
    replication: int
    seed: int
    values: tuple[tuple[str, Any], ...]
    unit: tuple[float, ...]


def _canonical(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def build_manifest(calibration: Calibration, evaluator: str) -> dict[str, Any]:
    """The content of ``calibration.json``: everything that determines the simulations, and its fingerprint."""
    spec = calibration.spec.model_dump(mode="json", exclude={"name", "description", "scenario", "observed"})
    identity = {
        "calibration": spec,
        "base_scenario_hash": scenario_hash(calibration.base),
        "evaluator": evaluator,
        "root_seed": calibration.root_seed,
        "parameters": [{"key": p.key, "targets": list(p.targets), "kind": p.kind} for p in calibration.parameters],
        "targets": [asdict(t) for t in calibration.targets],
    }
    return {
        "schema_version": CALIBRATION_SCHEMA_VERSION,
        "kind": "footprint-calibration",
        "fingerprint": hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest(),
        "name": calibration.name,
        "description": calibration.spec.description,
        "source": calibration.source_name,
        "scenario_file": calibration.spec.scenario,
        "observed_file": calibration.spec.observed,
        "identity": identity,
        "base_scenario": json.loads(canonical_json(calibration.base)),
        "parameters": [
            {
                "key": p.key,
                "label": p.label,
                "targets": list(p.targets),
                "kind": p.kind,
                "distribution": p.distribution,
                "low": p.low,
                "high": p.high,
                "mean": p.mean,
                "sd": p.sd,
            }
            for p in calibration.parameters
        ],
    }


def prepare_folder(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Create the folder and write ``calibration.json``, or check that it holds this calibration.

    Returns the simulations' folder. Raises :class:`ResultsError` for a folder of another
    calibration or one that is not a calibration folder.
    """
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    path = folder / CALIBRATION_FILE
    if path.is_file():
        existing = _read_record(path)
        if existing.get("fingerprint") != manifest["fingerprint"]:
            old = existing.get("identity") or {}
            differing = [
                k for k in manifest["identity"] if _canonical(old.get(k)) != _canonical(manifest["identity"][k])
            ]
            raise ResultsError(
                f"{folder}: holds a different calibration (it differs in: {', '.join(differing) or 'its definition'}); "
                "results are never mixed: use another --out or remove the folder"
            )
    elif folder.is_dir() and any(p.name != SIMULATIONS_DIR for p in folder.iterdir()):
        raise ResultsError(
            f"{folder}: exists and is not a calibration folder (no {CALIBRATION_FILE}); use another --out"
        )
    simulations = folder / SIMULATIONS_DIR
    simulations.mkdir(parents=True, exist_ok=True)
    for leftover in simulations.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()
    if not path.is_file():
        write_json(manifest, path)
    return simulations


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None
    if not isinstance(record, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return record


def read_finished(simulations: Path, tasks: Sequence[SimulationTask]) -> dict[str, dict[str, float]]:
    """The target values of the tasks already simulated (``simulations/<sim_id>.json``)."""
    finished = {}
    for task in tasks:
        path = simulations / f"{task.sim_id}.json"
        if path.is_file():
            finished[task.sim_id] = {k: float(v) for k, v in _read_record(path)["targets"].items()}
    return finished


def write_simulation(simulations: Path, task: SimulationTask, values: Mapping[str, float], seconds: float) -> None:
    """Journal one finished simulation (atomically); a failure record of it is removed."""
    record = {**asdict(task), "values": dict(task.values), "targets": dict(values), "seconds": seconds}
    write_json(record, simulations / f"{task.sim_id}.json")
    with contextlib.suppress(FileNotFoundError):
        (simulations / f"{task.sim_id}.error.json").unlink()


def write_failure(simulations: Path, task: SimulationTask, error: str, seconds: float) -> None:
    record = {**asdict(task), "values": dict(task.values), "error": error, "seconds": seconds}
    write_json(record, simulations / f"{task.sim_id}.error.json")


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items() if v is not None) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return str(value)


def _table_lines(prefix: str, table: Mapping[str, Any]) -> list[str]:
    """TOML lines of a table: its values, then its sub-tables and arrays of tables."""
    lines, later = [], []
    for name, value in table.items():
        if value is None:
            continue
        path = f"{prefix}.{_key(name)}" if prefix else _key(name)
        if isinstance(value, dict):
            later += ["", f"[{path}]", *_table_lines(path, value)]
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                later += ["", f"[[{path}]]", *(f"{_key(k)} = {_literal(v)}" for k, v in item.items() if v is not None)]
        else:
            lines.append(f"{_key(name)} = {_literal(value)}")
    return lines + later


def write_scenario_toml(scenario: Scenario, path: Path, header: Sequence[str] = ()) -> Path:
    """Write ``scenario`` as a scenario file that ``footprint run`` reads back to the same scenario.

    The stores and rivals files were read into the scenario when it was loaded, so their
    keys are left out; a city bundle given by path is written as an absolute path.
    """
    data = plain_value(scenario.model_dump(mode="python"))
    for section, keys in (("plan", ("stores_file", "stores_file_crs")), ("rivals", ("file", "file_crs"))):
        for key in keys:
            data.get(section, {}).pop(key, None)
    if not is_bundle_name(scenario.city.bundle):
        data["city"]["bundle"] = str(Path(scenario.resolved_bundle).absolute())
    text = "\n".join([*(f"# {line}" for line in header), *_table_lines("", data)]) + "\n"
    return atomic_write_text(path, text)

"""``metadata.json``: what a run records about itself, and plain-JSON writing.

:func:`build_metadata` assembles the run description (canonical scenario and its hash,
seeds, consumers and weight, city, horizon, package versions, timings, command, warnings
such as :func:`capacity_granularity_warning`);
:func:`to_jsonable` turns numpy, pandas, date, path and pydantic values into plain JSON
types, and :func:`write_json` writes them atomically.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import canonical_json
from simulator.config import scenario_hash as hash_of_scenario
from simulator.config.atomic import atomic_write_text
from simulator.results.contract import SCHEMA_VERSION

PACKAGES_REPORTED = (
    "footprint-simulator",
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "mesa",
    "numba",
    "pyarrow",
    "pydantic",
    "pyogrio",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on (missing ones skipped).

    Returns
    -------
    dict
        ``{"python": "3.11.9", "simulator": "0.1.0", "numpy": ..., ...}``.
    """
    versions = {"python": platform.python_version()}
    for distribution in PACKAGES_REPORTED:
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        versions["simulator" if distribution == "footprint-simulator" else distribution] = version
    return versions


def utc_now_iso() -> str:
    """Current UTC time as an ISO 8601 string with seconds, e.g. ``2025-01-31T12:00:00+00:00``."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def capacity_granularity_warning(
    scenario: Mapping[str, Any], consumer_weight: float, population_total: float
) -> str | None:
    """A warning when one simulated consumer stands for more people than the smallest store serves a day.

    With weight ``w`` (people per simulated consumer) above the smallest daily
    test-drive capacity ``c_min`` of the plan's open stores, a single booking fills more
    than a day's capacity: queues and lost bookings come in lumps. The warning names the
    consumers needed for ``w <= c_min``, ``ceil(population_total / c_min)``, and
    ``--consumers all`` (one agent per resident, ``w = 1``).

    Parameters
    ----------
    scenario : mapping
        The canonical scenario (``metadata["scenario"]``) with ``plan.stores[*].capacity_per_day``.
    consumer_weight : float
        People per simulated consumer.
    population_total : float
        Residents of the city.

    Returns
    -------
    str or None
        The warning, or None when ``w <= c_min`` or no store has a capacity.
    """
    stores = (scenario.get("plan") or {}).get("stores") or []
    capacities = [float(s["capacity_per_day"]) for s in stores if (s.get("capacity_per_day") or 0) > 0]
    if not capacities or consumer_weight <= min(capacities):
        return None
    smallest = min(capacities)
    needed = math.ceil(population_total / smallest)
    return (
        f"one simulated consumer stands for {consumer_weight:,.0f} people, more than the smallest daily test-drive "
        f"capacity ({smallest:,.0f}): queues and lost bookings are lumpy. To study capacity, simulate "
        f"{needed:,} consumers or more (--consumers {needed}), or every resident (--consumers all)"
    )


def merge_warnings(by_run: Mapping[str, Sequence[str]]) -> list[str]:
    """The warnings of several runs (e.g. a comparison's plans), each once.

    A warning every run carries is given as it is; one only some runs carry is
    prefixed with their names (``"plan A, plan B: ..."``). Order: first appearance.
    """
    carriers: dict[str, list[str]] = {}
    for name, warnings in by_run.items():
        for warning in warnings:
            carriers.setdefault(warning, []).append(name)
    return [
        warning if len(names) == len(by_run) else f"{', '.join(names)}: {warning}"
        for warning, names in carriers.items()
    ]


def build_metadata(
    scenario: Any = None,
    *,
    seed: int,
    replication_seeds: Sequence[int],
    consumers: int,
    consumer_weight: float,
    population_total: float,
    city: str,
    horizon_days: int,
    start_date: dt.date | str | None,
    timings: Mapping[str, float] | None = None,
    command: str | None = None,
    scenario_canonical: str | None = None,
    scenario_hash: str | None = None,
    extra: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Assemble the ``metadata.json`` dictionary of a run.

    Parameters
    ----------
    scenario : simulator.config.scenario.Scenario, optional
        The scenario; its canonical JSON and hash are taken from
        ``simulator.config.scenario.canonical_json`` / ``scenario_hash``. Alternatively pass
        ``scenario_canonical`` (a JSON string) and ``scenario_hash``.
    seed : int
        Root seed of the run.
    replication_seeds : sequence of int
        Seed of each replication (as written in the ``seed`` column of the tables).
    consumers : int
        Simulated consumers per replication.
    consumer_weight : float
        People represented by one consumer (``population_total / consumers``).
    population_total : float
        Real population the consumers represent.
    city : str
        City name (or bundle path).
    horizon_days : int
        Days simulated.
    start_date : datetime.date or str or None
        Calendar date of day 0.
    timings : mapping of str to float, optional
        Seconds spent per stage (e.g. ``{"population": 1.2, "simulate": 30.5}``).
    command : str, optional
        Command line that produced the run.
    scenario_canonical, scenario_hash : str, optional
        Used when ``scenario`` is not given.
    extra : mapping, optional
        More keys to store (must be JSON-serialisable).
    warnings : sequence of str, optional
        Warnings about the scenario (settings without effect, suspicious coordinates),
        put before the capacity granularity warning.

    Returns
    -------
    dict
        Keys ``schema_version``, ``scenario`` (canonical dict), ``scenario_hash``,
        ``scenario_name``, ``scenario_description``, ``seed``, ``replication_seeds``,
        ``consumers``, ``consumer_weight``, ``population_total``, ``city``,
        ``horizon_days``, ``start_date``, ``package_versions``, ``timings``,
        ``created_utc``, ``run_id`` (:func:`new_run_id`; also a column of the written
        ``daily.parquet``), ``command``, ``warnings`` (list of str: what a reader of the
        results must know, e.g. :func:`capacity_granularity_warning`), plus ``extra``.
    """
    if scenario is not None:
        scenario_canonical = canonical_json(scenario)
        scenario_hash = hash_of_scenario(scenario)
    scenario_dict: dict[str, Any] = json.loads(scenario_canonical) if scenario_canonical else {}
    name = getattr(scenario, "name", None) or scenario_dict.get("name")
    description = getattr(scenario, "description", None) or scenario_dict.get("description")
    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario_dict,
        "scenario_hash": scenario_hash,
        "scenario_name": name,
        "scenario_description": description,
        "seed": int(seed),
        "replication_seeds": [int(s) for s in replication_seeds],
        "consumers": int(consumers),
        "consumer_weight": float(consumer_weight),
        "population_total": float(population_total),
        "city": str(city),
        "horizon_days": int(horizon_days),
        "start_date": start_date.isoformat() if isinstance(start_date, dt.date) else start_date,
        "package_versions": package_versions(),
        "timings": {str(k): float(v) for k, v in (timings or {}).items()},
        "created_utc": utc_now_iso(),
        "run_id": new_run_id(str(scenario_hash or "")),
        "command": command,
        "warnings": [
            *warnings,
            *[w for w in [capacity_granularity_warning(scenario_dict, consumer_weight, population_total)] if w is not None],
        ],
    }
    if extra:
        metadata.update(extra)
    return to_jsonable(metadata)


def new_run_id(scenario_hash: str, now: dt.datetime | None = None) -> str:
    """A run's identifier: ``<UTC YYYYmmddTHHMMSS>-<hash8>-<random6>``.

    Unique across runs (the random part is not simulation randomness: it is drawn from the
    operating system, never from the scenario seed, and changes no result), sortable by time,
    and naming the scenario through the first 8 characters of its hash.
    """
    import secrets

    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{scenario_hash[:8] or 'nohash'}-{secrets.token_hex(3)}"


def to_jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` to plain JSON types.

    numpy scalars and arrays become Python numbers and lists, dates and datetimes ISO
    strings, paths POSIX strings, enums their value, sets sorted lists, pydantic models
    their ``model_dump(mode="json")``, and non-finite floats ``None`` (strict JSON has no NaN).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, (bool, np.bool_)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((to_jsonable(v) for v in obj), key=repr)
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, (dt.date, dt.datetime, dt.time)):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, os.PathLike):
        return Path(obj).as_posix()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as JSON atomically (UTF-8, indent 2, sorted keys, non-ASCII kept).

    Values are converted by :func:`to_jsonable` (numpy scalars, dates, paths, ...).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")

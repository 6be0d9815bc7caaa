"""Run results on disk: the run folder, atomic writes and the end-of-horizon summary.

A run folder (see ``docs/architecture.md``, section "Results (run folder)") holds::

    metadata.json   daily.parquet   stores.parquet   zones.parquet   cells.parquet
    plan.parquet    zones.gpkg      figures/*.png    report.html

Every file is written under a temporary name beside its target and renamed when complete
(:func:`atomic_path`); the whole folder is built under a hidden temporary sibling and
renamed onto the target at the end (:func:`write_run`), so an interrupted command leaves
either a whole run folder or nothing.

Geo code (geopandas, pyogrio) is confined to the GeoPackage writer; the tables themselves
are plain pandas DataFrames.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib.metadata
import json
import math
import os
import platform
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import ResultsError
from simulator.results.atomic import atomic_folder, atomic_path

SCHEMA_VERSION = 1
"""Version of the run-folder layout written into ``metadata.json``."""

TABLE_NAMES = ("daily", "stores", "zones", "cells", "plan")
"""Tables of a run folder, each stored as ``<name>.parquet``."""

METADATA_FILE = "metadata.json"
GEOPACKAGE_FILE = "zones.gpkg"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"

GEOPACKAGE_CRS = "EPSG:4326"
"""CRS of every layer of ``zones.gpkg`` (the CRS of the city bundles, what GIS tools expect)."""

DAILY_COUNT_COLUMNS = (
    "in_market",
    "sightings",
    "bookings_requested",
    "test_drives",
    "bookings_lost",
    "bookings_no_store",
    "queue_length",
    "purchases",
    "purchases_direct",
    "cumulative_purchases",
)
"""Count columns of ``daily``; each has a ``_scaled`` twin (count x consumer weight)."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "daily": (
        "replication",
        "seed",
        "day",
        "date",
        "share_aware",
        "mean_familiarity",
        "share_familiar",
        "reach_28d",
        "effective_frequency_28d",
        "mean_trust",
        *DAILY_COUNT_COLUMNS,
        *(f"{name}_scaled" for name in DAILY_COUNT_COLUMNS),
    ),
    "stores": (
        "replication",
        "seed",
        "day",
        "store_id",
        "store_name",
        "format",
        "is_open",
        "capacity",
        "sightings",
        "bookings_requested",
        "test_drives",
        "bookings_lost",
        "queue_length",
        "purchases",
        "utilisation",
    ),
    "zones": (
        "replication",
        "seed",
        "zone_id",
        "consumers",
        "population_represented",
        "mean_familiarity",
        "share_familiar",
        "mean_trust",
        "share_aware",
        "bookings_requested",
        "test_drives",
        "purchases",
        "bookings_requested_per_1000",
        "test_drives_per_1000",
        "purchases_per_1000",
    ),
    "cells": (
        "replication",
        "seed",
        "cell_id",
        "zone_id",
        "consumers",
        "population_represented",
        "mean_familiarity",
        "share_familiar",
        "mean_trust",
        "share_aware",
        "bookings_requested",
        "test_drives",
        "purchases",
        "bookings_requested_per_1000",
        "test_drives_per_1000",
        "purchases_per_1000",
    ),
    "plan": (
        "store_id",
        "store_name",
        "format",
        "lon",
        "lat",
        "x",
        "y",
        "mall_id",
        "open_day",
        "close_day",
        "capacity",
        "attractiveness",
        "visibility_radius_m",
        "zone_id",
    ),
}
"""Columns each table must have (architecture.md); :func:`validate_run` checks them."""

METADATA_REQUIRED_KEYS = ("schema_version", "scenario", "scenario_hash", "seed", "replication_seeds")

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

# (kpi, label, unit, how): how = "total" sums a daily column over the horizon;
# "end" takes its value on the last day.  Rows whose column is absent are skipped.
SUMMARY_KPIS: tuple[tuple[str, str, str, str], ...] = (
    ("bookings_requested_scaled", "Test-drive bookings requested", "people", "total"),
    ("test_drives_scaled", "Test drives", "people", "total"),
    ("bookings_lost_scaled", "Bookings lost (abandoned in queue)", "people", "total"),
    ("bookings_no_store_scaled", "Bookings with no store open", "people", "total"),
    ("purchases_scaled", "Purchases", "people", "total"),
    ("purchases_direct_scaled", "Purchases without a test drive", "people", "total"),
    ("bookings_requested", "Test-drive bookings requested (simulated)", "consumers", "total"),
    ("test_drives", "Test drives (simulated)", "consumers", "total"),
    ("bookings_lost", "Bookings lost (simulated)", "consumers", "total"),
    ("bookings_no_store", "Bookings with no store open (simulated)", "consumers", "total"),
    ("purchases", "Purchases (simulated)", "consumers", "total"),
    ("purchases_direct", "Purchases without a test drive (simulated)", "consumers", "total"),
    ("share_aware", "Share aware (end of horizon)", "share", "end"),
    ("share_familiar", "Share familiar, F >= 0.5 (end of horizon)", "share", "end"),
    ("mean_familiarity", "Mean familiarity (end of horizon)", "index", "end"),
    ("reach_28d", "Reach, last 28 days (end of horizon)", "share", "end"),
    ("effective_frequency_28d", "Effective frequency 3+, last 28 days (end of horizon)", "share", "end"),
    ("mean_trust", "Mean trust (end of horizon)", "index", "end"),
)

CONFIDENCE_LEVEL = 0.95


# --------------------------------------------------------------------------- RunResult


@dataclasses.dataclass
class RunResult:
    """Everything one run (one scenario, all its replications) produces.

    Attributes
    ----------
    daily, stores, zones, cells, plan : pandas.DataFrame
        The tables of the run folder, with the columns of :data:`REQUIRED_COLUMNS`
        (``docs/architecture.md``). ``cells`` may be empty.
    metadata : dict
        JSON-serialisable run description: see :func:`build_metadata`.
    """

    daily: pd.DataFrame
    stores: pd.DataFrame
    zones: pd.DataFrame
    cells: pd.DataFrame
    plan: pd.DataFrame
    metadata: dict[str, Any]

    @property
    def n_replications(self) -> int:
        """Number of replications present in ``daily``."""
        return int(self.daily["replication"].nunique()) if len(self.daily) else 0

    @property
    def scenario_name(self) -> str:
        """Scenario name from the metadata (``scenario_name``, else ``scenario.name``), or ``"run"``."""
        name = self.metadata.get("scenario_name")
        scenario = self.metadata.get("scenario")
        if not name and isinstance(scenario, Mapping):
            name = scenario.get("name")
        return str(name) if name else "run"

    @property
    def scenario_description(self) -> str:
        """Scenario description from the metadata, or an empty string."""
        text = self.metadata.get("scenario_description")
        scenario = self.metadata.get("scenario")
        if not text and isinstance(scenario, Mapping):
            text = scenario.get("description")
        return str(text) if text else ""

    @property
    def consumer_weight(self) -> float:
        """People represented by one simulated consumer (``population / consumers``); 1 if unknown."""
        weight = self.metadata.get("consumer_weight")
        return float(weight) if weight is not None else 1.0

    def replication_kpis(self) -> pd.DataFrame:
        """End-of-horizon KPIs of each replication.

        Returns
        -------
        pandas.DataFrame
            One row per replication (index ``replication``), one column per KPI of
            :meth:`summary` (totals over the horizon for counts, last-day values for
            shares and means).
        """
        if self.daily.empty:
            return pd.DataFrame(index=pd.Index([], name="replication"))
        daily = self.daily.sort_values(["replication", "day"])
        groups = daily.groupby("replication", sort=True)
        last = groups.tail(1).set_index("replication")
        columns: dict[str, pd.Series] = {}
        for kpi, _label, _unit, how in SUMMARY_KPIS:
            if kpi not in daily.columns:
                continue
            if how == "total":
                columns[kpi] = groups[kpi].sum().astype(float)
            else:
                columns[kpi] = last[kpi].astype(float)
        return pd.DataFrame(columns)

    def summary(self, confidence: float = CONFIDENCE_LEVEL) -> pd.DataFrame:
        r"""End-of-horizon KPIs: mean over replications with a t confidence interval.

        For a KPI with per-replication values :math:`x_1..x_n`:

        .. math::

            \bar x \pm t_{1-\alpha/2,\,n-1}\, s / \sqrt{n},
            \qquad s^2 = \frac{1}{n-1}\sum_r (x_r - \bar x)^2

        Counts are totals over the horizon (raw: simulated consumers; ``_scaled``:
        people of the real population); shares and means are last-day values.

        Parameters
        ----------
        confidence : float
            Two-sided confidence level of the interval (default 0.95).

        Returns
        -------
        pandas.DataFrame
            Columns ``kpi``, ``label``, ``unit`` (``people``, ``consumers``, ``share``
            (0-1) or ``index`` (0-1)), ``mean``, ``std`` (sample, ddof=1), ``ci_low``,
            ``ci_high``, ``min``, ``max``, ``n_replications``. ``std`` and the interval
            are NaN with a single replication.
        """
        from scipy import stats

        per_replication = self.replication_kpis()
        n = len(per_replication)
        rows = []
        for kpi, label, unit, _how in SUMMARY_KPIS:
            if kpi not in per_replication.columns:
                continue
            values = per_replication[kpi].to_numpy(dtype=float)
            mean = float(values.mean()) if n else math.nan
            if n >= 2:
                std = float(values.std(ddof=1))
                half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * std / math.sqrt(n)
                low, high = mean - half, mean + half
            else:
                std = low = high = math.nan
            rows.append(
                {
                    "kpi": kpi,
                    "label": label,
                    "unit": unit,
                    "mean": mean,
                    "std": std,
                    "ci_low": low,
                    "ci_high": high,
                    "min": float(values.min()) if n else math.nan,
                    "max": float(values.max()) if n else math.nan,
                    "n_replications": n,
                }
            )
        return pd.DataFrame(
            rows,
            columns=["kpi", "label", "unit", "mean", "std", "ci_low", "ci_high", "min", "max", "n_replications"],
        )


# --------------------------------------------------------------------------- aggregates


def store_totals(stores: pd.DataFrame, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-store totals over the horizon, averaged over replications.

    Utilisation is the mean over open days of ``test_drives / capacity``
    (the ``utilisation`` column of ``stores``), then averaged over replications.

    Parameters
    ----------
    stores : pandas.DataFrame
        The ``stores`` table (one row per replication, day and store).
    plan : pandas.DataFrame, optional
        The ``plan`` table; gives the store order, names, formats and capacities.

    Returns
    -------
    pandas.DataFrame
        One row per store: ``store_id``, ``store_name``, ``format``, ``capacity``,
        ``open_days``, ``sightings``, ``bookings_requested``, ``test_drives``,
        ``bookings_lost``, ``purchases``, ``utilisation``, ``replications``.
        Counts are simulated consumers (multiply by the consumer weight for people).
    """
    count_columns = [
        c
        for c in ("sightings", "bookings_requested", "test_drives", "bookings_lost", "purchases")
        if c in stores.columns
    ]
    if stores.empty:
        per_store = pd.DataFrame(columns=["store_id", "open_days", *count_columns, "utilisation", "replications"])
    else:
        frame = stores.copy()
        frame["store_id"] = frame["store_id"].astype(str)
        is_open = frame["is_open"].astype(bool) if "is_open" in frame.columns else pd.Series(True, index=frame.index)
        frame["_open"] = is_open.astype(int)
        frame["_utilisation_open"] = frame["utilisation"].where(is_open) if "utilisation" in frame.columns else np.nan
        per_replication = frame.groupby(["replication", "store_id"], sort=False).agg(
            open_days=("_open", "sum"),
            **{column: (column, "sum") for column in count_columns},
            utilisation=("_utilisation_open", "mean"),
        )
        per_store = per_replication.groupby(level="store_id", sort=False).mean()
        per_store["replications"] = per_replication.groupby(level="store_id", sort=False).size()
        per_store = per_store.reset_index()
        per_store["utilisation"] = per_store["utilisation"].fillna(0.0)
    descriptors = ["store_id", "store_name", "format", "capacity"]
    if plan is not None and len(plan):
        plan_part = plan[[c for c in descriptors if c in plan.columns]].copy()
        plan_part["store_id"] = plan_part["store_id"].astype(str)
        merged = plan_part.merge(per_store, on="store_id", how="outer", sort=False)
    else:
        merged = per_store
        if not stores.empty:
            first = stores.drop_duplicates("store_id").assign(store_id=lambda f: f["store_id"].astype(str))
            extra = [c for c in descriptors[1:] if c in first.columns]
            merged = first[["store_id", *extra]].merge(per_store, on="store_id", how="right")
    for column in descriptors:
        if column not in merged.columns:
            merged[column] = merged["store_id"] if column == "store_name" else np.nan
    for column in ("open_days", *count_columns, "utilisation", "replications"):
        if column in merged.columns:
            merged[column] = merged[column].fillna(0)
    ordered = descriptors + [c for c in merged.columns if c not in descriptors]
    return merged[ordered].reset_index(drop=True)


def replication_means(table: pd.DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    """Mean over replications of every numeric column of a zone or cell table.

    Parameters
    ----------
    table : pandas.DataFrame
        ``zones`` or ``cells`` (one row per replication and zone or cell).
    key : str or sequence of str
        Identifier column(s), e.g. ``"zone_id"`` or ``["cell_id", "zone_id"]``.

    Returns
    -------
    pandas.DataFrame
        One row per key with the means of the numeric columns (``replication`` and
        ``seed`` dropped) and ``replications``, the number of replications averaged.
    """
    keys = [key] if isinstance(key, str) else list(key)
    if table.empty:
        return pd.DataFrame(columns=[*keys, "replications"])
    frame = table.copy()
    for column in keys:
        frame[column] = frame[column].astype(str)
    numeric = [
        c
        for c in frame.columns
        if c not in keys
        and c not in ("replication", "seed")
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    grouped = frame.groupby(keys, sort=False)
    means = grouped[numeric].mean()
    means["replications"] = grouped.size()
    return means.reset_index()


# --------------------------------------------------------------------------- metadata


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
) -> dict[str, Any]:
    """Assemble the ``metadata.json`` dictionary of a run.

    Parameters
    ----------
    scenario : simulator.config.scenario.Scenario, optional
        The scenario; its canonical JSON and hash are taken from
        ``simulator.config.canonical_json`` / ``scenario_hash``. Alternatively pass
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

    Returns
    -------
    dict
        Keys ``schema_version``, ``scenario`` (canonical dict), ``scenario_hash``,
        ``scenario_name``, ``scenario_description``, ``seed``, ``replication_seeds``,
        ``consumers``, ``consumer_weight``, ``population_total``, ``city``,
        ``horizon_days``, ``start_date``, ``package_versions``, ``timings``,
        ``created_utc``, ``command``, plus ``extra``.
    """
    if scenario is not None:
        import simulator.config as config  # lazy: written in parallel

        scenario_canonical = config.canonical_json(scenario)
        scenario_hash = config.scenario_hash(scenario)
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
        "command": command,
    }
    if extra:
        metadata.update(extra)
    return to_jsonable(metadata)


# --------------------------------------------------------------------------- atomic writes


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame to Parquet atomically (pyarrow, no index).

    Parameters
    ----------
    df : pandas.DataFrame
        Table to write; its index is dropped.
    path : path-like
        Target ``.parquet`` file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    table = pa.Table.from_pandas(df, preserve_index=False)
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary)
    return target


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
    target = Path(path)
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    with atomic_path(target) as temporary:
        temporary.write_text(text + "\n", encoding="utf-8")
    return target


# --------------------------------------------------------------------------- validation


def validate_run(result: RunResult) -> None:
    """Check that the tables have the contract columns and the metadata its keys.

    Raises
    ------
    ResultsError
        One line naming the table (or ``metadata``) and the missing columns (keys).
    """
    for name in TABLE_NAMES:
        table = getattr(result, name)
        if not isinstance(table, pd.DataFrame):
            raise ResultsError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
        if name == "cells" and table.empty and len(table.columns) == 0:
            continue
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
        if missing:
            raise ResultsError(f"{name}: missing column(s) {', '.join(missing)}")
    if not isinstance(result.metadata, Mapping):
        raise ResultsError(f"metadata: expected a dict, got {type(result.metadata).__name__}")
    missing_keys = [k for k in METADATA_REQUIRED_KEYS if k not in result.metadata]
    if missing_keys:
        raise ResultsError(f"metadata: missing key(s) {', '.join(missing_keys)}")


def _normalise_dates(daily: pd.DataFrame) -> pd.DataFrame:
    """Store ``date`` as a calendar date (Parquet ``date32``) whatever its pandas type."""
    if "date" not in daily.columns or daily.empty:
        return daily
    column = daily["date"]
    if pd.api.types.is_datetime64_any_dtype(column) or isinstance(column.iloc[0], pd.Timestamp):
        return daily.assign(date=pd.to_datetime(column).dt.date)
    if isinstance(column.iloc[0], str):
        return daily.assign(date=pd.to_datetime(column).dt.date)
    return daily


# --------------------------------------------------------------------------- run folder


def write_run_tables(
    result: RunResult, folder: str | os.PathLike[str], *, zone_frame: Any = None, cell_frame: Any = None
) -> None:
    """Write a run's metadata, Parquet tables and GeoPackage into an existing folder.

    This is the storage half of a run folder; :func:`simulator.reports.publish.write_run`
    builds the whole folder atomically and adds the figures and the report.

    Parameters
    ----------
    result : RunResult
        Tables and metadata of the run (checked against the table contract).
    folder : path-like
        Folder to write into (it must exist).
    zone_frame, cell_frame : geopandas.GeoDataFrame, optional
        Zone and cell geometries with ``zone_id`` / ``cell_id`` columns (any CRS). They
        give the ``zones`` / ``cells`` layers of ``zones.gpkg``.

    Raises
    ------
    ResultsError
        The result does not follow the table contract.
    """
    validate_run(result)
    folder = Path(folder)
    metadata = dict(result.metadata)
    metadata.setdefault("schema_version", SCHEMA_VERSION)
    write_json(metadata, folder / METADATA_FILE)
    tables = {name: getattr(result, name) for name in TABLE_NAMES}
    tables["daily"] = _normalise_dates(tables["daily"])
    for name, table in tables.items():
        write_parquet(table, folder / f"{name}.parquet")
    write_geopackage(result, folder / GEOPACKAGE_FILE, zone_frame=zone_frame, cell_frame=cell_frame)


def write_geopackage(
    result: RunResult,
    path: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
    cell_frame: Any = None,
) -> Path | None:
    """Write ``zones.gpkg`` atomically: layers ``zones``, ``cells`` and ``stores`` in EPSG:4326.

    ``zones`` and ``cells`` are the given frames left-joined with the replication means
    of the ``zones`` / ``cells`` tables (:func:`replication_means`); ``stores`` are points
    at the plan's ``lon`` / ``lat`` with the per-store totals of :func:`store_totals`.
    Layers whose input is missing are skipped; nothing is written if all are.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when there was no layer to write.
    """
    import geopandas as gpd
    import pyogrio

    layers: dict[str, gpd.GeoDataFrame] = {}
    if zone_frame is not None:
        layers["zones"] = _join_means(zone_frame, replication_means(result.zones, "zone_id"), "zone_id", "zone_frame")
    if cell_frame is not None:
        layers["cells"] = _join_means(cell_frame, replication_means(result.cells, "cell_id"), "cell_id", "cell_frame")
    plan = result.plan
    if len(plan) and {"lon", "lat"} <= set(plan.columns):
        totals = store_totals(result.stores, plan)
        stores = plan.assign(store_id=plan["store_id"].astype(str)).merge(
            totals.drop(columns=[c for c in ("store_name", "format", "capacity") if c in totals.columns]),
            on="store_id",
            how="left",
        )
        layers["stores"] = gpd.GeoDataFrame(
            stores, geometry=gpd.points_from_xy(plan["lon"], plan["lat"]), crs=GEOPACKAGE_CRS
        )
    if not layers:
        return None
    target = Path(path)
    with atomic_path(target) as temporary, warnings.catch_warnings():
        # GDAL notices that the temporary name does not end in .gpkg; the final name does.
        warnings.filterwarnings("ignore", message=".*(filename extension|non conformant file extension).*")
        for layer, frame in layers.items():
            pyogrio.write_dataframe(gpkg_safe(frame), temporary, layer=layer, driver="GPKG")
    return target


def _join_means(frame: Any, means: pd.DataFrame, key: str, frame_name: str) -> Any:
    if key not in frame.columns:
        raise ResultsError(f"{frame_name}: missing column {key}")
    if frame.crs is None:
        raise ResultsError(f"{frame_name}: has no CRS")
    left = frame.copy()
    left[key] = left[key].astype(str)
    means = means.drop(columns=[c for c in means.columns if c != key and c in left.columns])
    joined = left.merge(means, on=key, how="left")
    return joined.to_crs(GEOPACKAGE_CRS)


def gpkg_safe(frame: Any) -> Any:
    """Cast columns GPKG cannot store (categoricals, pandas string/object mixes) to plain types."""
    frame = frame.copy()
    for column in frame.columns:
        if column == frame.geometry.name:
            continue
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            frame[column] = series.astype(str)
        elif series.dtype == object:
            frame[column] = series.map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v))
    return frame


def read_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """Read a run folder written by :func:`write_run`.

    Returns
    -------
    RunResult
        The five tables (``daily.date`` as ``datetime.date`` objects) and the metadata.

    Raises
    ------
    ResultsError
        The folder or one of its files is missing or unreadable, or its schema version
        is newer than this code understands.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: run folder not found")
    metadata_path = folder / METADATA_FILE
    if not metadata_path.is_file():
        raise ResultsError(f"{metadata_path}: missing (not a run folder?)")
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{metadata_path}: cannot be read: {error}".splitlines()[0]) from None
    if not isinstance(metadata, dict):
        raise ResultsError(f"{metadata_path}: expected a JSON object at the top level")
    version = metadata.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ResultsError(f"{metadata_path}: schema_version: expected an integer <= {SCHEMA_VERSION}, got {version!r}")
    tables = {}
    for name in TABLE_NAMES:
        table_path = folder / f"{name}.parquet"
        if not table_path.is_file():
            raise ResultsError(f"{table_path}: missing")
        try:
            tables[name] = pd.read_parquet(table_path)
        except Exception as error:  # pyarrow raises several unrelated types
            raise ResultsError(f"{table_path}: cannot be read: {error}".splitlines()[0]) from None
    return RunResult(metadata=metadata, **tables)


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w.-]+", "-", text.strip(), flags=re.UNICODE).strip("-.")
    return slug or "run"


def default_run_dir(
    results_root: str | os.PathLike[str],
    scenario_name: str,
    short_hash: str,
    *,
    now: dt.datetime | None = None,
) -> Path:
    """A fresh run folder path ``<results_root>/<scenario_name>-<YYYYmmdd-HHMMSS>-<hash8>``.

    The scenario name is reduced to letters, digits, ``.``, ``_`` and ``-``; local time
    is used. If the folder exists, ``-2``, ``-3``, ... is appended. Nothing is created.

    Parameters
    ----------
    results_root : path-like
        Results folder (e.g. ``results``).
    scenario_name : str
        Scenario name.
    short_hash : str
        Scenario hash; its first 8 characters are used.
    now : datetime.datetime, optional
        Time stamp to use (default: now, local time).
    """
    root = Path(results_root)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"{_slug(scenario_name)}-{stamp}-{short_hash[:8]}"
    candidate = root / base
    counter = 2
    while candidate.exists():
        candidate = root / f"{base}-{counter}"
        counter += 1
    return candidate

"""The run folder: its tables written into a folder, read back, and named.

A run folder (see ``docs/architecture.md``, section "Results (run folder)") holds::

    metadata.json   daily.parquet   stores.parquet   zones.parquet   cells.parquet   rivals.parquet
    plan.parquet    weekly.parquet  trade_areas.parquet  summary.parquet store_summary.parquet
    zone_summary.parquet  trade_area_summary.parquet  summary.xlsx  zones.gpkg  figures/*.png  report.html

:func:`write_run_tables` writes the storage part (metadata, Parquet tables, GeoPackage),
each file atomically; :func:`simulator.reports.publish.write_run` builds the whole folder
under a hidden temporary sibling and adds the figures and the report. :func:`read_run`
reads a folder back into a :class:`RunResult`; :func:`default_run_dir` names a new one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import ResultsError
from simulator.results.contract import (
    COUNT_NAMING,
    GEOPACKAGE_FILE,
    RUN_ID_COLUMN,
    METADATA_FILE,
    SCHEMA_VERSION,
    SE_COLUMNS_REQUIRED_SINCE,
    SUMMARY_TABLES,
    TABLE_NAMES,
    RunResult,
    validate_run,
)
from simulator.results.aggregates import replication_means, store_totals, with_scaled_counts
from simulator.results.metadata import write_json
from simulator.results.spreadsheet import SUMMARY_WORKBOOK_FILE, write_summary_workbook
from simulator.results.trade_areas import catchment_summary, trade_area_summary
from simulator.results.uncertainty import add_within_run_se
from simulator.results.table_files import write_geopackage, write_parquet


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


def write_run_tables(
    result: RunResult,
    folder: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
    cell_frame: Any = None,
    geopackage: bool = True,
) -> None:
    """Write a run's metadata, Parquet tables (with the derived :data:`SUMMARY_TABLES`) and GeoPackage.

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
    geopackage : bool
        Write ``zones.gpkg`` (the run folders inside a comparison leave it out: the
        comparison's own ``zones.gpkg`` holds every plan).

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
    tables["daily"] = _with_run_id(_normalise_dates(tables["daily"]), metadata)
    for name, table in tables.items():
        write_parquet(table, folder / f"{name}.parquet")
    summaries = summary_tables(result)
    for name, table in summaries.items():
        write_parquet(table, folder / f"{name}.parquet")
    write_summary_workbook(folder / SUMMARY_WORKBOOK_FILE, workbook_sheets(summaries), about=workbook_about(metadata))
    if geopackage:
        write_geopackage(
            result,
            folder / GEOPACKAGE_FILE,
            zone_frame=zone_frame,
            cell_frame=cell_frame,
            summaries=summaries,
        )


def _with_run_id(daily: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
    """``daily`` with the run's ``run_id`` as its first column (when the metadata has one)."""
    run_id = metadata.get("run_id")
    if run_id is None or RUN_ID_COLUMN in daily.columns:
        return daily
    daily = daily.copy()
    daily.insert(0, RUN_ID_COLUMN, str(run_id))
    return daily


def workbook_sheets(summaries: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The sheets of a run's ``summary.xlsx``: KPIs, stores, zones and each store's catchments.

    The long trade-area table stays in Parquet only (thousands of rows; a spreadsheet of it
    would cost more writing time than the rest of the run folder).
    """
    return {
        "KPI summary": summaries["summary"],
        "store summary": summaries["store_summary"],
        "zone summary": summaries["zone_summary"],
        "catchments": catchment_summary(summaries["trade_area_summary"]),
    }


def workbook_about(metadata: dict[str, Any]) -> dict[str, object]:
    """The ``about`` sheet of a run's workbook: what the run is and how its numbers are named."""
    return {
        "run_id": metadata.get("run_id"),
        "scenario": metadata.get("scenario_name"),
        "scenario_hash": metadata.get("scenario_hash"),
        "seed": metadata.get("seed"),
        "replications": len(metadata.get("replication_seeds") or []),
        "consumers": metadata.get("consumers"),
        "consumer_weight": metadata.get("consumer_weight"),
        "created_utc": metadata.get("created_utc"),
        "counts": COUNT_NAMING,
    }


def summary_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """The derived tables of :data:`~simulator.results.contract.SUMMARY_TABLES`: KPIs, per-store totals and zone means, each with ``_se``."""
    weight = result.consumer_weight
    zones = replication_means(result.zones, "zone_id") if len(result.zones) else pd.DataFrame()
    tables = {
        "summary": result.summary(),
        "store_summary": with_scaled_counts(store_totals(result.stores, result.plan), weight),
        "zone_summary": with_scaled_counts(zones, weight),
        "trade_area_summary": trade_area_summary(
            result.trade_areas, result.plan, n_replications=result.n_replications, weight=result.consumer_weight
        ),
    }
    return {name: tables[name] for name in SUMMARY_TABLES}


def read_run(run_dir: str | os.PathLike[str]) -> RunResult:
    """Read a run folder written by :func:`simulator.reports.publish.write_run`.

    Returns
    -------
    RunResult
        The tables (``daily.date`` as ``datetime.date`` objects; the file's ``run_id``
        column left out, it is ``metadata["run_id"]``) and the metadata. A
        folder written before ``zones`` and ``cells`` had ``_se`` columns gets those the
        row determines (counts, shares, rates); the means' SEs are NaN.

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
        if not table_path.is_file() and name in ("rivals", "weekly", "trade_areas", "batches"):
            tables[name] = pd.DataFrame()
            continue
        if not table_path.is_file():
            raise ResultsError(f"{table_path}: missing")
        try:
            tables[name] = pd.read_parquet(table_path)
        except Exception as error:  # pyarrow raises several unrelated types
            raise ResultsError(f"{table_path}: cannot be read: {error}".splitlines()[0]) from None
    tables["daily"] = tables["daily"].drop(columns=[RUN_ID_COLUMN], errors="ignore")
    for name in SE_COLUMNS_REQUIRED_SINCE:
        if "consumers" in tables[name].columns:
            tables[name] = add_within_run_se(tables[name])
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
    is used. If the folder exists (or another command holds its lock, see
    :func:`simulator.config.atomic.folder_lock`), ``-2``, ``-3``, ... is appended. Nothing
    is created.

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
    while candidate.exists() or (root / f".{candidate.name}.lock").exists():
        candidate = root / f"{base}-{counter}"
        counter += 1
    return candidate


RUN_FOLDER_FIXED_BYTES = 4_000_000
"""Figures, report and metadata of a run folder whatever its size (measured: about 1.2 MB on
the test city, 3 MB with the Beijing maps), with a margin."""


def estimate_run_folder_bytes(
    *, days: int, replications: int, stores: int, cells: int, zones: int, bundle_bytes: int
) -> int:
    """A generous estimate of a run folder's size, to refuse a full disk before the run.

    .. math:: B = B_0 + 2 G + R\\,(200\\,T + 50\\,S\\,T + 60\\,(C + Z))

    with :math:`B_0` = :data:`RUN_FOLDER_FIXED_BYTES`, :math:`G` the city bundle's file size
    (the zones and cells layers of ``zones.gpkg`` and the maps of the report), :math:`R`
    replications, :math:`T` days, :math:`S` stores, :math:`C` cells and :math:`Z` zones
    (bytes per row of the ``daily``, ``stores``, ``cells`` and ``zones`` tables, rounded up).
    """
    per_replication = 200 * days + 50 * stores * days + 60 * (cells + zones)
    return int(RUN_FOLDER_FIXED_BYTES + 2 * bundle_bytes + replications * per_replication)

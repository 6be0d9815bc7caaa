"""Writing a comparison's tables: ``metadata.json``, the Parquet tables and ``zones.gpkg``.

Storage only: the figures, ``report.html`` and the run folders are added by
:func:`simulator.reports.compare_report.write_comparison`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.city import zone_frame as city_zone_frame
from simulator.experiments.compare.result import METADATA_FILE, TABLE_FILES, ZONES_GPKG, ComparisonResult
from simulator.experiments.compare.spec import ComparisonSpec
from simulator.experiments.compare.tables import with_plan
from simulator.results import (
    COUNT_NAMING,
    GEOPACKAGE_CRS,
    SUMMARY_WORKBOOK_FILE,
    catchment_frame,
    default_run_dir,
    trade_area_summary,
    write_json,
    write_parquet,
    write_summary_workbook,
)
from simulator.results.table_files import write_geopackage_layers


def default_comparison_dir(results_root: str | os.PathLike[str], spec: ComparisonSpec) -> Path:
    """``<results_root>/compare-<name>-<YYYYmmdd-HHMMSS>-<hash8>`` (a fresh path; nothing created)."""
    return default_run_dir(results_root, f"compare-{spec.name}", spec.comparison_hash())


def write_comparison_tables(
    result: ComparisonResult, folder: str | os.PathLike[str], *, zone_frame: Any = None
) -> Path:
    """Write the tables of a comparison into an existing folder.

    Files: ``metadata.json``; ``runs.parquet``, ``plans.parquet``, ``differences.parquet``,
    ``stores.parquet``, ``daily.parquet``, ``zones.parquet`` (and ``marginal.parquet``,
    ``marginal_runs.parquet`` with ``--marginal``), ``transfers.parquet``; ``zones.gpkg``
    (layers ``zones``, long by plan, ``stores`` and the table ``about``); ``summary.xlsx``
    (:func:`comparison_sheets`). Each file is written atomically; the folder as a whole is
    made atomic by the caller (:func:`simulator.reports.compare_report.write_comparison`).

    Parameters
    ----------
    result : ComparisonResult
    folder : path-like
        The folder to write into (it must exist).
    zone_frame : geopandas.GeoDataFrame, optional
        The zones with their geometry (default: ``simulator.city.zone_frame(result.city)``).

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    target = Path(folder)
    zones_gdf = zone_frame if zone_frame is not None else city_zone_frame(result.city)
    write_json(result.metadata, target / METADATA_FILE)
    tables = {name: getattr(result, "run_kpis" if name == "runs" else name) for name in TABLE_FILES}
    if result.marginal is not None and result.marginal_runs is not None:
        tables["marginal"] = result.marginal
        tables["marginal_runs"] = result.marginal_runs
    run_ids = {name: run.metadata.get("run_id") for name, run in result.runs.items()}
    if len(tables["daily"]) and all(run_ids.values()):
        daily = tables["daily"]
        tables["daily"] = daily.assign(run_id=daily["plan"].map(run_ids))[["run_id", *daily.columns]]
    for name, table in tables.items():
        write_parquet(_parquet_safe(table), target / f"{name}.parquet")
    _write_zones_gpkg(result, zones_gdf, target / ZONES_GPKG)
    write_summary_workbook(target / SUMMARY_WORKBOOK_FILE, comparison_sheets(result), about=comparison_about(result))
    return target


def comparison_sheets(result: ComparisonResult) -> dict[str, pd.DataFrame]:
    """The sheets of a comparison's ``summary.xlsx``: plans, differences, stores, zones and transfers."""
    sheets = {
        "plans": result.plans,
        "differences": result.differences,
        "stores": result.stores,
        "zones": result.zones,
        "transfers": result.transfers,
    }
    if result.marginal is not None:
        sheets["marginal"] = result.marginal
    return {title: _parquet_safe(table) for title, table in sheets.items()}


def comparison_about(result: ComparisonResult) -> dict[str, object]:
    """The ``about`` sheet of a comparison's workbook."""
    metadata = result.metadata
    return {
        "comparison": result.spec.name,
        "baseline": result.baseline,
        "plans": ", ".join(result.plan_names),
        "seed": result.spec.seed,
        "replications": len(result.spec.seeds),
        "consumer_weight": metadata.get("consumer_weight"),
        "created_utc": metadata.get("created_utc"),
        "counts": COUNT_NAMING,
    }


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Dates as calendar dates and object columns as text (so pyarrow infers one type)."""
    table = table.copy()
    if "date" in table.columns and len(table):
        table["date"] = pd.to_datetime(table["date"]).dt.date
    for column in table.columns:
        if table[column].dtype == object and column != "date":
            table[column] = table[column].map(
                lambda v: v if v is None or isinstance(v, (str, bool, int, float)) else str(v)
            )
    return table


def _write_zones_gpkg(result: ComparisonResult, zones_gdf: Any, path: Path) -> None:
    """``zones.gpkg``: per plan and zone results and differences (layer ``zones``) and every plan's stores."""
    import geopandas as gpd

    geometry = zones_gdf[["zone_id", zones_gdf.geometry.name]].assign(zone_id=lambda f: f["zone_id"].astype(str))
    zones = geometry.merge(result.zones, on="zone_id", how="inner").to_crs(GEOPACKAGE_CRS)
    plans = []
    for plan in result.spec.plans:
        frame = result.runs[plan.name].plan.copy()
        frame["store_id"] = frame["store_id"].astype(str)
        totals = result.stores[result.stores["plan"] == plan.name].drop(
            columns=[c for c in ("store_name", "format", "capacity", "plan", "plan_slug") if c in result.stores.columns]
        )
        plans.append(with_plan(frame.merge(totals, on="store_id", how="left"), plan))
    stores = pd.concat(plans, ignore_index=True)
    layers = {"zones": gpd.GeoDataFrame(zones, geometry=zones_gdf.geometry.name, crs=GEOPACKAGE_CRS)}
    if len(stores):
        layers["stores"] = gpd.GeoDataFrame(
            stores, geometry=gpd.points_from_xy(stores["lon"], stores["lat"]), crs=GEOPACKAGE_CRS
        )
    catchments = _catchments(result)
    if len(catchments):
        layers["catchments"] = catchments
    write_geopackage_layers(layers, path)


def _catchments(result: ComparisonResult) -> Any:
    """Every plan's store catchments (:func:`simulator.results.catchment_frame`), long by plan, in EPSG:4326."""
    import geopandas as gpd

    from simulator.city import cell_frame

    frames = []
    cells = None
    for plan in result.spec.plans:
        run = result.runs[plan.name]
        if run.trade_areas.empty:
            continue
        cells = cell_frame(result.city) if cells is None else cells
        summary = trade_area_summary(
            run.trade_areas, run.plan, n_replications=run.n_replications, weight=run.consumer_weight
        )
        frames.append(with_plan(catchment_frame(summary, cells), plan))
    if not frames:
        return gpd.GeoDataFrame()
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs).to_crs(
        GEOPACKAGE_CRS
    )

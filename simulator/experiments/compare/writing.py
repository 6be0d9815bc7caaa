"""Writing a comparison's tables: ``metadata.json``, the Parquet tables and ``zones.gpkg``.

Storage only: the figures, ``report.html`` and the run folders are added by
:func:`simulator.reports.compare_report.write_comparison`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.city import zone_frame as city_zone_frame
from simulator.experiments.compare.result import METADATA_FILE, TABLE_FILES, ZONES_GPKG, ComparisonResult
from simulator.experiments.compare.spec import ComparisonSpec
from simulator.experiments.compare.tables import with_plan
from simulator.results import GEOPACKAGE_CRS, atomic_path, default_run_dir, gpkg_safe, write_json, write_parquet


def default_comparison_dir(results_root: str | os.PathLike[str], spec: ComparisonSpec) -> Path:
    """``<results_root>/compare-<name>-<YYYYmmdd-HHMMSS>-<hash8>`` (a fresh path; nothing created)."""
    return default_run_dir(results_root, f"compare-{spec.name}", spec.comparison_hash())


def write_comparison_tables(
    result: ComparisonResult, folder: str | os.PathLike[str], *, zone_frame: Any = None
) -> Path:
    """Write the tables of a comparison into an existing folder.

    Files: ``metadata.json``; ``runs.parquet``, ``plans.parquet``, ``differences.parquet``,
    ``stores.parquet``, ``daily.parquet``, ``zones.parquet`` (and ``marginal.parquet``,
    ``marginal_runs.parquet`` with ``--marginal``); ``zones.gpkg`` (layers ``zones``, long
    by plan, and ``stores``). Each file is written atomically; the folder as a whole is
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
    for name, table in tables.items():
        write_parquet(_parquet_safe(table), target / f"{name}.parquet")
    _write_zones_gpkg(result, zones_gdf, target / ZONES_GPKG)
    return target


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
    import pyogrio

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
    with atomic_path(path) as temporary, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(filename extension|non conformant file extension).*")
        for layer, frame in layers.items():
            pyogrio.write_dataframe(gpkg_safe(frame), temporary, layer=layer, driver="GPKG")

"""Table files: Parquet tables and the ``zones.gpkg`` GeoPackage, each written atomically.

Geo code (geopandas, pyogrio) is confined to :func:`write_geopackage` and
:func:`gpkg_safe`; the tables themselves are plain pandas DataFrames written by
:func:`write_parquet`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import ResultsError
from simulator.config.atomic import atomic_path
from simulator.results.aggregates import replication_means, store_totals, with_scaled_counts
from simulator.results.contract import COUNT_NAMING, GEOPACKAGE_CRS, RunResult
from simulator.results.trade_areas import catchment_frame, trade_area_summary


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


def write_geopackage(
    result: RunResult,
    path: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
    cell_frame: Any = None,
    summaries: Mapping[str, pd.DataFrame] | None = None,
) -> Path | None:
    """Write ``zones.gpkg`` atomically: layers ``zones``, ``cells``, ``stores``, ``rivals`` and ``catchments`` in EPSG:4326.

    ``zones`` and ``cells`` are the given frames left-joined with the replication means
    of the ``zones`` / ``cells`` tables (:func:`replication_means`); ``stores`` are points
    at the plan's ``lon`` / ``lat`` with the per-store totals of :func:`store_totals`;
    ``rivals`` are the rival showrooms with their mean bookings over the replications;
    ``catchments`` each store's 50/70/90 % catchment as one polygon
    (:func:`~simulator.results.trade_areas.catchment_frame`). Every count ``x`` (simulated)
    has its ``x_scaled`` (people) twin, and a table ``about`` states the rule.
    Layers whose input is missing are skipped; nothing is written if all are.

    ``summaries`` are the run's derived tables when the caller has them already
    (``zone_summary``, ``store_summary``, ``trade_area_summary`` of
    :func:`~simulator.results.run_folder.summary_tables`); what is missing is computed here.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when there was no layer to write.
    """
    import geopandas as gpd
    import pyogrio

    weight = result.consumer_weight
    known = dict(summaries or {})
    layers: dict[str, gpd.GeoDataFrame] = {}
    if zone_frame is not None:
        zones = known.get("zone_summary")
        if zones is None:
            zones = with_scaled_counts(replication_means(result.zones, "zone_id"), weight)
        layers["zones"] = _join_means(zone_frame, zones, "zone_id", "zone_frame")
    if cell_frame is not None:
        cells = with_scaled_counts(replication_means(result.cells, "cell_id"), weight)
        layers["cells"] = _join_means(cell_frame, cells, "cell_id", "cell_frame")
    plan = result.plan
    if len(plan) and {"lon", "lat"} <= set(plan.columns):
        totals = known.get("store_summary")
        if totals is None:
            totals = with_scaled_counts(store_totals(result.stores, plan), weight)
        stores = plan.assign(store_id=plan["store_id"].astype(str)).merge(
            totals.drop(columns=[c for c in ("store_name", "format", "capacity") if c in totals.columns]),
            on="store_id",
            how="left",
        )
        layers["stores"] = gpd.GeoDataFrame(
            stores, geometry=gpd.points_from_xy(plan["lon"], plan["lat"]), crs=GEOPACKAGE_CRS
        )
    rivals = result.rivals
    if len(rivals) and {"lon", "lat", "bookings_scaled"} <= set(rivals.columns):
        per_showroom = (
            rivals.groupby(["rival_id", "brand", "rival_name", "zone_id", "lon", "lat"], as_index=False, sort=False)[
                ["bookings", "bookings_scaled"]
            ]
            .mean()
            .rename(columns={"bookings": "mean_bookings", "bookings_scaled": "mean_bookings_scaled"})
        )
        layers["rivals"] = gpd.GeoDataFrame(
            per_showroom,
            geometry=gpd.points_from_xy(per_showroom["lon"], per_showroom["lat"]),
            crs=GEOPACKAGE_CRS,
        )
    if cell_frame is not None and len(result.trade_areas):
        summary = known.get("trade_area_summary")
        if summary is None:
            summary = trade_area_summary(result.trade_areas, plan, n_replications=result.n_replications, weight=weight)
        catchments = catchment_frame(summary, cell_frame)
        if len(catchments):
            layers["catchments"] = catchments.to_crs(GEOPACKAGE_CRS)
    if not layers:
        return None
    return write_geopackage_layers(layers, path)


def write_geopackage_layers(layers: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write GeoDataFrames as the layers of one GeoPackage, atomically, with an ``about`` table.

    ``about`` is a table without geometry (key, value) that says how the fields are named
    (:data:`~simulator.results.contract.COUNT_NAMING`): a GIS user sees the rule next to
    the layers.
    """
    import pyogrio

    target = Path(path)
    about = pd.DataFrame({"key": ["counts"], "value": [COUNT_NAMING]})
    with atomic_path(target) as temporary, warnings.catch_warnings(), _sqlite_unsynchronised():
        # GDAL notices that the temporary name does not end in .gpkg; the final name does.
        warnings.filterwarnings("ignore", message=".*(filename extension|non conformant file extension).*")
        for layer, frame in layers.items():
            pyogrio.write_dataframe(gpkg_safe(frame), temporary, layer=layer, driver="GPKG", use_arrow=True)
        pyogrio.write_dataframe(about, temporary, layer="about", driver="GPKG")
    return target


@contextlib.contextmanager
def _sqlite_unsynchronised() -> Iterator[None]:
    """GDAL's SQLite writes without a sync per transaction (``OGR_SQLITE_SYNCHRONOUS=OFF``), then as before.

    The GeoPackage is written to a temporary file that :func:`atomic_path` syncs once,
    complete, before renaming it into place; syncing each layer's transaction on the way
    only costs time.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})


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

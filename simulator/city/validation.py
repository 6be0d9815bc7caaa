"""Validation of a city bundle: every rule of the format, one-line errors naming file, layer and feature.

:func:`validate_bundle` checks a GeoPackage against the "City bundle format" of
``docs/architecture.md`` and raises :class:`~simulator.config.CityError` on the
first violated rule; :func:`check_bundle` runs the same checks and returns what it
parsed and projected (:class:`CheckedBundle`), so that
:func:`simulator.city.bundle.load_city` reads the file once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from simulator.city.projection import STORAGE_CRS, reproject, transformer, utm_epsg
from simulator.city.schema import ANY, BLANK_ALLOWED, BOOL, LAYERS, NUMBER, OPTIONAL_LAYERS, TEXT, ErrorReporter
from simulator.city.transit_validation import check_transit

__all__ = ["EDGE_TOLERANCE_M", "CheckedBundle", "check_bundle", "validate_bundle"]

#: Stations, malls and street sites may lie this far outside the districts
#: (digitising error at the boundary).
EDGE_TOLERANCE_M: float = 100.0


def validate_bundle(path: str | os.PathLike) -> None:
    """Check a bundle against every rule of the format; raise on the first violation.

    Checks, in order: the file exists and is a GeoPackage; required layers are
    present; geometry layers have a CRS; required columns exist with usable
    types; ids are unique; populations and jobs are finite and non-negative;
    geometries have the right type and are valid and non-empty; cells refer to
    districts; stations, malls and street sites lie inside the districts (within
    :data:`EDGE_TOLERANCE_M`); lines name existing stations with one distance per
    hop; every station is on a line; links refer to existing stations and lines;
    the transit network (ride and transfer links) is connected.

    Raises
    ------
    CityError
        One line naming the file, layer, column or feature and the problem.
    """
    check_bundle(Path(os.fspath(path)))


@dataclass
class CheckedBundle:
    """Everything parsed and projected while checking a bundle, reused to build the City."""

    path: Path
    crs: str  # the metric (UTM) CRS
    frames: dict[str, pd.DataFrame]  # layer -> checked frame (text columns cleaned to str)
    area: Any  # union of the districts, projected and prepared
    cell_geoms: np.ndarray  # projected polygons
    station_xy: np.ndarray
    mall_xy: np.ndarray
    site_xy: np.ndarray
    line_stations: list[np.ndarray]  # station indices in order, per line
    line_distances: list[np.ndarray]  # metres per hop (closing hop last for a loop)
    line_is_loop: np.ndarray


def check_bundle(path: Path) -> CheckedBundle:
    """Check the bundle at ``path`` (see :func:`validate_bundle`) and return what was parsed and projected."""
    report = ErrorReporter(path)
    frames = _read_layers(report, path)
    for layer, frame in frames.items():
        frames[layer] = _check_columns(report, layer, frame)
    _check_values(report, frames)
    for layer, (geometry_types, id_column, _) in LAYERS.items():
        if layer in frames and geometry_types is not None:
            _check_geometries(report, layer, frames[layer], geometry_types, id_column)
    _check_cell_zones(report, frames)

    lonlat = {layer: _to_lonlat(frame) for layer, frame in frames.items() if LAYERS[layer][0] is not None}
    centroid = shapely.union_all(lonlat["districts"]).centroid
    crs = f"EPSG:{utm_epsg(centroid.x, centroid.y)}"
    to_metric = transformer(STORAGE_CRS, crs)

    def project(geoms: np.ndarray) -> np.ndarray:
        return reproject(geoms, to_metric)

    area = shapely.union_all(project(lonlat["districts"]))
    shapely.prepare(area)
    points = _check_points_inside(report, frames, lonlat, project, area)
    line_stations, line_distances, line_is_loop = check_transit(report, frames)
    return CheckedBundle(
        path=path,
        crs=crs,
        frames=frames,
        area=area,
        cell_geoms=project(lonlat["population_cells"]),
        station_xy=points["subway_stations"],
        mall_xy=points["malls"],
        site_xy=points["street_sites"],
        line_stations=line_stations,
        line_distances=line_distances,
        line_is_loop=line_is_loop,
    )


def _read_layers(report: ErrorReporter, path: Path) -> dict[str, pd.DataFrame]:
    """The layers of the schema present in the GeoPackage; geometry layers must have a CRS."""
    import pyogrio

    try:
        exists, is_file = path.exists(), path.is_file()
    except OSError as error:  # a name the system refuses to look at (too long, say)
        raise report.fail(None, f"cannot read the file ({error.strerror or error})") from None
    if not exists:
        raise report.fail(None, "file not found")
    if not is_file:
        raise report.fail(None, "is not a file")
    try:
        layer_list = pyogrio.list_layers(path)
        first_info = pyogrio.read_info(path, layer=str(layer_list[0][0])) if len(layer_list) else None
    except Exception as error:  # pyogrio raises several types for unreadable files
        raise report.fail(None, f"not a readable GeoPackage ({type(error).__name__}: {error})") from None
    if first_info is None:
        raise report.fail(None, "GeoPackage has no layers")
    if first_info.get("driver") != "GPKG":
        raise report.fail(None, f"is a {first_info.get('driver')} file, not a GeoPackage")

    present = {str(name) for name, _ in layer_list}
    for layer in LAYERS:
        if layer not in present and layer not in OPTIONAL_LAYERS:
            raise report.fail(layer, f"required layer is missing (layers present: {', '.join(sorted(present))})")

    frames: dict[str, pd.DataFrame] = {}
    for layer, (geometry_types, _, _) in LAYERS.items():
        if layer not in present:
            continue
        try:
            frame = pyogrio.read_dataframe(path, layer=layer, read_geometry=geometry_types is not None)
        except Exception as error:
            raise report.fail(layer, f"cannot be read ({type(error).__name__}: {error})") from None
        if geometry_types is not None:
            if not hasattr(frame, "geometry") or frame.geometry.name not in frame.columns:
                raise report.fail(layer, "has no geometry column")
            if frame.crs is None:
                raise report.fail(layer, "has no CRS (layers must be stored in EPSG:4326)")
        frames[layer] = frame
    return frames


def _check_cell_zones(report: ErrorReporter, frames: dict[str, pd.DataFrame]) -> None:
    """Every cell's ``zone_id`` is a district."""
    cells = frames["population_cells"]
    unknown_zone = ~cells["zone_id"].isin(frames["districts"]["zone_id"].to_numpy()).to_numpy()
    if unknown_zone.any():
        first = int(np.flatnonzero(unknown_zone)[0])
        raise report.fail(
            "population_cells",
            f"column 'zone_id' has {int(unknown_zone.sum())} values that are not districts "
            f"(first: cell {cells['cell_id'].iloc[first]!r} -> zone {cells['zone_id'].iloc[first]!r})",
        )


def _check_points_inside(
    report: ErrorReporter,
    frames: dict[str, pd.DataFrame],
    lonlat: dict[str, np.ndarray],
    project: Callable[[np.ndarray], np.ndarray],
    area: Any,
) -> dict[str, np.ndarray]:
    """Projected positions (n, 2) of stations, malls and sites, which must lie within the districts."""
    points: dict[str, np.ndarray] = {}
    for layer, id_column, what in (
        ("subway_stations", "station_id", "station"),
        ("malls", "mall_id", "mall"),
        ("street_sites", "site_id", "site"),
    ):
        if layer not in frames:
            points[layer] = np.zeros((0, 2))
            continue
        xy = shapely.get_coordinates(project(lonlat[layer])).reshape(-1, 2)
        points[layer] = xy
        if len(xy) == 0:
            continue
        inside = shapely.dwithin(area, shapely.points(xy), EDGE_TOLERANCE_M)
        if not inside.all():
            first = int(np.flatnonzero(~inside)[0])
            frame = frames[layer]
            name = frame["name"].iloc[first]
            gap_km = shapely.distance(area, shapely.points(xy[first])) / 1000.0
            raise report.fail(
                layer,
                f"{int((~inside).sum())} {what}(s) outside the city "
                f"(first: {what} {frame[id_column].iloc[first]!r} {name!r}, {gap_km:.1f} km outside "
                f"the districts; tolerance {EDGE_TOLERANCE_M:.0f} m)",
            )
    return points


def _check_columns(report: ErrorReporter, layer: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Required columns present with usable types; text columns cleaned to ``str``."""
    _, id_column, columns = LAYERS[layer]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise report.fail(
            layer,
            f"missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(present: {', '.join(str(c) for c in frame.columns if c != 'geometry')})",
        )
    frame = frame.copy()
    for column, kind in columns.items():
        series = frame[column]
        if kind == ANY or len(series) == 0:
            if kind == TEXT:
                frame[column] = series.astype(object)
            continue
        if kind == TEXT:
            nulls = series.isna().to_numpy()
            if nulls.any() and column not in BLANK_ALLOWED:
                first = int(np.flatnonzero(nulls)[0])
                raise report.fail(
                    layer, f"column '{column}' has {int(nulls.sum())} missing values (first: row {first})"
                )
            values = series.where(~nulls, "")
            not_text = np.array([not isinstance(v, str) for v in values], dtype=bool)
            if not_text.any():
                first = int(np.flatnonzero(not_text)[0])
                raise report.fail(
                    layer,
                    f"column '{column}' must be text, got {type(values.iloc[first]).__name__} "
                    f"{values.iloc[first]!r} (row {first})",
                )
            frame[column] = values.astype(object)
        elif kind == NUMBER:
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                raise report.fail(layer, f"column '{column}' must be numeric, got {series.dtype}")
            frame[column] = series.astype(np.float64)
        elif kind == BOOL:
            if pd.api.types.is_bool_dtype(series) or (
                pd.api.types.is_integer_dtype(series) and series.isin([0, 1]).all()
            ):
                frame[column] = series.astype(bool)
            else:
                raise report.fail(layer, f"column '{column}' must be boolean, got {series.dtype}")
    if id_column is not None:
        duplicated = frame[id_column].duplicated().to_numpy()
        if duplicated.any():
            first = frame[id_column].iloc[int(np.flatnonzero(duplicated)[0])]
            raise report.fail(
                layer, f"column '{id_column}' has {int(duplicated.sum())} duplicate ids (first: {first!r})"
            )
    return frame


def _check_values(report: ErrorReporter, frames: dict[str, pd.DataFrame]) -> None:
    rules = [
        ("districts", "population", "zone_id", False),
        ("population_cells", "population", "cell_id", False),
        ("population_cells", "jobs", "cell_id", False),
        ("malls", "attractiveness", "mall_id", True),
        ("malls", "position_accuracy_m", "mall_id", False),
        ("street_sites", "attractiveness", "site_id", True),
        ("subway_links", "distance_m", None, False),
        ("subway_links", "walk_seconds", None, False),
    ]
    for layer, column, id_column, strictly_positive in rules:
        if layer not in frames or len(frames[layer]) == 0:
            continue
        frame = frames[layer]
        values = frame[column].to_numpy(dtype=np.float64)
        for bad, problem in (
            (~np.isfinite(values), "missing or non-finite"),
            (
                np.isfinite(values) & ((values <= 0) if strictly_positive else (values < 0)),
                "non-positive" if strictly_positive else "negative",
            ),
        ):
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                label = f"{id_column} {frame[id_column].iloc[first]!r}" if id_column else f"row {first}"
                raise report.fail(
                    layer,
                    f"column '{column}' has {int(bad.sum())} {problem} values (first: {label} = {values[first]})",
                )


def _check_geometries(
    report: ErrorReporter, layer: str, frame: pd.DataFrame, allowed: tuple[str, ...], id_column: str | None
) -> None:
    geoms = frame.geometry.to_numpy()
    if len(geoms) == 0:
        return

    def label(i: int) -> str:
        return f"{id_column} {frame[id_column].iloc[i]!r}" if id_column else f"row {i}"

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise report.fail(layer, f"{int(missing.sum())} empty or missing geometries (first: {label(first)})")
    types = np.array(shapely.get_type_id(geoms))
    allowed_ids = {shapely.GeometryType[t.upper()].value for t in allowed}
    wrong = ~np.isin(types, list(allowed_ids))
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise report.fail(
            layer,
            f"geometry must be {' or '.join(allowed)}, got {geoms[first].geom_type} "
            f"({int(wrong.sum())} features; first: {label(first)})",
        )
    valid = np.asarray(shapely.is_valid(geoms), dtype=bool)
    if not valid.all():
        first = int(np.flatnonzero(~valid)[0])
        reason = shapely.is_valid_reason(geoms[first])
        raise report.fail(layer, f"{int((~valid).sum())} invalid geometries (first: {label(first)}: {reason})")


def _to_lonlat(frame: Any) -> np.ndarray:
    """Geometries of a GeoDataFrame in EPSG:4326 (reprojected if stored otherwise)."""
    if len(frame) and not frame.crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs(STORAGE_CRS)
    return frame.geometry.to_numpy()

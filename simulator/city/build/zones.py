"""Zones (the ``districts`` layer): one per boundary polygon, or squares of the UTM grid grouping the cells.

With a ``--boundary`` of two or more polygons: one zone per boundary feature.
Otherwise the cells are grouped into squares of ``zone_size_m`` (automatic: the
smallest of :data:`ZONE_SIZES_M` at least twice the cell side that gives at most
:data:`MAX_AUTO_ZONES` zones; 0 = one zone per cell); a zone is the union of its
cells and is named after the most prominent OSM ``place`` node inside it (suburb
before quarter before neighbourhood), else by its grid id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from simulator.city.build.cells import CityCells
from simulator.city.build.osm import OsmExtract, tag_name_en
from simulator.city.build.population import normalise_column
from simulator.city.build.report import LayerCount

__all__ = ["MAX_AUTO_ZONES", "ZONE_SIZES_M", "Zones", "build_zones", "zone_lookup"]

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


@dataclass
class Zones:
    """The zones of the bundle (metric geometries) and the zone of each cell."""

    ids: list[str]
    names: list[str]
    names_en: list[str]
    geoms: list[shapely.Geometry]
    population: list[int]
    jobs: list[float]
    cells: list[int]  # number of cells per zone
    cell_zone: np.ndarray  # zone id of each cell (object array)
    rule: str
    count: LayerCount


def build_zones(
    cells: CityCells,
    jobs: np.ndarray,
    osm: OsmExtract,
    zone_size_m: float | None,
) -> Zones:
    """Group the cells into zones (see the module docstring) and sum their residents and jobs."""
    count = LayerCount()
    labels: dict[str, str] | None = None
    boundary = cells.boundary
    if boundary is not None and len(boundary.geoms) >= 2 and zone_size_m is None:
        cell_zone_list, labels, rule = _boundary_zones(boundary.geoms, boundary.frame, cells.anchors)
        count.found = len(boundary.geoms)
    else:
        size = _auto_zone_size(cells.anchors, cells.side) if zone_size_m is None else float(zone_size_m)
        if size == 0:
            cell_zone_list, rule = list(cells.ids), "one zone per population cell"
        else:
            cell_zone_list = _grid_zone_ids(cells.anchors, size)
            rule = f"squares of {size:g} m (UTM grid) grouping the cells"
    cell_zone = np.asarray(cell_zone_list, dtype=object)
    zones = Zones(
        ids=sorted(set(cell_zone)),
        names=[],
        names_en=[],
        geoms=[],
        population=[],
        jobs=[],
        cells=[],
        cell_zone=cell_zone,
        rule=rule,
        count=count,
    )
    for zone_id in zones.ids:
        members = np.flatnonzero(cell_zone == zone_id)
        zones.geoms.append(shapely.union_all(cells.geoms[members]))
        zones.population.append(int(cells.population[members].sum()))
        zones.jobs.append(float(jobs[members].sum()))
        zones.cells.append(len(members))
    if labels is not None:
        zones.names = [labels[z] for z in zones.ids]
        zones.names_en = list(zones.names)
    else:
        zones.names, zones.names_en = _name_zones(zones.geoms, zones.ids, _places(osm, cells.inside))
    count.kept = len(zones.ids)
    count.found = max(count.found, count.kept)
    count.dropped = count.found - count.kept
    count.note = rule + (f"; {count.dropped} boundary polygons hold no cell" if count.dropped else "")
    return zones


def zone_lookup(zone_geoms: list[shapely.Geometry], zone_ids: list[str]) -> Callable[[np.ndarray], list[str]]:
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
        (c for c in boundary_frame.columns if normalise_column(c) in ("name", "nimi", "namn", "name_en")), None
    )
    labels = {}
    for b, zone_id in enumerate(ids):
        value = boundary_frame[label_column].iloc[b] if label_column else None
        labels[zone_id] = str(value) if isinstance(value, str) and value.strip() else zone_id
    return [ids[o] for o in owner], labels, "one zone per boundary polygon"


def _auto_zone_size(centroids: np.ndarray, cell_side: float) -> float:
    """The smallest of ZONE_SIZES_M at least twice the cell side giving at most MAX_AUTO_ZONES squares."""
    for size in ZONE_SIZES_M:
        if size < 2 * cell_side:
            continue
        keys = np.floor(centroids / size).astype(np.int64)
        if len(np.unique(keys, axis=0)) <= MAX_AUTO_ZONES:
            return size
    return ZONE_SIZES_M[-1]


def _grid_zone_ids(centroids: np.ndarray, size: float) -> list[str]:
    """``E<km>N<km>`` of the south-west corner of the square of side ``size`` holding each point."""
    corner = np.floor(centroids / size) * size / 1000.0
    return [f"E{x:g}N{y:g}" for x, y in corner]


def _name_zones(
    zone_geoms: list[shapely.Geometry], zone_ids: list[str], places: pd.DataFrame
) -> tuple[list[str], list[str]]:
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


def _places(osm: OsmExtract, inside: Callable[[shapely.Geometry], bool]) -> pd.DataFrame:
    """Named ``place=*`` nodes of :data:`PLACE_RANKS` inside the city: osm, name, name_en, rank, x, y."""
    rows = []
    for tags, osm_key, x, y in zip(osm.points["tags"], osm.points["osm"], osm.points["x"], osm.points["y"]):
        rank = PLACE_RANKS.get(tags.get("place", ""))
        if rank is None or not tags.get("name") or not np.isfinite(x) or not inside(shapely.Point(x, y)):
            continue
        rows.append({"osm": osm_key, "name": tags["name"], "name_en": tag_name_en(tags), "rank": rank, "x": x, "y": y})
    return pd.DataFrame(rows, columns=["osm", "name", "name_en", "rank", "x", "y"])

"""Transit lines and links from route relations: stops along the track, duplicate routes merged, walking transfers.

GDAL does not expose relation members, so a route's stations are the stations of
a compatible mode within :data:`STATION_SNAP_M` of its track, ordered along the
merged track piece that holds the most of them; distances are along the track
(at least the straight line). Routes with the same station sequence (directions,
lines sharing a track) become one line. Stations closer than
:data:`TRANSFER_RADIUS_M` on different lines get a walking transfer. Only the
largest connected network is kept; stations on no line and smaller networks are
dropped and counted. No transit is valid.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.ops import substring

from simulator.city.build.osm import OsmExtract
from simulator.city.build.report import LayerCount
from simulator.city.build.stations import ROUTE_MODES, read_stations

__all__ = ["STATION_SNAP_M", "TRANSFER_RADIUS_M", "WALK_METRES_PER_SECOND", "Transit", "build_transit"]

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
#: Stations on different lines closer than this are joined by a walking transfer.
TRANSFER_RADIUS_M = 300.0
WALK_METRES_PER_SECOND = 1.2

_LINE_COLUMNS = [
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
]
_LINK_COLUMNS = ["from_station", "to_station", "line_id", "kind", "distance_m", "walk_seconds"]


@dataclass
class Transit:
    """Stations, lines and links of the largest connected network (metric geometries)."""

    stations: pd.DataFrame
    lines: pd.DataFrame
    links: pd.DataFrame
    notes: list[str]


@dataclass
class _Route:
    """Route relations with one station sequence: stops along the best track piece, labels, relations."""

    members: np.ndarray  # station indices in track order
    along: np.ndarray  # their positions along ``piece`` in metres
    is_loop: bool
    piece: shapely.LineString
    mode: str
    colour: str
    labels: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)


@dataclass
class _Line:
    """A line before its stations get their final positions: stops, hop distances, track."""

    name: str
    mode: str
    members: np.ndarray
    hops: list[float]
    is_loop: bool
    geometry: shapely.LineString
    relations: list[str]
    colour: str


def build_transit(
    osm: OsmExtract, inside: Callable[[shapely.Geometry], bool], station_count: LayerCount, line_count: LayerCount
) -> Transit:
    """Stations, lines and links of the city (see the module docstring); counts go to the two LayerCounts."""
    found = read_stations(osm, inside, station_count)
    stations = found.frame
    xy = stations[["x", "y"]].to_numpy() if len(stations) else np.zeros((0, 2))
    candidates = _route_candidates(osm, line_count)
    routes, too_few = _merge_routes(candidates, stations, xy)
    lines = [
        _line(route, xy)
        for _, route in sorted(routes.items(), key=lambda kv: (kv[1].mode, sorted(kv[1].labels), kv[0]))
    ]

    on_line = np.zeros(len(stations), dtype=bool)
    for line in lines:
        on_line[line.members] = True
    transfers = _transfers(lines, xy, on_line)
    component = _largest_network(len(stations), lines, transfers, on_line)
    dropped_lines = [line for line in lines if not component[line.members[0]]]
    lines = [line for line in lines if component[line.members[0]]]
    transfers = [t for t in transfers if component[t[0]]]
    off_line = int((~on_line).sum())
    off_network = int((on_line & ~component).sum())

    station_count.dropped = found.bus_stations + found.merged + off_line + off_network
    station_count.note = _join_counts(
        (found.bus_stations, "bus stations"),
        (found.merged, "duplicate nodes merged"),
        (off_line, "on no usable line"),
        (off_network, "in smaller networks"),
    )
    duplicates = len(candidates) - too_few - len(routes)
    line_count.dropped = too_few + duplicates + len(dropped_lines)
    line_count.note = _join_counts(
        (too_few, "with < 2 stations in the city"),
        (duplicates, "same stations as another route (directions, shared track)"),
        (len(dropped_lines), "in smaller networks"),
    )
    notes: list[str] = []
    if dropped_lines or off_network:
        notes.append(
            f"transit: kept the largest connected network; dropped {len(dropped_lines)} lines and "
            f"{off_network} stations not connected to it"
        )
    transit = _tables(stations, lines, transfers, np.flatnonzero(component), notes)
    station_count.kept = len(transit.stations)
    line_count.kept = len(transit.lines)
    if len(transit.stations) == 0:
        notes.append("transit: none usable in the city (commuters use other modes)")
    return transit


def _join_counts(*parts: tuple[int, str]) -> str:
    """``"3 bus stations; 2 in smaller networks"``: the non-zero counts with their labels."""
    return "; ".join(f"{number} {label}" for number, label in parts if number)


def _route_candidates(osm: OsmExtract, count: LayerCount) -> list[tuple[str, dict[str, str], str, Any]]:
    """(relation key, tags, mode, metric geometry) of the rail route relations with a geometry."""
    candidates = []
    for key, tags, status, geometry in zip(
        osm.routes["osm"], osm.routes["tags"], osm.routes["status"], osm.routes["geometry"]
    ):
        mode = tags.get("route")
        if mode not in ROUTE_MODES:
            continue
        count.found += 1
        if geometry is None:
            count.skipped += 1
            continue
        if status == 1:
            count.repaired += 1
        candidates.append((key, tags, mode, geometry))
    return candidates


def _merge_routes(
    candidates: list[tuple[str, dict[str, str], str, Any]], stations: pd.DataFrame, xy: np.ndarray
) -> tuple[dict[tuple[str, ...], _Route], int]:
    """Routes keyed by their station sequence (either direction), and the number with < 2 stations."""
    routes: dict[tuple[str, ...], _Route] = {}
    too_few = 0
    station_points = shapely.points(xy) if len(xy) else np.zeros(0, dtype=object)
    for relation, tags, mode, geometry in candidates:
        best = _route_stops(geometry, mode, stations, station_points)
        if best is None:
            too_few += 1
            continue
        members, along, is_loop, piece = best
        ids = tuple(stations["station_id"].iloc[members])
        key = min(ids, ids[::-1])
        label = tags.get("ref") or tags.get("name") or relation
        route = routes.get(key)
        if route is None:
            route = routes[key] = _Route(members, along, is_loop, piece, mode, tags.get("colour", ""))
        route.relations.append(relation)
        if label not in route.labels:
            route.labels.append(label)
    return routes, too_few


def _route_stops(
    geometry: Any, mode: str, stations: pd.DataFrame, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool, shapely.LineString] | None:
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
    best: tuple[tuple[int, float], tuple[np.ndarray, np.ndarray, bool, shapely.LineString]] | None = None
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


def _line(route: _Route, xy: np.ndarray) -> _Line:
    """The line of a route: hop distances along the track (at least the straight line, 1 m) and its track."""
    members, along = route.members, route.along
    member_xy = xy[members]
    hops = []
    for a in range(len(members) - 1):
        straight = float(np.linalg.norm(member_xy[a + 1] - member_xy[a]))
        hops.append(max(abs(along[a + 1] - along[a]), straight, 1.0))
    if route.is_loop:
        straight = float(np.linalg.norm(member_xy[0] - member_xy[-1]))
        hops.append(max(route.piece.length - along[-1] + along[0], straight, 1.0))
    track = substring(route.piece, along[0], along[-1]) if not route.is_loop else route.piece
    if track is None or track.geom_type != "LineString" or track.length <= 0:
        track = shapely.LineString(np.vstack([member_xy, member_xy[:1]]) if route.is_loop else member_xy)
    return _Line(
        name="/".join(sorted(route.labels)),
        mode=route.mode,
        members=members,
        hops=hops,
        is_loop=route.is_loop,
        geometry=track,
        relations=route.relations,
        colour=route.colour,
    )


def _transfers(lines: list[_Line], xy: np.ndarray, on_line: np.ndarray) -> list[tuple[int, int, float]]:
    """(station, station, metres) of stations on lines within TRANSFER_RADIUS_M that share no line."""
    if len(xy) == 0:
        return []
    shared: list[set[int]] = [set() for _ in range(len(xy))]
    for index, line in enumerate(lines):
        for m in line.members:
            shared[m].add(index)
    return [
        (a, b, float(np.linalg.norm(xy[a] - xy[b])))
        for a, b in sorted(cKDTree(xy).query_pairs(TRANSFER_RADIUS_M))
        if on_line[a] and on_line[b] and not (shared[a] & shared[b])
    ]


def _largest_network(
    n: int, lines: list[_Line], transfers: list[tuple[int, int, float]], on_line: np.ndarray
) -> np.ndarray:
    """Mask of the stations in the largest connected network (most stations; ties: first line)."""
    if n == 0 or not on_line.any():
        return np.zeros(n, dtype=bool)
    rows: list[int] = []
    cols: list[int] = []
    for line in lines:
        rows.extend(line.members[:-1])
        cols.extend(line.members[1:])
    for a, b, _ in transfers:
        rows.append(a)
        cols.append(b)
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels[on_line], minlength=labels.max() + 1)
    best = int(np.argmax(sizes))  # the earliest label on ties
    return (labels == best) & on_line


def _tables(
    stations: pd.DataFrame,
    lines: list[_Line],
    transfers: list[tuple[int, int, float]],
    keep: np.ndarray,
    notes: list[str],
) -> Transit:
    """The kept stations (with their ``lines``), the lines ``L1``, ``L2``, ... and the ride and transfer links."""
    new_position = {int(old): new for new, old in enumerate(keep)}
    stations = stations.iloc[keep].reset_index(drop=True)
    station_ids = list(stations["station_id"])
    line_rows, link_rows = [], []
    station_lines: list[list[str]] = [[] for _ in range(len(stations))]
    for number, line in enumerate(lines, start=1):
        line_id = f"L{number}"
        ids = [station_ids[new_position[int(m)]] for m in line.members]
        for m in line.members:
            station_lines[new_position[int(m)]].append(line_id)
        line_rows.append(
            {
                "line_id": line_id,
                "name": line.name,
                "name_en": line.name,
                "is_loop": bool(line.is_loop),
                "stations": ";".join(ids),
                "distances_m": ";".join(f"{d:.0f}" for d in line.hops),
                "mode": line.mode,
                "color": line.colour,
                "n_stations": len(ids),
                "osm_relations": ";".join(line.relations),
                "geometry": line.geometry,
            }
        )
        pairs = list(itertools.pairwise(ids))
        if line.is_loop:
            pairs.append((ids[-1], ids[0]))
        for (a, b), distance in zip(pairs, line.hops):
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
    return Transit(
        stations=stations,
        lines=pd.DataFrame(line_rows, columns=_LINE_COLUMNS),
        links=pd.DataFrame(link_rows, columns=_LINK_COLUMNS),
        notes=notes,
    )

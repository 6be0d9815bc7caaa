"""Rail station nodes of the extract: which nodes are stations, their modes, nodes of one name merged.

Stations are ``railway=station|halt``, ``public_transport=station`` and
``station=*`` nodes inside the city; bus stations are dropped. Nodes whose names
are the same by :func:`simulator.city.names.normalise_name` and that lie within
:data:`STATION_MERGE_M` of each other are one station at their mean position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import shapely
from scipy.spatial import cKDTree

from simulator.city.build.osm import OsmExtract, tag_name, tag_name_en
from simulator.city.build.report import LayerCount
from simulator.city.names import normalise_name

__all__ = ["ROUTE_MODES", "STATION_MERGE_M", "Stations", "merge_station_nodes", "read_stations", "station_modes"]

#: Rail modes of route relations and station nodes.
ROUTE_MODES = ("subway", "light_rail", "train", "tram", "monorail")
#: Station nodes with the same name closer than this are one station.
STATION_MERGE_M = 300.0


@dataclass
class Stations:
    """Merged station nodes inside the city and what was left out on the way.

    ``frame`` columns: station_id (the first node's osm key), name, name_en,
    modes (set), osm_ids (``;``-list), x, y (metric).
    """

    frame: pd.DataFrame
    bus_stations: int
    merged: int  # nodes merged into another node's station


def read_stations(osm: OsmExtract, inside: Callable[[shapely.Geometry], bool], count: LayerCount) -> Stations:
    """Rail station nodes inside the city, merged by name (see the module docstring)."""
    nodes = []
    for key, tags, geometry in zip(osm.points["osm"], osm.points["tags"], osm.points["geometry"]):
        if not _is_station(tags):
            continue
        count.found += 1
        if geometry is None:
            count.skipped += 1
            continue
        modes = station_modes(tags)
        if modes is None:
            count.dropped += 1
            continue
        if not inside(geometry):
            count.outside += 1
            continue
        nodes.append(
            {
                "osm": key,
                "name": tag_name(tags),
                "name_en": tag_name_en(tags),
                "modes": modes,
                "x": geometry.x,
                "y": geometry.y,
            }
        )
    frame = merge_station_nodes(nodes)
    return Stations(frame=frame, bus_stations=count.dropped, merged=len(nodes) - len(frame))


def station_modes(tags: dict[str, str]) -> set[str] | None:
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


def merge_station_nodes(nodes: list[dict[str, Any]]) -> pd.DataFrame:
    """One station per group of nodes with the same name within :data:`STATION_MERGE_M` (mean position).

    Names are compared by :func:`simulator.city.names.normalise_name`; the
    station takes the id, name and English name of its first node (by osm id).
    """
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

    keys = [normalise_name(n) for n in frame["name"]]
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
    """Order of osm keys: by kind, then by number (``node/9`` before ``node/10``)."""
    kind, _, number = str(key).partition("/")
    return (kind, int(number) if number.isdigit() else 0)

"""Transit graphs of a city: platforms, the platform graph (rides and transfers), the station graph.

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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from simulator.city.columns import optional_texts

if TYPE_CHECKING:
    from simulator.city.bundle import City

__all__ = [
    "DEFAULT_TRANSFER_WALK_SECONDS",
    "TRANSFER_METRES_PER_SECOND",
    "TransitGraphs",
    "shortest_ride_distance",
    "transit_graphs",
]

#: Price of one second of transfer walking, in metres of riding (about the mean
#: subway travel speed, stops included).
TRANSFER_METRES_PER_SECOND: float = 9.0

#: Transfer walking time assumed at a station served by several lines when the
#: bundle has no transfer link for it.
DEFAULT_TRANSFER_WALK_SECONDS: float = 180.0

# Smallest edge weight: csgraph treats weights as distances and a zero would be
# fragile (some sparse operations drop explicit zeros).
_MIN_EDGE_METRES = 1e-3


@dataclass(frozen=True)
class TransitGraphs:
    """Platforms (P) and the two graphs of a city's transit network.

    ``platform_station`` and ``platform_line`` (P,) give the station and line
    index of each platform; ``platform_graph`` (P, P) holds rides and transfers
    in ride metres; ``station_graph`` (S, S) holds ride distances only.
    """

    platform_station: np.ndarray
    platform_line: np.ndarray
    platform_graph: sp.csr_matrix
    station_graph: sp.csr_matrix


@dataclass(frozen=True)
class _RideHops:
    """Every ride hop of every line: from station, to station, metres, line index (aligned arrays)."""

    origin: np.ndarray
    target: np.ndarray
    metres: np.ndarray
    line: np.ndarray


def transit_graphs(
    n_stations: int,
    line_ids: list[str],
    line_stations: list[np.ndarray],
    line_distances: list[np.ndarray],
    line_is_loop: np.ndarray,
    links: pd.DataFrame,
    station_position: dict[str, int],
) -> TransitGraphs:
    """Platforms, platform graph and station graph (see the module docstring).

    Parameters
    ----------
    n_stations
        Number of stations S.
    line_ids
        Id of each line, in line order.
    line_stations, line_distances, line_is_loop
        Per line: station indices in order, metres per hop (closing hop last for
        a loop), whether it is a loop.
    links
        The ``subway_links`` layer (only its transfer rows are used).
    station_position
        Station id -> station index.
    """
    pairs = sorted({(int(s), line) for line, members in enumerate(line_stations) for s in members})
    platform_station = np.array([s for s, _ in pairs], dtype=np.int64)
    platform_line = np.array([line for _, line in pairs], dtype=np.int64)
    platform_of = {pair: p for p, pair in enumerate(pairs)}

    hops = _ride_hops(line_stations, line_distances, line_is_loop)
    station_graph = _min_graph(
        np.concatenate([hops.origin, hops.target]),
        np.concatenate([hops.target, hops.origin]),
        np.concatenate([hops.metres, hops.metres]),
        n_stations,
    )
    pa = np.array([platform_of[(int(s), int(line))] for s, line in zip(hops.origin, hops.line)], dtype=np.int64)
    pb = np.array([platform_of[(int(s), int(line))] for s, line in zip(hops.target, hops.line)], dtype=np.int64)
    t_rows, t_cols, t_weights = _transfer_edges(platform_station, platform_of, links, line_ids, station_position)
    platform_graph = _min_graph(
        np.concatenate([pa, pb, t_rows]),
        np.concatenate([pb, pa, t_cols]),
        np.concatenate([hops.metres, hops.metres, t_weights]),
        len(pairs),
    )
    return TransitGraphs(platform_station, platform_line, platform_graph, station_graph)


def shortest_ride_distance(city: City, a: int | str, b: int | str) -> float:
    """Shortest ride distance in metres between two stations over ``station_graph``.

    ``a`` and ``b`` are station indices or anything :meth:`City.station_index`
    accepts. Transfers cost nothing here. Returns ``inf`` when no ride path exists.
    """
    i = a if isinstance(a, (int, np.integer)) else city.station_index(a)
    j = b if isinstance(b, (int, np.integer)) else city.station_index(b)
    distances = dijkstra(city.station_graph, directed=True, indices=int(i))
    return float(distances[int(j)])


def _ride_hops(
    line_stations: list[np.ndarray], line_distances: list[np.ndarray], line_is_loop: np.ndarray
) -> _RideHops:
    """Consecutive stations of each line (and the closing hop of a loop) with their distances."""
    ride_from, ride_to, ride_metres = [], [], []
    for line, (members, distances) in enumerate(zip(line_stations, line_distances)):
        hops_to = members[1:]
        if line_is_loop[line]:
            hops_to = np.append(hops_to, members[0])
        ride_from.append(members[: hops_to.size])
        ride_to.append(hops_to)
        ride_metres.append(distances)
    if not ride_from:
        empty = np.zeros(0, dtype=np.int64)
        return _RideHops(empty, empty, np.zeros(0), empty)
    return _RideHops(
        origin=np.concatenate(ride_from),
        target=np.concatenate(ride_to),
        metres=np.concatenate(ride_metres),
        line=np.concatenate([np.full(x.size, i) for i, x in enumerate(ride_from)]),
    )


def _transfer_edges(
    platform_station: np.ndarray,
    platform_of: dict[tuple[int, int], int],
    links: pd.DataFrame,
    line_ids: list[str],
    station_position: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transfer edges between platforms (rows, columns, ride metres), by the rules of the module docstring."""
    platforms_at: dict[int, list[int]] = {}
    for p, s in enumerate(platform_station):
        platforms_at.setdefault(int(s), []).append(p)
    line_position = {line_id: i for i, line_id in enumerate(line_ids)}
    explicit: dict[tuple[int, int], float] = {}  # (platform, platform) -> metres, from rows naming lines
    own_walk: dict[int, list[float]] = {}  # station -> walk seconds of rows without lines
    station_pairs: list[tuple[int, int, float]] = []  # virtual transfers without lines
    transfers = links[links["kind"] == "transfer"] if len(links) else links
    for origin, target, walk, line_a, line_b in zip(
        transfers.get("from_station", []),
        transfers.get("to_station", []),
        transfers.get("walk_seconds", []),
        optional_texts(transfers, "from_line"),
        optional_texts(transfers, "to_line"),
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

    edges: list[tuple[int, int, float]] = [(p, q, metres) for (p, q), metres in explicit.items()]
    for i, j, metres in station_pairs:
        for p in platforms_at.get(i, []):
            for q in platforms_at.get(j, []):
                edges.extend((*edge, metres) for edge in ((p, q), (q, p)) if edge not in explicit)
    for station, platforms in platforms_at.items():
        if len(platforms) < 2:
            continue
        walk = float(np.mean(own_walk[station])) if station in own_walk else DEFAULT_TRANSFER_WALK_SECONDS
        edges.extend(
            (p, q, walk * TRANSFER_METRES_PER_SECOND)
            for p in platforms
            for q in platforms
            if p != q and (p, q) not in explicit
        )
    return (
        np.asarray([e[0] for e in edges], dtype=np.int64),
        np.asarray([e[1] for e in edges], dtype=np.int64),
        np.asarray([e[2] for e in edges], dtype=np.float64),
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

"""Compiled loops of the exposure build (numba, one thread: results never depend on threads).

* :func:`consumer_classes`: each consumer's class, the rank of its (home cell, work cell,
  mode) key among the distinct keys (what ``np.unique(key, return_inverse=True)`` gives),
  found with one slot table per home cell instead of a sort of every consumer's key;
* :func:`segments_near_points`: the (segment, store) pairs with the store within its radius
  of the segment, by GEOS's own point-to-segment distance (the same operations in the same
  order, so the same doubles as ``shapely.distance``), with the stores sorted by x so a
  segment only looks at the stores inside its bounding box widened by the largest radius;
* :func:`transfer_stations`: the stations where a rider enters, leaves or changes lines,
  for every origin-destination pair, from Dijkstra's predecessors.
"""

from __future__ import annotations

import numba
import numpy as np

N_MODE_CODES = 5  # MODE_NONE .. MODE_ACTIVE


@numba.njit(cache=True)
def _local_classes(home: np.ndarray, work: np.ndarray, mode: np.ndarray, n_cells: int):
    """Distinct keys per run of equal home cells, and each consumer's local key number."""
    n = len(home)
    width = (n_cells + 1) * N_MODE_CODES
    slot = np.full(width, -1, dtype=np.int32)
    touched = np.empty(width, dtype=np.int64)
    local = np.empty(n, dtype=np.int32)
    keys = np.empty(max(n, 1), dtype=np.int64)
    n_keys = 0
    n_touched = 0
    current = -1
    for i in range(n):
        if home[i] != current:
            for t in range(n_touched):
                slot[touched[t]] = -1
            n_touched = 0
            current = home[i]
        column = (np.int64(work[i]) + 1) * N_MODE_CODES + mode[i]
        found = slot[column]
        if found < 0:
            found = n_keys
            slot[column] = found
            touched[n_touched] = column
            n_touched += 1
            keys[n_keys] = np.int64(home[i]) * width + column
            n_keys += 1
        local[i] = found
    return local, keys[:n_keys]


@numba.njit(cache=True)
def _relabel(local: np.ndarray, rank: np.ndarray) -> None:
    for i in range(len(local)):
        local[i] = rank[local[i]]


def consumer_classes(home: np.ndarray, work: np.ndarray, mode: np.ndarray, n_cells: int):
    """Classes of consumers sharing home cell, work cell (-1: none) and mode.

    The class key is ``((home (n_cells + 1) + work + 1) 5 + mode``; classes are numbered in
    increasing key order, so the result is ``np.unique(key, return_inverse=True)``. Keys are
    collected per run of equal home cells (synthesis groups consumers by home cell, so each
    key is found once; otherwise a key found in several runs is merged by the final
    ``np.unique`` of the keys found, which is small).

    Returns
    -------
    class_keys : numpy.ndarray of int64, shape (classes,)
    consumer_class : numpy.ndarray of int32, shape (N,)
    """
    local, keys = _local_classes(
        np.asarray(home, dtype=np.int32), np.asarray(work, dtype=np.int32), np.asarray(mode, dtype=np.int8), n_cells
    )
    class_keys, rank = np.unique(keys, return_inverse=True)
    _relabel(local, rank.astype(np.int32))
    return class_keys, local


@numba.njit(cache=True)
def point_segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from point p to segment ab, as GEOS computes it (``Distance::pointToSegment``)."""
    if ax == bx and ay == by:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    length2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length2
    if r <= 0.0:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / length2
    return abs(s) * np.sqrt(length2)


@numba.njit(cache=True)
def _segments_near_points(starts, ends, point_xy, radius, order):
    n_segments = len(starts)
    sorted_x = point_xy[order, 0]
    widest = radius.max()
    capacity = max(16, 2 * n_segments)
    segment = np.empty(capacity, dtype=np.int64)
    point = np.empty(capacity, dtype=np.int64)
    found = 0
    for i in range(n_segments):
        ax, ay, bx, by = starts[i, 0], starts[i, 1], ends[i, 0], ends[i, 1]
        low_x, high_x = min(ax, bx) - widest, max(ax, bx) + widest
        low_y, high_y = min(ay, by) - widest, max(ay, by) + widest
        k = np.searchsorted(sorted_x, low_x)
        while k < len(order) and sorted_x[k] <= high_x:
            j = order[k]
            k += 1
            px, py = point_xy[j, 0], point_xy[j, 1]
            if py < low_y or py > high_y:
                continue
            if point_segment_distance(px, py, ax, ay, bx, by) <= radius[j]:
                if found == capacity:
                    capacity *= 2
                    segment = np.resize(segment, capacity)
                    point = np.resize(point, capacity)
                segment[found] = i
                point[found] = j
                found += 1
    return segment[:found].copy(), point[:found].copy()


def segments_near_points(
    starts: np.ndarray, ends: np.ndarray, point_xy: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (segment i, point j) with ``distance(segment i, point j) <= radius[j]``.

    Ordered by segment, then by the points' x. The distance is GEOS's (:func:`point_segment_distance`).

    Returns
    -------
    segment, point : numpy.ndarray of int64
    """
    if len(starts) == 0 or len(point_xy) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    point_xy = np.ascontiguousarray(point_xy, dtype=np.float64)
    order = np.argsort(point_xy[:, 0], kind="stable")
    return _segments_near_points(
        np.ascontiguousarray(starts, dtype=np.float64),
        np.ascontiguousarray(ends, dtype=np.float64),
        point_xy,
        np.asarray(radius, dtype=np.float64),
        order,
    )


@numba.njit(cache=True)
def transfer_stations(
    origins: np.ndarray,
    destinations: np.ndarray,
    platform_indptr: np.ndarray,
    platforms: np.ndarray,
    source_row: np.ndarray,
    distances: np.ndarray,
    predecessors: np.ndarray,
    platform_station: np.ndarray,
    n_stations: int,
):
    """Stations entered, left or changed at, per origin-destination station pair (CSR, sorted).

    For each pair the path is the shortest between any platform ``p`` of the origin and
    any platform ``q`` of the destination (ties: the smallest ``p``, then ``q``; the same
    choice as ``min`` over ``(distance, p, q)``); walking the predecessors back from ``q``,
    an edge between two platforms of one station is a change of lines there. Unreachable
    pairs pass their origin and destination only.

    Returns
    -------
    indptr : numpy.ndarray of int64, shape (pairs + 1,)
    stations : numpy.ndarray of int64 (each row's stations increasing)
    """
    n_pairs = len(origins)
    indptr = np.zeros(n_pairs + 1, dtype=np.int64)
    capacity = max(16, 3 * n_pairs)
    stations = np.empty(capacity, dtype=np.int64)
    mark = np.zeros(n_stations, dtype=np.bool_)
    row_stations = np.empty(n_stations, dtype=np.int64)
    for pair in range(n_pairs):
        o, d = origins[pair], destinations[pair]
        count = 0
        for s in (o, d):
            if not mark[s]:
                mark[s] = True
                row_stations[count] = s
                count += 1
        if o != d:
            best, best_p, best_q = np.inf, -1, -1
            for a in range(platform_indptr[o], platform_indptr[o + 1]):
                p = platforms[a]
                for b in range(platform_indptr[d], platform_indptr[d + 1]):
                    q = platforms[b]
                    value = distances[source_row[p], q]
                    if best_p < 0 or value < best or (value == best and (p < best_p or (p == best_p and q < best_q))):
                        best, best_p, best_q = value, p, q
            if best_p >= 0 and np.isfinite(best):
                row = source_row[best_p]
                node = best_q
                while node != best_p and node >= 0:
                    previous = predecessors[row, node]
                    if previous >= 0 and platform_station[previous] == platform_station[node]:
                        s = platform_station[node]
                        if not mark[s]:
                            mark[s] = True
                            row_stations[count] = s
                            count += 1
                    node = previous
        row_sorted = np.sort(row_stations[:count])
        start = indptr[pair]
        while start + count > capacity:
            capacity *= 2
            stations = np.resize(stations, capacity)
        for c in range(count):
            stations[start + c] = row_sorted[c]
            mark[row_sorted[c]] = False
        indptr[pair + 1] = start + count
    return indptr, stations[: indptr[n_pairs]].copy()


@numba.njit(cache=True)
def row_store_order(rows: np.ndarray, stores: np.ndarray, n_rows: int) -> np.ndarray:
    """``np.lexsort((stores, rows))`` for rows in ``[0, n_rows)``: a stable counting sort by row,
    then a stable insertion sort by store within each row (rows hold a few entries each)."""
    count = np.zeros(n_rows + 1, dtype=np.int64)
    for e in range(len(rows)):
        count[rows[e] + 1] += 1
    for r in range(n_rows):
        count[r + 1] += count[r]
    order = np.empty(len(rows), dtype=np.int64)
    position = count[:-1].copy()
    for e in range(len(rows)):
        order[position[rows[e]]] = e
        position[rows[e]] += 1
    for r in range(n_rows):
        for a in range(count[r] + 1, count[r + 1]):
            entry = order[a]
            b = a - 1
            while b >= count[r] and stores[order[b]] > stores[entry]:
                order[b + 1] = order[b]
                b -= 1
            order[b + 1] = entry
    return order


def unique_below(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for integers in ``[0, size)``, by a table of ``size`` (no sort)."""
    values = np.asarray(values, dtype=np.int64)
    present = np.zeros(size, dtype=bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[values]


def unique_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for nondecreasing ``values``, by their runs (no sort)."""
    values = np.asarray(values)
    first = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return values[first], np.cumsum(first) - 1

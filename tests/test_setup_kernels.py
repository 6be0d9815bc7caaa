"""The compiled set-up loops give what the numpy, shapely and Python code they replace gave, bit for bit.

Each test keeps the former implementation as its oracle: ``np.unique`` for the consumer
classes, an STRtree query with ``shapely.distance`` for the stores near a route,
``np.lexsort`` for the order of the exposure entries, the Python walk over Dijkstra's
predecessors for the stations passed, ``np.bincount`` for the sums by cell and zone,
``counter_uniforms`` for the initial status and per-consumer coordinate arrays for the store
choice.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse import random as sparse_random
from scipy.sparse.csgraph import dijkstra

from simulator.model.consumers import initial_status
from simulator.model.dynamics import IN_MARKET, OUT_OF_MARKET, PENT_UP
from simulator.model.exposure import stations_passed
from simulator.model.exposure_kernels import (
    consumer_classes,
    point_segment_distance,
    row_store_order,
    segments_near_points,
    unique_below,
    unique_sorted,
)
from simulator.model.group_sums import (
    add_at_least_by_group,
    add_by_group,
    add_squares_by_group,
    count_by_group,
)
from simulator.model.rng import STREAM_INITIAL_MARKET, STREAM_PENT_UP, counter_uniforms

# --------------------------------------------------------------------------- classes


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3000), n_cells=st.integers(1, 60), grouped=st.booleans(), seed=st.integers(0, 10**6))
def test_consumer_classes_are_np_unique_of_the_class_key(n, n_cells, grouped, seed):
    rng = np.random.default_rng(seed)
    home = rng.integers(0, n_cells, n).astype(np.int32)
    if grouped:
        home = np.sort(home)
    work = np.where(rng.random(n) < 0.4, -1, rng.integers(0, n_cells, n)).astype(np.int32)
    mode = np.where(work < 0, 0, rng.integers(1, 5, n)).astype(np.int8)
    key = (home.astype(np.int64) * (n_cells + 1) + work.astype(np.int64) + 1) * 5 + mode
    expected_keys, expected_class = np.unique(key, return_inverse=True)
    keys, classes = consumer_classes(home, work, mode, n_cells)
    np.testing.assert_array_equal(keys, expected_keys)
    np.testing.assert_array_equal(classes, expected_class)
    assert classes.dtype == np.int32


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2000), size=st.integers(1, 500), seed=st.integers(0, 10**6))
def test_unique_without_a_sort_is_np_unique(n, size, seed):
    values = np.random.default_rng(seed).integers(0, size, n)
    for got, expected in (
        (unique_below(values, size), np.unique(values, return_inverse=True)),
        (unique_sorted(np.sort(values)), np.unique(np.sort(values), return_inverse=True)),
    ):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


# --------------------------------------------------------------------------- stores near routes


def _shapely_pairs(starts, ends, xy, radius):
    """The former implementation: one STRtree query, filtered by shapely's distance."""
    points = shapely.points(xy)
    segments = shapely.linestrings(np.stack([starts, ends], axis=1))
    segment, store = shapely.STRtree(points).query(segments, predicate="dwithin", distance=float(radius.max()))
    close = shapely.distance(segments[segment], points[store]) <= radius[store]
    return set(zip(segment[close].tolist(), store[close].tolist()))


@settings(max_examples=40, deadline=None)
@given(segments=st.integers(1, 300), stores=st.integers(1, 40), seed=st.integers(0, 10**6))
def test_stores_near_segments_are_those_of_the_strtree_query(segments, stores, seed):
    rng = np.random.default_rng(seed)
    starts = np.round(rng.uniform(0, 5000, (segments, 2)), 1)
    ends = np.where(rng.random((segments, 1)) < 0.1, starts, np.round(rng.uniform(0, 5000, (segments, 2)), 1))
    xy = np.round(rng.uniform(0, 5000, (stores, 2)), 1)
    radius = rng.choice([50.0, 150.0, 400.0], stores)
    segment, store = segments_near_points(starts, ends, xy, radius)
    assert set(zip(segment.tolist(), store.tolist())) == _shapely_pairs(starts, ends, xy, radius)
    assert len(set(zip(segment.tolist(), store.tolist()))) == len(segment)


def test_point_segment_distance_is_geos_to_the_last_bit():
    rng = np.random.default_rng(7)
    a, b, p = (rng.uniform(-1e4, 1e4, (2000, 2)) for _ in range(3))
    b[:100] = a[:100]  # degenerate segments: a point
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    expected = shapely.distance(lines, shapely.points(p))
    got = np.array([point_segment_distance(*p[i], *a[i], *b[i]) for i in range(len(p))])
    np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------------- entries order


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2000), rows=st.integers(1, 300), stores=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_entries_order_is_the_lexsort_order(n, rows, stores, seed):
    rng = np.random.default_rng(seed)
    row, store = rng.integers(0, rows, n), rng.integers(0, stores, n)
    np.testing.assert_array_equal(row_store_order(row, store, rows), np.lexsort((store, row)))


# --------------------------------------------------------------------------- stations passed


def _python_stations_passed(city, origins, destinations):
    """The former implementation: a Python walk over the predecessors of each pair."""
    platform_station = np.asarray(city.platform_station)
    platforms_of = [np.flatnonzero(platform_station == s) for s in range(len(city.station_xy))]
    sources = np.concatenate([platforms_of[s] for s in np.unique(origins)])
    distances, predecessors = dijkstra(city.platform_graph, directed=True, indices=sources, return_predecessors=True)
    source_row = {int(p): r for r, p in enumerate(sources)}
    rows, columns = [], []
    for pair, (o, d) in enumerate(zip(origins, destinations)):
        seen = {int(o), int(d)}
        if o != d:
            candidates = [
                (distances[source_row[int(p)]][q], int(p), int(q)) for p in platforms_of[o] for q in platforms_of[d]
            ]
            best, p, q = min(candidates)
            if np.isfinite(best):
                node = q
                while node != p and node >= 0:
                    previous = predecessors[source_row[p]][node]
                    if previous >= 0 and platform_station[previous] == platform_station[node]:
                        seen.add(int(platform_station[node]))
                    node = previous
        rows.extend([pair] * len(seen))
        columns.extend(seen)
    return coo_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(origins), len(city.station_xy))).tocsr()


def _random_network(seed: int):
    """A random platform graph: 1 to 3 platforms per station, rides and transfers, some unreachable."""
    rng = np.random.default_rng(seed)
    stations = int(rng.integers(2, 25))
    platform_station = np.repeat(np.arange(stations), rng.integers(1, 4, stations))
    n = len(platform_station)
    graph = sparse_random(n, n, density=min(1.0, 3.0 / n), random_state=seed, format="csr")
    graph.data = np.round(graph.data * 5, 1) + 0.1  # ties in path lengths happen
    same = np.flatnonzero(platform_station[:-1] == platform_station[1:])
    transfers = coo_matrix((np.full(len(same), 0.3), (same, same + 1)), shape=(n, n))
    graph = (graph + transfers + transfers.T).tocsr()
    return SimpleNamespace(platform_station=platform_station, station_xy=np.zeros((stations, 2)), platform_graph=graph)


@pytest.mark.parametrize("seed", range(12))
def test_stations_passed_are_those_of_the_python_walk(seed):
    city = _random_network(seed)
    rng = np.random.default_rng(seed)
    stations = len(city.station_xy)
    origins, destinations = rng.integers(0, stations, 60), rng.integers(0, stations, 60)
    expected = _python_stations_passed(city, origins, destinations)
    got = stations_passed(city, origins, destinations)
    assert (got != expected).nnz == 0
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_stations_passed_on_the_tiny_city(tiny_city):
    stations = len(tiny_city.station_xy)
    origins, destinations = np.divmod(np.arange(stations * stations), stations)
    expected = _python_stations_passed(tiny_city, origins, destinations)
    assert (stations_passed(tiny_city, origins, destinations) != expected).nnz == 0
    assert expected.sum() > 2 * stations * (stations - 1)  # some paths change lines


# --------------------------------------------------------------------------- sums by group


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 5000), groups=st.integers(1, 50), block=st.integers(1, 700), seed=st.integers(0, 10**6))
def test_sums_by_group_are_bincount_to_the_last_bit_in_any_blocks(n, groups, block, seed):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n).astype(np.int32)
    values = rng.random(n) ** 3
    centre = float(values.mean()) if n else 0.0
    sums, at_least, squares = np.zeros(groups), np.zeros(groups), np.zeros(groups)
    for first in range(0, n, block):
        part = slice(first, first + block)
        add_by_group(group[part], values[part], sums)
        add_at_least_by_group(group[part], values[part], 0.5, at_least)
        add_squares_by_group(group[part], values[part], centre, squares)
    np.testing.assert_array_equal(sums, np.bincount(group, weights=values, minlength=groups))
    np.testing.assert_array_equal(at_least, np.bincount(group, weights=(values >= 0.5).astype(float), minlength=groups))
    np.testing.assert_array_equal(squares, np.bincount(group, weights=(values - centre) ** 2, minlength=groups))
    counts = count_by_group(group, groups)
    np.testing.assert_array_equal(counts, np.bincount(group, minlength=groups))
    assert counts.dtype == np.int64


# --------------------------------------------------------------------------- initial status


@pytest.mark.parametrize(("in_market", "pent_up"), [(0.013, 0.0), (0.02, 0.005), (0.0, 0.3), (1.0, 0.0)])
def test_initial_status_is_that_of_the_counter_uniforms(in_market, pent_up):
    key, n = 987654321987, 200_000
    everyone = np.arange(n)
    expected = np.where(
        counter_uniforms(key, 0, STREAM_INITIAL_MARKET, everyone) < in_market, IN_MARKET, OUT_OF_MARKET
    ).astype(np.uint8)
    if pent_up > 0:
        expected[counter_uniforms(key, 0, STREAM_PENT_UP, everyone) < pent_up] = PENT_UP
    status = np.empty(n, dtype=np.uint8)
    initial_status(np.uint64(key), in_market, pent_up, status)
    np.testing.assert_array_equal(status, expected)

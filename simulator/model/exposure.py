"""Geometry to sighting rates: the sparse consumers x stores exposure matrices.

Evaluated once per (population, plan), vectorised. Consumers who share a home cell, a
work cell and a commute mode share their routes, so rates are computed per such *class*
and consumer ``i`` reads row ``consumer_class[i]``: the consumers x stores matrix is the
product of a consumer-to-class indicator and a (smaller) classes x stores matrix. Routes
start and end at cell centroids.

Sources of sightings (rates are expected sightings per day; a pass within a store's
visibility radius is a sighting with the format's per-pass probability):

* **subway commuters** (weekdays, two trips): the stations where they enter, leave and
  change lines (shortest path on the platform graph: rides at official distances,
  transfers at their walking time) see the stores within ``visibility_radius +
  STATION_CATCHMENT_M`` of the station; the walking legs between home/work and the
  stations see the stores within the radius of the leg;
* **bus and car commuters** (weekdays, two trips): the straight line from home to work
  (no road network yet) sees street-facing stores within their radius, with the
  ``vehicle`` probability and the vehicle sighting weight;
* **active commuters**: the same line on foot, with the ``walk`` probability and weight;
* **mall visits** (every day, weekend-weighted): each home cell's repertoire is its
  ``malls_in_repertoire`` nearest malls of the bundle plus an outside option, the
  unlisted local malls (attractiveness ``A_0`` at distance ``d_0``), chosen by Huff
  (``A_m d^-lambda``); a visit to a bundle mall sees each store inside it with the
  format's ``mall_visit`` probability. Without the outside option, a consumer 60 km from
  the nearest listed mall would still shop there every week.

Opening and closing stores later only masks columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from simulator.model.exposure_kernels import (
    consumer_classes,
    row_store_order,
    segments_near_points,
    transfer_stations,
    unique_below,
    unique_sorted,
)
from simulator.model.plan import FORMATS, PlacedStores
from simulator.model.population import MODE_ACTIVE, MODE_BUS, MODE_CAR, MODE_SUBWAY, Population

STATION_CATCHMENT_M = 100.0
TRIPS_PER_COMMUTE_DAY = 2.0
WEEKDAYS_PER_WEEK = 5.0
WEEKEND_DAYS_PER_WEEK = 2.0
MALL_MIN_DISTANCE_KM = 0.5
MEMO_KEPT = 8
"""Derived structures an :class:`Exposure` keeps at most (one per set of open stores seen)."""


@dataclass(frozen=True)
class Exposure:
    """Sighting rates per consumer class and store (CSR), and the consumer-to-class map.

    Attributes
    ----------
    consumer_class : numpy.ndarray of int32, shape (N,)
    indptr : numpy.ndarray of int64, shape (n_classes + 1,)
    indices : numpy.ndarray of int32
        Store index of each entry.
    rate_weekday, rate_weekend : numpy.ndarray of float32
        Expected sightings per day of the entry's store by a consumer of the class.
    weight_weekday, weight_weekend : numpy.ndarray of float32
        Mean sighting weight of the entry (walk 1, vehicle 0.4, mall 1 by default), the
        rate-weighted mean over the entry's sources.
    diagnostics : dict
    """

    consumer_class: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    rate_weekday: np.ndarray
    rate_weekend: np.ndarray
    weight_weekday: np.ndarray
    weight_weekend: np.ndarray
    n_stores: int
    diagnostics: dict = field(default_factory=dict)
    memo: dict = field(default_factory=dict, compare=False, repr=False)
    """Structures derived from these rates alone (e.g. the kernel's per-day CSR of each set
    of open stores), kept by :meth:`remember` for runs that share this exposure."""

    @property
    def n_classes(self) -> int:
        return len(self.indptr) - 1

    def remember(self, key: object, value: object) -> None:
        """Keep ``value`` in :attr:`memo` under ``key``; the oldest of more than ``MEMO_KEPT`` go."""
        self.memo[key] = value
        while len(self.memo) > MEMO_KEPT:
            del self.memo[next(iter(self.memo))]

    def class_matrix(self, weekend: bool) -> csr_matrix:
        """Classes x stores rate matrix (scipy CSR) for a weekday or a weekend day."""
        data = self.rate_weekend if weekend else self.rate_weekday
        return csr_matrix((data, self.indices, self.indptr), shape=(self.n_classes, self.n_stores))

    def consumer_rates(self, consumer_indices: np.ndarray, weekend: bool = False) -> np.ndarray:
        """Dense rates (len(consumer_indices) x stores) of some consumers, for tests and reports."""
        return self.class_matrix(weekend)[self.consumer_class[consumer_indices]].toarray()


class _Entries:
    """Collects (class, store, rates, weighted rates) quadruples from several sources."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, rows, stores, rate_weekday, rate_weekend, weight_weekday, weight_weekend) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        shape = rows.shape
        self.parts.append(
            (
                rows,
                np.asarray(stores, dtype=np.int64),
                np.broadcast_to(np.asarray(rate_weekday, dtype=np.float64), shape),
                np.broadcast_to(np.asarray(rate_weekend, dtype=np.float64), shape),
                np.broadcast_to(np.asarray(rate_weekday, dtype=np.float64) * weight_weekday, shape),
                np.broadcast_to(np.asarray(rate_weekend, dtype=np.float64) * weight_weekend, shape),
            )
        )

    def to_csr(self, n_rows: int) -> tuple[np.ndarray, ...]:
        if not self.parts:
            empty32 = np.zeros(0, dtype=np.float32)
            return np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), empty32, empty32, empty32, empty32
        rows, stores, *values = (np.concatenate(column) for column in zip(*self.parts))
        order = row_store_order(rows, stores, n_rows)  # np.lexsort((stores, rows)), in linear time
        rows, stores = rows[order], stores[order]
        values = [v[order] for v in values]
        first = np.r_[True, (rows[1:] != rows[:-1]) | (stores[1:] != stores[:-1])]
        starts = np.flatnonzero(first)
        rows, stores = rows[starts], stores[starts]
        rate_wd, rate_we, wrate_wd, wrate_we = (np.add.reduceat(v, starts) for v in values)
        keep = (rate_wd > 0) | (rate_we > 0)
        rows, stores = rows[keep], stores[keep]
        rate_wd, rate_we, wrate_wd, wrate_we = rate_wd[keep], rate_we[keep], wrate_wd[keep], wrate_we[keep]
        weight_wd = np.divide(wrate_wd, rate_wd, out=np.zeros_like(rate_wd), where=rate_wd > 0)
        weight_we = np.divide(wrate_we, rate_we, out=np.zeros_like(rate_we), where=rate_we > 0)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return (
            indptr,
            stores.astype(np.int32),
            rate_wd.astype(np.float32),
            rate_we.astype(np.float32),
            weight_wd.astype(np.float32),
            weight_we.astype(np.float32),
        )


def build_exposure(city, population: Population, stores: PlacedStores, behaviour, population_settings) -> Exposure:
    """Evaluate the geometry once into sighting rates.

    Parameters
    ----------
    city : simulator.city.bundle.City
    population : Population
    stores : PlacedStores
    behaviour : simulator.config.scenario.Behaviour
        Sighting probabilities per format and sighting weights.
    population_settings : simulator.config.scenario.PopulationSettings
        Mall visits per week, weekend share, repertoire size and Huff lambda for malls.

    Returns
    -------
    Exposure
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    n_cells = len(city.cell_xy)
    class_keys, consumer_class = consumer_classes(population.home_cell, population.work_cell, population.mode, n_cells)
    class_mode = (class_keys % 5).astype(np.int8)
    class_work = ((class_keys // 5) % (n_cells + 1) - 1).astype(np.int64)
    class_home = ((class_keys // 5) // (n_cells + 1)).astype(np.int64)
    n_classes = len(class_keys)

    probability = _per_store_probabilities(stores, behaviour)
    entries = _Entries()
    timings = {}
    if len(stores):
        tick = time.perf_counter()
        _add_mall_visits(entries, city, stores, probability["mall_visit"], class_home, behaviour, population_settings)
        timings["mall_visits_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        _add_subway(entries, city, stores, probability["walk"], class_home, class_work, class_mode, behaviour)
        timings["subway_s"] = time.perf_counter() - tick
        tick = time.perf_counter()
        _add_surface(entries, city, stores, probability, class_home, class_work, class_mode, behaviour)
        timings["surface_s"] = time.perf_counter() - tick
    indptr, indices, rate_wd, rate_we, weight_wd, weight_we = entries.to_csr(n_classes)
    timings["total_s"] = time.perf_counter() - started
    timings["total_cpu_s"] = time.process_time() - cpu_started
    return Exposure(
        consumer_class=consumer_class,
        indptr=indptr,
        indices=indices,
        rate_weekday=rate_wd,
        rate_weekend=rate_we,
        weight_weekday=weight_wd,
        weight_weekend=weight_we,
        n_stores=len(stores),
        diagnostics={"classes": int(n_classes), "entries": int(len(indices)), "timings": timings},
    )


def _per_store_probabilities(stores: PlacedStores, behaviour) -> dict[str, np.ndarray]:
    """Per-pass sighting probability of each store, by way of passing it."""
    table = behaviour.sighting_probability
    result = {}
    for way in ("walk", "vehicle", "mall_visit"):
        by_format = np.array([getattr(getattr(table, name), way) for name in FORMATS], dtype=np.float64)
        result[way] = by_format[stores.format_code] if len(stores) else np.zeros(0)
    return result


def _add_mall_visits(entries, city, stores, mall_probability, class_home, behaviour, settings) -> None:
    """Mall visits of each class's home cell: Huff over the nearest malls."""
    in_mall = np.flatnonzero(stores.mall >= 0)
    if len(in_mall) == 0 or len(city.mall_xy) == 0 or settings.mall_visits_per_week <= 0:
        return
    used_cells, class_cell_row = unique_sorted(class_home)  # classes are ordered by home cell
    repertoire = min(int(settings.malls_in_repertoire), len(city.mall_xy))
    distance, nearest = cKDTree(city.mall_xy).query(city.cell_xy[used_cells], k=repertoire)
    distance = np.asarray(distance).reshape(len(used_cells), repertoire) / 1000.0
    nearest = np.asarray(nearest).reshape(len(used_cells), repertoire)
    # Huff over each cell's repertoire plus the outside option of unlisted local malls:
    # P_m = A_m d_m^-lambda / (A_0 d_0^-lambda + sum over the repertoire A_k d_k^-lambda).
    attractiveness = city.mall_attractiveness[nearest]
    weights = attractiveness * np.maximum(distance, MALL_MIN_DISTANCE_KM) ** (-settings.mall_choice_lambda)
    outside = settings.local_mall_attractiveness * settings.local_mall_distance_km ** (-settings.mall_choice_lambda)
    choice = weights / (outside + weights.sum(axis=1, keepdims=True))
    visits_weekday = settings.mall_visits_per_week * (1 - settings.weekend_share_of_mall_visits) / WEEKDAYS_PER_WEEK
    visits_weekend = settings.mall_visits_per_week * settings.weekend_share_of_mall_visits / WEEKEND_DAYS_PER_WEEK
    # P(visit mall of store j) for each used cell and each store in a mall.
    cell_store = np.zeros((len(used_cells), len(in_mall)))
    for slot in range(repertoire):
        cell_store += choice[:, slot : slot + 1] * (nearest[:, slot : slot + 1] == stores.mall[in_mall][None, :])
    cell_rows, store_cols = np.nonzero(cell_store)
    per_cell = coo_matrix((cell_store[cell_rows, store_cols], (cell_rows, store_cols)), shape=cell_store.shape).tocsr()
    expanded = per_cell[class_cell_row].tocoo()
    store = in_mall[expanded.col]
    weight = behaviour.sighting_weight_mall
    entries.add(
        expanded.row,
        store,
        expanded.data * visits_weekday * mall_probability[store],
        expanded.data * visits_weekend * mall_probability[store],
        weight,
        weight,
    )


def _stores_near_segments(starts: np.ndarray, ends: np.ndarray, stores: PlacedStores, extra_radius: float = 0.0):
    """Pairs (segment, store) with the store within its visibility radius of the segment.

    The distance is GEOS's point-to-segment distance (what ``shapely.distance`` gives), in a
    compiled loop over the segments that looks only at stores in their bounding box.
    """
    if len(starts) == 0 or len(stores) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return segments_near_points(starts, ends, stores.xy, stores.visibility_radius_m + extra_radius)


def _add_surface(entries, city, stores, probability, class_home, class_work, class_mode, behaviour) -> None:
    """Bus, car and active commuters: the straight home-work line."""
    surface = np.flatnonzero(np.isin(class_mode, (MODE_BUS, MODE_CAR, MODE_ACTIVE)))
    if len(surface) == 0:
        return
    segment, store = _stores_near_segments(city.cell_xy[class_home[surface]], city.cell_xy[class_work[surface]], stores)
    rows = surface[segment]
    on_foot = class_mode[rows] == MODE_ACTIVE
    pass_probability = np.where(on_foot, probability["walk"][store], probability["vehicle"][store])
    weight = np.where(on_foot, behaviour.sighting_weight_walk, behaviour.sighting_weight_vehicle)
    entries.add(rows, store, TRIPS_PER_COMMUTE_DAY * pass_probability, 0.0, weight, weight)


def _add_subway(entries, city, stores, walk_probability, class_home, class_work, class_mode, behaviour) -> None:
    """Subway commuters: walking legs and the stations where they enter, leave or change."""
    subway = np.flatnonzero(class_mode == MODE_SUBWAY)
    if len(subway) == 0 or len(city.station_xy) == 0:
        return
    station_of_cell = cKDTree(city.station_xy).query(city.cell_xy)[1]
    weight = behaviour.sighting_weight_walk
    # Walking legs, per cell (home side and work side alike).
    leg_cells = unique_below(np.r_[class_home[subway], class_work[subway]], len(city.cell_xy))[0]
    segment, store = _stores_near_segments(city.cell_xy[leg_cells], city.station_xy[station_of_cell[leg_cells]], stores)
    leg = coo_matrix(
        (TRIPS_PER_COMMUTE_DAY * walk_probability[store], (leg_cells[segment], store)),
        shape=(len(city.cell_xy), len(stores)),
    ).tocsr()
    for cells in (class_home[subway], class_work[subway]):
        part = leg[cells].tocoo()
        entries.add(subway[part.row], part.col, part.data, 0.0, weight, weight)
    # Stations passed: entry, exit and transfers on the shortest path.
    origin = station_of_cell[class_home[subway]]
    destination = station_of_cell[class_work[subway]]
    pair_keys, pair_of_class = unique_below(
        origin.astype(np.int64) * len(city.station_xy) + destination, len(city.station_xy) ** 2
    )
    pair_origin = pair_keys // len(city.station_xy)
    pair_destination = pair_keys % len(city.station_xy)
    passed = stations_passed(city, pair_origin, pair_destination)
    station_segment, station_store = _stores_near_segments(
        city.station_xy, city.station_xy, stores, extra_radius=STATION_CATCHMENT_M
    )
    station_stores = coo_matrix(
        (walk_probability[station_store], (station_segment, station_store)), shape=(len(city.station_xy), len(stores))
    ).tocsr()
    pair_rates = (passed @ station_stores).tocsr() * TRIPS_PER_COMMUTE_DAY
    part = pair_rates[pair_of_class].tocoo()
    entries.add(subway[part.row], part.col, part.data, 0.0, weight, weight)


def stations_passed(city, origins: np.ndarray, destinations: np.ndarray) -> csr_matrix:
    """Stations where a rider enters, leaves or changes lines, per origin-destination pair.

    Shortest paths on ``city.platform_graph`` (one node per station and line): the rider
    boards on the best platform of the origin and alights on the best platform of the
    destination; every transfer edge on the path is a change of lines at its station.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (pairs, stations)
        1 for each station passed in that sense (entry, exit, each transfer station).
    """
    platform_station = np.asarray(city.platform_station, dtype=np.int64)
    n_stations = len(city.station_xy)
    platforms = np.argsort(platform_station, kind="stable")
    platform_indptr = np.zeros(n_stations + 1, dtype=np.int64)
    np.cumsum(np.bincount(platform_station, minlength=n_stations), out=platform_indptr[1:])
    origins = np.asarray(origins, dtype=np.int64)
    destinations = np.asarray(destinations, dtype=np.int64)
    used_origins = np.unique(origins)
    sources = (
        np.concatenate([platforms[platform_indptr[s] : platform_indptr[s + 1]] for s in used_origins])
        if len(used_origins)
        else np.zeros(0, dtype=np.int64)
    )
    distances, predecessors = dijkstra(city.platform_graph, directed=True, indices=sources, return_predecessors=True)
    source_row = np.full(len(platform_station), -1, dtype=np.int64)
    source_row[sources] = np.arange(len(sources))
    indptr, stations = transfer_stations(
        origins,
        destinations,
        platform_indptr,
        platforms,
        source_row,
        np.asarray(distances, dtype=np.float64).reshape(len(sources), len(platform_station)),
        np.asarray(predecessors, dtype=np.int64).reshape(len(sources), len(platform_station)),
        platform_station,
        n_stations,
    )
    return csr_matrix((np.ones(len(stations)), stations, indptr), shape=(len(origins), n_stations))

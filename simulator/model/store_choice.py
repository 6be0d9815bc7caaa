"""Where a consumer who wants a test drive goes: a brand store, a rival's showroom, or nowhere.

:class:`StoreChoice` holds the sites open on the current day (the brand's stores with
test-drive capacity and the rivals' open showrooms) and draws each intent's choice from
the Huff/MCI probabilities with an outside option
(:func:`simulator.model.closed_forms.huff_with_outside_option`, distances from
:mod:`simulator.model.access`). It also gives, per population cell, the probabilities a
resident's intent ends at a brand store or at a rival (the access tables of a run).

Sites of the same brand at the same place (the same mall, or closer than ``d_min``) are
one destination: its attraction is the largest of theirs, not their sum, and its
bookings are shared among them in proportion to their attractiveness. A second store in
a mall adds test-drive capacity and visibility, not a second pull on the same shoppers
(plain Huff would double the mall's pull).

Each intent's choice is drawn by the Gumbel-max rule, ``argmax_g (log P_g + G_g)`` over
destinations and the outside option, with ``G_g = -log(-log U_g)`` and one counter-based
uniform ``U_g`` per consumer, day and destination, keyed by the destination's id rather
than its position. A destination is chosen with probability ``P_g`` exactly, and two
plans that differ by one store give the same choice to everyone who does not prefer the
new store: common random numbers down to each choice.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from simulator.config import Behaviour
from simulator.model.access import outside_attraction, point_segment_distance, site_attraction
from simulator.model.closed_forms import huff_with_outside_option
from simulator.model.plan import PlacedRivals, PlacedStores

DESTINATION_STREAM_BASE = 1 << 32
"""Streams of the destinations' uniforms: this base plus the CRC-32 of the first site's id."""
OUTSIDE_STREAM = DESTINATION_STREAM_BASE - 1
"""Stream of the outside option's uniform."""
WITHIN_STREAM = DESTINATION_STREAM_BASE - 2
"""Stream of the uniform that picks a site within a destination of co-located sites."""


class Choices(NamedTuple):
    """The outcome of some intents (arrays of the intents' length).

    Attributes
    ----------
    store : numpy.ndarray of int64
        Index of the brand store chosen, -1 otherwise.
    rival : numpy.ndarray of int64
        Index of the rival showroom chosen, -1 otherwise.
    """

    store: np.ndarray
    rival: np.ndarray

    @property
    def no_visit(self) -> np.ndarray:
        """True where the intent took the outside option (or found no site at all)."""
        return (self.store < 0) & (self.rival < 0)


class CellAccess(NamedTuple):
    """Per population cell, for a resident travelling from home.

    Attributes
    ----------
    brand_share, rival_share : numpy.ndarray
        Probability that an intent ends at a brand store, at a rival's showroom (the rest
        take the outside option).
    nearest_store_km : numpy.ndarray
        Distance to the nearest open brand store with test drives (inf without one).
    """

    brand_share: np.ndarray
    rival_share: np.ndarray
    nearest_store_km: np.ndarray


class StoreChoice:
    """The store choice of one run.

    Parameters
    ----------
    stores, rivals : PlacedStores, PlacedRivals
        The brand's stores and the rivals' showrooms.
    behaviour : Behaviour
        ``huff_lambda``, ``huff_min_distance_km``, ``outside_option``, ``outside_option_km``
        and ``travel_from``.
    cell_xy : numpy.ndarray, shape (cells, 2)
        Cell centroids in metres.
    home_cell, work_cell : numpy.ndarray, shape (N,)
        Each consumer's home and work cell (work -1 for non-commuters, who travel from home).
        Coordinates are looked up for the day's intents only: no per-consumer coordinate
        arrays (two float64 pairs per consumer, 700 MB for every Beijinger).
    """

    def __init__(
        self,
        stores: PlacedStores,
        rivals: PlacedRivals,
        behaviour: Behaviour,
        cell_xy: np.ndarray,
        home_cell: np.ndarray,
        work_cell: np.ndarray,
    ) -> None:
        self.stores = stores
        self.rivals = rivals
        self.distance_exponent = float(behaviour.huff_lambda)
        self.min_distance_km = float(behaviour.huff_min_distance_km)
        self.outside = outside_attraction(
            float(behaviour.outside_option_km), self.distance_exponent, bool(behaviour.outside_option)
        )
        self.cell_xy = np.asarray(cell_xy, dtype=np.float64)
        self.home_cell = home_cell
        self.work_cell = work_cell
        self.from_commute = behaviour.travel_from == "home_or_commute"
        self.set_day(0)

    def endpoints(self, consumers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (metres) of the trips of some consumers: home to work, or home to home.

        Non-commuters, and everyone when ``travel_from`` is ``home``, travel from home.
        """
        home = self.home_cell[consumers]
        start = self.cell_xy[home]
        if not self.from_commute:
            return start, start
        work = self.work_cell[consumers]
        return start, np.where((work >= 0)[:, None], self.cell_xy[np.maximum(work, 0)], start)

    def set_day(self, day: int) -> None:
        """Take the sites open on ``day``: brand stores with capacity, then rival showrooms."""
        self.open_stores = np.flatnonzero(self.stores.open_on(day) & (self.stores.capacity > 0))
        self.open_rivals = np.flatnonzero(self.rivals.open_on(day)) if len(self.rivals) else np.zeros(0, np.int64)
        self.site_xy = np.concatenate([self.stores.xy[self.open_stores], self.rivals.xy[self.open_rivals]])
        self.site_attractiveness = np.concatenate(
            [self.stores.attractiveness[self.open_stores], self.rivals.attractiveness[self.open_rivals]]
        )
        brands = np.concatenate(
            [np.full(len(self.open_stores), ""), np.asarray(self.rivals.brands, dtype=str)[self.open_rivals]]
        )
        self.site_group = colocated_groups(self.site_xy, brands, 1000.0 * self.min_distance_km)
        group_total = np.bincount(self.site_group, weights=self.site_attractiveness)
        self.within_group_share = self.site_attractiveness / group_total[self.site_group]
        site_keys = [f"store:{self.stores.ids[j]}" for j in self.open_stores]
        site_keys += [f"rival:{self.rivals.ids[r]}" for r in self.open_rivals]
        first_member = np.unique(self.site_group, return_index=True)[1]
        self.group_streams = [DESTINATION_STREAM_BASE + zlib.crc32(site_keys[m].encode()) for m in first_member]

    @property
    def any_site(self) -> bool:
        """True when at least one brand store or rival showroom is open."""
        return len(self.site_xy) > 0

    def probabilities(self, start_xy: np.ndarray, end_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site and outside-option probabilities for travellers on the segments ``start -> end`` (metres)."""
        group_probability, outside = self.group_probabilities(start_xy, end_xy)
        return group_probability[:, self.site_group] * self.within_group_share[None, :], outside

    def group_probabilities(self, start_xy: np.ndarray, end_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Destination (co-located group) and outside-option probabilities for travellers on segments."""
        distance_km = point_segment_distance(self.site_xy, start_xy, end_xy) / 1000.0
        attraction = site_attraction(
            self.site_attractiveness, distance_km, self.distance_exponent, self.min_distance_km
        )
        n_groups = len(self.group_streams)
        group_attraction = np.zeros((len(attraction), n_groups))
        for group in range(n_groups):
            group_attraction[:, group] = attraction[:, self.site_group == group].max(axis=1)
        return huff_with_outside_option(group_attraction, self.outside)

    def choose(self, consumers: np.ndarray, uniforms: Callable[[int], np.ndarray]) -> Choices:
        """Each intent's choice (Gumbel-max over destinations and no visit, then a site within the destination).

        ``uniforms(stream)`` returns one uniform per intent for a named stream: the
        destinations' streams are keyed by their ids, ``OUTSIDE_STREAM`` is the outside
        option's and ``WITHIN_STREAM`` splits a destination among its co-located sites.
        """
        n = len(consumers)
        store = np.full(n, -1, dtype=np.int64)
        rival = np.full(n, -1, dtype=np.int64)
        if n == 0 or not self.any_site:
            return Choices(store, rival)
        group_probability, outside = self.group_probabilities(*self.endpoints(consumers))
        streams = [OUTSIDE_STREAM, *self.group_streams]
        with np.errstate(divide="ignore"):
            log_probability = np.log(np.column_stack([outside, group_probability]))
            gumbel = np.column_stack([-np.log(-np.log(uniforms(stream))) for stream in streams])
        chosen_group = np.argmax(log_probability + gumbel, axis=1) - 1
        visits = np.flatnonzero(chosen_group >= 0)
        site = self._site_within_group(chosen_group[visits], uniforms(WITHIN_STREAM)[visits])
        n_brand = len(self.open_stores)
        to_brand = site < n_brand
        store[visits[to_brand]] = self.open_stores[site[to_brand]]
        rival[visits[~to_brand]] = self.open_rivals[site[~to_brand] - n_brand]
        return Choices(store, rival)

    def _site_within_group(self, group: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """A site of each chosen destination, with probability proportional to its attractiveness."""
        site = np.zeros(len(group), dtype=np.int64)
        for g in np.unique(group):
            members = np.flatnonzero(self.site_group == g)
            rows = np.flatnonzero(group == g)
            cumulative = np.cumsum(self.within_group_share[members])
            position = np.minimum(np.searchsorted(cumulative, uniform[rows], side="right"), len(members) - 1)
            site[rows] = members[position]
        return site

    def cell_access(self, cell_xy: np.ndarray) -> CellAccess:
        """Access of residents of each cell, travelling from home (see :class:`CellAccess`)."""
        n_cells = len(cell_xy)
        if not self.any_site:
            zeros = np.zeros(n_cells)
            return CellAccess(zeros, zeros.copy(), np.full(n_cells, np.inf))
        site_probability, _ = self.probabilities(cell_xy, cell_xy)
        n_brand = len(self.open_stores)
        if n_brand:
            store_distance = point_segment_distance(self.stores.xy[self.open_stores], cell_xy, cell_xy) / 1000.0
            nearest = store_distance.min(axis=1)
        else:
            nearest = np.full(n_cells, np.inf)
        return CellAccess(site_probability[:, :n_brand].sum(axis=1), site_probability[:, n_brand:].sum(axis=1), nearest)


def colocated_groups(xy: np.ndarray, brands: np.ndarray, radius_m: float) -> np.ndarray:
    """Group index of each site: sites of one brand closer than ``radius_m`` (transitively) share one.

    Returns
    -------
    numpy.ndarray of int64
        Groups numbered 0, 1, ... in order of their first site.
    """
    n = len(xy)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if brands[i] == brands[j] and np.hypot(*(xy[i] - xy[j])) < radius_m:
                parent[root(j)] = root(i)
    roots = np.array([root(i) for i in range(n)], dtype=np.int64)
    _, first, group = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[group].astype(np.int64)

"""Where a consumer who wants a test drive goes: a brand store, a rival's showroom, or nowhere.

:class:`StoreChoice` holds the sites open on the current day (the brand's stores with
test-drive capacity and the rivals' open showrooms) and draws each intent's choice from
the Huff/MCI probabilities with an outside option
(:func:`simulator.model.closed_forms.huff_with_outside_option`, distances from
:mod:`simulator.model.access`). It also gives, per population cell, the probabilities a
resident's intent ends at a brand store or at a rival (the access tables of a run).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simulator.config import Behaviour
from simulator.model.access import outside_attraction, point_segment_distance, site_attraction
from simulator.model.closed_forms import huff_with_outside_option
from simulator.model.plan import PlacedRivals, PlacedStores


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
    home_xy, work_xy : numpy.ndarray, shape (N, 2)
        Each consumer's home and work place in metres (work = home for non-commuters).
    """

    def __init__(
        self,
        stores: PlacedStores,
        rivals: PlacedRivals,
        behaviour: Behaviour,
        home_xy: np.ndarray,
        work_xy: np.ndarray,
    ) -> None:
        self.stores = stores
        self.rivals = rivals
        self.distance_exponent = float(behaviour.huff_lambda)
        self.min_distance_km = float(behaviour.huff_min_distance_km)
        self.outside = outside_attraction(
            float(behaviour.outside_option_km), self.distance_exponent, bool(behaviour.outside_option)
        )
        self.home_xy = home_xy
        self.work_xy = work_xy if behaviour.travel_from == "home_or_commute" else home_xy
        self.set_day(0)

    def set_day(self, day: int) -> None:
        """Take the sites open on ``day``: brand stores with capacity, then rival showrooms."""
        self.open_stores = np.flatnonzero(self.stores.open_on(day) & (self.stores.capacity > 0))
        self.open_rivals = np.flatnonzero(self.rivals.open_on(day)) if len(self.rivals) else np.zeros(0, np.int64)
        self.site_xy = np.concatenate([self.stores.xy[self.open_stores], self.rivals.xy[self.open_rivals]])
        self.site_attractiveness = np.concatenate(
            [self.stores.attractiveness[self.open_stores], self.rivals.attractiveness[self.open_rivals]]
        )

    @property
    def any_site(self) -> bool:
        """True when at least one brand store or rival showroom is open."""
        return len(self.site_xy) > 0

    def probabilities(self, start_xy: np.ndarray, end_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Site and outside-option probabilities for travellers on the segments ``start -> end`` (metres)."""
        distance_km = point_segment_distance(self.site_xy, start_xy, end_xy) / 1000.0
        attraction = site_attraction(
            self.site_attractiveness, distance_km, self.distance_exponent, self.min_distance_km
        )
        return huff_with_outside_option(attraction, self.outside)

    def choose(self, consumers: np.ndarray, uniforms: np.ndarray) -> Choices:
        """Each intent's choice, by inverse CDF of one uniform per intent over (sites..., no visit)."""
        n = len(consumers)
        store = np.full(n, -1, dtype=np.int64)
        rival = np.full(n, -1, dtype=np.int64)
        if n == 0 or not self.any_site:
            return Choices(store, rival)
        site_probability, _ = self.probabilities(self.home_xy[consumers], self.work_xy[consumers])
        cumulative = np.cumsum(site_probability, axis=1)
        chosen = (uniforms[:, None] >= cumulative).sum(axis=1)
        n_brand = len(self.open_stores)
        to_brand = chosen < n_brand
        to_rival = (chosen >= n_brand) & (chosen < cumulative.shape[1])
        store[to_brand] = self.open_stores[chosen[to_brand]]
        rival[to_rival] = self.open_rivals[chosen[to_rival] - n_brand]
        return Choices(store, rival)

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

"""The Mesa model: one ``step()`` is one day.

Stores are Mesa agents (:class:`simulator.model.store_agent.StoreAgent`), each holding its
test-drive queue. Consumers are arrays (:class:`simulator.model.consumers.Consumers`),
advanced by the compiled kernel :func:`simulator.model.dynamics.consumer_day`.

A day:

1. when a store opens or closes: recompute the open columns' row sums and the Huff
   store-choice table (cells x open stores with test drives);
2. the consumer kernel: sightings, adstock, familiarity, word of mouth, trust, market
   spells and decisions (test-drive bookings and direct purchases);
3. each booking picks a store by Huff, ``P_j ∝ A_j max(d_ij, d_min)^-lambda`` over open
   stores with test-drive capacity, from the home cell (no store open: the booking is
   recorded as ``bookings_no_store`` and the consumer stays in the market);
4. every store serves up to its daily capacity from its queue (first come, first served);
   bookings still waiting ``queue_patience_days`` after they were made are abandoned
   (``bookings_lost``; the consumer goes back to the market). A closing store loses its
   queue;
5. each test drive ends in a purchase with probability
   ``logistic(logit(c) + slope (T_i - 0.5))``; test-drivers who do not buy leave the market;
   buyers and test-drivers become word-of-mouth sources (strength 1 and ``w_td``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from scipy.spatial.distance import cdist

from simulator.city import City, load_city
from simulator.config import Scenario, load_scenario
from simulator.model.closed_forms import conversion_probability, huff_probabilities
from simulator.model.consumers import Consumers
from simulator.model.dynamics import (
    ADOPTED,
    EVENT_BOOKING,
    EVENT_DIRECT_PURCHASE,
    IN_MARKET,
    KPI_AWARE,
    KPI_BOOKINGS,
    KPI_DIRECT_PURCHASES,
    KPI_EFFECTIVE_FREQUENCY,
    KPI_FAMILIAR,
    KPI_FAMILIARITY,
    KPI_IN_MARKET,
    KPI_REACH,
    KPI_SIGHTINGS,
    KPI_TRUST,
    OUT_OF_MARKET,
)
from simulator.model.exposure import Exposure, build_exposure
from simulator.model.plan import place_stores
from simulator.model.population import Population, synthesize_population
from simulator.model.rng import (
    STREAM_CAPACITY,
    STREAM_CONVERSION,
    STREAM_QUEUE_ORDER,
    STREAM_STORE_CHOICE,
    counter_uniforms,
    run_generators,
)
from simulator.model.store_agent import StoreAgent

REPORTED_KPIS = (
    "share_aware",
    "share_familiar",
    "mean_trust",
    "bookings_requested",
    "test_drives",
    "purchases",
    "cumulative_purchases",
)
"""Columns of the daily rows that the Mesa ``DataCollector`` collects."""


class FootprintModel(mesa.Model):
    """The retail footprint model of one scenario and one seed.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario (a path is loaded with :func:`simulator.config.scenario.load_scenario`).
    seed : int, optional
        The run's seed (default: the scenario's seed). Population, model generator and the
        kernels' counter-based stream all derive from it.
    city : City, optional
        An already loaded city (default: load ``scenario.city``).
    population : Population, optional
        An already synthesised population for this seed (comparisons share it).
    record_sightings : bool
        Keep each consumer's number of sightings of the last simulated day in
        ``sightings_today`` (for tests and diagnostics; costs memory traffic).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int | None = None,
        city: City | None = None,
        population: Population | None = None,
        record_sightings: bool = False,
    ) -> None:
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        seed = scenario.seed if seed is None else int(seed)
        population_rng, model_rng, kernel_key = run_generators(seed)
        super().__init__(rng=model_rng)
        self.scenario = scenario
        self.run_seed = seed
        self.kernel_key = np.uint64(kernel_key)
        self.city = city if city is not None else load_city(scenario.resolved_bundle)
        self.stores = place_stores(scenario, self.city)
        self.population = (
            population
            if population is not None
            else synthesize_population(self.city, scenario.population, population_rng)
        )
        self.exposure: Exposure = build_exposure(
            self.city, self.population, self.stores, scenario.behaviour, scenario.population
        )
        self.consumers = Consumers(
            scenario, self.population, self.exposure, kernel_key, len(self.stores), record_sightings
        )
        self.horizon_days = int(scenario.horizon.days)
        self.start_date: dt.date = scenario.horizon.start_date
        self.patience_days = int(scenario.behaviour.queue_patience_days)
        self.store_agents = [StoreAgent(self, j, self.stores, self.population.weight) for j in range(len(self.stores))]
        self.store_indices = np.arange(len(self.stores))
        self.home_cells, self.home_cell_row = np.unique(self.population.home_cell, return_inverse=True)
        n_cells = len(self.city.cell_xy)
        self.cell_bookings = np.zeros(n_cells, dtype=np.int64)
        self.cell_test_drives = np.zeros(n_cells, dtype=np.int64)
        self.cell_purchases = np.zeros(n_cells, dtype=np.int64)
        self.cumulative_purchases = 0
        self.change_days = set(self.stores.change_days(self.horizon_days))
        self.day = 0
        self.running = self.horizon_days > 0
        self.daily_rows: list[dict[str, Any]] = []
        self.store_rows: list[dict[str, Any]] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, name=name: m.daily_rows[-1][name] if m.daily_rows else 0.0) for name in REPORTED_KPIS
            }
        )

    @property
    def aware(self) -> np.ndarray:
        """1 for each consumer who has seen a store, heard of the brand or decided."""
        return self.consumers.arrays.aware

    @property
    def sightings_today(self) -> np.ndarray:
        """Each consumer's sightings on the last simulated day (empty unless ``record_sightings``)."""
        return self.consumers.arrays.sightings_record

    # ------------------------------------------------------------------ set-up
    def _on_open_set_change(self) -> None:
        """Row sums over open stores, and the Huff store-choice table of the inhabited home cells."""
        open_mask = self.stores.open_on(self.day)
        self.consumers.open_stores(open_mask)
        bookable = open_mask & (self.stores.capacity > 0)
        self.bookable_stores = np.flatnonzero(bookable)
        if len(self.bookable_stores):
            behaviour = self.scenario.behaviour
            distance_km = cdist(self.city.cell_xy[self.home_cells], self.stores.xy[self.bookable_stores]) / 1000.0
            probabilities = huff_probabilities(
                self.stores.attractiveness[self.bookable_stores],
                distance_km,
                behaviour.huff_lambda,
                min_distance=behaviour.huff_min_distance_km,
            )
            self.choice_cdf = np.cumsum(probabilities, axis=1)
        else:
            self.choice_cdf = np.zeros((len(self.home_cells), 0))

    # ------------------------------------------------------------------ one day
    def step(self) -> None:
        """Advance the model by one day."""
        day = self.day
        if day in self.change_days:
            self._on_open_set_change()
        date = self.start_date + dt.timedelta(days=day)
        kpis, store_sightings = self._run_kernel(day, date.weekday() >= 5)

        for agent in self.store_agents:
            agent.reset_day()
        direct = np.zeros(0, dtype=np.int64)
        booked = np.zeros(0, dtype=np.int64)
        if kpis[KPI_BOOKINGS] + kpis[KPI_DIRECT_PURCHASES] > 0:
            event = self.consumers.arrays.event
            direct = np.flatnonzero(event == EVENT_DIRECT_PURCHASE)
            booked = np.flatnonzero(event == EVENT_BOOKING)
        no_store = self._assign_bookings(booked, day)
        self.capacity_draws = counter_uniforms(int(self.kernel_key), day, STREAM_CAPACITY, self.store_indices)
        self.agents.do("serve")

        served = np.concatenate([a.served_today for a in self.store_agents]) if self.store_agents else booked[:0]
        lost = np.concatenate([a.lost_today for a in self.store_agents]) if self.store_agents else booked[:0]
        bought = self._convert(served, day)
        self.consumers.add_sources(direct, np.ones(len(direct)))
        self.consumers.arrays.status[lost] = IN_MARKET

        home_cell = self.population.home_cell
        np.add.at(self.cell_bookings, home_cell[booked], 1)
        np.add.at(self.cell_test_drives, home_cell[served], 1)
        np.add.at(self.cell_purchases, home_cell[direct], 1)
        np.add.at(self.cell_purchases, home_cell[served[bought]], 1)

        purchases = int(bought.sum()) + len(direct)
        self.cumulative_purchases += purchases
        row = self._daily_row(day, date, kpis)
        row.update(
            {
                "bookings_requested": len(booked),
                "test_drives": len(served),
                "bookings_lost": len(lost),
                "bookings_no_store": no_store,
                "queue_length": int(sum(a.queue_length for a in self.store_agents)),
                "purchases": purchases,
                "purchases_direct": len(direct),
                "cumulative_purchases": self.cumulative_purchases,
            }
        )
        self.daily_rows.append(row)
        if self.scenario.run.keep_store_days or day == self.horizon_days - 1:
            self._record_stores(day, store_sightings, served, bought)
        self.day += 1
        self.running = self.day < self.horizon_days
        self.datacollector.collect(self)

    def _run_kernel(self, day: int, weekend: bool) -> tuple[np.ndarray, np.ndarray]:
        """The consumers' day: KPI sums and sightings per store (see :meth:`Consumers.advance`)."""
        return self.consumers.advance(day, weekend)

    def _daily_row(self, day: int, date: dt.date, kpis: np.ndarray) -> dict[str, Any]:
        """The day's row from the kernel's KPI sums: shares and means over consumers, counts."""
        n = self.population.n
        return {
            "day": day,
            "date": date,
            "share_aware": kpis[KPI_AWARE] / n,
            "mean_familiarity": kpis[KPI_FAMILIARITY] / n,
            "share_familiar": kpis[KPI_FAMILIAR] / n,
            "reach_28d": kpis[KPI_REACH] / n,
            "effective_frequency_28d": kpis[KPI_EFFECTIVE_FREQUENCY] / n,
            "mean_trust": kpis[KPI_TRUST] / n,
            "in_market": int(kpis[KPI_IN_MARKET]),
            "sightings": int(kpis[KPI_SIGHTINGS]),
        }

    def _assign_bookings(self, booked: np.ndarray, day: int) -> int:
        """Send each booking to a store chosen by Huff; return the number with no store."""
        if len(booked) == 0:
            return 0
        if len(self.bookable_stores) == 0:
            self.consumers.arrays.status[booked] = IN_MARKET
            return len(booked)
        cdf = self.choice_cdf[self.home_cell_row[booked]]
        draws = counter_uniforms(int(self.kernel_key), day, STREAM_STORE_CHOICE, booked)
        choice = np.minimum((draws[:, None] >= cdf).sum(axis=1), cdf.shape[1] - 1)
        store = self.bookable_stores[choice]
        # A day's bookings join each queue in random order, not in home order.
        arrival = counter_uniforms(int(self.kernel_key), day, STREAM_QUEUE_ORDER, booked)
        order = np.lexsort((arrival, store))
        store_sorted, booked_sorted = store[order], booked[order]
        boundaries = np.flatnonzero(np.diff(store_sorted)) + 1
        for group in np.split(np.arange(len(store_sorted)), boundaries):
            self.store_agents[int(store_sorted[group[0]])].receive(booked_sorted[group], day)
        return 0

    def _convert(self, served: np.ndarray, day: int) -> np.ndarray:
        """Purchases after test drives; returns a boolean mask over ``served``."""
        if len(served) == 0:
            return np.zeros(0, dtype=bool)
        behaviour = self.scenario.behaviour
        trust = self.trust_of(served, day)
        probability = conversion_probability(trust, behaviour.conversion, behaviour.conversion_trust_slope)
        bought = counter_uniforms(int(self.kernel_key), day, STREAM_CONVERSION, served) < probability
        self.consumers.arrays.status[served] = np.where(bought, ADOPTED, OUT_OF_MARKET)
        self.consumers.add_sources(served, np.where(bought, 1.0, self.consumers.test_drive_source_weight))
        return bought

    def trust_of(self, consumers: np.ndarray, day: int) -> np.ndarray:
        """Trust of some consumers on ``day``, as the kernel computed it that day.

        Called after the day's kernel, which has already decayed word of mouth for the next
        day, so today's value is ``wom / delta_S`` (before today's new sources).
        """
        return self.consumers.trust_of(consumers, day)

    def _record_stores(self, day: int, store_sightings: np.ndarray, served: np.ndarray, bought: np.ndarray) -> None:
        buyers = set(served[bought].tolist()) if len(served) else set()
        weight = self.population.weight
        for agent in self.store_agents:
            self.store_rows.append(agent.day_row(day, int(store_sightings[agent.index]), buyers, weight))

    # ------------------------------------------------------------------ end state
    def familiarity(self, consumers: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Familiarity of consumers now (Hill of the net exposure stock)."""
        return self.consumers.familiarity(consumers)

    def run(self) -> FootprintModel:
        """Step until the horizon."""
        while self.running:
            self.step()
        return self

"""The Mesa model: one ``step()`` is one day.

Stores are Mesa agents (:class:`StoreAgent`), each holding its test-drive queue. Consumers
are arrays, advanced by the compiled kernel :func:`simulator.model.dynamics.consumer_day`.

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

import mesa
import numba
import numpy as np
from scipy.spatial.distance import cdist

import simulator.model.dynamics as dyn
from simulator.city import City, load_city
from simulator.config import Scenario, load_scenario
from simulator.model.exposure import Exposure, build_exposure
from simulator.model.plan import FORMATS, PlacedStores, place_stores
from simulator.model.population import Population, synthesize_population
from simulator.model.rng import (
    STREAM_CAPACITY,
    STREAM_CONVERSION,
    STREAM_INITIAL_MARKET,
    STREAM_QUEUE_ORDER,
    STREAM_STORE_CHOICE,
    counter_uniforms,
    run_generators,
)

STORE_DAY_COLUMNS = (
    "day",
    "store_id",
    "store_name",
    "format",
    "is_open",
    "capacity",
    "sightings",
    "bookings_requested",
    "test_drives",
    "bookings_lost",
    "queue_length",
    "purchases",
    "utilisation",
)
"""Columns of the per-store daily rows (``stores.parquet`` without replication and seed)."""

PARALLEL_MIN_CONSUMERS = 200_000
"""Below this many consumers the kernel runs on one thread: waking a thread pool every day
costs more than it saves on small populations, and far more on a busy machine (measured:
4,000 consumers x 365 days took 0.19 s on one thread and 2.1 s on two at load 3)."""


class StoreAgent(mesa.Agent):
    """A store: position, format, opening days, test-drive capacity and its queue.

    The queue holds bookings (consumer index, day booked) in arrival order.
    """

    def __init__(self, model: FootprintModel, index: int, stores: PlacedStores, consumer_weight: float) -> None:
        super().__init__(model)
        self.index = index
        self.store_id = str(stores.ids[index])
        self.name = str(stores.names[index])
        self.format = FORMATS[int(stores.format_code[index])]
        self.capacity = int(stores.capacity[index])
        # One simulated consumer stands for ``consumer_weight`` people, so a store serves
        # capacity / weight simulated test drives a day: the whole part every day and one
        # more with probability equal to the fractional part (a counter-based draw).
        self.simulated_capacity = self.capacity / consumer_weight
        self.open_day = int(stores.open_day[index])
        self.close_day = int(stores.close_day[index])
        self.queue_consumers = np.zeros(0, dtype=np.int64)
        self.queue_days = np.zeros(0, dtype=np.int64)
        self.reset_day()

    def reset_day(self) -> None:
        """Clear the day's counters."""
        self.requested_today = 0
        self.served_today = np.zeros(0, dtype=np.int64)
        self.lost_today = np.zeros(0, dtype=np.int64)

    def is_open(self, day: int) -> bool:
        return self.open_day <= day < self.close_day

    def receive(self, consumers: np.ndarray, day: int) -> None:
        """Append today's bookings to the queue."""
        self.requested_today += len(consumers)
        self.queue_consumers = np.concatenate([self.queue_consumers, consumers])
        self.queue_days = np.concatenate([self.queue_days, np.full(len(consumers), day, dtype=np.int64)])

    def serve(self) -> None:
        """Hold up to ``capacity`` test drives; drop bookings past the patience time."""
        day = self.model.day
        if not self.is_open(day):
            self.lost_today = self.queue_consumers
            self.queue_consumers = self.queue_consumers[:0]
            self.queue_days = self.queue_days[:0]
            return
        whole = int(self.simulated_capacity)
        capacity_today = whole + int(self.model.capacity_draws[self.index] < self.simulated_capacity - whole)
        served = min(capacity_today, len(self.queue_consumers))
        self.served_today = self.queue_consumers[:served]
        waiting, booked = self.queue_consumers[served:], self.queue_days[served:]
        expired = day - booked >= self.model.patience_days
        self.lost_today = waiting[expired]
        self.queue_consumers, self.queue_days = waiting[~expired], booked[~expired]

    @property
    def queue_length(self) -> int:
        return len(self.queue_consumers)


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
        self._init_parameters()
        self._init_state()
        self.sightings_today = np.zeros(self.population.n if record_sightings else 0, dtype=np.int32)
        self.store_agents = [StoreAgent(self, j, self.stores, self.population.weight) for j in range(len(self.stores))]
        self.store_indices = np.arange(len(self.stores))
        self.home_cells, self.home_cell_row = np.unique(self.population.home_cell, return_inverse=True)
        self.day = 0
        self.running = self.horizon_days > 0
        self.daily_rows: list[dict] = []
        self.store_rows: list[dict] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, name=name: m.daily_rows[-1][name] if m.daily_rows else 0.0)
                for name in (
                    "share_aware",
                    "share_familiar",
                    "mean_trust",
                    "bookings_requested",
                    "test_drives",
                    "purchases",
                    "cumulative_purchases",
                )
            }
        )

    # ------------------------------------------------------------------ set-up
    def _init_parameters(self) -> None:
        behaviour = self.scenario.behaviour
        levers = self.scenario.levers
        self.horizon_days = int(self.scenario.horizon.days)
        self.start_date: dt.date = self.scenario.horizon.start_date
        self.patience_days = int(behaviour.queue_patience_days)
        self.stock_retention = dyn.decay_from_half_life(behaviour.adstock_half_life_days)
        self.wear_retention = dyn.decay_from_half_life(behaviour.wearout_half_life_days)
        self.trust_shift = behaviour.trust_intercept + np.array(
            [levers.trust_shift(day) for day in range(self.horizon_days)]
        )
        self.familiarity_weight = levers.offline_footprint.weight if levers.offline_footprint.enabled else 0.0
        testimonials = levers.testimonials
        self.wom_weight = testimonials.weight if testimonials.enabled else 0.0
        self.referral_rate = testimonials.referral_rate_per_year / 365.0 if testimonials.enabled else 0.0
        self.source_retention = dyn.decay_from_half_life(testimonials.source_half_life_days)
        self.test_drive_source_weight = testimonials.test_drive_weight if testimonials.enabled else 0.0
        self.enter_probability = 1.0 - np.exp(-behaviour.in_market_rate_per_year / 365.0)
        self.exit_probability = 1.0 / behaviour.in_market_duration_days
        self.full_mixing = self.scenario.population.mixing == "full"

    def _init_state(self) -> None:
        n = self.population.n
        behaviour = self.scenario.behaviour
        self.heterogeneity = (behaviour.trust_heterogeneity_sd * self.population.standard_normal).astype(np.float32)
        self.stock = np.zeros(n, dtype=np.float32)
        self.wear = np.zeros(n, dtype=np.float32)
        self.wom = np.zeros(n, dtype=np.float32)
        self.wom_full = 0.0
        self.follower_indptr, self.follower_indices, self.inverse_degree = dyn.followers_of(
            n, self.population.contact_indptr, self.population.contact_indices
        )
        self.aware = np.zeros(n, dtype=np.uint8)
        self.recent_sightings = np.full((n, 3), dyn.NEVER, dtype=np.int16)
        self.event = np.zeros(n, dtype=np.uint8)
        # Start in the steady state of the spells: share h D / (1 + h D) in the market.
        entry = self.enter_probability
        in_market_share = entry / (entry + self.exit_probability) if entry > 0 else 0.0
        initial_uniform = counter_uniforms(int(self.kernel_key), 0, STREAM_INITIAL_MARKET, np.arange(n))
        self.status = np.where(initial_uniform < in_market_share, dyn.IN_MARKET, dyn.OUT_OF_MARKET).astype(np.uint8)
        n_chunks = max(1, -(-n // dyn.CHUNK_SIZE))
        self.chunk_kpis = np.zeros((n_chunks, dyn.N_KPIS))
        self.chunk_store_sightings = np.zeros((n_chunks, max(len(self.stores), 1)), dtype=np.int64)
        self.cumulative_purchases = 0
        n_cells = len(self.city.cell_xy)
        self.cell_bookings = np.zeros(n_cells, dtype=np.int64)
        self.cell_test_drives = np.zeros(n_cells, dtype=np.int64)
        self.cell_purchases = np.zeros(n_cells, dtype=np.int64)
        self.change_days = set(self.stores.change_days(self.horizon_days))
        self.store_open = np.zeros(max(len(self.stores), 1), dtype=np.uint8)

    def _on_open_set_change(self) -> None:
        """Row sums over open stores, and the Huff store-choice table of the inhabited home cells."""
        exposure = self.exposure
        open_mask = self.stores.open_on(self.day)
        self.store_open[: len(open_mask)] = open_mask
        self.row_total = {}
        for weekend, rate in ((False, exposure.rate_weekday), (True, exposure.rate_weekend)):
            self.row_total[weekend] = dyn.open_row_totals(exposure.indptr, exposure.indices, rate, self.store_open)
        bookable = open_mask & (self.stores.capacity > 0)
        self.bookable_stores = np.flatnonzero(bookable)
        if len(self.bookable_stores):
            behaviour = self.scenario.behaviour
            distance_km = cdist(self.city.cell_xy[self.home_cells], self.stores.xy[self.bookable_stores]) / 1000.0
            probabilities = dyn.huff_probabilities(
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
        weekend = date.weekday() >= 5
        totals, zero_probability = self.row_total[weekend]
        self._run_kernel(day, weekend, totals, zero_probability, self.wom_full if self.full_mixing else -1.0)
        self.wom_full *= self.source_retention
        kpis = self.chunk_kpis.sum(axis=0)
        store_sightings = self.chunk_store_sightings.sum(axis=0)

        for agent in self.store_agents:
            agent.reset_day()
        direct = np.zeros(0, dtype=np.int64)
        booked = np.zeros(0, dtype=np.int64)
        if kpis[dyn.KPI_BOOKINGS] + kpis[dyn.KPI_DIRECT_PURCHASES] > 0:
            direct = np.flatnonzero(self.event == dyn.EVENT_DIRECT_PURCHASE)
            booked = np.flatnonzero(self.event == dyn.EVENT_BOOKING)
        no_store = self._assign_bookings(booked, day)
        self.capacity_draws = counter_uniforms(int(self.kernel_key), day, STREAM_CAPACITY, self.store_indices)
        self.agents.do("serve")

        served = np.concatenate([a.served_today for a in self.store_agents]) if self.store_agents else booked[:0]
        lost = np.concatenate([a.lost_today for a in self.store_agents]) if self.store_agents else booked[:0]
        bought = self._convert(served, day)
        self._add_sources(direct, np.ones(len(direct)))
        self.status[lost] = dyn.IN_MARKET

        home_cell = self.population.home_cell
        np.add.at(self.cell_bookings, home_cell[booked], 1)
        np.add.at(self.cell_test_drives, home_cell[served], 1)
        np.add.at(self.cell_purchases, home_cell[direct], 1)
        np.add.at(self.cell_purchases, home_cell[served[bought]], 1)

        purchases = int(bought.sum()) + len(direct)
        self.cumulative_purchases += purchases
        n = self.population.n
        row = {
            "day": day,
            "date": date,
            "share_aware": kpis[dyn.KPI_AWARE] / n,
            "mean_familiarity": kpis[dyn.KPI_FAMILIARITY] / n,
            "share_familiar": kpis[dyn.KPI_FAMILIAR] / n,
            "reach_28d": kpis[dyn.KPI_REACH] / n,
            "effective_frequency_28d": kpis[dyn.KPI_EFFECTIVE_FREQUENCY] / n,
            "mean_trust": kpis[dyn.KPI_TRUST] / n,
            "in_market": int(kpis[dyn.KPI_IN_MARKET]),
            "sightings": int(kpis[dyn.KPI_SIGHTINGS]),
            "bookings_requested": len(booked),
            "test_drives": len(served),
            "bookings_lost": len(lost),
            "bookings_no_store": no_store,
            "queue_length": int(sum(a.queue_length for a in self.store_agents)),
            "purchases": purchases,
            "purchases_direct": len(direct),
            "cumulative_purchases": self.cumulative_purchases,
        }
        self.daily_rows.append(row)
        if self.scenario.run.keep_store_days or day == self.horizon_days - 1:
            self._record_stores(day, store_sightings, served, bought)
        self.day += 1
        self.running = self.day < self.horizon_days
        self.datacollector.collect(self)

    def _run_kernel(self, day, weekend, totals, zero_probability, mean_source) -> None:
        exposure = self.exposure
        consumer_class = exposure.consumer_class
        threads = numba.get_num_threads()
        if self.population.n < PARALLEL_MIN_CONSUMERS:
            numba.set_num_threads(1)
        try:
            self._call_kernel(day, weekend, totals, zero_probability, mean_source, exposure, consumer_class)
        finally:
            numba.set_num_threads(threads)

    def _call_kernel(self, day, weekend, totals, zero_probability, mean_source, exposure, consumer_class) -> None:
        dyn.consumer_day(
            day,
            self.kernel_key,
            consumer_class,
            exposure.indptr,
            exposure.indices,
            exposure.rate_weekend if weekend else exposure.rate_weekday,
            exposure.weight_weekend if weekend else exposure.weight_weekday,
            totals,
            zero_probability,
            self.store_open,
            self.stock_retention,
            self.wear_retention,
            self.scenario.behaviour.wearout_weight,
            self.scenario.behaviour.hill_k,
            self.scenario.behaviour.hill_s,
            float(self.trust_shift[day]),
            self.familiarity_weight,
            self.wom_weight,
            self.enter_probability,
            self.exit_probability,
            self.scenario.behaviour.booking_rate_per_day,
            self.referral_rate,
            self.scenario.behaviour.test_drive_share,
            self.source_retention,
            mean_source,
            self.heterogeneity,
            self.stock,
            self.wear,
            self.wom,
            self.status,
            self.aware,
            self.recent_sightings,
            self.event,
            self.sightings_today,
            self.chunk_kpis,
            self.chunk_store_sightings,
        )

    def _assign_bookings(self, booked: np.ndarray, day: int) -> int:
        """Send each booking to a store chosen by Huff; return the number with no store."""
        if len(booked) == 0:
            return 0
        if len(self.bookable_stores) == 0:
            self.status[booked] = dyn.IN_MARKET
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
        probability = dyn.conversion_probability(trust, behaviour.conversion, behaviour.conversion_trust_slope)
        bought = counter_uniforms(int(self.kernel_key), day, STREAM_CONVERSION, served) < probability
        self.status[served] = np.where(bought, dyn.ADOPTED, dyn.OUT_OF_MARKET)
        self._add_sources(served, np.where(bought, 1.0, self.test_drive_source_weight))
        return bought

    def _add_sources(self, consumers: np.ndarray, strengths: np.ndarray) -> None:
        """New word-of-mouth sources: raise their followers' (or everyone's) word of mouth."""
        if len(consumers) == 0:
            return
        if self.full_mixing:
            self.wom_full += float(np.sum(strengths)) / self.population.n
        else:
            dyn.add_testimonials(
                self.wom, self.follower_indptr, self.follower_indices, self.inverse_degree, consumers, strengths
            )

    def trust_of(self, consumers: np.ndarray, day: int) -> np.ndarray:
        """Trust of some consumers on ``day``, as the kernel computed it that day.

        Called after the day's kernel, which has already decayed word of mouth for the next
        day, so today's value is ``wom / delta_S`` (before today's new sources).
        """
        familiarity = self.familiarity(consumers)
        heard = (self.wom_full if self.full_mixing else self.wom[consumers]) / self.source_retention
        logit = (
            self.trust_shift[day]
            + self.familiarity_weight * familiarity
            + self.wom_weight * heard
            + self.heterogeneity[consumers]
        )
        return dyn.logistic(logit)

    def _record_stores(self, day, store_sightings, served, bought) -> None:
        buyers = set(served[bought].tolist()) if len(served) else set()
        weight = self.population.weight
        for agent in self.store_agents:
            is_open = agent.is_open(day)
            held = len(agent.served_today)
            self.store_rows.append(
                {
                    "day": day,
                    "store_id": agent.store_id,
                    "store_name": agent.name,
                    "format": agent.format,
                    "is_open": is_open,
                    "capacity": agent.capacity,
                    "sightings": int(store_sightings[agent.index]),
                    "bookings_requested": agent.requested_today,
                    "test_drives": held,
                    "bookings_lost": len(agent.lost_today),
                    "queue_length": agent.queue_length,
                    "purchases": sum(1 for c in agent.served_today.tolist() if c in buyers),
                    "utilisation": held * weight / agent.capacity if (is_open and agent.capacity > 0) else 0.0,
                }
            )

    # ------------------------------------------------------------------ end state
    def familiarity(self, consumers: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Familiarity of consumers now (Hill of the net exposure stock)."""
        behaviour = self.scenario.behaviour
        effective = np.maximum(self.stock[consumers] - behaviour.wearout_weight * self.wear[consumers], 0.0)
        return dyn.hill(effective, behaviour.hill_k, behaviour.hill_s)

    def run(self) -> FootprintModel:
        """Step until the horizon."""
        while self.running:
            self.step()
        return self

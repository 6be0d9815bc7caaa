"""The Mesa model: one ``step()`` is one day.

Stores are Mesa agents (:class:`simulator.model.store_agent.StoreAgent`), each holding its
test-drive queue. Consumers are arrays (:class:`simulator.model.consumers.Consumers`),
advanced by the compiled kernel :func:`simulator.model.dynamics.consumer_day`.

A day:

1. when a store or a rival's showroom opens or closes: recompute the open columns' row
   sums and the sites of the store choice;
2. the consumer kernel: media contacts, sightings, adstock, familiarity, word of mouth,
   trust (with online testimonials), market spells and decisions (test-drive intents and
   online orders);
3. each test-drive intent chooses among the open brand stores with test drives, the open
   rival showrooms and no visit, ``P_j = a_j / (sum_k a_k + a_0)`` with
   ``a_j = A_j max(d_ij, d_min)^-lambda`` measured from home or the commute
   (:class:`simulator.model.store_choice.StoreChoice`). A brand store's booking joins its
   queue; a rival's is lost to the brand (the consumer leaves, ``LOST_TO_RIVAL``); no visit
   sends the consumer back to the market (``intents_no_visit``; with no site open at all,
   ``bookings_no_store``);
4. every store serves up to its daily capacity from its queue (first come, first served);
   bookings still waiting ``queue_patience_days`` after they were made are abandoned
   (``bookings_lost``; the consumer goes back to the market). A closing store loses its
   queue;
5. each test drive ends in a purchase with probability
   ``P_td = logistic(logit(c) + slope (T_i - 0.5))``; each online order with
   ``P_online`` = the same odds times ``online_conversion_odds_ratio``. Those who do not
   buy leave the market; buyers and test-drivers become word-of-mouth sources (strength 1
   and ``w_td``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from simulator.city import City, load_city
from simulator.config import Scenario, load_scenario
from simulator.model.batches import BatchTallies
from simulator.model.closed_forms import conversion_probability, online_conversion_probability
from simulator.model.consumers import Consumers
from simulator.model.dynamics import (
    ADOPTED,
    IN_MARKET,
    KPI_AWARE,
    KPI_EFFECTIVE_FREQUENCY,
    KPI_FAMILIAR,
    KPI_FAMILIARITY,
    KPI_IN_MARKET,
    KPI_MEDIA_CONTACTS,
    KPI_ONLINE_ORDERS,
    KPI_REACH,
    KPI_SIGHTINGS,
    KPI_TEST_DRIVE_INTENTS,
    KPI_TRUST,
    LOST_TO_RIVAL,
    OUT_OF_MARKET,
)
from simulator.model.exposure import Exposure, build_exposure
from simulator.model.frozen import read_only
from simulator.model.plan import PlacedRivals, PlacedStores, place_rivals, place_stores
from simulator.model.population import Population, synthesize_population
from simulator.model.rng import (
    STREAM_CAPACITY,
    STREAM_CONVERSION,
    STREAM_ONLINE_CONVERSION,
    STREAM_QUEUE_ORDER,
    counter_uniforms,
    run_generators,
)
from simulator.model.store_agent import StoreAgent
from simulator.model.store_choice import StoreChoice

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

WEEK_DAYS = 7
"""Days between two snapshots of the zones' familiarity (the last day of the horizon is always one)."""


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
        An already synthesised population for this seed (comparisons and sweeps share it).
    record_sightings : bool
        Keep each consumer's number of sightings of the last simulated day in
        ``sightings_today`` (for tests and diagnostics; costs memory traffic).
    stores, rivals : PlacedStores, PlacedRivals, optional
        The scenario's stores and rival showrooms as already placed on ``city``.
    exposure : Exposure, optional
        The sighting rates of ``population`` and ``stores`` as already built for this
        scenario's sighting settings (:mod:`simulator.experiments.cache` keys them by
        exactly what they depend on). The model only reads these structures, so several
        models may share them (read-only arrays included).
    followers : tuple of numpy.ndarray, optional
        The population's contact graph transposed (:func:`simulator.model.dynamics.followers_of`),
        already built.
    collect_data : bool
        Collect :data:`REPORTED_KPIS` with Mesa's ``DataCollector`` every step (for Mesa's
        tools; the run tables come from ``daily_rows`` and do not need it).
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        seed: int | None = None,
        city: City | None = None,
        population: Population | None = None,
        record_sightings: bool = False,
        *,
        stores: PlacedStores | None = None,
        rivals: PlacedRivals | None = None,
        exposure: Exposure | None = None,
        followers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        collect_data: bool = True,
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
        self.stores = read_only(stores if stores is not None else place_stores(scenario, self.city))
        self.rivals = read_only(rivals if rivals is not None else place_rivals(scenario, self.city))
        self.population = read_only(
            population
            if population is not None
            else synthesize_population(self.city, scenario.population, population_rng)
        )
        self.exposure: Exposure = read_only(
            exposure
            if exposure is not None
            else build_exposure(self.city, self.population, self.stores, scenario.behaviour, scenario.population)
        )
        _check_prebuilt(self.population, self.stores, self.exposure)
        self.consumers = Consumers(
            scenario, self.population, self.exposure, kernel_key, len(self.stores), record_sightings, followers
        )
        self.horizon_days = int(scenario.horizon.days)
        self.start_date: dt.date = scenario.horizon.start_date
        self.patience_days = int(scenario.behaviour.queue_patience_days)
        self.store_agents = [StoreAgent(self, j, self.stores, self.population.weight) for j in range(len(self.stores))]
        self.store_indices = np.arange(len(self.stores))
        cell_xy = self.city.cell_xy
        self.choice = StoreChoice(
            self.stores, self.rivals, scenario.behaviour, cell_xy, self.population.home_cell, self.population.work_cell
        )
        n_cells = len(cell_xy)
        self.cell_intents = np.zeros(n_cells, dtype=np.int64)
        self.cell_bookings = np.zeros(n_cells, dtype=np.int64)
        self.cell_bookings_to_rivals = np.zeros(n_cells, dtype=np.int64)
        self.cell_test_drives = np.zeros(n_cells, dtype=np.int64)
        self.cell_purchases = np.zeros(n_cells, dtype=np.int64)
        self.rival_bookings = np.zeros(len(self.rivals), dtype=np.int64)
        self.batch_tallies = BatchTallies(self.population.n)
        """The horizon's counts per batch of consumers (:mod:`simulator.model.batches`)."""
        self.cumulative_purchases = 0
        self.booking_log: list[tuple[int, np.ndarray, np.ndarray]] = []
        """Each day's bookings: (day, consumers, destination), the destination a brand store's
        index or ``-1 - r`` for rival showroom ``r`` (:meth:`bookings`, :meth:`trade_area_counts`)."""
        self.visit_log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        """Each day's test drives: (consumers, store index, bought after it)."""
        self._served_store = np.zeros(0, dtype=np.int64)
        self.change_days = set(self.stores.change_days(self.horizon_days)) | set(
            self.rivals.change_days(self.horizon_days)
        )
        self.day = 0
        self.running = self.horizon_days > 0
        self.daily_rows: list[dict[str, Any]] = []
        self.store_rows: list[dict[str, Any]] = []
        self.store_days = "all" if scenario.run.keep_store_days else "last"
        """Which days get per-store rows: ``"all"``, ``"last"`` (``run.keep_store_days = false``)
        or ``"none"`` (a caller that needs no per-store table, e.g. a sweep run without
        utilisation KPI)."""
        self.store_test_drives = np.zeros((self.horizon_days, len(self.stores)), dtype=np.int32)
        """Test drives held by each store on each day (day x store)."""
        self.datacollector: mesa.DataCollector | None = None
        if collect_data:
            self.datacollector = mesa.DataCollector(
                model_reporters={
                    name: (lambda m, name=name: m.daily_rows[-1][name] if m.daily_rows else 0.0)
                    for name in REPORTED_KPIS
                }
            )
        self.consumer_zone = np.asarray(self.city.cell_zone, dtype=np.int32)[self.population.home_cell]
        self.weekly_days: list[int] = []
        self.weekly_familiarity: list[np.ndarray] = []

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
        """Row sums over open stores, and the open sites of the store choice."""
        self.consumers.open_stores(self.stores.open_on(self.day))
        self.choice.set_day(self.day)

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
        online = np.zeros(0, dtype=np.int64)
        intents = np.zeros(0, dtype=np.int64)
        if kpis[KPI_TEST_DRIVE_INTENTS] + kpis[KPI_ONLINE_ORDERS] > 0:
            intents, online = self.consumers.decisions()
        routed = self._route_intents(intents, day)
        served, lost = self._serve(day, intents[:0])
        bought = self._convert(served, day)
        if len(served):
            self.visit_log.append((served, self._served_store, bought))
        online_bought = self._convert_online(online, day)
        self.consumers.arrays.status[lost] = IN_MARKET

        home_cell = self.population.home_cell
        if len(intents) or len(served):
            np.add.at(self.cell_intents, home_cell[intents], 1)
            np.add.at(self.cell_test_drives, home_cell[served], 1)
            np.add.at(self.cell_purchases, home_cell[served[bought]], 1)
        if len(online):
            np.add.at(self.cell_purchases, home_cell[online[online_bought]], 1)
        if len(intents) or len(served) or len(lost) or len(online):
            self._tally_batches(intents, served, served[bought], lost, online, online[online_bought])

        purchases = int(bought.sum()) + int(online_bought.sum())
        self.cumulative_purchases += purchases
        row = self._daily_row(day, date, kpis)
        row.update(routed)
        row.update(
            {
                "test_drives": len(served),
                "bookings_lost": len(lost),
                "queue_length": int(sum(a.queue_length for a in self.store_agents)),
                "online_orders": len(online),
                "purchases": purchases,
                "purchases_direct": int(online_bought.sum()),
                "cumulative_purchases": self.cumulative_purchases,
            }
        )
        self.daily_rows.append(row)
        if self.store_days == "all" or (self.store_days == "last" and day == self.horizon_days - 1):
            self._record_stores(day, store_sightings, served, bought)
        if day % WEEK_DAYS == WEEK_DAYS - 1 or day == self.horizon_days - 1:
            self._record_week(day)
        self.day += 1
        self.running = self.day < self.horizon_days
        if self.datacollector is not None:
            self.datacollector.collect(self)

    def _tally_batches(
        self,
        intents: np.ndarray,
        served: np.ndarray,
        bought: np.ndarray,
        lost: np.ndarray,
        online: np.ndarray,
        bought_online: np.ndarray,
    ) -> None:
        """Count the day's events per batch of consumers (the routed intents are counted by :meth:`_route_intents`)."""
        tallies = self.batch_tallies
        tallies.add("test_drive_intents", intents)
        tallies.add("test_drives", served)
        tallies.add("bookings_lost", lost)
        tallies.add("online_orders", online)
        tallies.add("purchases", bought)
        tallies.add("purchases", bought_online)
        tallies.add("purchases_direct", bought_online)

    def _serve(self, day: int, nobody: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every store serves its queue (Mesa's ``serve`` on each agent): the day's test drives and lost bookings.

        When no queue holds anyone, no store has anything to serve or lose, and the agents
        are not called (their day stays empty, as ``serve`` would leave it).
        """
        agents = self.store_agents
        if not any(len(agent.queue_consumers) for agent in agents):
            self._served_store = nobody
            return nobody, nobody
        self.capacity_draws = counter_uniforms(int(self.kernel_key), day, STREAM_CAPACITY, self.store_indices)
        self.agents.do("serve")
        held = [agent.served_today for agent in agents]
        self.store_test_drives[day] = [len(h) for h in held]
        self._served_store = np.repeat(self.store_indices, self.store_test_drives[day])
        return np.concatenate(held), np.concatenate([agent.lost_today for agent in agents])

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
            "media_contacts": int(kpis[KPI_MEDIA_CONTACTS]),
        }

    def _route_intents(self, intents: np.ndarray, day: int) -> dict[str, int]:
        """Send each test-drive intent to a brand store's queue, a rival, or back to the market.

        Returns the day's counts: ``test_drive_intents``, ``bookings_requested`` (at brand
        stores), ``bookings_to_rivals``, ``intents_no_visit`` and ``bookings_no_store``.
        """
        counts = {
            "test_drive_intents": len(intents),
            "bookings_requested": 0,
            "bookings_to_rivals": 0,
            "intents_no_visit": 0,
            "bookings_no_store": 0,
        }
        if len(intents) == 0:
            return counts
        status = self.consumers.arrays.status
        if not self.choice.any_site:
            status[intents] = IN_MARKET
            counts["bookings_no_store"] = len(intents)
            self.batch_tallies.add("bookings_no_store", intents)
            return counts
        choices = self.choice.choose(
            intents, lambda stream: counter_uniforms(int(self.kernel_key), day, stream, intents)
        )
        no_visit = choices.no_visit
        status[intents[no_visit]] = IN_MARKET
        to_rival = choices.rival >= 0
        status[intents[to_rival]] = LOST_TO_RIVAL
        np.add.at(self.rival_bookings, choices.rival[to_rival], 1)
        np.add.at(self.cell_bookings_to_rivals, self.population.home_cell[intents[to_rival]], 1)
        to_brand = choices.store >= 0
        self._join_queues(intents[to_brand], choices.store[to_brand], day)
        booked = to_brand | to_rival
        if booked.any():
            destination = np.where(to_brand, choices.store, -1 - choices.rival)[booked]
            self.booking_log.append((day, intents[booked], destination.astype(np.int64)))
        np.add.at(self.cell_bookings, self.population.home_cell[intents[to_brand]], 1)
        for kpi, chosen in (
            ("bookings_requested", to_brand),
            ("bookings_to_rivals", to_rival),
            ("intents_no_visit", no_visit),
        ):
            self.batch_tallies.add(kpi, intents[chosen])
        counts.update(
            bookings_requested=int(to_brand.sum()),
            bookings_to_rivals=int(to_rival.sum()),
            intents_no_visit=int(no_visit.sum()),
        )
        return counts

    def _join_queues(self, booked: np.ndarray, store: np.ndarray, day: int) -> None:
        """Append the day's bookings to their stores' queues, in a random order of arrival."""
        if len(booked) == 0:
            return
        arrival = counter_uniforms(int(self.kernel_key), day, STREAM_QUEUE_ORDER, booked)
        order = np.lexsort((arrival, store))
        store_sorted, booked_sorted = store[order], booked[order]
        boundaries = np.flatnonzero(np.diff(store_sorted)) + 1
        for group in np.split(np.arange(len(store_sorted)), boundaries):
            self.store_agents[int(store_sorted[group[0]])].receive(booked_sorted[group], day)

    def _test_drive_conversion(self, consumers: np.ndarray, day: int) -> np.ndarray:
        """``P_td``: the probability that each consumer buys after a test drive today."""
        behaviour = self.scenario.behaviour
        trust = self.trust_of(consumers, day)
        return conversion_probability(trust, behaviour.conversion, behaviour.conversion_trust_slope)

    def _convert(self, served: np.ndarray, day: int) -> np.ndarray:
        """Purchases after test drives; returns a boolean mask over ``served``."""
        if len(served) == 0:
            return np.zeros(0, dtype=bool)
        probability = self._test_drive_conversion(served, day)
        bought = counter_uniforms(int(self.kernel_key), day, STREAM_CONVERSION, served) < probability
        self.consumers.arrays.status[served] = np.where(bought, ADOPTED, OUT_OF_MARKET)
        self.consumers.add_sources(served, np.where(bought, 1.0, self.consumers.test_drive_source_weight))
        return bought

    def _convert_online(self, orders: np.ndarray, day: int) -> np.ndarray:
        """Purchases after online orders (no test drive); returns a boolean mask over ``orders``."""
        if len(orders) == 0:
            return np.zeros(0, dtype=bool)
        ratio = float(self.scenario.behaviour.online_conversion_odds_ratio)
        probability = online_conversion_probability(self._test_drive_conversion(orders, day), ratio)
        bought = counter_uniforms(int(self.kernel_key), day, STREAM_ONLINE_CONVERSION, orders) < probability
        self.consumers.arrays.status[orders] = np.where(bought, ADOPTED, OUT_OF_MARKET)
        self.consumers.add_sources(orders[bought], np.ones(int(bought.sum())))
        return bought

    def trust_of(self, consumers: np.ndarray | slice, day: int) -> np.ndarray:
        """Trust of some consumers on ``day``, as the kernel computed it that day.

        Called after the day's kernel, which has already decayed word of mouth for the next
        day, so today's value is ``wom / delta_S`` (before today's new sources).
        """
        return self.consumers.trust_of(consumers, day)

    def _record_week(self, day: int) -> None:
        """Snapshot each zone's familiarity at the end of ``day``: sums of F_i and of [F_i >= 0.5] by home zone."""
        self.weekly_days.append(day)
        self.weekly_familiarity.append(self.consumers.zone_familiarity(self.consumer_zone, len(self.city.zone_ids)))

    def _record_stores(self, day: int, store_sightings: np.ndarray, served: np.ndarray, bought: np.ndarray) -> None:
        buyers = set(served[bought].tolist()) if len(served) else set()
        weight = self.population.weight
        for agent in self.store_agents:
            self.store_rows.append(agent.day_row(day, int(store_sightings[agent.index]), buyers, weight))

    # ------------------------------------------------------------------ end state
    def familiarity(self, consumers: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Familiarity of consumers now (Hill of the net exposure stock)."""
        return self.consumers.familiarity(consumers)

    def store_utilisation(self) -> np.ndarray:
        """Each store's mean utilisation over its open days so far (0 if never open, NaN without capacity).

        ``u_j = mean over open days t of h_jt w / c_j``: test drives held ``h`` in people
        (consumer weight ``w``) over the daily capacity ``c`` (the ``utilisation`` column
        of the per-store rows, averaged over the store's open days, as
        :func:`simulator.results.store_totals` does).
        """
        days = np.arange(self.day)[:, None]
        open_days = (self.stores.open_day[None, :] <= days) & (days < self.stores.close_day[None, :])
        capacity = self.stores.capacity.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilisation = self.store_test_drives[: self.day] * float(self.population.weight) / capacity[None, :]
            count = open_days.sum(axis=0)
            mean = np.where(count > 0, np.where(open_days, utilisation, 0.0).sum(axis=0) / count, 0.0)
        return np.where(capacity > 0, mean, np.nan)

    def bookings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every booking of the horizon so far: day, consumer and destination (store index, or ``-1 - r`` for rival ``r``).

        In the order made (by day; within a day by consumer index), so that under common
        random numbers the k-th booking of a consumer can be paired across plans.
        """
        if not self.booking_log:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        days = np.concatenate([np.full(len(c), d, dtype=np.int64) for d, c, _ in self.booking_log])
        consumers = np.concatenate([c for _, c, _ in self.booking_log]).astype(np.int64)
        destination = np.concatenate([s for _, _, s in self.booking_log])
        return days, consumers, destination

    def trade_area_counts(self) -> dict[str, np.ndarray]:
        """Bookings, test drives and purchases after them by store and home cell (stores x cells).

        One :func:`numpy.bincount` over ``store * n_cells + home_cell`` per count, over the
        logs kept during the run (no per-consumer loop). Bookings at rivals are left out.
        """
        n_stores, n_cells = len(self.stores), len(self.city.cell_xy)
        home = self.population.home_cell

        def tally(consumers: np.ndarray, store: np.ndarray) -> np.ndarray:
            code = store.astype(np.int64) * n_cells + home[consumers]
            return np.bincount(code, minlength=n_stores * n_cells).reshape(n_stores, n_cells)

        _days, booked, destination = self.bookings()
        at_store = destination >= 0
        empty = np.zeros(0, dtype=np.int64)
        served = np.concatenate([c for c, _, _ in self.visit_log]) if self.visit_log else empty
        store = np.concatenate([s for _, s, _ in self.visit_log]) if self.visit_log else empty
        bought = np.concatenate([b for _, _, b in self.visit_log]) if self.visit_log else empty.astype(bool)
        return {
            "bookings_requested": tally(booked[at_store], destination[at_store]),
            "test_drives": tally(served, store),
            "purchases": tally(served[bought], store[bought]),
        }

    def run(self) -> FootprintModel:
        """Step until the horizon."""
        while self.running:
            self.step()
        return self

    def release(self) -> None:
        """Drop Mesa's class-level reference to this model so it can be garbage collected.

        ``mesa.Agent._ids`` is a class-level ``defaultdict`` keyed by model (the per-model
        agent-id counters) that is never cleared, so every model that created an agent stays
        alive, with its population and exposure arrays (mesa#3179; fixed only in Mesa
        releases that need Python >= 3.12). A sweep or comparison of many runs would grow
        by one run's arrays per run. Call this once the run's tables have been read; the
        model must not create agents afterwards.
        """
        mesa.Agent._ids.pop(self, None)


def _check_prebuilt(population: Population, stores: PlacedStores, exposure: Exposure) -> None:
    """Refuse an exposure built for another population or plan (a caller's mistake, not bad input)."""
    if len(exposure.consumer_class) != population.n or exposure.n_stores != len(stores):
        raise ValueError(
            f"exposure of {len(exposure.consumer_class)} consumers x {exposure.n_stores} stores does not fit "
            f"the population of {population.n} consumers and the plan of {len(stores)} stores"
        )

"""The consumers of one run as arrays, and the daily call of the compiled kernel.

:class:`Consumers` builds the structures that :func:`simulator.model.dynamics.consumer_day`
takes once per run (the consumer arrays, the behaviour parameters, the per-chunk sums),
rebuilds the exposure of the open stores when a store opens or closes, runs the kernel one
day at a time on as many threads as pays off, and raises word of mouth when consumers
become testimonial sources (and online reviews grow with the stock of sources). It also
gives the familiarity and trust of any consumers, as the kernel computes them.
"""

from __future__ import annotations

import numba
import numpy as np

from simulator.config import Scenario
from simulator.model.closed_forms import decay_from_half_life, hill, logistic
from simulator.model.dynamics import (
    EVENT_ONLINE_ORDER,
    EVENT_TEST_DRIVE_INTENT,
    IN_MARKET,
    NEVER,
    OUT_OF_MARKET,
    PENT_UP,
    ConsumerArrays,
    DayExposure,
    DayInputs,
    KernelParameters,
    add_testimonials,
    chunk_tallies,
    consumer_day,
    day_exposure,
    followers_of,
    gather_events,
    hear_of_the_brand,
)
from simulator.model.exposure import Exposure
from simulator.model.frozen import read_only
from simulator.model.population import Population
from simulator.model.rng import STREAM_INITIAL_MARKET, STREAM_PENT_UP, counter_uniform

PARALLEL_MIN_CONSUMERS = 200_000
"""Below this many consumers the kernel runs on one thread: waking a thread pool every day
costs more than it saves on small populations, and far more on a busy machine (measured:
4,000 consumers x 365 days took 0.19 s on one thread and 2.1 s on two at load 3)."""


@numba.njit(cache=True)
def zone_familiarity_sums(
    stock: np.ndarray,
    wear: np.ndarray,
    wear_weight: float,
    hill_k: float,
    hill_s: float,
    zone: np.ndarray,
    n_zones: int,
) -> np.ndarray:
    """Sums of familiarity ``F_i`` and of ``[F_i >= 1/2]`` by zone, shape (2, n_zones), in one pass.

    The same values as ``np.bincount(zone, weights=F)`` on :meth:`Consumers.familiarity`
    (net stock in float32, Hill in float64, consumers added in index order; to the last
    bit for ``s`` = 2 or 1/2, within the rounding of ``pow`` otherwise) without the
    full-size temporaries: the weekly zone snapshot of every consumer costs one read of
    the stocks instead of a dozen array passes.
    """
    sums = np.zeros((2, n_zones))
    weight = np.float32(wear_weight)
    for i in range(stock.shape[0]):
        effective = max(stock[i] - weight * wear[i], np.float32(0.0)) if weight != 0.0 else max(stock[i], 0.0)
        ratio = np.float64(effective) / hill_k
        if hill_s == 2.0:
            powered = ratio * ratio
        elif hill_s == 0.5:
            powered = np.sqrt(ratio)
        else:
            powered = ratio**hill_s
        familiarity = powered / (1.0 + powered)
        sums[0, zone[i]] += familiarity
        sums[1, zone[i]] += 1.0 if familiarity >= 0.5 else 0.0
    return sums


def kernel_parameters(scenario: Scenario) -> KernelParameters:
    """The kernel's behaviour parameters from a scenario (levers that are off weigh 0)."""
    behaviour = scenario.behaviour
    levers = scenario.levers
    testimonials = levers.testimonials
    media = levers.media
    return KernelParameters(
        stock_retention=decay_from_half_life(behaviour.adstock_half_life_days),
        wear_retention=decay_from_half_life(behaviour.wearout_half_life_days),
        wear_weight=float(behaviour.wearout_weight),
        hill_k=float(behaviour.hill_k),
        hill_s=float(behaviour.hill_s),
        familiarity_weight=float(levers.offline_footprint.weight) if levers.offline_footprint.enabled else 0.0,
        wom_weight=float(testimonials.weight) if testimonials.enabled else 0.0,
        enter_probability=float(1.0 - np.exp(-behaviour.in_market_rate_per_year / 365.0)),
        exit_probability=1.0 / behaviour.in_market_duration_days,
        booking_rate=float(behaviour.booking_rate_per_day),
        referral_rate=testimonials.referral_rate_per_year / 365.0 if testimonials.enabled else 0.0,
        test_drive_share=float(behaviour.test_drive_share),
        source_retention=decay_from_half_life(testimonials.source_half_life_days),
        media_weight=float(media.exposure_weight) if media.enabled else 0.0,
        pent_up_rate=float(1.0 - np.exp(-1.0 / scenario.launch.pent_up_mean_days_to_act)),
    )


class Consumers:
    """The consumers of one run: their arrays, the kernel's inputs and word of mouth.

    ``kernel`` is the compiled daily kernel, :func:`simulator.model.dynamics.consumer_day`;
    a test may set it to another function of the same signature (the daily oracle of
    ``tests/daily_kernel.py``).

    Parameters
    ----------
    scenario : Scenario
        Behaviour, levers, horizon and mixing of the run.
    population : Population
        The synthesised consumers (contacts, trust heterogeneity).
    exposure : Exposure
        Their sighting rates per class and store.
    kernel_key : int
        Key of the run's counter-based stream.
    n_stores : int
        Number of stores of the plan.
    record_sightings : bool
        Keep each consumer's number of sightings of the last simulated day in
        ``arrays.sightings_record``.
    followers : tuple of numpy.ndarray, optional
        :func:`simulator.model.dynamics.followers_of` of the population, already built
        (it depends on the population only; only read).
    """

    kernel = staticmethod(consumer_day)

    def __init__(
        self,
        scenario: Scenario,
        population: Population,
        exposure: Exposure,
        kernel_key: int,
        n_stores: int,
        record_sightings: bool = False,
        followers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.population = population
        self.exposure = exposure
        self.key = np.uint64(kernel_key)
        self.parameters = kernel_parameters(scenario)
        levers = scenario.levers
        self.testimonials = levers.testimonials
        horizon = int(scenario.horizon.days)
        self.base_trust_shift = scenario.behaviour.trust_intercept + np.array(
            [levers.trust_shift(d) for d in range(horizon)]
        )
        self.trust_shift = self.base_trust_shift.copy()
        """``b_t``, filled day by day: the base shift plus online testimonials of that day."""
        self.media_reach = np.array([levers.media.reach(d) for d in range(horizon)])
        self.source_stock = 0.0
        """Decayed stock of testimonial sources, in people (buyers 1, test-drivers ``w_td``)."""
        self.pent_up_share = float(scenario.launch.pent_up_share)
        self.test_drive_source_weight = levers.testimonials.test_drive_weight if levers.testimonials.enabled else 0.0
        self.full_mixing = scenario.population.mixing == "full"
        self.wom_full = 0.0
        n = population.n
        self.follower_indptr, self.follower_indices, self.inverse_degree = (
            followers
            if followers is not None
            else read_only(followers_of(n, population.contact_indptr, population.contact_indices))
        )
        self.arrays = ConsumerArrays(
            consumer_class=exposure.consumer_class,
            heterogeneity=(scenario.behaviour.trust_heterogeneity_sd * population.standard_normal).astype(np.float32),
            stock=np.zeros(n, dtype=np.float32),
            wear=np.zeros(n, dtype=np.float32),
            wom=np.zeros(n, dtype=np.float32),
            status=self._initial_status(n),
            aware=np.zeros(n, dtype=np.uint8),
            recent_sightings=np.full((n, 3), NEVER, dtype=np.int16),
            event=np.zeros(n, dtype=np.uint8),
            sightings_record=np.zeros(n if record_sightings else 0, dtype=np.int32),
        )
        self.tallies = chunk_tallies(n, n_stores)
        self.store_open = np.zeros(max(n_stores, 1), dtype=np.uint8)
        self.day_exposure: dict[bool, DayExposure] = {}
        self.hearing: list[np.ndarray] = []
        """Followers of the sources added since the last kernel call: aware from the next day if ``wom > 0``."""

    def _initial_status(self, n: int) -> np.ndarray:
        """Start in the steady state of the spells: share ``h D / (1 + h D)`` in the market.

        A share ``pent_up_share`` of consumers (independent draws) start pent up instead.
        """
        entry, exit_ = self.parameters.enter_probability, self.parameters.exit_probability
        in_market_share = entry / (entry + exit_) if entry > 0 else 0.0
        status = np.empty(n, dtype=np.uint8)
        initial_status(np.uint64(self.key), float(in_market_share), float(self.pent_up_share), status)
        return status

    def open_stores(self, open_mask: np.ndarray) -> None:
        """Set the open stores; rebuild the weekday and weekend exposure of the open stores.

        A shared (read-only) exposure keeps the structures of each set of open stores
        it has seen (:meth:`Exposure.memo`), so the runs that share it build them once.
        """
        exposure = self.exposure
        self.store_open[: len(open_mask)] = open_mask
        shared = not exposure.rate_weekday.flags.writeable
        key = ("day_exposure", self.store_open.tobytes())
        built = exposure.memo.get(key) if shared else None
        if built is None:
            store_open = self.store_open.copy() if shared else self.store_open
            threads = numba.get_num_threads()
            if self.population.n < PARALLEL_MIN_CONSUMERS:
                numba.set_num_threads(1)
            try:
                built = {
                    weekend: day_exposure(
                        exposure.indptr, exposure.indices, rate, weight, store_open, exposure.consumer_class
                    )
                    for weekend, rate, weight in (
                        (False, exposure.rate_weekday, exposure.weight_weekday),
                        (True, exposure.rate_weekend, exposure.weight_weekend),
                    )
                }
            finally:
                numba.set_num_threads(threads)
            if shared:
                for structure in built.values():
                    for array in structure:
                        if isinstance(array, np.ndarray):
                            array.flags.writeable = False
                exposure.remember(key, built)
        self.day_exposure = dict(built)

    def advance(self, day: int, weekend: bool) -> tuple[np.ndarray, np.ndarray]:
        """Run the kernel for one day.

        Returns
        -------
        kpis : numpy.ndarray, shape (N_KPIS,)
            The day's KPI sums (columns ``KPI_*`` of :mod:`simulator.model.dynamics`).
        store_sightings : numpy.ndarray of int64, shape (stores,)
            The day's sightings of each store.
        """
        self.trust_shift[day] = self.base_trust_shift[day] + self.testimonials.online_effect(day, self.source_stock)
        today = DayInputs(
            day=day,
            key=self.key,
            trust_shift=float(self.trust_shift[day]),
            full_mixing_wom=self.wom_full if self.full_mixing else -1.0,
            media_reach=float(self.media_reach[day]),
        )
        if self.hearing:
            followers = np.concatenate(self.hearing)
            hear_of_the_brand(self.arrays.aware, self.arrays.wom, self.tallies.aware, followers)
            self.hearing = []
        threads = numba.get_num_threads()
        single = threads > 1 and self.population.n < PARALLEL_MIN_CONSUMERS
        if single:
            numba.set_num_threads(1)
        try:
            self.kernel(today, self.day_exposure[weekend], self.parameters, self.arrays, self.tallies)
        finally:
            if single:
                numba.set_num_threads(threads)
        self.wom_full *= self.parameters.source_retention
        self.source_stock *= self.parameters.source_retention
        return self.tallies.kpis.sum(axis=0), self.tallies.store_sightings.sum(axis=0)

    def decisions(self) -> tuple[np.ndarray, np.ndarray]:
        """The last day's deciders, ascending: test-drive intents and online orders (int64 indices)."""
        deciders = gather_events(self.tallies)
        kinds = self.arrays.event[deciders]
        return deciders[kinds == EVENT_TEST_DRIVE_INTENT], deciders[kinds == EVENT_ONLINE_ORDER]

    def add_sources(self, consumers: np.ndarray, strengths: np.ndarray) -> None:
        """New word-of-mouth sources: raise their followers' (or everyone's) word of mouth.

        Their strengths, in people, also join the stock of sources that online reviews grow with.
        """
        if len(consumers) == 0:
            return
        self.source_stock += float(np.sum(strengths)) * self.population.weight
        if self.full_mixing:
            self.wom_full += float(np.sum(strengths)) / self.population.n
        else:
            followers = add_testimonials(
                self.arrays.wom, self.follower_indptr, self.follower_indices, self.inverse_degree, consumers, strengths
            )
            self.hearing.append(followers)

    def familiarity(self, consumers: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Familiarity of consumers now (Hill of the net exposure stock)."""
        parameters, arrays = self.parameters, self.arrays
        effective = np.maximum(arrays.stock[consumers] - parameters.wear_weight * arrays.wear[consumers], 0.0)
        return hill(effective, parameters.hill_k, parameters.hill_s)

    def zone_familiarity(self, zone: np.ndarray, n_zones: int) -> np.ndarray:
        """Sums of familiarity and of the familiar (``F >= 1/2``) by zone, shape (2, n_zones) (:func:`zone_familiarity_sums`)."""
        parameters, arrays = self.parameters, self.arrays
        return zone_familiarity_sums(
            arrays.stock, arrays.wear, parameters.wear_weight, parameters.hill_k, parameters.hill_s, zone, n_zones
        )

    def trust_of(self, consumers: np.ndarray | slice, day: int) -> np.ndarray:
        """Trust of some consumers on ``day``, as the kernel computed it that day.

        Called after the day's kernel, which has already decayed word of mouth for the next
        day, so today's value is ``wom / delta_S`` (before today's new sources).
        """
        parameters, arrays = self.parameters, self.arrays
        heard = (self.wom_full if self.full_mixing else arrays.wom[consumers]) / parameters.source_retention
        logit = (
            self.trust_shift[day]
            + parameters.familiarity_weight * self.familiarity(consumers)
            + parameters.wom_weight * heard
            + arrays.heterogeneity[consumers]
        )
        return logistic(logit)


@numba.njit(cache=True)
def initial_status(key: np.uint64, in_market_share: float, pent_up_share: float, out: np.ndarray) -> None:
    """Status of consumer i: ``PENT_UP`` if ``u'_i < pent_up_share``, else ``IN_MARKET`` if ``u_i < in_market_share``.

    ``u_i`` and ``u'_i`` are the counter-based uniforms of day 0 on the streams
    ``STREAM_INITIAL_MARKET`` and ``STREAM_PENT_UP`` (:func:`simulator.model.rng.counter_uniform`,
    the values ``counter_uniforms`` gives), computed in one pass with no temporaries.
    """
    for i in range(len(out)):
        status = IN_MARKET if counter_uniform(key, 0, STREAM_INITIAL_MARKET, i) < in_market_share else OUT_OF_MARKET
        if pent_up_share > 0 and counter_uniform(key, 0, STREAM_PENT_UP, i) < pent_up_share:
            status = PENT_UP
        out[i] = status

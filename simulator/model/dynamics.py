"""Array kernels of the daily dynamics and the structures they take.

Consumers are columns of arrays. One call of :func:`consumer_day` advances every consumer
by one day (numba, parallel over fixed-size chunks):

1. media: with probability ``m(t)`` (the day's reach) consumer i is reached and adds
   ``w_M`` to the day's exposure increment; sightings ``n_i ~ Poisson(R_i)`` with ``R_i = sum_j rate_ij`` over open stores, drawn by
   inverse CDF from one counter-based uniform; when ``n_i > 0`` each sighting is assigned
   to a store with probability ``rate_ij / R_i`` and adds that entry's weight ``w_ij``;
2. exposure stock (adstock) ``E_i <- delta E_i + sum_j w_ij n_ij (+ w_M)`` and an optional wear-out
   stock ``W_i <- delta_w W_i + sum_j w_ij n_ij (+ w_M)`` (a media contact wears out like a sighting);
3. familiarity (Hill) ``F_i = x^s / (x^s + K^s)`` with ``x = max(E_i - w_T W_i, 0)``;
4. word of mouth ``WOM_i = (1 / k_i) sum_{j in contacts(i)} S_j``: the mean testimonial
   strength of i's contacts (or of everyone, with full mixing), where a source's strength
   decays as ``S <- delta_S S`` and grows by 1 at a purchase and by ``w_td`` at a test
   drive. Because every source decays at the same rate, ``WOM_i`` itself decays by
   ``delta_S`` each day and only the followers of a new source need an increment
   (:func:`add_testimonials`): no consumer reads its contacts' state on a normal day, which
   removes the random memory access that would otherwise bound the kernel's speed;
5. trust ``T_i = logistic(b_t + b_F F_i + b_W WOM_i + u_i)`` where ``b_t`` is the intercept
   plus the levers' shift on day t (online testimonials included) and ``u_i`` the
   consumer's fixed heterogeneity;
6. in-market spells: out-of-market consumers enter with a daily probability; in-market
   consumers leave with probability ``1 / duration``;
7. decision: an in-market consumer decides with probability
   ``1 - exp(-(r T_i + q WOM_i))`` (``r`` booking rate, ``q`` daily referral rate: with
   ``T`` constant and full mixing this is exactly the Bass hazard ``p + q A / N``); a
   pent-up consumer (in market for the launch) decides with probability ``pent_up_rate``.
   A decider wants a test drive with probability ``test_drive_share``
   (``EVENT_TEST_DRIVE_INTENT``), otherwise orders online (``EVENT_ONLINE_ORDER``); both
   wait (status ``WAITING``) for the model to choose a store or convert the order.

The kernel takes five named structures (``typing.NamedTuple``, which numba compiles as
tuples) rather than three dozen positional arguments: :class:`ConsumerArrays` (per
consumer, built once per run), :class:`DayExposure` (per kind of day, rebuilt when a store
opens or closes), :class:`KernelParameters` (the run's behaviour parameters),
:class:`DayInputs` (the day's scalars) and :class:`ChunkTallies` (the day's sums). The
closed forms these equations reduce to are in :mod:`simulator.model.closed_forms`.

**What a day costs.** Most consumer-days have nothing to draw (no sighting on 97.7 % of
them in the Beijing launch). Per chunk of ``CHUNK_SIZE`` consumers the kernel does three
things (:func:`_advance_chunk`):

* it draws the media contacts, sightings and market entries of their *candidates* only
  (thinned Bernoulli draws, :mod:`simulator.model.events`: each consumer-day still has one
  exactly uniform ``u`` per event, the same in every plan, so common random numbers stay
  exact and a store added to a plan never lowers anyone's sightings);
* the *dense pass* (:mod:`simulator.model.dense_pass`), the only loop over every consumer:
  steps 2-5 in float32, branch-free and vectorised (8 consumers per AVX2 instruction; the
  logistic is a rational function, not ``exp``), reading ``stock``, ``wom`` and
  ``heterogeneity`` and writing ``stock`` and ``wom``, and summing familiarity, the
  familiar and trust (float32 within the chunk, float64 across chunks);
* the *market pass* (:mod:`simulator.model.market_pass`): steps 6-7 for the consumers in
  the market or pent up only (about 1 %), found eight status bytes at a time; it runs after
  the dense pass, so their state is still in cache, and computes their trust in float64.

Nothing else is written per consumer: the day's deciders are listed per chunk
(:class:`ChunkTallies`, read by :meth:`simulator.model.consumers.Consumers.decisions`), and
only yesterday's are reset in ``event``; the number of aware consumers is kept per chunk and
raised when ``aware`` goes from 0 to 1 (a sighting, a media contact, a decision, or, through
:func:`hear_of_the_brand` before the next day, word of mouth ``WOM > 0``); the number in the
market is counted from the status bytes. Reach and effective frequency are counted per chunk
in a window of the last 28 days, changed only by sightings. So the KPI sums stay exact sums
over all consumers. The daily kernel this replaced, one uniform per consumer, day and event,
is kept in ``tests/daily_kernel.py`` as the oracle the tests compare this one with in
distribution.

All draws come from :func:`simulator.model.rng.counter_uniform`, so the result of a day does not
depend on the number of threads. Sums are formed per chunk of ``CHUNK_SIZE`` consumers and
added in chunk order, so they are bit-identical on any machine with the same chunking.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from simulator.model import market_pass as _market
from simulator.model.dense_pass import FAST_MATH, dense_pass
from simulator.model.events import (
    ENTRY_CAP,
    SIGHTING_CAP,
    chunk_sightings,
    hot_consumers,
    market_entries,
    media_contacts,
    open_row_cumulative,
    open_row_tables,
)
from simulator.model.market_pass import market_pass
from simulator.model.population_kernels import transpose_contacts

# numba's OpenMP threads sleep while they wait for work instead of spinning (a user's value
# wins; read when the first parallel region starts). benchmarks/README.md has the measurements.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CHUNK_SIZE = 8192
NEVER = -32768  # "no sighting yet" in the recent-sightings memory (int16)
RECENT_WINDOW_DAYS = 28

# Status codes of a consumer and events written by the kernel (defined with the market pass).
OUT_OF_MARKET = _market.OUT_OF_MARKET
IN_MARKET = _market.IN_MARKET
WAITING = _market.WAITING
ADOPTED = _market.ADOPTED
PENT_UP = _market.PENT_UP
LOST_TO_RIVAL = _market.LOST_TO_RIVAL
EVENT_NONE = _market.EVENT_NONE
EVENT_TEST_DRIVE_INTENT = _market.EVENT_TEST_DRIVE_INTENT
EVENT_ONLINE_ORDER = _market.EVENT_ONLINE_ORDER


# Columns of the per-chunk KPI sums.
KPI_AWARE = 0
KPI_FAMILIARITY = 1
KPI_FAMILIAR = 2
KPI_TRUST = 3
KPI_REACH = 4
KPI_EFFECTIVE_FREQUENCY = 5
KPI_IN_MARKET = 6
KPI_SIGHTINGS = 7
KPI_TEST_DRIVE_INTENTS = 8
KPI_ONLINE_ORDERS = 9
KPI_MEDIA_CONTACTS = 10
N_KPIS = 11


# ----------------------------------------------------------------------------------------
# The fused daily kernel and the structures it takes.
# ----------------------------------------------------------------------------------------


class ConsumerArrays(NamedTuple):
    """Per-consumer arrays of the kernel, all of length N (built once per run).

    Attributes
    ----------
    consumer_class : numpy.ndarray of int32
        Row of the exposure matrix that consumer i reads.
    heterogeneity : numpy.ndarray of float32
        ``u_i``, the consumer's fixed shift of trust (log-odds).
    stock, wear : numpy.ndarray of float32
        Exposure stock ``E_i`` and wear-out stock ``W_i`` (updated in place).
    wom : numpy.ndarray of float32
        Word of mouth ``WOM_i``: read for today and left decayed for tomorrow (the caller
        then adds today's new sources with :func:`add_testimonials`); not used with full
        mixing.
    status : numpy.ndarray of uint8
        ``OUT_OF_MARKET``, ``IN_MARKET``, ``WAITING``, ``ADOPTED``, ``PENT_UP`` or
        ``LOST_TO_RIVAL`` (updated in place).
    aware : numpy.ndarray of uint8
        1 once the consumer has seen a store, heard of the brand or decided.
    recent_sightings : numpy.ndarray of int16, shape (N, 3)
        Days of the three most recent sightings, latest first (``NEVER``: none).
    event : numpy.ndarray of uint8
        Output: today's ``EVENT_NONE``, ``EVENT_TEST_DRIVE_INTENT`` or ``EVENT_ONLINE_ORDER``.
    sightings_record : numpy.ndarray of int32
        Output: today's number of sightings; an empty array skips the record.
    """

    consumer_class: np.ndarray
    heterogeneity: np.ndarray
    stock: np.ndarray
    wear: np.ndarray
    wom: np.ndarray
    status: np.ndarray
    aware: np.ndarray
    recent_sightings: np.ndarray
    event: np.ndarray
    sightings_record: np.ndarray


class DayExposure(NamedTuple):
    """The classes x stores exposure matrix of one kind of day (weekday or weekend), in CSR form.

    Built again only when a store opens or closes, by :func:`day_exposure`.

    Attributes
    ----------
    indptr : numpy.ndarray of int64, shape (classes + 1,)
    indices : numpy.ndarray of int32
        Store of each entry.
    rate, weight : numpy.ndarray of float32
        Expected sightings per day and mean sighting weight of each entry.
    row_total, row_zero_probability : numpy.ndarray of float32, shape (classes,)
        ``R = sum_{j open} rate_j`` per class and ``exp(-R)`` (views of ``class_table``).
    store_open : numpy.ndarray of uint8, shape (stores,)
        1 for an open store.
    cumulative : numpy.ndarray of float64
        Running sum of the open stores' rates along each row (a closed store adds 0): the
        store of a sighting is picked by searching it (a view of ``entry_table``).
    class_table, entry_table : numpy.ndarray of ``events.CLASS_RECORD`` and ``events.ENTRY_RECORD``
        The same per class (first entry, ``exp(-R)``, ``R``; one record more than there are
        classes) and per entry (running sum, weight, store), one record each, as the
        sighting draws read them (:func:`simulator.model.events.open_row_tables`).
    hot_indptr, hot_indices, hot_zero_probability, hot_class : numpy.ndarray of int64, int32, float32 and int32
        Per chunk of ``CHUNK_SIZE`` consumers, the consumers whose ``exp(-R)`` is below
        ``1 - SIGHTING_CAP``, that ``exp(-R)`` and their class: the only consumers drawn
        on days they are not sighting candidates (see :mod:`simulator.model.events`).
    """

    indptr: np.ndarray
    indices: np.ndarray
    rate: np.ndarray
    weight: np.ndarray
    row_total: np.ndarray
    row_zero_probability: np.ndarray
    store_open: np.ndarray
    cumulative: np.ndarray
    class_table: np.ndarray
    entry_table: np.ndarray
    hot_indptr: np.ndarray
    hot_indices: np.ndarray
    hot_zero_probability: np.ndarray
    hot_class: np.ndarray


class DayInputs(NamedTuple):
    """The scalars of one day: its number and stream key, trust shift, full-mixing word of mouth, media reach."""

    day: int
    """Day of the horizon; with ``key`` it addresses the day's counter-based draws."""
    key: np.uint64
    """Key of the run's counter-based stream."""
    trust_shift: float
    """``b_t``: trust intercept plus the levers' shift on this day (log-odds)."""
    full_mixing_wom: float
    """Everyone's word of mouth with full mixing (>= 0); -1 to read each consumer's ``wom``."""
    media_reach: float
    """``m(t)``: probability that a consumer is reached by media today."""


class KernelParameters(NamedTuple):
    """The behaviour parameters of a run, as the kernel reads them (all floats)."""

    stock_retention: float
    """``delta``: daily retention of the exposure stock."""
    wear_retention: float
    """``delta_w``: daily retention of the wear-out stock."""
    wear_weight: float
    """``w_T``: weight of the wear-out stock (0: no wear-out)."""
    hill_k: float
    """``K`` of the Hill familiarity."""
    hill_s: float
    """``s`` of the Hill familiarity."""
    familiarity_weight: float
    """``b_F``: shift of trust per unit familiarity."""
    wom_weight: float
    """``b_W``: shift of trust per unit word of mouth."""
    enter_probability: float
    """Daily probability that an out-of-market consumer enters the market."""
    exit_probability: float
    """Daily probability that an in-market consumer leaves it, ``1 / duration``."""
    booking_rate: float
    """``r``: decision rate per unit trust, per day."""
    referral_rate: float
    """``q``: decision rate per unit word of mouth, per day."""
    test_drive_share: float
    """Share of decisions that are test-drive intents (the rest are online orders)."""
    source_retention: float
    """``delta_S``: daily retention of a testimonial source's strength."""
    media_weight: float
    """``w_M``: exposure weight of one media contact."""
    pent_up_rate: float
    """Daily probability that a pent-up consumer decides."""


class ChunkTallies(NamedTuple):
    """Sums the kernel writes per chunk of ``CHUNK_SIZE`` consumers (built once per run).

    Attributes
    ----------
    kpis : numpy.ndarray of float64, shape (chunks, N_KPIS)
        The day's KPI sums (columns ``KPI_*``).
    store_sightings : numpy.ndarray of int64, shape (chunks, stores)
        The day's sightings of each store.
    recent_days : numpy.ndarray of int64, shape (chunks, 2, RECENT_WINDOW_DAYS)
        Kept across days: ``[b, 0, d % W]`` counts chunk b's consumers whose latest
        sighting was on day d of the last ``W = RECENT_WINDOW_DAYS`` days, ``[b, 1, d % W]``
        those whose third latest was. Their sums are the reach and effective-frequency
        counts, updated only when a consumer has a sighting. Start at zero (nobody has seen
        a store) and run the kernel on every day in order.
    aware : numpy.ndarray of int64, shape (chunks,)
        Kept across days: the number of aware consumers of each chunk, raised whenever a
        consumer's ``aware`` goes from 0 to 1 (it never goes back). Starts at zero, with
        nobody aware.
    event_consumers : numpy.ndarray of int32, shape (chunks, CHUNK_SIZE)
        The consumers of each chunk who decided on the last day, ascending, in the first
        ``event_counts[b]`` places of row b (the rest is never read).
    event_counts : numpy.ndarray of int64, shape (chunks,)
        How many.
    """

    kpis: np.ndarray
    store_sightings: np.ndarray
    recent_days: np.ndarray
    aware: np.ndarray
    event_consumers: np.ndarray
    event_counts: np.ndarray


def chunk_tallies(n: int, n_stores: int) -> ChunkTallies:
    """Zeroed :class:`ChunkTallies` for ``n`` consumers and ``n_stores`` stores."""
    n_chunks = max(1, -(-n // CHUNK_SIZE))
    return ChunkTallies(
        kpis=np.zeros((n_chunks, N_KPIS)),
        store_sightings=np.zeros((n_chunks, max(n_stores, 1)), dtype=np.int64),
        recent_days=np.zeros((n_chunks, 2, RECENT_WINDOW_DAYS), dtype=np.int64),
        aware=np.zeros(n_chunks, dtype=np.int64),
        event_consumers=np.empty((n_chunks, CHUNK_SIZE), dtype=np.int32),  # pages touched only by events
        event_counts=np.zeros(n_chunks, dtype=np.int64),
    )


@numba.njit(parallel=True, cache=True)
def open_row_totals(
    indptr: np.ndarray, indices: np.ndarray, rate: np.ndarray, store_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class total sighting rate over open stores, and ``exp(-total)``.

    ``R = sum_{j open} rate_j``; recomputed only when a store opens or closes.
    """
    _cumulative, totals, zero_probability = open_row_cumulative(indptr, indices, rate, store_open)
    return totals, zero_probability


def day_exposure(
    indptr: np.ndarray,
    indices: np.ndarray,
    rate: np.ndarray,
    weight: np.ndarray,
    store_open: np.ndarray,
    consumer_class: np.ndarray,
) -> DayExposure:
    """The :class:`DayExposure` of the open stores, for consumers of the given classes."""
    class_table, entry_table = open_row_tables(indptr, indices, rate, weight, store_open)
    zero_probability = class_table["zero"][:-1]
    hot_indptr, hot_indices = hot_consumers(consumer_class, zero_probability, 1.0 - SIGHTING_CAP, CHUNK_SIZE)
    hot_class = consumer_class[hot_indices]
    hot_zero_probability = zero_probability[hot_class]
    return DayExposure(
        indptr=indptr,
        indices=indices,
        rate=rate,
        weight=weight,
        row_total=class_table["total"][:-1],
        row_zero_probability=zero_probability,
        store_open=store_open,
        cumulative=entry_table["cumulative"],
        class_table=class_table,
        entry_table=entry_table,
        hot_indptr=hot_indptr,
        hot_indices=hot_indices,
        hot_zero_probability=hot_zero_probability,
        hot_class=hot_class,
    )


@numba.njit(parallel=True, cache=True)
def consumer_day(
    day_inputs: DayInputs,
    exposure: DayExposure,
    parameters: KernelParameters,
    consumers: ConsumerArrays,
    tallies: ChunkTallies,
) -> None:
    """Advance every consumer by one day (see the module docstring for the equations).

    Consumer i reads row ``consumers.consumer_class[i]`` of ``exposure``. The state arrays
    of ``consumers`` are updated in place, ``consumers.event`` and
    ``consumers.sightings_record`` receive the day's outputs and ``tallies`` the day's sums
    and decisions per chunk. Chunks of ``CHUNK_SIZE`` consumers run in parallel
    (:func:`_advance_chunk`).
    """
    for chunk in prange(tallies.kpis.shape[0]):
        _advance_chunk(chunk, day_inputs, exposure, parameters, consumers, tallies)


@numba.njit(cache=True, fastmath=FAST_MATH)
def _advance_chunk(
    chunk: int,
    day_inputs: DayInputs,
    exposure: DayExposure,
    parameters: KernelParameters,
    consumers: ConsumerArrays,
    tallies: ChunkTallies,
) -> None:
    """One chunk's day: draw its events by walking their candidates, the market pass, then the dense pass.

    The media contacts, sightings and market-entry candidates are drawn first
    (:mod:`simulator.model.events`); :func:`_market_pass` draws for the consumers in the
    market; :func:`simulator.model.dense_pass.dense_pass` updates every consumer's stocks
    and word of mouth and sums familiarity and trust.
    """
    day = day_inputs.day
    key = day_inputs.key
    aware = consumers.aware
    n = consumers.stock.shape[0]
    start = chunk * CHUNK_SIZE
    size = max(min(start + CHUNK_SIZE, n) - start, 0)
    stop = start + size
    store_counts = tallies.store_sightings[chunk]
    store_counts[:] = 0
    recent_days = tallies.recent_days[chunk]
    recent_days[:, day % RECENT_WINDOW_DAYS] = 0  # day - W has left the window
    flags = np.zeros(size, dtype=np.uint8)
    counts = np.zeros(size, dtype=np.int32)
    increment = np.zeros(size, dtype=np.float32)
    media, newly_aware = media_contacts(
        key, day, chunk, start, day_inputs.media_reach, parameters.media_weight, flags, increment, aware
    )
    classes, entries = exposure.class_table, exposure.entry_table
    exposure_arrays = (
        classes["first"],
        classes["zero"],
        classes["total"],
        entries["cumulative"],
        entries["weight"],
        entries["store"],
        exposure.hot_indptr,
        exposure.hot_indices,
        exposure.hot_zero_probability,
        exposure.hot_class,
    )
    sightings, newly_sighted = chunk_sightings(
        key, day, chunk, start, exposure_arrays, consumers.consumer_class, consumers.recent_sightings, aware,
        recent_days, store_counts, flags, counts, increment,
    )  # fmt: skip
    tallies.aware[chunk] += newly_aware + newly_sighted
    if day_inputs.full_mixing_wom > 0.0 and tallies.aware[chunk] < size:
        aware[start:stop] = 1  # everyone has heard of the brand
        tallies.aware[chunk] = size
    dense_entry = parameters.enter_probability > ENTRY_CAP
    if dense_entry:
        market_entries(key, day, chunk, start, parameters.enter_probability, flags, consumers.status, True)
    sum_familiarity, sum_familiar, sum_trust = dense_pass(
        increment, consumers.stock[start:stop], consumers.wear[start:stop], consumers.wom[start:stop],
        consumers.heterogeneity[start:stop], parameters, day_inputs,
    )  # fmt: skip
    # After the dense pass, so that the few consumers in the market find their state in cache.
    in_market, intents, orders = market_pass(chunk, start, flags, day_inputs, parameters, consumers, tallies)
    if not dense_entry:  # after the market pass: who enters today decides from tomorrow
        in_market += market_entries(
            key, day, chunk, start, parameters.enter_probability, flags, consumers.status, False
        )
    if consumers.sightings_record.shape[0] > 0:
        consumers.sightings_record[start:stop] = counts
    kpi = tallies.kpis[chunk]
    kpi[KPI_AWARE] = tallies.aware[chunk]
    kpi[KPI_FAMILIARITY] = sum_familiarity
    kpi[KPI_FAMILIAR] = sum_familiar
    kpi[KPI_TRUST] = sum_trust
    kpi[KPI_REACH] = recent_days[0].sum()
    kpi[KPI_EFFECTIVE_FREQUENCY] = recent_days[1].sum()
    kpi[KPI_IN_MARKET] = in_market
    kpi[KPI_SIGHTINGS] = sightings
    kpi[KPI_TEST_DRIVE_INTENTS] = intents
    kpi[KPI_ONLINE_ORDERS] = orders
    kpi[KPI_MEDIA_CONTACTS] = media


@numba.njit(cache=True)
def gather_events(tallies: ChunkTallies) -> np.ndarray:
    """The consumers who decided on the last day the kernel ran, ascending (int64)."""
    counts = tallies.event_counts
    out = np.empty(counts.sum(), dtype=np.int64)
    position = 0
    for chunk in range(counts.shape[0]):
        for m in range(counts[chunk]):
            out[position] = tallies.event_consumers[chunk, m]
            position += 1
    return out


@numba.njit(cache=True)
def hear_of_the_brand(aware: np.ndarray, wom: np.ndarray, counts: np.ndarray, consumers: np.ndarray) -> None:
    """Make the listed consumers with word of mouth (``wom > 0``) aware, counting them per chunk in ``counts``."""
    for i in consumers:
        if aware[i] == 0 and wom[i] > 0.0:
            aware[i] = 1
            counts[i // CHUNK_SIZE] += 1


def add_testimonials(
    wom: np.ndarray,
    follower_indptr: np.ndarray,
    follower_indices: np.ndarray,
    inverse_degree: np.ndarray,
    sources: np.ndarray,
    strengths: np.ndarray,
) -> np.ndarray:
    """Add new testimonial sources to their followers' word of mouth, in place; return the followers.

    A source j whose strength grows by ``x_j`` raises ``WOM_i`` by ``x_j / k_i`` for every
    consumer i that has j among its ``k_i`` contacts (i "follows" j).

    Parameters
    ----------
    wom : numpy.ndarray of float32, shape (N,)
    follower_indptr, follower_indices : numpy.ndarray
        The transpose of the contact graph in CSR form: the followers of j are
        ``follower_indices[follower_indptr[j]:follower_indptr[j + 1]]``.
    inverse_degree : numpy.ndarray of float32, shape (N,)
        ``1 / k_i`` (0 for a consumer without contacts).
    sources : numpy.ndarray of int
        Consumers who became sources today.
    strengths : numpy.ndarray of float
        Their increments ``x_j``.

    Returns
    -------
    numpy.ndarray of int64
        The followers of the sources (with repeats), whose word of mouth was raised.
    """
    if len(sources) == 0:
        return np.zeros(0, dtype=np.int64)
    starts, stops = follower_indptr[sources], follower_indptr[sources + 1]
    counts = stops - starts
    if counts.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    followers = follower_indices[np.arange(counts.sum()) + offsets]
    increments = np.repeat(np.asarray(strengths, dtype=np.float64), counts) * inverse_degree[followers]
    np.add.at(wom, followers, increments.astype(wom.dtype))
    return followers.astype(np.int64, copy=False)


def followers_of(
    n: int, contact_indptr: np.ndarray, contact_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transpose of the contact graph and ``1 / k_i``: what :func:`add_testimonials` needs.

    The transpose is a counting sort (:func:`~simulator.model.population_kernels.transpose_contacts`):
    int64 ``follower_indptr``, int32 ``follower_indices`` with each consumer's followers in
    increasing order (what a stable argsort of the contact indices gives), in O(n k) time
    and without edge-sized int64 temporaries.
    """
    follower_indptr, follower_indices = transpose_contacts(
        int(n), np.asarray(contact_indptr, dtype=np.int64), np.asarray(contact_indices, dtype=np.int32)
    )
    degree = np.diff(contact_indptr)
    inverse_degree = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0).astype(np.float32)
    return follower_indptr, follower_indices, inverse_degree

"""Array kernels of the daily dynamics and the structures they take.

Consumers are columns of arrays. One call of :func:`consumer_day` advances every consumer
by one day in a single fused, compiled pass (numba, parallel over fixed-size chunks):

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

All draws come from :func:`simulator.model.rng.counter_uniform`, so the result of a day does not
depend on the number of threads. Sums are formed per chunk of ``CHUNK_SIZE`` consumers and
added in chunk order, so they are bit-identical on any machine with the same chunking.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from simulator.model.rng import (
    STREAM_CHANNEL,
    STREAM_DECISION,
    STREAM_MARKET,
    STREAM_MEDIA,
    STREAM_SIGHTINGS,
    STREAM_SPLIT_BASE,
    counter_uniform,
)

CHUNK_SIZE = 8192
NEVER = -32768  # "no sighting yet" in the recent-sightings memory (int16)
RECENT_WINDOW_DAYS = 28

# Status codes of a consumer.
OUT_OF_MARKET = 0
IN_MARKET = 1
WAITING = 2  # decided: choosing a store, in a store's queue, or waiting for an online order
ADOPTED = 3  # bought
PENT_UP = 4  # in market for the launch: decides at the pent-up rate, whatever the trust
LOST_TO_RIVAL = 5  # booked a test drive at a rival's showroom: lost to the brand

# Events written by the kernel.
EVENT_NONE = 0
EVENT_TEST_DRIVE_INTENT = 1
EVENT_ONLINE_ORDER = 2

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

    Built again only when a store opens or closes (see :func:`open_row_totals`).

    Attributes
    ----------
    indptr : numpy.ndarray of int64, shape (classes + 1,)
    indices : numpy.ndarray of int32
        Store of each entry.
    rate, weight : numpy.ndarray of float32
        Expected sightings per day and mean sighting weight of each entry.
    row_total, row_zero_probability : numpy.ndarray of float32, shape (classes,)
        ``R = sum_{j open} rate_j`` per class and ``exp(-R)``.
    store_open : numpy.ndarray of uint8, shape (stores,)
        1 for an open store.
    """

    indptr: np.ndarray
    indices: np.ndarray
    rate: np.ndarray
    weight: np.ndarray
    row_total: np.ndarray
    row_zero_probability: np.ndarray
    store_open: np.ndarray


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
    """

    kpis: np.ndarray
    store_sightings: np.ndarray


@numba.njit(parallel=True, cache=True)
def open_row_totals(
    indptr: np.ndarray, indices: np.ndarray, rate: np.ndarray, store_open: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-consumer total sighting rate over open stores, and ``exp(-total)``.

    ``R_i = sum_{j open} rate_ij``; recomputed only when a store opens or closes.
    """
    n = indptr.shape[0] - 1
    totals = np.zeros(n, dtype=np.float32)
    zero_probability = np.ones(n, dtype=np.float32)
    for i in prange(n):
        total = 0.0
        for entry in range(indptr[i], indptr[i + 1]):
            if store_open[indices[entry]]:
                total += rate[entry]
        totals[i] = total
        zero_probability[i] = math.exp(-total)
    return totals, zero_probability


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
    per chunk.
    """
    # Every field is read into a local before the parallel loop: numba drops writes to an
    # array reached through a namedtuple inside prange (numba issues #7135 and #10338).
    day = day_inputs.day
    key = day_inputs.key
    full_mixing_wom = day_inputs.full_mixing_wom
    trust_shift = day_inputs.trust_shift
    media_reach = day_inputs.media_reach
    exposure_indptr = exposure.indptr
    exposure_indices = exposure.indices
    exposure_rate = exposure.rate
    exposure_weight = exposure.weight
    row_total = exposure.row_total
    row_zero_probability = exposure.row_zero_probability
    store_open = exposure.store_open
    stock_retention = parameters.stock_retention
    wear_retention = parameters.wear_retention
    wear_weight = parameters.wear_weight
    hill_s = parameters.hill_s
    familiarity_weight = parameters.familiarity_weight
    wom_weight = parameters.wom_weight
    enter_probability = parameters.enter_probability
    exit_probability = parameters.exit_probability
    booking_rate = parameters.booking_rate
    referral_rate = parameters.referral_rate
    test_drive_share = parameters.test_drive_share
    source_retention = parameters.source_retention
    media_weight = parameters.media_weight
    pent_up_rate = parameters.pent_up_rate
    consumer_class = consumers.consumer_class
    heterogeneity = consumers.heterogeneity
    stock = consumers.stock
    wear = consumers.wear
    wom = consumers.wom
    status = consumers.status
    aware = consumers.aware
    recent_sightings = consumers.recent_sightings
    event = consumers.event
    sightings_record = consumers.sightings_record
    chunk_kpis = tallies.kpis
    chunk_store_sightings = tallies.store_sightings

    n = stock.shape[0]
    n_chunks = chunk_kpis.shape[0]
    recent_floor = day - (RECENT_WINDOW_DAYS - 1)
    k_inverse = 1.0 / parameters.hill_k
    for chunk in prange(n_chunks):
        start = chunk * CHUNK_SIZE
        stop = min(start + CHUNK_SIZE, n)
        kpi = chunk_kpis[chunk]
        kpi[:] = 0.0
        store_counts = chunk_store_sightings[chunk]
        store_counts[:] = 0
        for i in range(start, stop):
            # 1. Media contact, then sightings by inverse CDF of Poisson(R_i).
            row = consumer_class[i]
            lam = row_total[row]
            sightings = 0
            increment = 0.0
            reached = False
            if media_reach > 0.0 and counter_uniform(key, day, STREAM_MEDIA, i) < media_reach:
                reached = True
                increment += media_weight
            if lam > 0.0:
                u = counter_uniform(key, day, STREAM_SIGHTINGS, i)
                probability = float(row_zero_probability[row])
                cumulative = probability
                while u > cumulative and sightings < 10_000:
                    sightings += 1
                    probability *= lam / sightings
                    cumulative += probability
                    if probability < 1e-300:
                        break
                for k in range(sightings):
                    target = counter_uniform(key, day, STREAM_SPLIT_BASE + k, i) * lam
                    running = 0.0
                    chosen = -1
                    chosen_weight = 0.0
                    for entry in range(exposure_indptr[row], exposure_indptr[row + 1]):
                        store = exposure_indices[entry]
                        if store_open[store]:
                            running += exposure_rate[entry]
                            chosen = store
                            chosen_weight = exposure_weight[entry]
                            if running >= target:
                                break
                    store_counts[chosen] += 1
                    increment += chosen_weight
            # 2. Adstock and wear-out.
            e = stock_retention * stock[i] + increment
            stock[i] = e
            effective = e
            if wear_weight > 0.0:
                w = wear_retention * wear[i] + increment
                wear[i] = w
                effective = max(e - wear_weight * w, 0.0)
            # 3. Familiarity (Hill).
            familiarity = 0.0
            if effective > 0.0:
                ratio = effective * k_inverse
                if hill_s == 2.0:
                    powered = ratio * ratio
                else:
                    powered = ratio**hill_s
                familiarity = powered / (1.0 + powered)
            # 4. Word of mouth (kept up to date incrementally; it decays with its sources).
            if full_mixing_wom >= 0.0:
                heard = full_mixing_wom
            else:
                heard = wom[i]
                wom[i] = source_retention * heard
            # 5. Trust.
            logit = trust_shift + familiarity_weight * familiarity + wom_weight * heard + heterogeneity[i]
            t = 1.0 / (1.0 + math.exp(-logit))
            # 6.-7. Market spells and decisions.
            today = EVENT_NONE
            state = status[i]
            if state == OUT_OF_MARKET:
                if counter_uniform(key, day, STREAM_MARKET, i) < enter_probability:
                    status[i] = IN_MARKET
                    state = IN_MARKET
            elif state in (IN_MARKET, PENT_UP):
                decides = False
                if state == PENT_UP:
                    decides = counter_uniform(key, day, STREAM_DECISION, i) < pent_up_rate
                elif counter_uniform(key, day, STREAM_MARKET, i) < exit_probability:
                    status[i] = OUT_OF_MARKET
                    state = OUT_OF_MARKET
                else:
                    hazard = booking_rate * t + referral_rate * heard
                    decides = counter_uniform(key, day, STREAM_DECISION, i) < 1.0 - math.exp(-hazard)
                if decides:
                    if counter_uniform(key, day, STREAM_CHANNEL, i) < test_drive_share:
                        today = EVENT_TEST_DRIVE_INTENT
                    else:
                        today = EVENT_ONLINE_ORDER
                    status[i] = WAITING
                    state = WAITING
            event[i] = today
            if sightings_record.shape[0] > 0:
                sightings_record[i] = sightings
            # Recent sightings: the days of the three most recent ones.
            if sightings > 0:
                for _ in range(min(sightings, 3)):
                    recent_sightings[i, 2] = recent_sightings[i, 1]
                    recent_sightings[i, 1] = recent_sightings[i, 0]
                    recent_sightings[i, 0] = day
            if sightings > 0 or reached or heard > 0.0 or state == ADOPTED or today != EVENT_NONE:
                aware[i] = 1
            # KPI sums.
            kpi[KPI_AWARE] += aware[i]
            kpi[KPI_FAMILIARITY] += familiarity
            if familiarity >= 0.5:
                kpi[KPI_FAMILIAR] += 1.0
            kpi[KPI_TRUST] += t
            if recent_sightings[i, 0] >= recent_floor:
                kpi[KPI_REACH] += 1.0
            if recent_sightings[i, 2] >= recent_floor:
                kpi[KPI_EFFECTIVE_FREQUENCY] += 1.0
            if state in (IN_MARKET, WAITING, PENT_UP):
                kpi[KPI_IN_MARKET] += 1.0
            kpi[KPI_SIGHTINGS] += sightings
            if reached:
                kpi[KPI_MEDIA_CONTACTS] += 1.0
            if today == EVENT_TEST_DRIVE_INTENT:
                kpi[KPI_TEST_DRIVE_INTENTS] += 1.0
            elif today == EVENT_ONLINE_ORDER:
                kpi[KPI_ONLINE_ORDERS] += 1.0


def add_testimonials(
    wom: np.ndarray,
    follower_indptr: np.ndarray,
    follower_indices: np.ndarray,
    inverse_degree: np.ndarray,
    sources: np.ndarray,
    strengths: np.ndarray,
) -> None:
    """Add new testimonial sources to their followers' word of mouth, in place.

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
    """
    if len(sources) == 0:
        return
    starts, stops = follower_indptr[sources], follower_indptr[sources + 1]
    counts = stops - starts
    if counts.sum() == 0:
        return
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    followers = follower_indices[np.arange(counts.sum()) + offsets]
    increments = np.repeat(np.asarray(strengths, dtype=np.float64), counts) * inverse_degree[followers]
    np.add.at(wom, followers, increments.astype(wom.dtype))


def followers_of(
    n: int, contact_indptr: np.ndarray, contact_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transpose of the contact graph and ``1 / k_i``: what :func:`add_testimonials` needs."""
    degree = np.diff(contact_indptr)
    owner = np.repeat(np.arange(n, dtype=np.int64), degree)
    order = np.argsort(contact_indices, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(contact_indices, minlength=n), out=indptr[1:])
    inverse_degree = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0).astype(np.float32)
    return indptr, owner[order], inverse_degree

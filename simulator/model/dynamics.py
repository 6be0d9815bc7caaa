"""Array kernels of the daily dynamics, and the closed forms they must reproduce.

Consumers are columns of arrays. One call of :func:`consumer_day` advances every consumer
by one day in a single fused, compiled pass (numba, parallel over fixed-size chunks):

1. sightings ``n_i ~ Poisson(R_i)`` with ``R_i = sum_j rate_ij`` over open stores, drawn by
   inverse CDF from one counter-based uniform; when ``n_i > 0`` each sighting is assigned
   to a store with probability ``rate_ij / R_i`` and adds that entry's weight ``w_ij``;
2. exposure stock (adstock) ``E_i <- delta E_i + sum_j w_ij n_ij`` and an optional wear-out
   stock ``W_i <- delta_w W_i + sum_j w_ij n_ij``;
3. familiarity (Hill) ``F_i = x^s / (x^s + K^s)`` with ``x = max(E_i - w_T W_i, 0)``;
4. word of mouth ``WOM_i = (1 / k_i) sum_{j in contacts(i)} S_j``: the mean testimonial
   strength of i's contacts (or of everyone, with full mixing), where a source's strength
   decays as ``S <- delta_S S`` and grows by 1 at a purchase and by ``w_td`` at a test
   drive. Because every source decays at the same rate, ``WOM_i`` itself decays by
   ``delta_S`` each day and only the followers of a new source need an increment
   (:func:`add_testimonials`): no consumer reads its contacts' state on a normal day, which
   removes the random memory access that would otherwise bound the kernel's speed;
5. trust ``T_i = logistic(b_t + b_F F_i + b_W WOM_i + u_i)`` where ``b_t`` is the intercept
   plus the levers' shift on day t and ``u_i`` the consumer's fixed heterogeneity;
6. in-market spells: out-of-market consumers enter with a daily probability; in-market
   consumers leave with probability ``1 / duration``;
7. decision: an in-market consumer decides with probability
   ``1 - exp(-(r T_i + q WOM_i))`` (``r`` booking rate, ``q`` daily referral rate: with
   ``T`` constant and full mixing this is exactly the Bass hazard ``p + q A / N``); a
   decision is a test-drive booking with probability ``test_drive_share``, otherwise a
   direct purchase.

All draws come from :func:`simulator.model.rng.counter_uniform`, so the result of a day does not
depend on the number of threads. Sums are formed per chunk of ``CHUNK_SIZE`` consumers and
added in chunk order, so they are bit-identical on any machine with the same chunking.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from simulator.model.rng import (
    STREAM_CHANNEL,
    STREAM_DECISION,
    STREAM_MARKET,
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
WAITING = 2  # booked a test drive, waiting in a store's queue
ADOPTED = 3  # bought

# Events written by the kernel.
EVENT_NONE = 0
EVENT_BOOKING = 1
EVENT_DIRECT_PURCHASE = 2

# Columns of the per-chunk KPI sums.
KPI_AWARE = 0
KPI_FAMILIARITY = 1
KPI_FAMILIAR = 2
KPI_TRUST = 3
KPI_REACH = 4
KPI_EFFECTIVE_FREQUENCY = 5
KPI_IN_MARKET = 6
KPI_SIGHTINGS = 7
KPI_BOOKINGS = 8
KPI_DIRECT_PURCHASES = 9
N_KPIS = 10


# ----------------------------------------------------------------------------------------
# Closed forms (numpy): what the kernels reduce to in limiting cases.
# ----------------------------------------------------------------------------------------


def decay_from_half_life(half_life_days: float) -> float:
    """Daily retention of a stock with the given half-life: ``delta = 0.5 ** (1 / H)``.

    An infinite half-life gives ``delta = 1`` (no decay).
    """
    if math.isinf(half_life_days):
        return 1.0
    return 0.5 ** (1.0 / half_life_days)


def adstock(increments: np.ndarray, delta: float, initial: float = 0.0) -> np.ndarray:
    """Adstock of a sequence of daily increments.

    ``E_t = delta * E_{t-1} + x_t`` with ``E_{-1} = initial`` (Broadbent 1979).

    Parameters
    ----------
    increments : array_like, shape (T,)
        Weighted sightings per day.
    delta : float
        Daily retention, ``0.5 ** (1 / half_life)``.
    initial : float
        Stock before the first day.

    Returns
    -------
    numpy.ndarray, shape (T,)
        The stock at the end of each day.
    """
    increments = np.asarray(increments, dtype=np.float64)
    stock = np.empty_like(increments)
    level = float(initial)
    for t, x in enumerate(increments):
        level = delta * level + x
        stock[t] = level
    return stock


def hill(stock: np.ndarray | float, k: float, s: float) -> np.ndarray:
    """Familiarity from an exposure stock: ``F = E^s / (E^s + K^s)`` (Hill function).

    With K = 3, s = 2: one sighting gives 0.10, three give 0.50, ten give 0.92.
    """
    ratio = np.maximum(np.asarray(stock, dtype=np.float64), 0.0) / k
    powered = ratio**s
    return powered / (1.0 + powered)


def logistic(x: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def bass_cumulative(t: np.ndarray | float, p: float, q: float) -> np.ndarray:
    """Bass (1969) cumulative adoption share.

    ``F(t) = (1 - exp(-(p+q) t)) / (1 + (q/p) exp(-(p+q) t))``, with p and q in the
    unit of t (per year with t in years, per day with t in days).
    """
    t = np.asarray(t, dtype=np.float64)
    decay = np.exp(-(p + q) * t)
    return (1.0 - decay) / (1.0 + (q / p) * decay)


def huff_probabilities(
    attractiveness: np.ndarray,
    distances: np.ndarray,
    distance_exponent: float,
    attractiveness_exponent: float = 1.0,
    min_distance: float = 0.0,
) -> np.ndarray:
    """Huff (1963) choice probabilities.

    ``P_ij = A_j^a d_ij^-lambda / sum_k A_k^a d_ik^-lambda``, with distances floored at
    ``min_distance``.

    Parameters
    ----------
    attractiveness : array, shape (J,)
        Attractiveness of each destination; zero for a closed one.
    distances : array, shape (I, J)
        Distances from each origin to each destination.
    distance_exponent : float
        lambda.
    attractiveness_exponent : float
        a.
    min_distance : float
        Floor on distances (avoids an infinite pull at distance 0).

    Returns
    -------
    numpy.ndarray, shape (I, J)
        Rows sum to 1 (or are all zero where no destination is available).
    """
    distances = np.maximum(np.asarray(distances, dtype=np.float64), min_distance)
    utility = np.asarray(attractiveness, dtype=np.float64) ** attractiveness_exponent
    with np.errstate(divide="ignore"):
        weights = utility[None, :] * distances ** (-distance_exponent)
    weights[:, np.asarray(attractiveness) <= 0] = 0.0
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)


def conversion_probability(trust: np.ndarray, conversion: float, slope: float) -> np.ndarray:
    """Probability that a test drive ends in a purchase.

    ``logit P = logit(c) + slope * (T - 0.5)``: equal to ``c`` at trust 0.5; ``c = 1``
    gives 1 and ``c = 0`` gives 0 whatever the trust.
    """
    trust = np.asarray(trust, dtype=np.float64)
    if conversion >= 1.0:
        return np.ones_like(trust)
    if conversion <= 0.0:
        return np.zeros_like(trust)
    base = math.log(conversion / (1.0 - conversion))
    return logistic(base + slope * (trust - 0.5))


# ----------------------------------------------------------------------------------------
# The fused daily kernel.
# ----------------------------------------------------------------------------------------


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
    day,
    key,
    consumer_class,
    exposure_indptr,
    exposure_indices,
    exposure_rate,
    exposure_weight,
    row_total,
    row_zero_probability,
    store_open,
    stock_retention,
    wear_retention,
    wear_weight,
    hill_k,
    hill_s,
    trust_shift,
    familiarity_weight,
    wom_weight,
    enter_probability,
    exit_probability,
    booking_rate,
    referral_rate,
    test_drive_share,
    source_retention,
    full_mixing_wom,
    heterogeneity,
    stock,
    wear,
    wom,
    status,
    aware,
    recent_sightings,
    event,
    sightings_record,
    chunk_kpis,
    chunk_store_sightings,
):
    """Advance every consumer by one day (see the module docstring for the equations).

    Parameters are arrays over consumers (length N), the classes x stores exposure matrix
    in CSR form (``exposure_*``, with ``row_total`` and ``row_zero_probability`` per class;
    consumer i reads row ``consumer_class[i]``), scalars of the day, and outputs: ``event`` (per consumer:
    none, booking, direct purchase), ``sightings_record`` (per consumer, today's number of
    sightings; pass an empty array to skip), ``chunk_kpis`` (chunks x N_KPIS sums) and
    ``chunk_store_sightings`` (chunks x stores counts). State arrays are updated in place;
    ``wom`` is read for today and left decayed for tomorrow (the caller then adds today's new
    sources with :func:`add_testimonials`); with full mixing, ``full_mixing_wom`` (>= 0) is
    everyone's word of mouth and ``wom`` is not used.
    """
    n = stock.shape[0]
    n_chunks = chunk_kpis.shape[0]
    recent_floor = day - (RECENT_WINDOW_DAYS - 1)
    k_inverse = 1.0 / hill_k
    for chunk in prange(n_chunks):
        start = chunk * CHUNK_SIZE
        stop = min(start + CHUNK_SIZE, n)
        kpi = chunk_kpis[chunk]
        kpi[:] = 0.0
        store_counts = chunk_store_sightings[chunk]
        store_counts[:] = 0
        for i in range(start, stop):
            # 1. Sightings, by inverse CDF of Poisson(R_i).
            row = consumer_class[i]
            lam = row_total[row]
            sightings = 0
            increment = 0.0
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
            elif state == IN_MARKET:
                if counter_uniform(key, day, STREAM_MARKET, i) < exit_probability:
                    status[i] = OUT_OF_MARKET
                    state = OUT_OF_MARKET
                else:
                    hazard = booking_rate * t + referral_rate * heard
                    if counter_uniform(key, day, STREAM_DECISION, i) < 1.0 - math.exp(-hazard):
                        if counter_uniform(key, day, STREAM_CHANNEL, i) < test_drive_share:
                            today = EVENT_BOOKING
                            status[i] = WAITING
                            state = WAITING
                        else:
                            today = EVENT_DIRECT_PURCHASE
                            status[i] = ADOPTED
                            state = ADOPTED
            event[i] = today
            if sightings_record.shape[0] > 0:
                sightings_record[i] = sightings
            # Recent sightings: the days of the three most recent ones.
            if sightings > 0:
                for _ in range(min(sightings, 3)):
                    recent_sightings[i, 2] = recent_sightings[i, 1]
                    recent_sightings[i, 1] = recent_sightings[i, 0]
                    recent_sightings[i, 0] = day
            if sightings > 0 or heard > 0.0 or state == ADOPTED or today != EVENT_NONE:
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
            if state in (IN_MARKET, WAITING):
                kpi[KPI_IN_MARKET] += 1.0
            kpi[KPI_SIGHTINGS] += sightings
            if today == EVENT_BOOKING:
                kpi[KPI_BOOKINGS] += 1.0
            elif today == EVENT_DIRECT_PURCHASE:
                kpi[KPI_DIRECT_PURCHASES] += 1.0


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

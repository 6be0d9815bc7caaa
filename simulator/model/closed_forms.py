"""The model's equations in closed form (numpy).

Daily retention from a half-life, adstock, Hill familiarity, the logistic, Bass adoption,
Huff store choice and the test-drive conversion probability. The model evaluates some of
them directly (store choice, conversion, end-of-run familiarity and trust); the compiled
kernels of :mod:`simulator.model.dynamics` must reduce to the others in limiting cases,
which the tests check.
"""

from __future__ import annotations

import math

import numpy as np


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


def huff_with_outside_option(attraction: np.ndarray, outside_attraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Choice among sites plus an outside option (no visit): the MCI/Huff model with a null alternative.

    ``P_ij = a_ij / (sum_k a_ik + a_0)`` and ``P_i0 = a_0 / (sum_k a_ik + a_0)``, where
    ``a_ij = A_j max(d_ij, d_min)^-lambda`` is a site's attraction and ``a_0`` the outside
    option's. ``sum_j P_ij = S_i / (S_i + a_0)`` is the inclusive share: how likely the
    consumer is to visit any site at all. With ``a_0 = 0`` this is plain Huff.

    Parameters
    ----------
    attraction : array, shape (I, J)
        ``a_ij`` (0 for a site that is not available).
    outside_attraction : float
        ``a_0 >= 0``.

    Returns
    -------
    site_probabilities : numpy.ndarray, shape (I, J)
    outside_probability : numpy.ndarray, shape (I,)
        Rows of ``site_probabilities`` plus ``outside_probability`` sum to 1, except rows
        with no available site and ``a_0 = 0`` (all zero).
    """
    attraction = np.asarray(attraction, dtype=np.float64)
    totals = attraction.sum(axis=1) + outside_attraction
    site = np.divide(attraction, totals[:, None], out=np.zeros_like(attraction), where=totals[:, None] > 0)
    outside = np.divide(outside_attraction, totals, out=np.zeros_like(totals), where=totals > 0)
    return site, outside


def online_conversion_probability(test_drive_probability: np.ndarray, odds_ratio: float) -> np.ndarray:
    """Probability that an online order without a test drive ends in a purchase.

    ``odds_online = odds_ratio * odds_td`` with ``odds = P / (1 - P)``, so
    ``P_online = r P_td / (1 - P_td + r P_td)``: below ``P_td`` for ``r < 1``, 0 for
    ``r = 0``, equal to ``P_td`` for ``r = 1``.
    """
    p = np.asarray(test_drive_probability, dtype=np.float64)
    scaled = odds_ratio * p
    denominator = 1.0 - p + scaled
    return np.divide(scaled, denominator, out=np.ones_like(p), where=denominator > 0)

"""The dense pass of the daily kernel: every consumer's stocks, familiarity, word of mouth and trust, and their sums.

This is the only part of a day that touches every consumer, so it is written to stream:
single-precision arithmetic on contiguous float32 arrays, no branch that depends on the
consumer, no table lookup and no call, so that LLVM turns the loop into 8-wide AVX2
instructions (loop-invariant choices such as wear-out on or off are taken outside the
loop). Per consumer-day it reads ``stock``, ``wom`` and ``heterogeneity`` and writes
``stock`` and ``wom`` back (20 bytes of memory traffic, 28 with wear-out); the day's
exposure increments come from a chunk-sized scratch array that stays in cache.

The logistic is :func:`fast_logistic`, a rational function (no ``exp``). The sums are
formed in float32 over a chunk of ``CHUNK_SIZE`` consumers (vectorised, so in lanes) and
returned as float64: the caller adds chunks in float64, in chunk order.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

FAST_MATH = {"contract", "reassoc", "nsz", "arcp"}
"""LLVM's fast-math flags of the kernel (fused multiply-adds, sums in any order; no
assumption about NaN or infinity). Still deterministic for a given chunking."""

# tanh(y) ~ y P(y^2) / Q(y^2) on [-9, 9], float32 minimax coefficients (Eigen's
# generic_fast_tanh_float); outside that range tanh is +-1 in single precision.
_TANH_CLAMP = np.float32(9.0)
_TANH_P = tuple(
    np.float32(c)
    for c in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_TANH_Q = tuple(
    np.float32(c) for c in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_ZERO_DOUBLE = np.float64(0.0)  # familiarity and trust are summed in double precision: see dense_pass


@numba.njit(inline="always", cache=True, fastmath=FAST_MATH, error_model="numpy")
def fast_logistic(x: np.float32) -> np.float32:
    """``1 / (1 + exp(-x))`` in float32 as ``0.5 + 0.5 tanh(x / 2)``, tanh by a rational function.

    ``tanh(y) = y P(y^2) / Q(y^2)`` (degrees 6 and 3 in ``y^2``) for ``|y| <= 9``, ``+-1``
    beyond. Only multiplications, additions, one division and a clamp, so a loop of it
    vectorises. Absolute error at most 2.3e-7 over the real line (tested).
    """
    y = min(max(_HALF * x, -_TANH_CLAMP), _TANH_CLAMP)
    y2 = y * y
    p0, p1, p2, p3, p4, p5, p6 = _TANH_P
    q0, q1, q2, q3 = _TANH_Q
    p = y * ((((((p6 * y2 + p5) * y2 + p4) * y2 + p3) * y2 + p2) * y2 + p1) * y2 + p0)
    q = ((q3 * y2 + q2) * y2 + q1) * y2 + q0
    return _HALF + _HALF * (p / q)


@numba.njit(inline="always", cache=True, fastmath=FAST_MATH, error_model="numpy")
def _familiarity_and_trust(
    effective: np.float32,
    heard: np.float32,
    heterogeneity: np.float32,
    k_inverse: np.float32,
    hill_s: np.float32,
    square: bool,
    trust_shift: np.float32,
    familiarity_weight: np.float32,
    wom_weight: np.float32,
) -> tuple[np.float32, np.float32]:
    """``F = r^s / (1 + r^s)`` with ``r = x / K``, and ``T = logistic(b_t + b_F F + b_W WOM + u)``."""
    ratio = effective * k_inverse
    powered = ratio * ratio if square else ratio**hill_s
    familiarity = powered / (_ONE + powered)
    trust = fast_logistic(trust_shift + familiarity_weight * familiarity + wom_weight * heard + heterogeneity)
    return familiarity, trust


@numba.njit(cache=True, fastmath=FAST_MATH, error_model="numpy")  # no zero-division branch: vectorises
def dense_pass(
    increment: np.ndarray,
    stock: np.ndarray,
    wear: np.ndarray,
    wom: np.ndarray,
    heterogeneity: np.ndarray,
    parameters: Any,
    day_inputs: Any,
) -> tuple[float, float, float]:
    """Advance one chunk's stocks and word of mouth; return the sums of F, of ``[F >= 1/2]`` and of T.

    For each consumer, with today's exposure increment ``x`` (sightings' weights and media):

    * ``E <- delta E + x``; with wear-out (``w_T > 0``) ``W <- delta_w W + x`` and the net
      stock ``max(E - w_T W, 0)``, else ``E``;
    * ``F = r^s / (1 + r^s)``, ``r`` = net stock / K (``r^2`` computed as ``r r``);
    * ``WOM`` read as today's word of mouth (plus the full-mixing value, which is 0 with a
      network; with full mixing ``wom`` stays 0), then left decayed, ``WOM <- delta_S WOM``;
    * ``T = logistic(b_t + b_F F + b_W WOM + u)`` (:func:`fast_logistic`).

    F and T are summed in double precision: the fast-math flags let LLVM sum in any order,
    and the order depends on how each compiled specialisation vectorises (read-only or
    writable inputs, for one), so float32 sums of a chunk would differ between two runs of
    the same seed by about 1e-7; double sums agree to about 1e-15.

    Parameters
    ----------
    increment : numpy.ndarray of float32
        The chunk's exposure increments (scratch).
    stock, wear, wom, heterogeneity : numpy.ndarray of float32
        The chunk's slices of the consumer arrays (``wear`` is neither read nor written
        without wear-out).
    parameters, day_inputs : KernelParameters, DayInputs
        Of :mod:`simulator.model.dynamics`; read as float32.
    """
    delta = np.float32(parameters.stock_retention)
    wear_delta = np.float32(parameters.wear_retention)
    wear_weight = np.float32(parameters.wear_weight)
    k_inverse = np.float32(1.0 / parameters.hill_k)
    hill_s = np.float32(parameters.hill_s)
    source_delta = np.float32(parameters.source_retention)
    familiarity_weight = np.float32(parameters.familiarity_weight)
    wom_weight = np.float32(parameters.wom_weight)
    trust_shift = np.float32(day_inputs.trust_shift)
    full_wom = np.float32(max(day_inputs.full_mixing_wom, 0.0))
    sum_familiar = _ZERO
    sum_familiarity = sum_trust = _ZERO_DOUBLE
    if hill_s != np.float32(2.0):  # r^s by pow: a scalar loop
        for k in range(stock.shape[0]):
            e = delta * stock[k] + increment[k]
            w = wear_delta * wear[k] + increment[k]
            stock[k] = e
            wear[k] = w
            heard = wom[k] + full_wom
            wom[k] = source_delta * wom[k]
            f, t = _familiarity_and_trust(
                max(e - wear_weight * w, _ZERO), heard, heterogeneity[k], k_inverse, hill_s, False,
                trust_shift, familiarity_weight, wom_weight,
            )  # fmt: skip
            sum_familiarity += f
            sum_familiar += _ONE if f >= _HALF else _ZERO
            sum_trust += t
    elif wear_weight > _ZERO:
        for k in range(stock.shape[0]):
            e = delta * stock[k] + increment[k]
            w = wear_delta * wear[k] + increment[k]
            stock[k] = e
            wear[k] = w
            heard = wom[k] + full_wom
            wom[k] = source_delta * wom[k]
            f, t = _familiarity_and_trust(
                max(e - wear_weight * w, _ZERO), heard, heterogeneity[k], k_inverse, hill_s, True,
                trust_shift, familiarity_weight, wom_weight,
            )  # fmt: skip
            sum_familiarity += f
            sum_familiar += _ONE if f >= _HALF else _ZERO
            sum_trust += t
    else:
        for k in range(stock.shape[0]):
            e = delta * stock[k] + increment[k]
            stock[k] = e
            heard = wom[k] + full_wom
            wom[k] = source_delta * wom[k]
            f, t = _familiarity_and_trust(
                e, heard, heterogeneity[k], k_inverse, hill_s, True, trust_shift, familiarity_weight, wom_weight
            )
            sum_familiarity += f
            sum_familiar += _ONE if f >= _HALF else _ZERO
            sum_trust += t
    return float(sum_familiarity), float(sum_familiar), float(sum_trust)

"""Sums of per-consumer values by group (home cell or zone) in compiled loops, with no temporaries.

Each function adds ``values[i]`` (or a function of it) to ``out[groups[i]]`` in increasing
``i``, one double at a time: exactly what ``np.bincount(groups, weights=...)`` computes, to
the last bit, without the float64 copy of the weights (and of their square or their
comparison) that ``bincount`` needs. Called block by block over consumers in order, they
give the same sums as one call over everyone.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

BLOCK = 1 << 20
"""Consumers whose values :func:`in_blocks` computes at a time."""


@numba.njit(cache=True)
def add_by_group(groups: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """``out[g] += sum of values[i] over i with groups[i] = g`` (as ``np.bincount`` with weights)."""
    for i in range(len(groups)):
        out[groups[i]] += np.float64(values[i])


@numba.njit(cache=True)
def add_at_least_by_group(groups: np.ndarray, values: np.ndarray, threshold: float, out: np.ndarray) -> None:
    """``out[g] += #{i in g: values[i] >= threshold}`` (as ``np.bincount`` of the comparison as float64)."""
    for i in range(len(groups)):
        out[groups[i]] += 1.0 if values[i] >= threshold else 0.0


@numba.njit(cache=True)
def add_squares_by_group(groups: np.ndarray, values: np.ndarray, centre: float, out: np.ndarray) -> None:
    """``out[g] += sum of (values[i] - centre)^2`` over the group (as ``np.bincount`` of ``(v - c) ** 2``)."""
    for i in range(len(groups)):
        deviation = np.float64(values[i]) - centre
        out[groups[i]] += deviation * deviation


@numba.njit(cache=True)
def count_by_group(groups: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount(groups, minlength=size)`` (int64) without its int64 copy of ``groups``."""
    out = np.zeros(size, dtype=np.int64)
    for i in range(len(groups)):
        out[groups[i]] += 1
    return out


def in_blocks(n: int, value: Callable[[slice], np.ndarray], block: int = BLOCK) -> np.ndarray:
    """``value(slice(0, n))`` as float64, computed ``block`` consumers at a time.

    For an elementwise ``value`` (familiarity, trust) the result is that of one call over
    everyone; only the float64 temporaries of one block are alive at a time.
    """
    out = np.empty(n)
    for first in range(0, n, block):
        part = slice(first, min(n, first + block))
        out[part] = value(part)
    return out

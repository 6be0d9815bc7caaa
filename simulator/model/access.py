"""Access to stores: travel distances from home or the commute, attraction and the outside option.

A consumer who wants a test drive chooses among the open sites (the brand's stores with
test-drive capacity and the rivals' showrooms) and an outside option, no visit
(:func:`simulator.model.closed_forms.huff_with_outside_option`). A site's attraction is
``A_j max(d_ij, d_min)^-lambda``; the outside option's is ``outside_km^-lambda``, the
attraction of a mall store (``A = 1``) at that distance. Travel is measured from home, or
from the nearest point of the straight home-work line for a commuter
(``travel_from = "home_or_commute"``): a store on the way to work costs no detour.
"""

from __future__ import annotations

import numpy as np


def point_segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Distance from each site to each consumer's segment, in the units of the inputs.

    ``d_ij = |p_j - (a_i + t (b_i - a_i))|`` with ``t = clip(((p_j - a_i) . (b_i - a_i)) / |b_i - a_i|^2, 0, 1)``;
    a segment of length 0 (``a_i = b_i``) gives the distance to the point ``a_i``.

    Parameters
    ----------
    points : array, shape (J, 2)
        Sites.
    start, end : array, shape (I, 2)
        Each consumer's segment (home and work place; ``end = start`` for a non-commuter).

    Returns
    -------
    numpy.ndarray, shape (I, J)
    """
    points = np.asarray(points, dtype=np.float64)
    start = np.asarray(start, dtype=np.float64)
    direction = np.asarray(end, dtype=np.float64) - start
    length_squared = (direction**2).sum(axis=1)
    offset = points[None, :, :] - start[:, None, :]
    along = np.einsum("ijk,ik->ij", offset, direction)
    t = np.divide(along, length_squared[:, None], out=np.zeros_like(along), where=length_squared[:, None] > 0)
    t = np.clip(t, 0.0, 1.0)
    nearest = start[:, None, :] + t[:, :, None] * direction[:, None, :]
    return np.sqrt(((points[None, :, :] - nearest) ** 2).sum(axis=2))


def site_attraction(
    attractiveness: np.ndarray, distance_km: np.ndarray, distance_exponent: float, min_distance_km: float
) -> np.ndarray:
    """``a_ij = A_j max(d_ij, d_min)^-lambda`` for every consumer (rows) and site (columns)."""
    floored = np.maximum(np.asarray(distance_km, dtype=np.float64), min_distance_km)
    return np.asarray(attractiveness, dtype=np.float64)[None, :] * floored ** (-distance_exponent)


def outside_attraction(outside_km: float, distance_exponent: float, enabled: bool = True) -> float:
    """``a_0 = outside_km^-lambda``, the outside option's attraction (0 when it is switched off)."""
    return float(outside_km ** (-distance_exponent)) if enabled else 0.0

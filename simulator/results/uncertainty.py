r"""Monte-Carlo standard errors of the KPIs, and which store rankings are within noise.

Every KPI of a run or comparison table carries ``<kpi>_se`` (the long summary tables: a
``se`` column), its Monte-Carlo standard error, estimated in one of two ways
(``docs/model.md``, section "Monte-Carlo error"):

* **across replications** (``R >= 2``): :math:`\mathrm{SE} = s / \sqrt R`, with ``s`` the
  sample standard deviation (ddof=1) of the KPI over the replications
  (:func:`replication_se`);
* **within one run** (``R = 1``): the Poisson/binomial approximation for independent
  consumer events. A count of ``n`` simulated events has :math:`\mathrm{SE} = \sqrt n`
  (:math:`w \sqrt n` in people, ``w`` people per simulated consumer;
  :func:`count_se`); a share ``p`` of ``N`` consumers :math:`\sqrt{p(1-p)/N}`
  (:func:`share_se`); a mean of a per-consumer quantity :math:`s_x / \sqrt N`
  (:func:`mean_se_from_moments`); a rate per 1,000 residents :math:`1000 \sqrt n / N`
  (:func:`rate_se`); a ratio such as purchases per test drive the binomial on its
  denominator (:func:`ratio_se`).

Word of mouth and shared store queues correlate consumers, so the within-run estimate is
an approximation; ``tests/test_uncertainty.py`` (slow mark) checks it against the spread
over seeds. :func:`ranking_within_noise` marks neighbours of a ranking that cannot be told
apart: :math:`|a - b| < z \sqrt{\mathrm{SE}_a^2 + \mathrm{SE}_b^2}` with ``z = 1.96``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

Z_95 = 1.959963984540054
"""Two-sided 95 % normal quantile: the noise threshold of rankings and of ``± 1.96 SE`` intervals."""

SE_SUFFIX = "_se"
"""Suffix of a KPI's standard-error column (``purchases`` -> ``purchases_se``)."""

ACROSS_REPLICATIONS = "replications"
WITHIN_RUN = "within-run"
"""Values of ``se_method``: SE from the spread over replications, or the within-run estimate."""

NOISE_MARK = "≈"
"""Mark of a ranked store that cannot be told apart from a neighbour in the ranking."""

NOISE_NOTE = (
    "Stores marked ≈ cannot be told apart from the store ranked next to them at this scale "
    "(difference < 1.96 × √(SE₁² + SE₂²)); run more consumers or replications."
)
"""The sentence every ranking with marks carries (HTML reports and the terminal)."""

ZONE_KPI_KINDS: dict[str, str] = {
    "mean_familiarity": "mean",
    "share_familiar": "share",
    "mean_trust": "mean",
    "share_aware": "share",
    "brand_access": "mean",
    "rival_access": "mean",
    "nearest_store_km": "mean",
    "test_drive_intents": "count",
    "bookings_requested": "count",
    "bookings_to_rivals": "count",
    "test_drives": "count",
    "purchases": "count",
    "test_drive_intents_per_1000": "rate",
    "bookings_requested_per_1000": "rate",
    "bookings_to_rivals_per_1000": "rate",
    "test_drives_per_1000": "rate",
    "purchases_per_1000": "rate",
}
"""KPIs of a ``zones`` or ``cells`` row and their estimator: ``mean`` of a per-consumer
quantity (its SE comes from the model's within-zone spread), ``share`` of the residents,
``count`` over the horizon, ``rate`` per 1,000 residents (of the count without the suffix)."""

STORE_COUNT_KPIS = ("sightings", "bookings_requested", "test_drives", "bookings_lost", "purchases")
"""Per-store counts over the horizon that carry a Poisson SE within a run."""


def se_name(kpi: str) -> str:
    """The standard-error column of ``kpi`` (``kpi + "_se"``)."""
    return f"{kpi}{SE_SUFFIX}"


def count_se(count: Any, weight: float = 1.0) -> Any:
    r"""Poisson SE of a count of independent rare events: :math:`w \sqrt n`.

    Parameters
    ----------
    count : float or array_like
        Simulated events ``n`` (negative values count as 0).
    weight : float
        People per simulated consumer ``w`` (1 for simulated counts).
    """
    return weight * np.sqrt(np.maximum(np.asarray(count, dtype=np.float64), 0.0))


def share_se(share: Any, n: Any) -> Any:
    r"""Binomial SE of a share ``p`` of ``N`` consumers: :math:`\sqrt{p(1-p)/N}` (NaN for ``N <= 0``)."""
    p = np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)
    size = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(size > 0, np.sqrt(p * (1.0 - p) / np.where(size > 0, size, 1.0)), np.nan)


def ratio_se(numerator: Any, denominator: Any) -> Any:
    r"""Binomial SE of a ratio ``k / n`` of events (e.g. purchases per test drive).

    :math:`\sqrt{p(1-p)/n}` with :math:`p = k/n` clipped to [0, 1]; NaN for ``n <= 0``.
    """
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(den > 0, np.asarray(numerator, dtype=np.float64) / np.where(den > 0, den, 1.0), np.nan)
    return share_se(p, den)


def rate_se(count: Any, n: Any, per: float = 1000.0) -> Any:
    r"""Poisson SE of a rate ``per * n_events / N``: :math:`\mathrm{per} \sqrt{n_\mathrm{events}} / N`."""
    size = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(size > 0, per * count_se(count) / np.where(size > 0, size, 1.0), np.nan)


def mean_se_from_moments(total: Any, total_squares: Any, n: Any) -> Any:
    r"""SE of the mean of a per-consumer quantity from its sum and sum of squares.

    .. math::

        s^2 = \frac{\sum x^2 - (\sum x)^2 / N}{N - 1}, \qquad \mathrm{SE} = s / \sqrt N

    NaN for ``N < 2``; rounding below zero is clipped to zero. The variance is a
    difference of sums, so pass sums of ``x - c`` for a ``c`` near the mean (the
    variance does not change): raw sums lose about half the digits when the spread is
    small against the mean.
    """
    size = np.asarray(n, dtype=np.float64)
    safe = np.where(size >= 2, size, 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = (np.asarray(total_squares, dtype=np.float64) - np.asarray(total, dtype=np.float64) ** 2 / safe) / (
            safe - 1.0
        )
        return np.where(size >= 2, np.sqrt(np.maximum(variance, 0.0) / safe), np.nan)


def pooled_mean_se(n: Any, means: Any, ses: Any) -> float:
    r"""SE of the overall mean of a quantity from its groups' sizes, means and SEs.

    Each group's spread is :math:`s_g = \mathrm{SE}_g \sqrt{n_g}`; the overall sum of
    squares adds the within- and between-group parts,
    :math:`\sum_g (n_g - 1) s_g^2 + n_g (m_g - \bar m)^2`, and
    :math:`\mathrm{SE} = s / \sqrt N` with :math:`s^2` that sum over :math:`N - 1`.
    Groups with fewer than two members contribute only their between-group part.
    """
    size = np.asarray(n, dtype=np.float64)
    keep = size > 0
    size = size[keep]
    mean = np.asarray(means, dtype=np.float64)[keep]
    spread = np.nan_to_num(np.asarray(ses, dtype=np.float64)[keep] * np.sqrt(size))
    total = float(size.sum())
    if total < 2:
        return float("nan")
    overall = float((size * mean).sum() / total)
    squares = float(((size - 1.0).clip(min=0.0) * spread**2 + size * (mean - overall) ** 2).sum())
    return float(np.sqrt(squares / (total - 1.0) / total))


def replication_se(values: Any) -> float:
    r"""SE of the mean over replications: :math:`s / \sqrt R` (ddof=1); NaN for ``R < 2``."""
    array = np.asarray(values, dtype=np.float64)
    if array.size < 2:
        return float("nan")
    return float(array.std(ddof=1) / np.sqrt(array.size))


def within_noise(a: Any, se_a: Any, b: Any, se_b: Any, z: float = Z_95) -> Any:
    r"""True where :math:`|a - b| < z \sqrt{\mathrm{SE}_a^2 + \mathrm{SE}_b^2}` (False if an SE is unknown)."""
    threshold = z * np.sqrt(np.asarray(se_a, dtype=np.float64) ** 2 + np.asarray(se_b, dtype=np.float64) ** 2)
    with np.errstate(invalid="ignore"):
        return np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) < threshold


def ranking_within_noise(values: Any, ses: Any, z: float = Z_95) -> np.ndarray:
    """Which entries of a ranking cannot be told apart from a neighbour.

    Parameters
    ----------
    values, ses : array_like
        The ranking KPI and its SE, in ranking order (best first).
    z : float
        Noise threshold in standard errors of the difference (default 1.96).

    Returns
    -------
    numpy.ndarray of bool
        True for an entry within noise (:func:`within_noise`) of the entry ranked just
        above or just below it.
    """
    value = np.asarray(values, dtype=np.float64)
    se = np.asarray(ses, dtype=np.float64)
    marks = np.zeros(len(value), dtype=bool)
    if len(value) < 2:
        return marks
    tied = within_noise(value[:-1], se[:-1], value[1:], se[1:], z)
    marks[:-1] |= tied
    marks[1:] |= tied
    return marks


def add_within_run_se(
    frame: pd.DataFrame, kinds: Mapping[str, str] = ZONE_KPI_KINDS, size_column: str = "consumers"
) -> pd.DataFrame:
    """A copy of a per-replication ``zones``/``cells`` frame with a ``<kpi>_se`` after every KPI.

    Existing ``_se`` columns are kept (the model writes those of the means, which need the
    per-consumer spread); missing ones are computed from the row (:func:`count_se`,
    :func:`share_se`, :func:`rate_se` with the residents in ``size_column``); a mean
    without a stored SE (a run folder written before SEs existed) gets NaN.
    """
    out = frame.copy()
    size = out[size_column] if size_column in out.columns else pd.Series(np.nan, index=out.index)
    for kpi, kind in kinds.items():
        if kpi not in out.columns or se_name(kpi) in out.columns:
            continue
        if kind == "count":
            values = count_se(out[kpi])
        elif kind == "share":
            values = share_se(out[kpi], size)
        elif kind == "rate":
            base = kpi.removesuffix("_per_1000")
            values = rate_se(out[base], size) if base in out.columns else rate_se(out[kpi] * size / 1000.0, size)
        else:
            values = np.full(len(out), np.nan)
        out[se_name(kpi)] = values
    return order_se_columns(out)


def order_se_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``<kpi>_se`` column moved right after its ``<kpi>`` column."""
    columns = [c for c in frame.columns if not (c.endswith(SE_SUFFIX) and c.removesuffix(SE_SUFFIX) in frame.columns)]
    ordered: list[str] = []
    for column in columns:
        ordered.append(column)
        if se_name(column) in frame.columns:
            ordered.append(se_name(column))
    return frame[ordered]


def combine_replications(per_replication: pd.DataFrame, keys: list[str], kpis: list[str]) -> pd.DataFrame:
    """Per key: the mean over replications of each KPI and its ``<kpi>_se``.

    With two or more replications of a key the SE is :func:`replication_se` of the
    per-replication values; with one it is that replication's within-run ``<kpi>_se``
    (NaN when the frame has none).

    Parameters
    ----------
    per_replication : pandas.DataFrame
        One row per replication and key.
    keys : list of str
        Key columns (e.g. ``["zone_id"]``).
    kpis : list of str
        KPI columns to combine.

    Returns
    -------
    pandas.DataFrame
        Indexed by the keys: ``<kpi>``, ``<kpi>_se`` for each KPI.
    """
    grouped = per_replication.groupby(keys, sort=False)
    means = grouped[kpis].mean()
    count = grouped.size()
    spread = grouped[kpis].std(ddof=1)
    several = (count >= 2).to_numpy()
    for kpi in kpis:
        across = spread[kpi].to_numpy(dtype=np.float64) / np.sqrt(np.maximum(count.to_numpy(dtype=np.float64), 1.0))
        within_column = se_name(kpi)
        within = (
            grouped[within_column].mean().to_numpy(dtype=np.float64)
            if within_column in per_replication.columns
            else np.full(len(means), np.nan)
        )
        means[within_column] = np.where(several, across, within)
    return means

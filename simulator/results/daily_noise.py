r"""Monte-Carlo standard errors of the per-day tables (``daily``, ``weekly``) and of their bands.

Each row of ``daily`` (one replication, one day) gets ``<kpi>_se``, its within-run SE
(``docs/model.md``, section "Monte-Carlo error"):

* a day's count of ``n`` simulated events or consumers (bookings, test drives,
  purchases, sightings, consumers in the market, cumulative purchases, ...):
  :math:`\sqrt n`; its ``_scaled`` twin :math:`w \sqrt n`;
* a share ``p`` of the ``N`` consumers (aware, familiar, reach, effective frequency):
  :math:`\sqrt{p(1-p)/N}`;
* a mean ``m`` of a per-consumer quantity in [0, 1] (familiarity, trust): the
  **upper bound** :math:`\sqrt{m(1-m)/N}`; the kernel keeps no per-day spread of the
  consumers, and a quantity in [0, 1] with mean ``m`` has variance at most
  :math:`m(1-m)` (Bhatia and Davis, 2000), so the band is never too narrow on that account;
* the queue length, a state carried from day to day, has none (NaN).

``weekly`` rows (one zone at the end of a week) get the same for their share familiar
and mean familiarity over the zone's consumers. :func:`daily_band` gives the figures'
95 % band of a daily series: with one replication from these SEs, with several from the
spread over replications.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simulator.results.uncertainty import Z_95, count_se, order_se_columns, se_name, share_se

DAILY_SHARES = ("share_aware", "share_familiar", "reach_28d", "effective_frequency_28d")
"""Daily shares of the consumers (binomial SE)."""

DAILY_BOUNDED_MEANS = ("mean_familiarity", "mean_trust")
"""Daily means of per-consumer quantities in [0, 1] (SE bounded by :math:`\\sqrt{m(1-m)/N}`)."""

DAILY_STATES_WITHOUT_SE = ("queue_length",)
"""Daily counts with no within-run SE (NaN)."""


def bounded_mean_se(mean: Any, n: Any) -> Any:
    r"""Upper bound of the SE of a mean ``m`` of ``N`` values in [0, 1]: :math:`\sqrt{m(1-m)/N}`."""
    return share_se(mean, n)


def add_daily_se(daily: pd.DataFrame, consumers: int, weight: float) -> pd.DataFrame:
    """``daily`` with a ``<kpi>_se`` column after every KPI (within-run, per row).

    Parameters
    ----------
    daily : pandas.DataFrame
        The ``daily`` table (any number of replications), with its ``_scaled`` twins.
    consumers : int
        Simulated consumers ``N`` of each replication.
    weight : float
        People per simulated consumer ``w``.
    """
    columns: dict[str, np.ndarray] = {}
    for kpi in DAILY_SHARES:
        if kpi in daily.columns:
            columns[se_name(kpi)] = np.asarray(share_se(daily[kpi], consumers))
    for kpi in DAILY_BOUNDED_MEANS:
        if kpi in daily.columns:
            columns[se_name(kpi)] = np.asarray(bounded_mean_se(daily[kpi], consumers))
    for scaled in [c for c in daily.columns if c.endswith("_scaled")]:
        raw = scaled.removesuffix("_scaled")
        if raw not in daily.columns:
            continue
        if raw in DAILY_STATES_WITHOUT_SE:
            columns[se_name(raw)] = np.full(len(daily), np.nan)
            columns[se_name(scaled)] = np.full(len(daily), np.nan)
        else:
            columns[se_name(raw)] = np.asarray(count_se(daily[raw]))
            columns[se_name(scaled)] = np.asarray(count_se(daily[raw], weight))
    out = pd.concat([daily.reset_index(drop=True), pd.DataFrame(columns)], axis=1)
    out.index = daily.index
    return order_se_columns(out)


def add_weekly_se(weekly: pd.DataFrame) -> pd.DataFrame:
    """``weekly`` with ``share_familiar_se`` (binomial) and ``mean_familiarity_se`` (the bound) per zone and week."""
    if weekly.empty or "consumers" not in weekly.columns:
        return weekly
    out = weekly.copy()
    if "share_familiar" in out.columns:
        out[se_name("share_familiar")] = share_se(out["share_familiar"], out["consumers"])
    if "mean_familiarity" in out.columns:
        out[se_name("mean_familiarity")] = bounded_mean_se(out["mean_familiarity"], out["consumers"])
    return order_se_columns(out)


def daily_band(
    daily: pd.DataFrame, column: str, x_column: str, rolling: int | None = None
) -> tuple[pd.Index, pd.Series, pd.Series, pd.Series, int]:
    r"""The mean of a daily series over replications and its 95 % band, mean :math:`\pm 1.96\,\mathrm{SE}`.

    With ``R >= 2`` replications the SE is the spread over replications,
    :math:`s/\sqrt R`, of the (rolled) per-replication series; with one it is the row's
    ``<column>_se`` (a trailing ``rolling``-day mean of ``k`` days has
    :math:`\mathrm{SE} = \sqrt{\sum \mathrm{SE}_d^2}/k`). Without an SE the band is the line.

    Returns
    -------
    x, mean, low, high, n_replications
    """
    wide = _wide(daily, column, x_column)
    n = wide.shape[1]
    if rolling:
        wide = wide.rolling(rolling, min_periods=1).mean()
    mean = wide.mean(axis=1)
    if n >= 2:
        se = wide.std(axis=1, ddof=1) / np.sqrt(n)
    elif se_name(column) in daily.columns:
        variance = _wide(daily, se_name(column), x_column).reindex(wide.index) ** 2
        if rolling:
            days = variance.rolling(rolling, min_periods=1).count()
            variance = variance.rolling(rolling, min_periods=1).sum() / days**2
        se = np.sqrt(variance.mean(axis=1))
    else:
        se = pd.Series(0.0, index=wide.index)
    se = se.fillna(0.0)
    return wide.index, mean, mean - Z_95 * se, mean + Z_95 * se, n


def _wide(daily: pd.DataFrame, column: str, x_column: str) -> pd.DataFrame:
    """``column`` by ``x_column`` (rows, sorted) and replication (columns); the mean where a pair repeats."""
    return daily.groupby([x_column, "replication"], sort=True)[column].mean().unstack("replication")

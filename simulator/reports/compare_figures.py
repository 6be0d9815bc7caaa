"""Figures of a comparison of plans over time: differences per KPI, the funnel, differences by day.

Built on the figure helpers of :mod:`simulator.reports.figures`, so runs and comparisons
look alike; figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas.
The figures of a comparison folder (``figures/``):

* ``differences.png``: each plan's difference to the baseline per headline KPI, with the
  paired 95 % confidence interval (:func:`differences_figure`);
* ``funnel.png``: the funnel over time, plans overlaid, with 95 % confidence bands of the
  daily means (:func:`funnel_comparison_figure`);
* ``difference_over_time.png``: paired differences to the baseline over time
  (:func:`difference_over_time_figure`);
* ``stores.png`` and ``marginal.png`` (with ``--marginal``): see
  :mod:`simulator.reports.compare_store_figures`;
* ``familiarity_difference_map.png`` and ``bookings_difference_map.png``: see
  :mod:`simulator.reports.compare_maps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from simulator.experiments.compare import HEADLINE_KPIS, ComparisonResult
from simulator.reports.compare_text import format_difference, signed
from simulator.reports.figures import (
    ROLLING_DAYS,
    font_kwargs,
    new_figure,
    thousands_formatter,
    time_axis,
)
from simulator.results.daily_noise import daily_band

BASELINE_COLOUR = "#333333"
PLAN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22")
"""Colours of the non-baseline plans (no red: red marks negative contributions)."""
NOT_SIGNIFICANT_ALPHA = 0.35


# --------------------------------------------------------------------------- helpers


def plan_colours(names: Sequence[str]) -> dict[str, str]:
    """Colour of each plan: dark grey for the baseline (the first), then a qualitative palette."""
    colours = {names[0]: BASELINE_COLOUR} if names else {}
    for index, name in enumerate(names[1:]):
        colours[name] = PLAN_COLOURS[index % len(PLAN_COLOURS)]
    return colours


def _mean_band(wide: pd.DataFrame, confidence: float = 0.95) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Mean over the columns (replications) and its Student-t confidence band."""
    n = wide.shape[1]
    mean = wide.mean(axis=1)
    if n < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * wide.std(axis=1, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def _wide(daily: pd.DataFrame, plan: str, column: str, x_column: str) -> pd.DataFrame:
    frame = daily[daily["plan"] == plan]
    return frame.pivot_table(index=x_column, columns="replication", values=column, aggfunc="mean").sort_index()


def _format_time_axis(axis: Any, is_date: bool, show_label: bool) -> None:
    if is_date:
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    elif show_label:
        axis.set_xlabel("day")


def _value_axis(axis: Any, kind: str, is_scaled: bool) -> None:
    if kind in ("share", "share_difference"):
        axis.yaxis.set_major_formatter(
            ticker.FuncFormatter(
                lambda v, _p: (f"{v:+.1f} pp" if v else "0") if kind == "share_difference" else f"{v:.0f} %"
            )
        )
    elif kind == "index":
        axis.set_ylabel("0 – 1", fontsize=8)
    else:
        axis.yaxis.set_major_formatter(thousands_formatter())
        axis.set_ylabel("people" if is_scaled else "simulated consumers", fontsize=8)


def _daily_frame(result: ComparisonResult) -> tuple[pd.DataFrame, str, bool]:
    daily = result.daily
    x_column, is_date = time_axis(daily)
    if is_date:
        daily = daily.assign(date=pd.to_datetime(daily["date"]))
    return daily, x_column, is_date


def _scaled(daily: pd.DataFrame, column: str) -> str:
    return f"{column}_scaled" if f"{column}_scaled" in daily.columns else column


# --------------------------------------------------------------------------- differences


def differences_figure(result: ComparisonResult, kpis: Sequence[str] | None = None) -> Figure:
    """Each plan's difference to the baseline per KPI, with paired 95 % confidence intervals.

    One panel per KPI (units differ), one bar per non-baseline plan; bars whose interval
    includes 0 are pale. Labels give the difference and, for counts, the relative change.
    """
    kpis = list(kpis or HEADLINE_KPIS)
    differences = result.differences
    kpis = [k for k in kpis if k in set(differences["kpi"])]
    plans = result.plan_names[1:]
    colours = plan_colours(result.plan_names)
    n_columns = min(4, max(1, len(kpis)))
    n_rows = max(1, math.ceil(len(kpis) / n_columns))
    figure = new_figure(3.6 * n_columns + 0.6, (0.45 * len(plans) + 1.5) * n_rows + 1.2)
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    positions = np.arange(len(plans))[::-1]
    for index, axis in enumerate(axes.flat):
        if index >= len(kpis):
            axis.set_visible(False)
            continue
        kpi = kpis[index]
        rows = differences[differences["kpi"] == kpi].set_index("plan").reindex(plans)
        unit = str(rows["unit"].iloc[0])
        factor = 100.0 if unit == "share" else 1.0
        values = rows["difference"].to_numpy(float) * factor
        low = rows["ci_low"].to_numpy(float) * factor
        high = rows["ci_high"].to_numpy(float) * factor
        has_interval = np.isfinite(low) & np.isfinite(high)
        for position, plan, value, lo, hi, ok, significant, _relative in zip(
            positions, plans, values, low, high, has_interval, rows["significant"], rows["relative_difference"]
        ):
            alpha = 1.0 if (significant or not ok) else NOT_SIGNIFICANT_ALPHA
            axis.barh(position, value, color=colours[plan], alpha=alpha, edgecolor="black", linewidth=0.5, height=0.6)
            if ok:
                axis.errorbar(value, position, xerr=[[value - lo], [hi - value]], color="black", capsize=3, linewidth=1)
        extent = float(np.nanmax(np.abs(np.r_[values, low[has_interval], high[has_interval], 0.0])))
        scale = float(np.nanmax(np.abs(np.r_[rows["baseline_mean"].to_numpy(float) * factor, 1.0])))
        if not extent > 1e-9 * scale:
            extent = 1.0  # no difference at all (e.g. no bookings lost in any plan): a readable axis around 0
        axis.set_xlim(-1.45 * extent, 1.45 * extent)
        for position, value, _lo, _hi, _ok, relative in zip(
            positions, values, low, high, has_interval, rows["relative_difference"]
        ):
            text = format_difference(value / factor, unit)
            if unit in ("people", "consumers") and np.isfinite(relative):
                text += f" ({signed(100 * relative, '{:+.0f}')} %)"
            axis.text(
                (0.03 if value >= 0 else -0.03) * extent,
                position + 0.31,
                text,
                ha="left" if value >= 0 else "right",
                va="bottom",
                fontsize=7.5,
            )
        axis.axvline(0.0, color="black", linewidth=0.8)
        axis.set_yticks(positions, plans if index % n_columns == 0 else [""] * len(plans), fontsize=8, **font_kwargs())
        axis.set_ylim(-0.6, len(plans) - 0.15)
        axis.set_title(str(rows["label"].iloc[0]).replace(" (end of horizon)", "\n(end of horizon)"), fontsize=9)
        if unit == "share":
            axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:+.1f} pp" if v else "0"))
            axis.set_xlabel("percentage points", fontsize=8)
        elif unit == "index":
            axis.set_xlabel("0 – 1 scale", fontsize=8)
        else:
            axis.xaxis.set_major_formatter(thousands_formatter())
            axis.set_xlabel("people over the horizon", fontsize=8)
        axis.xaxis.set_major_locator(ticker.MaxNLocator(nbins=4, symmetric=True))
        axis.tick_params(axis="x", labelsize=7.5)
        axis.grid(True, axis="x", alpha=0.3)
    n = result.spec.replications
    figure.suptitle(
        f"Difference to the baseline '{result.baseline}' (mean of {n} paired replications, 95 % CI; "
        "pale: CI includes 0)",
        fontsize=11,
    )
    return figure


# --------------------------------------------------------------------------- funnel


_FUNNEL_PANELS = (
    ("Aware of the brand", "share_aware", "share", None),
    ("Familiar (familiarity ≥ 0.5)", "share_familiar", "share", None),
    ("Mean trust", "mean_trust", "index", None),
    ("Test-drive bookings requested per day", "bookings_requested", "rate", ROLLING_DAYS),
    ("Test drives per day", "test_drives", "rate", ROLLING_DAYS),
    ("Cumulative purchases", "cumulative_purchases", "cumulative", None),
)


def funnel_comparison_figure(result: ComparisonResult) -> Figure:
    """The funnel over time with the plans overlaid: mean line and 95 % band per plan."""
    daily, x_column, is_date = _daily_frame(result)
    is_scaled = any(c.endswith("_scaled") for c in daily.columns)
    colours = plan_colours(result.plan_names)
    figure = new_figure(13.0, 7.4)
    axes = figure.subplots(2, 3, sharex=True)
    for index, (axis, (title, column, kind, rolling)) in enumerate(zip(axes.flat, _FUNNEL_PANELS)):
        column = _scaled(daily, column) if kind in ("rate", "cumulative") else column
        factor = 100.0 if kind == "share" else 1.0
        for name in result.plan_names:
            wide = _wide(daily, name, column, x_column)
            if rolling:
                wide = wide.rolling(rolling, min_periods=1).mean()
            mean, low, high = _mean_band(wide)
            width = 2.0 if name == result.baseline else 1.6
            axis.plot(mean.index, mean * factor, color=colours[name], linewidth=width, label=name)
            if wide.shape[1] == 1:  # one replication: the rows' within-run SEs
                _x, _mean, low, high, _n = daily_band(daily[daily["plan"] == name], column, x_column, rolling)
            if bool((high > low).any()):
                axis.fill_between(mean.index, low * factor, high * factor, color=colours[name], alpha=0.15, linewidth=0)
        axis.set_title(title, fontsize=10)
        if kind != "index":
            axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        _value_axis(axis, kind, is_scaled)
        axis.tick_params(labelsize=8)
        _format_time_axis(axis, is_date, index >= 3)
        axis.xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], color=colours[n], linewidth=2, label=n + (" (baseline)" if n == result.baseline else ""))
        for n in result.plan_names
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), fontsize=9, frameon=False)
    figure.suptitle(
        f"Funnel over time by plan: mean of {result.spec.replications} replications with 95 % confidence bands"
        f"{' (±1.96 within-run SE)' if result.spec.replications == 1 else ''}; "
        f"daily counts are {ROLLING_DAYS}-day rolling means scaled to the population",
        fontsize=11,
    )
    return figure


def difference_over_time_figure(result: ComparisonResult) -> Figure:
    """Paired differences to the baseline over time (share familiar, cumulative bookings, purchases)."""
    daily, x_column, is_date = _daily_frame(result)
    is_scaled = any(c.endswith("_scaled") for c in daily.columns)
    colours = plan_colours(result.plan_names)
    bookings = _scaled(daily, "bookings_requested")
    daily = daily.sort_values(["plan", "replication", x_column])
    daily["_cumulative_bookings"] = daily.groupby(["plan", "replication"], sort=False)[bookings].cumsum()
    panels = (
        ("Share familiar (F ≥ 0.5)", "share_familiar", "share_difference", 100.0),
        ("Cumulative test-drive bookings requested", "_cumulative_bookings", "count", 1.0),
        ("Cumulative purchases", _scaled(daily, "cumulative_purchases"), "count", 1.0),
    )
    figure = new_figure(13.0, 4.3)
    axes = figure.subplots(1, 3, sharex=True)
    for axis, (title, column, kind, factor) in zip(axes, panels):
        base = _wide(daily, result.baseline, column, x_column)
        for name in result.plan_names[1:]:
            wide = _wide(daily, name, column, x_column)
            shared = [c for c in wide.columns if c in base.columns]
            difference = wide[shared] - base[shared]
            mean, low, high = _mean_band(difference)
            axis.plot(mean.index, mean * factor, color=colours[name], linewidth=1.8, label=name)
            if difference.shape[1] > 1:
                axis.fill_between(mean.index, low * factor, high * factor, color=colours[name], alpha=0.2, linewidth=0)
        axis.axhline(0.0, color=BASELINE_COLOUR, linewidth=1.0)
        axis.set_title(f"{title}\nminus baseline", fontsize=10)
        axis.grid(True, alpha=0.3)
        _value_axis(axis, kind, is_scaled)
        axis.tick_params(labelsize=8)
        _format_time_axis(axis, is_date, True)
    handles = [
        Line2D([], [], color=colours[n], linewidth=2, label=f"{n} − {result.baseline}") for n in result.plan_names[1:]
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=9, frameon=False)
    figure.suptitle(
        "Difference to the baseline over time (paired by seed; bands: 95 % confidence intervals)", fontsize=11
    )
    return figure

"""Figures and the self-contained HTML report of a comparison of plans.

Built on the helpers of :mod:`simulator.reports.run_report` (figure canvas, number formats, map
decorations, HTML table and image helpers), so runs and comparisons look alike. Figures
are :class:`matplotlib.figure.Figure` objects on the Agg canvas; ``report.html`` embeds
them as base64 PNG, with inline CSS and no scripts, fonts or links.

Figures (``figures/`` of a comparison folder):

* ``differences.png``: each plan's difference to the baseline per headline KPI, with the
  paired 95 % confidence interval;
* ``funnel.png``: the funnel over time, plans overlaid, with 95 % confidence bands of the
  daily means;
* ``difference_over_time.png``: paired differences to the baseline over time;
* ``stores.png``: bookings, their outcome and utilisation per store, one row per plan;
* ``familiarity_difference_map.png`` and ``bookings_difference_map.png``: per-zone
  differences to the baseline on a diverging colour scale centred on 0;
* ``marginal.png`` (with ``--marginal``): each store's marginal contribution, sorted.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects, ticker
from matplotlib import dates as mdates
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from simulator.reports.figures import (
    FORMAT_STYLES,
    NO_DATA_COLOUR,
    ROLLING_DAYS,
    display_label,
    font_kwargs,
    format_number,
    format_style,
    new_figure,
    renderable,
    save_png,
    thousands_formatter,
    time_axis,
)
from simulator.reports.html import escape_html, html_table, image_tag, key_value_table, write_html_document
from simulator.reports.maps import frame_map, metric_frames, store_points
from simulator.results import FIGURES_DIR

if TYPE_CHECKING:
    from simulator.experiments.compare import ComparisonResult

DIFFERENCE_COLOURMAP = "RdBu"
"""Diverging colour map of the difference maps: red below the baseline, blue above, white at 0."""

BASELINE_COLOUR = "#333333"
PLAN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22")
"""Colours of the non-baseline plans (no red: red marks negative contributions)."""
MIN_LABELLED_ZONE_SHARE = 0.012
"""Zones smaller than this share of the mapped area get no label on the difference maps (see the zone table)."""
NOT_SIGNIFICANT_ALPHA = 0.35

_CAPTIONS = {
    "differences": (
        "Differences to the baseline",
        "Each bar is a plan's mean difference to the baseline over replications that share their seeds "
        "(common random numbers); the whisker is the paired 95 % confidence interval. Pale bars: the interval "
        "includes 0, so the data do not show which plan is ahead on that KPI.",
    ),
    "funnel": (
        "Funnel over time, plans overlaid",
        "Lines are means over replications, bands 95 % confidence intervals of the daily mean. "
        "Daily counts are 7-day rolling means scaled to the real population.",
    ),
    "difference_over_time": (
        "Differences to the baseline over time",
        "Paired difference to the baseline day by day with its 95 % confidence band: where the band leaves 0, "
        "the plans differ.",
    ),
    "stores": (
        "Stores of each plan",
        "Bookings requested per store over the horizon, split into test drives, bookings lost in the queue and "
        "the rest; the black tick marks the same store's bookings in the baseline plan (a shorter bar: other "
        "stores of this plan draw its customers). Right: test drives as a share of capacity on open days.",
    ),
    "familiarity_difference_map": (
        "Where familiarity changes",
        "Difference to the baseline of the mean familiarity (0–1) of each zone's residents at the end of the "
        "horizon. Blue: higher than the baseline, red: lower; grey italic values: the 95 % interval includes 0. "
        "Markers: the plan's stores; x: baseline stores this plan does not have.",
    ),
    "bookings_difference_map": (
        "Where bookings change",
        "Difference to the baseline in test-drive bookings requested per 1,000 residents of each zone over the "
        "horizon. Blue: more than the baseline, red: fewer; grey italic values: the 95 % interval includes 0.",
    ),
    "marginal": (
        "Marginal contribution of each store",
        "The plan minus the same plan without that one store, with the same seeds; whiskers are paired 95 % "
        "intervals. A negative contribution means the plan does better without the store (it takes customers "
        "from stores that serve them better, or its queue loses bookings that others would have served).",
    ),
}


# --------------------------------------------------------------------------- helpers


def _signed(value: float, value_format: str) -> str:
    """``value_format`` applied, without a sign when the shown value is zero."""
    text = value_format.format(value)
    return text.lstrip("+-") if not any(c in "123456789" for c in text) else text


def plan_colours(names: Sequence[str]) -> dict[str, str]:
    """Colour of each plan: dark grey for the baseline (the first), then a qualitative palette."""
    colours = {names[0]: BASELINE_COLOUR} if names else {}
    for index, name in enumerate(names[1:]):
        colours[name] = PLAN_COLOURS[index % len(PLAN_COLOURS)]
    return colours


def store_label(name: Any, store_id: Any) -> str:
    """A store's name the fonts can draw: without a bracketed Chinese part if needed, else the id."""
    text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
    if text and not renderable(text):
        stripped = re.sub(r"\s*[(（][^)）]*[)）]", "", text).strip()
        text = stripped if stripped and renderable(stripped) else ""
    return display_label(text, store_id)


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
    from simulator.experiments.compare import HEADLINE_KPIS, format_difference

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
                text += f" ({_signed(100 * relative, '{:+.0f}')} %)"
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
            if wide.shape[1] > 1:
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
        f"Funnel over time by plan: mean of {result.spec.replications} replications with 95 % confidence bands; "
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


# --------------------------------------------------------------------------- stores


def stores_comparison_figure(result: ComparisonResult) -> Figure:
    """Per store of each plan: bookings and their outcome, and utilisation (one row of panels per plan)."""
    stores = result.stores
    plans = [name for name in result.plan_names if (stores["plan"] == name).any()]
    counts = [max(int((stores["plan"] == name).sum()), 1) for name in plans] or [1]
    figure = new_figure(12.5, 0.3 * sum(counts) + 1.0 * len(counts) + 1.6)
    if not plans:
        axis = figure.subplots()
        axis.text(0.5, 0.5, "no stores in any plan", ha="center", va="center", transform=axis.transAxes)
        axis.set_axis_off()
        return figure
    axes = figure.subplots(
        len(plans),
        2,
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": counts, "width_ratios": [2.3, 1.0]},
    )
    x_max = max(
        1.0,
        float(
            np.nanmax(
                np.r_[
                    stores["bookings_requested_scaled"].to_numpy(float),
                    stores["bookings_requested_scaled_baseline"].to_numpy(float),
                    0.0,
                ]
            )
        ),
    )
    u_max = max(110.0, float(np.nanmax(np.r_[stores["utilisation"].to_numpy(float) * 100.0, 0.0])) * 1.15)
    for row, name in enumerate(plans):
        axis_bookings, axis_utilisation = axes[row]
        totals = stores[stores["plan"] == name].sort_values("bookings_requested_scaled", kind="stable")
        positions = np.arange(len(totals))
        requested = totals["bookings_requested_scaled"].to_numpy(float)
        driven = totals["test_drives_scaled"].to_numpy(float)
        lost = totals["bookings_lost_scaled"].to_numpy(float)
        rest = np.clip(requested - driven - lost, 0.0, None)
        colours = [format_style(f)[1] for f in totals["format"]]
        axis_bookings.barh(positions, driven, color=colours, edgecolor="black", linewidth=0.5)
        axis_bookings.barh(
            positions, lost, left=driven, color="white", edgecolor="#444444", hatch="////", linewidth=0.5
        )
        axis_bookings.barh(
            positions, rest, left=driven + lost, color=colours, alpha=0.3, edgecolor="black", linewidth=0.5
        )
        if name != result.baseline:
            baseline_values = totals["bookings_requested_scaled_baseline"].to_numpy(float)
            shown = np.isfinite(baseline_values)
            axis_bookings.scatter(
                baseline_values[shown], positions[shown], marker="|", s=160, color="black", linewidths=2, zorder=5
            )
        for position, value in zip(positions, requested):
            axis_bookings.text(value + 0.01 * x_max, position, f"{value:,.0f}", va="center", fontsize=7.5)
        labels = [store_label(n, i) for n, i in zip(totals["store_name"], totals["store_id"])]
        axis_bookings.set_yticks(positions, labels, fontsize=7.5, **font_kwargs())
        axis_bookings.set_ylim(-0.6, len(totals) - 0.4)
        axis_bookings.set_xlim(0, x_max * 1.15)
        axis_bookings.set_ylabel(name, fontsize=9, fontweight="bold", **font_kwargs())
        axis_bookings.grid(True, axis="x", alpha=0.3)
        utilisation = totals["utilisation"].to_numpy(float) * 100.0
        axis_utilisation.barh(positions, utilisation, color=colours, edgecolor="black", linewidth=0.5)
        axis_utilisation.axvline(100.0, color="#444444", linestyle="--", linewidth=1)
        for position, value in zip(positions, utilisation):
            axis_utilisation.text(
                value + 1.5,
                position,
                f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %",
                va="center",
                fontsize=7.5,
            )
        axis_utilisation.set_yticks(positions, [""] * len(positions))
        axis_utilisation.set_ylim(-0.6, len(totals) - 0.4)
        axis_utilisation.set_xlim(0, u_max)
        axis_utilisation.grid(True, axis="x", alpha=0.3)
        if row == 0:
            axis_bookings.set_title("Test-drive bookings requested per store, and what became of them", fontsize=10)
            axis_utilisation.set_title("Test-drive utilisation", fontsize=10)
    unit = "people" if result.consumer_weight != 1.0 else "simulated consumers"
    axes[-1][0].xaxis.set_major_formatter(thousands_formatter())
    axes[-1][0].set_xlabel(f"bookings requested over the horizon ({unit}, mean over replications)", fontsize=8.5)
    axes[-1][1].xaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    axes[-1][1].set_xlabel("test drives / capacity, mean over open days", fontsize=8.5)
    order = {f: rank for rank, f in enumerate(FORMAT_STYLES)}
    formats_present = sorted({str(f) for f in stores["format"]}, key=lambda f: (order.get(f, len(order)), f))
    handles: list[Any] = [
        Patch(facecolor=format_style(f)[1], edgecolor="black", label=f"{f.replace('_', ' ')}: test drives")
        for f in formats_present
    ]
    handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="////", label="lost in the queue"))
    handles.append(Patch(facecolor="#999999", alpha=0.3, edgecolor="black", label="still waiting / other"))
    handles.append(
        Line2D(
            [],
            [],
            marker="|",
            linestyle="",
            color="black",
            markersize=11,
            markeredgewidth=2,
            label="same store in the baseline",
        )
    )
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- maps


def zone_difference_map(
    result: ComparisonResult,
    zone_gdf: Any,
    column: str,
    *,
    title: str,
    colour_label: str,
    factor: float = 1.0,
    value_format: str = "{:+.3f}",
) -> Figure:
    """Per-zone difference to the baseline, one panel per plan, diverging colours centred on 0.

    The colour scale is symmetric (``-m .. +m`` with ``m`` the largest absolute difference
    over all panels), so white is exactly 0 and the panels share one scale. Each zone is
    labelled with its difference; grey italic when its paired 95 % interval includes 0.
    The plan's stores are drawn by format; baseline stores the plan does not have as ``x``.
    Zones smaller than :data:`MIN_LABELLED_ZONE_SHARE` of the area are coloured but not
    labelled (in a city like Beijing the small central districts would hide the stores).

    Parameters
    ----------
    result : ComparisonResult
    zone_gdf : geopandas.GeoDataFrame
        Zones with ``zone_id`` (and ``name``, ``name_en``), any CRS.
    column : str
        A column of :data:`simulator.experiments.compare.ZONE_DIFFERENCE_COLUMNS`; the map shows
        ``<column>_difference``.
    title, colour_label : str
    factor : float
        Multiplier for display (e.g. 100 for shares in percentage points).
    value_format : str
        Format of the zone labels (after ``factor``).
    """
    zones, _cells = metric_frames(zone_gdf, None)
    zones = zones.assign(zone_id=zones["zone_id"].astype(str))
    plans = result.plan_names[1:]
    table = result.zones
    difference = f"{column}_difference"
    values = table.loc[table["plan"].isin(plans), difference].to_numpy(float) * factor
    extent = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    extent = extent if extent > 0 else 1.0
    norm = Normalize(vmin=-extent, vmax=extent)
    colourmap = colormaps[DIFFERENCE_COLOURMAP]
    n_columns = min(3, max(1, len(plans)))
    n_rows = max(1, math.ceil(len(plans) / n_columns))
    xmin, ymin, xmax, ymax = zones.total_bounds
    aspect = (ymax - ymin) / max(xmax - xmin, 1.0)
    panel_width = 13.0 / n_columns if n_columns > 1 else 8.0
    figure = new_figure(panel_width * n_columns + 0.8, min(max(panel_width * aspect * n_rows + 1.6, 4.5), 16.0))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    baseline_plan = result.runs[result.baseline].plan
    label_size = 7.5 if len(zones) <= 20 else 6.5
    for index, axis in enumerate(axes.flat):
        if index >= len(plans):
            axis.set_visible(False)
            continue
        name = plans[index]
        rows = table[table["plan"] == name][["zone_id", difference, f"{difference}_ci_low", f"{difference}_ci_high"]]
        areas = zones.merge(rows, on="zone_id", how="left")
        has_data = areas[difference].notna()
        if has_data.any():
            shown = areas[has_data].assign(_value=areas.loc[has_data, difference] * factor)
            shown.plot(ax=axis, column="_value", cmap=colourmap, norm=norm, linewidth=0.0)
        if (~has_data).any():
            areas[~has_data].plot(ax=axis, color=NO_DATA_COLOUR, linewidth=0.0)
        zones.boundary.plot(ax=axis, color="#555555", linewidth=0.6)
        if len(zones) <= 40:
            halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
            points = areas.geometry.representative_point()
            large = (areas.geometry.area >= MIN_LABELLED_ZONE_SHARE * float(areas.geometry.area.sum())).to_numpy()
            for point, row, is_large in zip(points, areas.itertuples(index=False), large):
                value = getattr(row, difference)
                if value is None or not np.isfinite(value) or not is_large:
                    continue
                low, high = getattr(row, f"{difference}_ci_low"), getattr(row, f"{difference}_ci_high")
                significant = np.isfinite(low) and (low > 0 or high < 0)
                zone_name = display_label(getattr(row, "name_en", None), getattr(row, "name", None), row.zone_id)
                axis.text(
                    point.x,
                    point.y,
                    f"{zone_name}\n{_signed(value * factor, value_format)}",
                    ha="center",
                    va="center",
                    fontsize=label_size,
                    zorder=5,
                    path_effects=halo,
                    color="#111111" if significant else "#777777",
                    style="normal" if significant else "italic",
                    **font_kwargs(),
                )
        plan_stores = store_points(result.runs[name].plan, zones.crs)
        for store_format, group in (
            plan_stores.groupby(plan_stores["format"].astype(str), sort=True) if len(plan_stores) else []
        ):
            marker, colour = format_style(store_format)
            axis.scatter(
                group["map_x"],
                group["map_y"],
                marker=marker,
                s=110 if marker == "*" else 38,
                c=colour,
                edgecolors="black",
                linewidths=0.7,
                zorder=8,
            )
        dropped = baseline_plan[
            ~baseline_plan["store_id"].astype(str).isin(set(result.runs[name].plan["store_id"].astype(str)))
        ]
        if len(dropped):
            points = store_points(dropped, zones.crs)
            axis.scatter(points["map_x"], points["map_y"], marker="x", s=34, c="black", linewidths=1.2, zorder=8)
        frame_map(axis, (xmin, ymin, xmax, ymax))
        axis.set_title(f"{name} − {result.baseline}", fontsize=10, **font_kwargs())
    colour_bar = figure.colorbar(
        ScalarMappable(norm=norm, cmap=colourmap), ax=axes.ravel().tolist(), shrink=0.75, pad=0.02
    )
    colour_bar.set_label(colour_label, fontsize=9)
    colour_bar.ax.tick_params(labelsize=8)
    formats = sorted({str(f) for n in plans for f in result.runs[n].plan["format"]} if plans else set())
    handles: list[Any] = []
    for store_format in formats:
        marker, colour = format_style(store_format)
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="",
                markerfacecolor=colour,
                markeredgecolor="black",
                markersize=9 if marker == "*" else 6,
                label=f"{store_format.replace('_', ' ')} store of the plan",
            )
        )
    handles.append(
        Line2D([], [], marker="x", linestyle="", color="black", markersize=6, label="baseline store not in the plan")
    )
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    return figure


# --------------------------------------------------------------------------- marginal


def marginal_figure(result: ComparisonResult) -> Figure:
    """Marginal contribution of each store, sorted, one row per plan and one column per KPI."""
    from simulator.experiments.compare import format_difference

    marginal = result.marginal
    kpis = [
        k for k in ("bookings_requested_scaled", "test_drives_scaled", "purchases_scaled") if k in set(marginal["kpi"])
    ]
    plans = [name for name in result.plan_names if (marginal["plan"] == name).any()]
    counts = [int(marginal[(marginal["plan"] == name) & (marginal["kpi"] == kpis[0])].shape[0]) for name in plans]
    figure = new_figure(13.0, 0.3 * sum(counts) + 1.0 * len(plans) + 1.4)
    axes = figure.subplots(len(plans), len(kpis), squeeze=False, sharex="col", gridspec_kw={"height_ratios": counts})
    colours = plan_colours(result.plan_names)
    extents = {
        kpi: float(
            np.nanmax(
                np.abs(marginal.loc[marginal["kpi"] == kpi, ["ci_low", "ci_high", "contribution"]].to_numpy(float))
            )
        )
        for kpi in kpis
    }
    for row, name in enumerate(plans):
        mine = marginal[marginal["plan"] == name]
        order = mine[mine["kpi"] == kpis[0]].sort_values("contribution", kind="stable")["store_id"].tolist()
        positions = np.arange(len(order))
        for column, kpi in enumerate(kpis):
            axis = axes[row][column]
            rows = mine[mine["kpi"] == kpi].set_index("store_id").reindex(order)
            values = rows["contribution"].to_numpy(float)
            low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
            bar_colours = [colours[name] if v >= 0 else "#c0392b" for v in values]
            alphas = [
                1.0 if s or not np.isfinite(lo) else NOT_SIGNIFICANT_ALPHA for s, lo in zip(rows["significant"], low)
            ]
            for position, value, colour, alpha in zip(positions, values, bar_colours, alphas):
                axis.barh(position, value, color=colour, alpha=alpha, edgecolor="black", linewidth=0.5, height=0.65)
            finite = np.isfinite(low)
            if finite.any():
                axis.errorbar(
                    values[finite],
                    positions[finite],
                    xerr=[values[finite] - low[finite], high[finite] - values[finite]],
                    fmt="none",
                    color="black",
                    capsize=2,
                    linewidth=0.8,
                )
            axis.axvline(0.0, color="black", linewidth=0.8)
            extent = extents[kpi] if np.isfinite(extents[kpi]) and extents[kpi] > 0 else 1.0
            axis.set_xlim(-1.15 * extent, 1.15 * extent)
            axis.set_ylim(-0.6, len(order) - 0.4)
            labels = [store_label(n, i) for n, i in zip(rows["store_name"], order)]
            axis.set_yticks(positions, labels if column == 0 else [""] * len(order), fontsize=7.5, **font_kwargs())
            axis.grid(True, axis="x", alpha=0.3)
            axis.xaxis.set_major_formatter(thousands_formatter())
            axis.tick_params(axis="x", labelsize=7.5)
            if column == 0:
                axis.set_ylabel(name, fontsize=9, fontweight="bold", **font_kwargs())
            effect = float(rows["plan_effect"].iloc[0]) if len(rows) else math.nan
            total = float(np.nansum(values))
            axis.text(
                0.99,
                0.02,
                f"plan vs no stores: {format_difference(effect, 'people')}\nsum of stores: {format_difference(total, 'people')}",
                transform=axis.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="#333333",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
            )
            if row == 0:
                axis.set_title(str(rows["label"].iloc[0]), fontsize=10)
    for column in range(len(kpis)):
        axes[-1][column].set_xlabel("plan minus plan without the store (people)", fontsize=8)
    figure.suptitle(
        f"Marginal contribution of each store (same {result.spec.replications} seeds; whiskers: paired 95 % CI; "
        "pale: CI includes 0; red: the plan does better without the store)",
        fontsize=10.5,
    )
    return figure


# --------------------------------------------------------------------------- saving


def save_comparison_figures(
    result: ComparisonResult, out_dir: str | os.PathLike[str], zone_gdf: Any = None
) -> dict[str, Path]:
    """Write the comparison's figures under ``<out_dir>/figures/``; return their paths by key."""
    folder = Path(out_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure | None] = {
        "differences": differences_figure(result),
        "funnel": funnel_comparison_figure(result),
        "difference_over_time": difference_over_time_figure(result),
        "stores": stores_comparison_figure(result),
    }
    if zone_gdf is not None:
        figures["familiarity_difference_map"] = zone_difference_map(
            result,
            zone_gdf,
            "mean_familiarity",
            title="Mean familiarity at the end of the horizon: difference to the baseline by zone",
            colour_label="difference in mean familiarity (0–1 scale)",
        )
        figures["bookings_difference_map"] = zone_difference_map(
            result,
            zone_gdf,
            "bookings_requested_per_1000",
            title="Test-drive bookings requested per 1,000 residents over the horizon: difference to the baseline by zone",
            colour_label="difference in bookings per 1,000 residents",
            value_format="{:+.2f}",
        )
    if result.marginal is not None and len(result.marginal):
        figures["marginal"] = marginal_figure(result)
    return {key: save_png(figure, folder / f"{key}.png") for key, figure in figures.items() if figure is not None}


# --------------------------------------------------------------------------- HTML


def _interval_text(low: float, high: float, unit: str) -> str:
    from simulator.experiments.compare import format_difference

    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"{format_difference(low, unit)} to {format_difference(high, unit)}"


def _standard_error_text(value: float, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if unit == "share":
        return f"{100.0 * value:.2f} pp"
    if unit == "index":
        return f"{value:.4f}"
    return f"{value:,.0f}"


def _headline_table(result: ComparisonResult) -> str:
    from simulator.experiments.compare import difference_rows

    headers, rows = difference_rows(result)
    return html_table(headers, rows, [False] + [True] * (len(headers) - 1))


def _differences_table(result: ComparisonResult) -> str:
    from simulator.experiments.compare import format_difference

    differences = result.differences[result.differences["unit"] != "consumers"]
    headers = [
        "Plan",
        "Result",
        "Plan",
        "Baseline",
        "Difference",
        "95 % CI (paired)",
        "Relative",
        "SE paired",
        "SE if seeds were independent",
    ]
    numeric = [False, False, True, True, True, True, True, True, True]
    rows = []
    for row in differences.to_dict("records"):
        unit = row["unit"]
        relative = row["relative_difference"]
        rows.append(
            [
                row["plan"],
                row["label"],
                format_number(row["plan_mean"], unit),
                format_number(row["baseline_mean"], unit),
                format_difference(row["difference"], unit),
                _interval_text(row["ci_low"], row["ci_high"], unit),
                f"{_signed(100 * relative, '{:+.1f}')} %" if np.isfinite(relative) else "–",
                _standard_error_text(row["se"], unit),
                _standard_error_text(row["se_unpaired"], unit),
            ]
        )
    return html_table(headers, rows, numeric)


def _plans_table(result: ComparisonResult) -> str:
    plans = result.plans[result.plans["unit"] != "consumers"]
    names = result.plan_names
    headers = ["Result"] + [f"{n} (baseline)" if n == result.baseline else n for n in names]
    rows = []
    for _kpi, group in plans.groupby("kpi", sort=False):
        group = group.set_index("plan")
        unit = str(group["unit"].iloc[0])
        cells = [str(group["label"].iloc[0])]
        for name in names:
            row = group.loc[name]
            text = format_number(row["mean"], unit)
            if np.isfinite(row["ci_low"]):
                low = max(float(row["ci_low"]), 0.0)
                high = min(float(row["ci_high"]), 1.0) if unit in ("share", "index") else float(row["ci_high"])
                text += f" ({format_number(low, unit)} – {format_number(high, unit)})"
            cells.append(text)
        rows.append(cells)
    return html_table(headers, rows, [False] + [True] * len(names))


def _stores_table(result: ComparisonResult) -> str:
    stores = result.stores.sort_values(["plan", "bookings_requested_scaled"], ascending=[True, False], kind="stable")
    order = {name: i for i, name in enumerate(result.plan_names)}
    stores = stores.sort_values("plan", key=lambda s: s.map(order), kind="stable")
    headers = [
        "Plan",
        "Store",
        "Format",
        "Capacity / day",
        "Bookings requested",
        "in the baseline",
        "Test drives",
        "Lost in queue",
        "Purchases",
        "Utilisation",
        "Mean queue",
        "Max queue",
    ]
    numeric = [False, False, False, True, True, True, True, True, True, True, True, True]
    rows = []
    for row in stores.to_dict("records"):
        baseline = row.get("bookings_requested_scaled_baseline")
        rows.append(
            [
                row["plan"],
                f"{row['store_name']} ({row['store_id']})" if row["store_name"] != row["store_id"] else row["store_id"],
                row["format"],
                format_number(row["capacity"], "count"),
                format_number(row["bookings_requested_scaled"], "people"),
                format_number(baseline, "people")
                if baseline is not None and np.isfinite(baseline) and row["plan"] != result.baseline
                else "–",
                format_number(row["test_drives_scaled"], "people"),
                format_number(row["bookings_lost_scaled"], "people"),
                format_number(row["purchases_scaled"], "people"),
                format_number(row["utilisation"], "share"),
                format_number(row.get("queue_mean_scaled", math.nan), "people"),
                format_number(row.get("queue_max_scaled", math.nan), "people"),
            ]
        )
    return html_table(headers, rows, numeric)


def _zones_table(result: ComparisonResult) -> str:
    from simulator.experiments.compare import format_difference

    zones = result.zones[result.zones["plan"] != result.baseline]
    zones = zones.sort_values("bookings_requested_per_1000_difference", ascending=False, kind="stable")
    headers = [
        "Plan",
        "Zone",
        "Consumers",
        "Mean familiarity",
        "Δ familiarity",
        "95 % CI",
        "Bookings / 1,000",
        "Δ bookings / 1,000",
        "95 % CI",
    ]
    numeric = [False, False, True, True, True, True, True, True, True]
    rows = []
    for row in zones.to_dict("records"):
        names_text = " / ".join(
            str(n) for n in (row.get("zone_name_en"), row.get("zone_name")) if isinstance(n, str) and n.strip()
        )
        rows.append(
            [
                row["plan"],
                names_text or row["zone_id"],
                format_number(row.get("consumers", math.nan), "count"),
                format_number(row["mean_familiarity"], "index"),
                format_difference(row["mean_familiarity_difference"], "index"),
                _interval_text(
                    row["mean_familiarity_difference_ci_low"], row["mean_familiarity_difference_ci_high"], "index"
                ),
                f"{row['bookings_requested_per_1000']:,.2f}",
                f"{row['bookings_requested_per_1000_difference']:+,.2f}",
                _interval_text(
                    row["bookings_requested_per_1000_difference_ci_low"],
                    row["bookings_requested_per_1000_difference_ci_high"],
                    "number",
                )
                if np.isfinite(row["bookings_requested_per_1000_difference_ci_low"])
                else "–",
            ]
        )
    return html_table(headers, rows, numeric)


def _marginal_table(result: ComparisonResult) -> str:
    from simulator.experiments.compare import format_difference

    marginal = result.marginal
    wide_rows = []
    for (plan, store_id), group in marginal.groupby(["plan", "store_id"], sort=False):
        group = group.set_index("kpi")
        first = group.iloc[0]
        cells = [
            plan,
            f"{first['store_name']} ({store_id})" if first["store_name"] != store_id else store_id,
            first["format"],
        ]
        for kpi in ("bookings_requested_scaled", "test_drives_scaled", "purchases_scaled", "share_familiar"):
            if kpi not in group.index:
                cells.append("–")
                continue
            row = group.loc[kpi]
            text = format_difference(row["contribution"], row["unit"])
            if np.isfinite(row["ci_low"]):
                text += f" [{format_difference(row['ci_low'], row['unit'])}, {format_difference(row['ci_high'], row['unit'])}]"
            cells.append(text)
        share = (
            group.loc["bookings_requested_scaled", "share_of_plan_effect"]
            if "bookings_requested_scaled" in group.index
            else math.nan
        )
        cells.append(f"{100 * share:.0f} %" if np.isfinite(share) else "–")
        wide_rows.append(
            (
                group.loc["bookings_requested_scaled", "contribution"]
                if "bookings_requested_scaled" in group.index
                else 0.0,
                plan,
                cells,
            )
        )
    order = {name: i for i, name in enumerate(result.plan_names)}
    wide_rows.sort(key=lambda item: (order.get(item[1], 0), -item[0]))
    headers = [
        "Plan",
        "Store",
        "Format",
        "Bookings requested",
        "Test drives",
        "Purchases",
        "Share familiar",
        "Share of the plan's effect on bookings",
    ]
    return html_table(
        headers, [cells for _v, _p, cells in wide_rows], [False, False, False, True, True, True, True, True]
    )


def _comparison_pairs(result: ComparisonResult) -> list[tuple[str, Any]]:
    metadata = result.metadata
    spec = result.spec
    seeds = spec.seeds
    seeds_text = ", ".join(str(s) for s in seeds[:6]) + (" …" if len(seeds) > 6 else "")
    pairs: list[tuple[str, Any]] = [
        ("Comparison", spec.name),
        ("Baseline", result.baseline),
        ("Plans", "; ".join(f"{p.name} ({p.n_stores} stores)" for p in spec.plans)),
        ("Replications", f"{spec.replications}, the same seeds for every plan (root seed {spec.seed}: {seeds_text})"),
        ("City", metadata.get("city", "–")),
        ("Horizon", f"{metadata.get('horizon_days', '–')} days from {metadata.get('start_date', '–')}"),
    ]
    if metadata.get("consumers") is not None:
        pairs.append(
            (
                "Simulated consumers",
                f"{int(metadata['consumers']):,} (1 represents {result.consumer_weight:,.1f} people)",
            )
        )
    pairs.append(("Marginal contributions", "yes" if metadata.get("marginal") else "no (use --marginal)"))
    pairs.append(("Comparison hash", metadata.get("comparison_hash", "–")))
    if metadata.get("created_utc"):
        pairs.append(("Created (UTC)", metadata["created_utc"]))
    if metadata.get("command"):
        pairs.append(("Command", metadata["command"]))
    return pairs


def _figure_block(figures: Mapping[str, Path], key: str) -> str:
    if key not in figures:
        return ""
    title, caption = _CAPTIONS[key]
    return f"<figure>{image_tag(figures[key], title)}<figcaption>{escape_html(caption)}</figcaption></figure>"


def write_comparison_html(
    result: ComparisonResult, figures: Mapping[str, str | os.PathLike[str]], out_path: str | os.PathLike[str]
) -> Path:
    """Write the comparison's self-contained ``report.html`` (atomically).

    Sections: the comparison (plans, baseline, seeds), headline differences with paired
    confidence intervals, the figures, plans side by side, stores, zones, marginal
    contributions (with ``--marginal``), each plan's canonical scenario, package versions
    and timings. All text is escaped; figures are embedded as base64 PNG.
    """
    figure_paths = {key: Path(value) for key, value in figures.items()}
    metadata = result.metadata
    spec = result.spec
    several = spec.replications >= 2
    scenarios = "".join(
        f"<details><summary>{escape_html(plan['name'])} (hash {escape_html(plan['scenario_hash'][:16])})</summary>"
        f"<pre>{escape_html(json.dumps(plan['scenario'], indent=2, sort_keys=True, ensure_ascii=False))}</pre></details>"
        for plan in metadata.get("plans", [])
    )
    timings = metadata.get("timings") or {}
    versions = metadata.get("package_versions") or {}
    note_single = (
        ""
        if several
        else '<p class="note"><b>One replication:</b> there are no confidence intervals. Run with --replications 5 or more '
        "to see which differences are real.</p>"
    )
    sections = [
        f"<header><h1>Plan comparison: {escape_html(spec.name)}</h1>",
        f'<p class="description">{escape_html(spec.description)}</p>' if spec.description else "",
        "</header>",
        "<section><h2>Comparison</h2>",
        key_value_table(_comparison_pairs(result)),
        "</section>",
        "<section><h2>Headline: difference to the baseline</h2>",
        note_single,
        _headline_table(result),
        '<p class="note">Each cell is the mean over replications of (plan − baseline), with the paired 95 % confidence '
        "interval in brackets. All plans run on the same synthetic population with the same random draws (common "
        "random numbers), so noise shared by the plans cancels in the difference. If the interval excludes 0 the "
        "plans differ on that result; counts are totals over the horizon in people, shares are in percentage points "
        "(pp) at the end of the horizon.</p>",
        _figure_block(figure_paths, "differences"),
        "<details><summary>All results: differences, relative change and standard errors</summary>",
        '<div class="scroll">',
        _differences_table(result),
        "</div>",
        '<p class="note">SE paired: standard error of the mean difference with common random numbers. SE if seeds '
        "were independent: sqrt(s²_plan/R + s²_baseline/R), what the standard error would be had the plans been "
        "run with different seeds (shares in percentage points).</p></details></section>",
        "<section><h2>Funnel over time</h2>",
        _figure_block(figure_paths, "funnel"),
        _figure_block(figure_paths, "difference_over_time"),
        "</section>",
        "<section><h2>Plans side by side</h2>",
        _plans_table(result),
        '<p class="note">Mean over replications with the 95 % confidence interval of each plan on its own. Two '
        "plans' intervals may overlap while their paired difference is clearly not 0: use the difference table to "
        "compare.</p></section>",
        "<section><h2>Stores</h2>",
        _figure_block(figure_paths, "stores"),
        '<div class="scroll">',
        _stores_table(result),
        "</div>",
        '<p class="note">Totals over the horizon in people, mean over replications; queues in people waiting, mean '
        "and maximum over open days.</p></section>",
        "<section><h2>Zones</h2>",
        _figure_block(figure_paths, "familiarity_difference_map"),
        _figure_block(figure_paths, "bookings_difference_map"),
        "<details><summary>Zone table</summary>",
        '<div class="scroll">',
        _zones_table(result),
        "</div></details>",
        "</section>",
    ]
    if result.marginal is not None and len(result.marginal):
        sections += [
            "<section><h2>Which stores carry each plan</h2>",
            _figure_block(figure_paths, "marginal"),
            '<div class="scroll">',
            _marginal_table(result),
            "</div>",
            '<p class="note">Marginal contribution = the plan minus the same plan without that store, same seeds, '
            "with paired 95 % intervals. The last column divides it by the plan's total effect on bookings (the plan "
            "minus no stores at all). When the shares add up to less than 100 %, stores overlap: they reach the same "
            "people, so each one adds less than it would alone. A negative contribution means the plan does better "
            "without the store.</p></section>",
        ]
    sections += [
        "<section><h2>Scenarios</h2>",
        scenarios,
        "</section>",
        "<section><h2>Reproducibility</h2>",
        '<p class="note">Each plan\'s runs are ordinary run folders under runs/&lt;plan&gt;/ with their own report.</p>',
        html_table(["Package", "Version"], sorted(versions.items()), [False, False]),
        html_table(["Stage", "Seconds"], [(k, f"{float(v):,.2f}") for k, v in timings.items()], [False, True])
        if timings
        else "",
        "</section>",
    ]
    return write_html_document(f"{spec.name} – plan comparison", sections, out_path)

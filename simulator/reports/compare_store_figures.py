"""Figures of a comparison per store: the stores of each plan, and each store's marginal contribution.

* ``stores.png``: bookings, their outcome and utilisation per store, one row per plan
  (:func:`stores_comparison_figure`);
* ``marginal.png`` (with ``--marginal``): each store's marginal contribution, sorted
  (:func:`marginal_figure`).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.experiments.compare import ComparisonResult
from simulator.reports.compare_figures import NOT_SIGNIFICANT_ALPHA, plan_colours
from simulator.reports.compare_text import format_difference
from simulator.reports.figures import (
    FORMAT_STYLES,
    display_label,
    font_kwargs,
    format_style,
    new_figure,
    renderable,
    thousands_formatter,
)


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
        totals = stores[stores["plan"] == name].sort_values("bookings_requested_scaled", kind="stable")
        colours = [format_style(f)[1] for f in totals["format"]]
        _bookings_panel(axes[row][0], totals, colours, name, name != result.baseline, x_max)
        _utilisation_panel(axes[row][1], totals, colours, u_max)
        if row == 0:
            axes[row][0].set_title("Test-drive bookings requested per store, and what became of them", fontsize=10)
            axes[row][1].set_title("Test-drive utilisation", fontsize=10)
    unit = "people" if result.consumer_weight != 1.0 else "simulated consumers"
    axes[-1][0].xaxis.set_major_formatter(thousands_formatter())
    axes[-1][0].set_xlabel(f"bookings requested over the horizon ({unit}, mean over replications)", fontsize=8.5)
    axes[-1][1].xaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    axes[-1][1].set_xlabel("test drives / capacity, mean over open days", fontsize=8.5)
    handles = _stores_legend_handles([str(f) for f in stores["format"]])
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    return figure


def _bookings_panel(
    axis: Any, totals: pd.DataFrame, colours: list[str], name: str, mark_baseline: bool, x_max: float
) -> None:
    """One plan's bookings per store: test drives, lost in the queue, the rest; the baseline's as a tick."""
    positions = np.arange(len(totals))
    requested = totals["bookings_requested_scaled"].to_numpy(float)
    driven = totals["test_drives_scaled"].to_numpy(float)
    lost = totals["bookings_lost_scaled"].to_numpy(float)
    rest = np.clip(requested - driven - lost, 0.0, None)
    axis.barh(positions, driven, color=colours, edgecolor="black", linewidth=0.5)
    axis.barh(positions, lost, left=driven, color="white", edgecolor="#444444", hatch="////", linewidth=0.5)
    axis.barh(positions, rest, left=driven + lost, color=colours, alpha=0.3, edgecolor="black", linewidth=0.5)
    if mark_baseline:
        baseline_values = totals["bookings_requested_scaled_baseline"].to_numpy(float)
        shown = np.isfinite(baseline_values)
        axis.scatter(baseline_values[shown], positions[shown], marker="|", s=160, color="black", linewidths=2, zorder=5)
    for position, value in zip(positions, requested):
        axis.text(value + 0.01 * x_max, position, f"{value:,.0f}", va="center", fontsize=7.5)
    labels = [store_label(n, i) for n, i in zip(totals["store_name"], totals["store_id"])]
    axis.set_yticks(positions, labels, fontsize=7.5, **font_kwargs())
    axis.set_ylim(-0.6, len(totals) - 0.4)
    axis.set_xlim(0, x_max * 1.15)
    axis.set_ylabel(name, fontsize=9, fontweight="bold", **font_kwargs())
    axis.grid(True, axis="x", alpha=0.3)


def _utilisation_panel(axis: Any, totals: pd.DataFrame, colours: list[str], u_max: float) -> None:
    """One plan's utilisation per store (test drives / capacity on open days), in %."""
    positions = np.arange(len(totals))
    utilisation = totals["utilisation"].to_numpy(float) * 100.0
    axis.barh(positions, utilisation, color=colours, edgecolor="black", linewidth=0.5)
    axis.axvline(100.0, color="#444444", linestyle="--", linewidth=1)
    for position, value in zip(positions, utilisation):
        text = f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %"
        axis.text(value + 1.5, position, text, va="center", fontsize=7.5)
    axis.set_yticks(positions, [""] * len(positions))
    axis.set_ylim(-0.6, len(totals) - 0.4)
    axis.set_xlim(0, u_max)
    axis.grid(True, axis="x", alpha=0.3)


def _stores_legend_handles(formats: list[str]) -> list[Any]:
    """Legend of the stores figure: one colour per store format, the queue, the rest and the baseline tick."""
    order = {f: rank for rank, f in enumerate(FORMAT_STYLES)}
    formats_present = sorted(set(formats), key=lambda f: (order.get(f, len(order)), f))
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
    return handles


def marginal_figure(result: ComparisonResult) -> Figure:
    """Marginal contribution of each store, sorted, one row per plan and one column per KPI."""
    marginal = result.marginal
    if marginal is None:
        raise ValueError("marginal_figure: the comparison was run without marginal contributions")
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
        for column, kpi in enumerate(kpis):
            axis = axes[row][column]
            rows = mine[mine["kpi"] == kpi].set_index("store_id").reindex(order)
            extent = extents[kpi] if np.isfinite(extents[kpi]) and extents[kpi] > 0 else 1.0
            _marginal_panel(axis, rows, order, colours[name], extent, show_labels=column == 0)
            if column == 0:
                axis.set_ylabel(name, fontsize=9, fontweight="bold", **font_kwargs())
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


def _marginal_panel(
    axis: Any, rows: pd.DataFrame, order: list[str], colour: str, extent: float, *, show_labels: bool
) -> None:
    """One plan's contributions on one KPI: a bar per store (red when negative) with its paired interval."""
    positions = np.arange(len(order))
    values = rows["contribution"].to_numpy(float)
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    alphas = [1.0 if s or not np.isfinite(lo) else NOT_SIGNIFICANT_ALPHA for s, lo in zip(rows["significant"], low)]
    for position, value, alpha in zip(positions, values, alphas):
        bar_colour = colour if value >= 0 else "#c0392b"
        axis.barh(position, value, color=bar_colour, alpha=alpha, edgecolor="black", linewidth=0.5, height=0.65)
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
    axis.set_xlim(-1.15 * extent, 1.15 * extent)
    axis.set_ylim(-0.6, len(order) - 0.4)
    labels = [store_label(n, i) for n, i in zip(rows["store_name"], order)]
    axis.set_yticks(positions, labels if show_labels else [""] * len(order), fontsize=7.5, **font_kwargs())
    axis.grid(True, axis="x", alpha=0.3)
    axis.xaxis.set_major_formatter(thousands_formatter())
    axis.tick_params(axis="x", labelsize=7.5)
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


def store_label(name: Any, store_id: Any) -> str:
    """A store's name the fonts can draw: without a bracketed Chinese part if needed, else the id."""
    text = "" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
    if text and not renderable(text):
        stripped = re.sub(r"\s*[(（][^)）]*[)）]", "", text).strip()
        text = stripped if stripped and renderable(stripped) else ""
    return display_label(text, store_id)

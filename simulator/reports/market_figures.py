"""The market figures of a run: where test-drive intent goes, rival share, access, the launch rush.

Each figure is drawn from the run's tables alone (``daily``, ``stores``, ``zones``,
``plan`` and the optional ``rivals``) on the Agg canvas of
:mod:`simulator.reports.figures`, from the numbers of
:mod:`simulator.reports.market_data` (shared with the HTML sections of
:mod:`simulator.reports.market_report`). :func:`save_market_figures` writes those the
run's tables allow: runs written before rivals, access and the intent funnel were
recorded get fewer figures.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, ticker
from matplotlib import dates as mdates
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.reports.figures import (
    LINE_COLOUR,
    FigureJob,
    display_label,
    font_kwargs,
    new_figure,
    renderable,
    save_figure_jobs,
    thousands_formatter,
)
from simulator.reports.market_data import (
    BRAND_LABEL,
    count_unit,
    funnel_totals,
    launch_window,
    rival_bookings,
    zone_access,
)
from simulator.results import RunResult
from simulator.results.daily_noise import daily_band

RIVAL_COLOUR = "#7f7f7f"
"""Colour of rival showrooms (maps) and of rival bars without a brand colour."""

MAX_SHOWROOM_BARS = 30
"""At most this many showrooms (brand stores and rivals) in the rival figure."""

_LEGEND_LABELS = {
    "brand": "booked at the brand's stores",
    "rival": "booked at a rival (lost)",
    "no_visit": "no visit (every site too far)",
    "no_store": "no store or showroom open",
    "drive": "test drive",
    "lost": "abandoned in the queue",
    "waiting": "still waiting at the end",
    "bought": "bought after a test drive",
    "online": "bought online (no test drive)",
    "not_bought": "did not buy",
}

_SEGMENT_COLOURS = {
    "brand": LINE_COLOUR,
    "rival": "#c0392b",
    "no_visit": "#e67e22",
    "no_store": "#bdc3c7",
    "drive": "#2e86c1",
    "lost": "#ffffff",
    "waiting": "#aed6f1",
    "bought": "#1e8449",
    "not_bought": "#d5f5e3",
    "online": "#8e44ad",
}


# --------------------------------------------------------------------------- intent funnel


def _funnel_rows(totals: Mapping[str, float]) -> list[tuple[str, list[tuple[str, float, str]]]]:
    """The bars of the intent funnel: a label and its ``(segment, value, colour key)`` parts."""
    get = totals.get
    after_drive = max(get("purchases", 0.0) - get("purchases_direct", 0.0), 0.0)
    booked = get("bookings_requested", 0.0)
    drives, lost = get("test_drives", 0.0), get("bookings_lost", 0.0)
    online, direct = get("online_orders", 0.0), get("purchases_direct", 0.0)
    return [
        (
            "Test-drive intents",
            [
                ("booked at the brand's stores", booked, "brand"),
                ("lost to rivals", get("bookings_to_rivals", 0.0), "rival"),
                ("no visit (too far)", get("intents_no_visit", 0.0), "no_visit"),
                ("no store or showroom open", get("bookings_no_store", 0.0), "no_store"),
            ],
        ),
        (
            "Bookings at the brand's stores",
            [
                ("test drive", drives, "drive"),
                ("abandoned in the queue", lost, "lost"),
                ("still waiting at the end", max(booked - drives - lost, 0.0), "waiting"),
            ],
        ),
        (
            "Test drives",
            [("bought", after_drive, "bought"), ("did not buy", max(drives - after_drive, 0.0), "not_bought")],
        ),
        (
            "Online orders (no test drive)",
            [("bought online", direct, "online"), ("did not buy", max(online - direct, 0.0), "not_bought")],
        ),
        ("Purchases", [("after a test drive", after_drive, "bought"), ("online, no test drive", direct, "online")]),
    ]


def intent_funnel_figure(daily: pd.DataFrame) -> Figure:
    """Where test-drive intent goes: horizontal stacked bars on one scale.

    Bars (top to bottom): test-drive intents split into bookings at the brand's stores,
    bookings lost to rivals, no visit (every site too far: the consumer stays in the
    market and may try again) and no store or showroom open; the brand's bookings split
    into test drives, bookings abandoned in the queue and those still waiting at the end;
    test drives and online orders split by purchase; purchases split into after a test
    drive and online (``purchases - purchases_direct`` and ``purchases_direct``). Totals
    over the horizon, mean over replications (:func:`funnel_totals`).
    """
    totals = funnel_totals(daily)
    rows = _funnel_rows(totals)
    figure = new_figure(12.0, 4.6)
    axis = figure.subplots()
    x_max = max((sum(v for _l, v, _k in parts) for _t, parts in rows), default=0.0) or 1.0
    handles: dict[str, Patch] = {}
    for position, (_title, parts) in enumerate(rows):
        left = 0.0
        for _label, value, key in parts:
            hatch, edge = ("////", "#444444") if key == "lost" else (None, "black")
            colour = _SEGMENT_COLOURS[key]
            axis.barh(position, value, left=left, color=colour, edgecolor=edge, hatch=hatch, linewidth=0.5, height=0.62)
            if value >= 0.035 * x_max:
                dark = key in ("brand", "rival", "drive", "bought", "online")
                axis.text(
                    left + value / 2,
                    position,
                    f"{value:,.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
            handles.setdefault(key, Patch(facecolor=colour, edgecolor=edge, hatch=hatch, label=_LEGEND_LABELS[key]))
            left += value
        axis.text(left + 0.01 * x_max, position, f"{left:,.0f}", va="center", fontsize=9, fontweight="bold")
    axis.set_yticks(range(len(rows)), [title for title, _p in rows], fontsize=9)
    axis.invert_yaxis()
    axis.set_xlim(0, x_max * 1.12)
    axis.xaxis.set_major_formatter(thousands_formatter())
    axis.set_xlabel(f"total over the horizon ({count_unit(daily)})", fontsize=9)
    axis.grid(True, axis="x", alpha=0.3)
    axis.set_title("Where test-drive intent goes", fontsize=11)
    figure.legend(handles=list(handles.values()), loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- rivals


def _brand_colours(brands: pd.Series) -> dict[str, str]:
    """The brand's own colour, and one colour of a qualitative palette per rival brand."""
    palette = [to_hex(colormaps["tab10"](i)) for i in range(10) if i not in (0, 3)]  # not blue, not red
    colours = {BRAND_LABEL: LINE_COLOUR}
    rivals = [b for b in dict.fromkeys(brands.astype(str)) if b != BRAND_LABEL]
    for index, brand in enumerate(rivals):
        colours[brand] = palette[index % len(palette)]
    return colours


def _latin_label(name: Any, ident: Any) -> str:
    """``name`` if the fonts can draw it, else its drawable part (``Hopson One (合生汇)`` -> ``Hopson One``), else ``ident``."""
    text = display_label(name, "")
    if text:
        return text
    latin = re.sub(r"\(\s*\)", "", "".join(c for c in str(name) if renderable(c))).strip(" -/·")
    return latin or str(ident)


def _bars(axis: Any, labels: list[str], values: np.ndarray, colours: list[str], notes: list[str]) -> None:
    """Horizontal bars, largest on top, each with its note at the right end."""
    positions = np.arange(len(labels))
    axis.barh(positions, values, color=colours, edgecolor="black", linewidth=0.5)
    x_max = float(values.max()) if len(values) and values.max() > 0 else 1.0
    for position, value, note in zip(positions, values, notes, strict=True):
        axis.text(value + 0.01 * x_max, position, note, va="center", fontsize=8)
    axis.set_yticks(positions, labels, fontsize=8, **font_kwargs())
    axis.invert_yaxis()
    axis.set_xlim(0, x_max * 1.25)
    axis.xaxis.set_major_formatter(thousands_formatter())
    axis.grid(True, axis="x", alpha=0.3)


def rival_share_figure(result: RunResult) -> Figure:
    """Test-drive bookings won by each rival brand and showroom against the brand's own.

    Left: one bar per brand (the brand's own first, in its colour), labelled with the
    bookings and the share of all test-drive bookings (the brand's plus the rivals').
    Right: the brand's stores and the rival showrooms (at most :data:`MAX_SHOWROOM_BARS`),
    coloured by brand. Means over replications (:func:`rival_bookings`).
    """
    brands, showrooms = rival_bookings(result)
    colours = _brand_colours(brands["brand"])
    shown = showrooms.head(MAX_SHOWROOM_BARS)
    figure = new_figure(13.0, max(3.5, 0.26 * len(shown) + 1.6))
    axis_brands, axis_showrooms = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.5]})
    _bars(
        axis_brands,
        [str(b) for b in brands["brand"]],
        brands["bookings"].to_numpy(float),
        [colours[str(b)] for b in brands["brand"]],
        [f"{v:,.0f} ({100 * s:.0f} %)" for v, s in zip(brands["bookings"], brands["share"], strict=True)],
    )
    axis_brands.set_title("Test-drive bookings by brand (share of all)", fontsize=10)
    _bars(
        axis_showrooms,
        [_latin_label(name, ident) for name, ident in zip(shown["name"], shown["id"], strict=True)],
        shown["bookings"].to_numpy(float),
        [colours.get(str(b), RIVAL_COLOUR) for b in shown["brand"]],
        [f"{v:,.0f}" for v in shown["bookings"]],
    )
    more = f" (top {len(shown)} of {len(showrooms)})" if len(showrooms) > len(shown) else ""
    axis_showrooms.set_title(f"By showroom{more}", fontsize=10)
    unit = "people" if "bookings_scaled" in result.rivals.columns else "simulated consumers"
    for axis in (axis_brands, axis_showrooms):
        axis.set_xlabel(f"test-drive bookings over the horizon ({unit})", fontsize=9)
        axis.tick_params(axis="x", labelsize=8)
    handles = [Patch(facecolor=c, edgecolor="black", label=b) for b, c in colours.items()]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- access


def access_figure(access: pd.DataFrame, *, unit_note: str = "per 1,000 residents") -> Figure:
    """Booking rate per 1,000 residents against the distance to the nearest brand store.

    One point per zone (from :func:`zone_access`): bookings at the brand's stores (filled)
    and bookings lost to rivals (open) per 1,000 residents, against the mean distance of
    the zone's consumers to the nearest open brand store; point area proportional to the
    population represented. Zones are labelled when there are at most 40.
    """
    figure = new_figure(10.0, 5.6)
    axis = figure.subplots()
    distance = access["nearest_store_km"].to_numpy(float)
    population = access["population_represented"].to_numpy(float)
    top = np.nanmax(population) if np.isfinite(population).any() and np.nanmax(population) > 0 else 1.0
    sizes = 30.0 + 570.0 * np.nan_to_num(population) / top
    own = access["bookings_requested_per_1000"].to_numpy(float)
    axis.scatter(
        distance,
        own,
        s=sizes,
        color=LINE_COLOUR,
        alpha=0.75,
        edgecolors="black",
        linewidths=0.6,
        label="booked at the brand's stores",
        zorder=3,
    )
    if "bookings_to_rivals_per_1000" in access.columns:
        rival = access["bookings_to_rivals_per_1000"].to_numpy(float)
        axis.scatter(
            distance,
            rival,
            s=sizes,
            facecolors="none",
            edgecolors="#c0392b",
            linewidths=1.2,
            label="booked at rivals",
            zorder=3,
        )
    if len(access) <= 40:
        for x, y, label in zip(distance, own, access["label"], strict=True):
            if np.isfinite(x) and np.isfinite(y):
                axis.annotate(label, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7, **font_kwargs())
    axis.set_xlabel("mean distance of residents to the nearest brand store (km)", fontsize=9)
    axis.set_ylabel(f"test-drive bookings {unit_note}", fontsize=9)
    axis.set_ylim(bottom=0)
    far = float(np.nanmax(distance)) if np.isfinite(distance).any() else 1.0
    axis.set_xlim(0, far * 1.1)  # room for the labels of the farthest zones
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper right", title="point area: population", title_fontsize=8, markerscale=0.5)
    axis.set_title("Test-drive bookings against distance to the nearest brand store (one point per zone)", fontsize=11)
    return figure


# --------------------------------------------------------------------------- launch rush


def _capacity_by_day(plan: pd.DataFrame, days: pd.Series) -> np.ndarray | None:
    """Daily test-drive capacity of the open brand stores (plan capacities), or None without capacities."""
    if plan.empty or "capacity" not in plan.columns or plan["capacity"].isna().all():
        return None
    open_day = plan["open_day"].to_numpy(float) if "open_day" in plan.columns else np.zeros(len(plan))
    close_day = plan["close_day"].to_numpy(float) if "close_day" in plan.columns else -np.ones(len(plan))
    capacity = plan["capacity"].fillna(0).to_numpy(float)
    day = days.to_numpy(float)[:, None]
    is_open = (day >= open_day) & ((close_day < 0) | (day < close_day))
    return (is_open * capacity).sum(axis=1)


def launch_rush_figure(daily: pd.DataFrame, plan: pd.DataFrame, *, capacity_in_people: bool = True) -> Figure:
    """The first weeks after the launch: bookings, test drives, the queue and lost bookings.

    Top: daily test-drive bookings requested at the brand's stores and test drives, with
    the daily capacity of the open stores (sum of the plan's capacities, drawn when
    ``capacity_in_people`` matches the unit of the counts). Bottom: the queue at the end
    of each day (bookings waiting) and the bookings abandoned in the queue. Daily values
    (no rolling mean), mean over replications, over :data:`LAUNCH_DAYS` days.
    """
    window = launch_window(daily)
    x_column = "date" if "date" in window.columns else "day"
    x = window[x_column]
    figure = new_figure(12.0, 6.4)
    axis_flow, axis_queue = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1.0]})
    for name, colour, label in (
        ("bookings_requested", LINE_COLOUR, "bookings requested"),
        ("test_drives", "#1e8449", "test drives"),
    ):
        if name in window.columns:
            axis_flow.plot(x, window[name], color=colour, linewidth=1.6, label=label)
            low, high = _launch_band(daily, window, name)
            if low is not None:
                axis_flow.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)
    capacity = _capacity_by_day(plan, window["day"]) if capacity_in_people else None
    if capacity is not None:
        axis_flow.step(
            x,
            capacity,
            where="mid",
            color="#444444",
            linestyle="--",
            linewidth=1,
            label="test-drive capacity of open stores",
        )
    if "queue_length" in window.columns:
        axis_queue.fill_between(
            x, window["queue_length"], color="#aed6f1", step="mid", label="queue (waiting, end of day)"
        )
        axis_queue.plot(x, window["queue_length"], color=LINE_COLOUR, linewidth=1.0, drawstyle="steps-mid")
    if "bookings_lost" in window.columns:
        axis_queue.bar(
            x, window["bookings_lost"], color="#c0392b", width=0.8, label="bookings abandoned in queue", zorder=3
        )
    unit = count_unit(daily)
    axis_flow.set_title("Per day", fontsize=10)
    axis_queue.set_title("The queue at the brand's stores", fontsize=10)
    for axis in (axis_flow, axis_queue):
        axis.set_ylabel(unit, fontsize=8)
        axis.yaxis.set_major_formatter(thousands_formatter())
        axis.yaxis.set_major_locator(ticker.MaxNLocator(nbins=6))
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
        axis.tick_params(labelsize=8)
        axis.legend(fontsize=8, loc="upper right", framealpha=0.85)
    if x_column == "date":
        locator = mdates.WeekdayLocator(byweekday=mdates.MO)
        axis_queue.xaxis.set_major_locator(locator)
        axis_queue.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    else:
        axis_queue.set_xlabel("day", fontsize=9)
    figure.suptitle(f"The launch rush: the first {len(window)} days (daily values, {unit})", fontsize=11)
    return figure


def _launch_band(daily: pd.DataFrame, window: pd.DataFrame, name: str) -> tuple[Any, Any]:
    """The 95 % band (±1.96 SE, :func:`simulator.results.daily_noise.daily_band`) of a launch-window series.

    ``(None, None)`` when the daily table has no SE for it and a single replication.
    """
    column = f"{name}_scaled" if f"{name}_scaled" in daily.columns else name
    rows = daily[daily["day"].isin(window["day"])]
    if (
        rows.empty
        or ("replication" not in rows.columns)
        or (rows["replication"].nunique() < 2 and f"{column}_se" not in rows.columns)
    ):
        return None, None
    _x, _mean, low, high, _n = daily_band(rows, column, "day")
    days = window["day"].to_numpy()
    return low.reindex(days).clip(lower=0).to_numpy(), high.reindex(days).to_numpy()


# --------------------------------------------------------------------------- saving


def _access_figure_of(result: RunResult, zone_gdf: Any) -> Figure:
    return access_figure(zone_access(result, zone_gdf))


def market_figure_jobs(result: RunResult, folder: str | os.PathLike[str], zone_gdf: Any = None) -> list[FigureJob]:
    """The market figures the run's tables allow, as jobs writing into ``folder``.

    Which figures there are is read from the tables' columns; the numbers are computed
    when a job draws its figure.

    ``intent_funnel`` (needs ``test_drive_intents``), ``rival_share`` (needs a non-empty
    ``rivals`` table), ``access`` (needs ``nearest_store_km`` in zones), ``launch_rush``
    (needs ``queue_length``); each only when its input is there.
    """
    folder = Path(folder)
    jobs: list[FigureJob] = []
    daily = result.daily
    if "test_drive_intents" in daily.columns and len(daily):
        jobs.append(FigureJob("intent_funnel", partial(intent_funnel_figure, daily), folder / "intent_funnel.png"))
    rivals = result.rivals
    if not rivals.empty and "bookings" in rivals.columns:  # when rival_bookings has rows
        jobs.append(FigureJob("rival_share", partial(rival_share_figure, result), folder / "rival_share.png", 2.0))
    zones = result.zones
    if not zones.empty and {"nearest_store_km", "bookings_requested_per_1000"} <= set(zones.columns):
        jobs.append(FigureJob("access", partial(_access_figure_of, result, zone_gdf), folder / "access.png"))
    if "queue_length" in daily.columns and len(daily):
        scaled = any(str(c).endswith("_scaled") for c in daily.columns)
        draw = partial(
            launch_rush_figure, daily, result.plan, capacity_in_people=scaled or result.consumer_weight == 1.0
        )
        jobs.append(FigureJob("launch_rush", draw, folder / "launch_rush.png", 1.5))
    return jobs


def save_market_figures(result: RunResult, folder: str | os.PathLike[str], zone_gdf: Any = None) -> dict[str, Path]:
    """Write the market figures the run's tables allow into ``folder`` (which must exist).

    Returns
    -------
    dict of str to pathlib.Path
        ``intent_funnel``, ``rival_share``, ``access``, ``launch_rush``, each only when
        the run's tables allow it (:func:`market_figure_jobs`).
    """
    return save_figure_jobs(market_figure_jobs(result, folder, zone_gdf))

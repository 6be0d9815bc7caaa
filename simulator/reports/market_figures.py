"""The market figures of a run: where test-drive intent goes, rival share, access, the launch rush.

Each figure is drawn from the run's tables alone (``daily``, ``stores``, ``zones``,
``plan`` and the optional ``rivals``) on the Agg canvas of
:mod:`simulator.reports.figures`. The numbers behind them (:func:`funnel_totals`,
:func:`rival_bookings`, :func:`zone_access`, :func:`launch_window`) are shared with the
HTML sections of :mod:`simulator.reports.market_report`. Counts use the ``_scaled``
columns (people) when the run has them, else simulated consumers. Tables of runs written
before these columns existed give empty results, and the figures are then skipped by
:func:`save_market_figures`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, ticker
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.reports.figures import (
    LINE_COLOUR,
    display_label,
    font_kwargs,
    new_figure,
    renderable,
    save_png,
    thousands_formatter,
    time_axis,
)
from simulator.results import RunResult, replication_means, store_totals

FUNNEL_COUNTS = (
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "bookings_no_store",
    "test_drives",
    "bookings_lost",
    "online_orders",
    "purchases",
    "purchases_direct",
)
"""Daily counts summed over the horizon for the intent funnel."""

LAUNCH_DAYS = 56
"""Days after the launch shown in the launch-rush figure (eight weeks)."""

BRAND_LABEL = "own brand"
"""Label of the simulated brand in rival comparisons."""

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


# --------------------------------------------------------------------------- numbers


def count_unit(daily: pd.DataFrame) -> str:
    """``people`` when the daily counts have ``_scaled`` twins, else ``simulated consumers``."""
    return "people" if any(str(c).endswith("_scaled") for c in daily.columns) else "simulated consumers"


def funnel_totals(daily: pd.DataFrame) -> dict[str, float]:
    """Totals over the horizon of the funnel counts, mean over replications.

    For a count :math:`c` with daily values :math:`c_{r,t}` in replication :math:`r`,
    the total is :math:`\\frac{1}{R}\\sum_r \\sum_t c_{r,t}`, taken from the ``_scaled``
    column (people) when present. Counts missing from ``daily`` are left out, so an
    older run without ``test_drive_intents`` gives a dictionary without that key.
    """
    totals: dict[str, float] = {}
    if daily.empty:
        return totals
    for name in FUNNEL_COUNTS:
        column = f"{name}_scaled" if f"{name}_scaled" in daily.columns else name
        if column in daily.columns:
            totals[name] = float(daily.groupby("replication")[column].sum().mean())
    return totals


def rival_bookings(result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bookings won by each rival brand and showroom, beside the brand's own.

    Returns
    -------
    brands, showrooms : pandas.DataFrame
        ``brands``: columns ``brand``, ``bookings``, ``share`` (of all bookings, the
        brand's plus the rivals'), ``showrooms``, ``is_brand``; the brand's own row first
        (:data:`BRAND_LABEL`), then rivals by bookings. ``showrooms``: ``id``, ``name``, ``brand``,
        ``bookings``, ``is_brand`` for the brand's stores and each rival showroom, by
        bookings. Bookings are means over replications, in people when the run is
        scaled. Both are empty when the run has no rival showrooms.
    """
    rivals = result.rivals
    empty = pd.DataFrame(columns=["brand", "bookings", "share", "showrooms", "is_brand"])
    if rivals.empty or "bookings" not in rivals.columns:
        return empty, pd.DataFrame(columns=["id", "name", "brand", "bookings", "is_brand"])
    value = "bookings_scaled" if "bookings_scaled" in rivals.columns else "bookings"
    per_showroom = (
        rivals.groupby(["rival_id", "brand", "rival_name"], sort=False)[value]
        .mean()
        .reset_index()
        .rename(columns={value: "bookings", "rival_name": "name", "rival_id": "id"})
    )
    per_showroom["is_brand"] = False
    weight = result.consumer_weight if value == "bookings_scaled" else 1.0
    own = store_totals(result.stores, result.plan)
    own_stores = pd.DataFrame(
        {
            "id": own["store_id"].astype(str),
            "name": own["store_name"].astype(str),
            "brand": BRAND_LABEL,
            "bookings": own["bookings_requested"].astype(float) * weight if len(own) else [],
            "is_brand": True,
        }
    )
    own_total = funnel_totals(result.daily).get("bookings_requested", float(own_stores["bookings"].sum()))
    by_brand = per_showroom.groupby("brand", sort=False).agg(bookings=("bookings", "sum"), showrooms=("name", "size"))
    by_brand = by_brand.reset_index().sort_values("bookings", ascending=False, kind="stable")
    by_brand["is_brand"] = False
    own_row = pd.DataFrame(
        [{"brand": BRAND_LABEL, "bookings": own_total, "showrooms": len(own_stores), "is_brand": True}]
    )
    brands = pd.concat([own_row, by_brand], ignore_index=True)
    all_bookings = float(brands["bookings"].sum())
    brands["share"] = brands["bookings"] / all_bookings if all_bookings > 0 else np.nan
    showrooms = pd.concat([own_stores, per_showroom], ignore_index=True)
    showrooms = showrooms.sort_values("bookings", ascending=False, kind="stable").reset_index(drop=True)
    return brands, showrooms


def zone_access(result: RunResult, zone_frame: Any = None) -> pd.DataFrame:
    """Zones with access and booking rates, nearest store first (mean over replications).

    Columns of the ``zones`` table (``nearest_store_km``, ``brand_access``,
    ``rival_access``, ``bookings_requested_per_1000``, ``bookings_to_rivals_per_1000``,
    ``population_represented``, ...) plus ``label`` (English name, Chinese name or id)
    and ``name_en`` / ``name`` when ``zone_frame`` has them. Empty when the zones carry no
    ``nearest_store_km`` (a run written before access was recorded).
    """
    zones = result.zones
    if zones.empty or "nearest_store_km" not in zones.columns:
        return pd.DataFrame()
    means = replication_means(zones, "zone_id")
    if zone_frame is not None:
        names = pd.DataFrame(zone_frame.drop(columns=zone_frame.geometry.name, errors="ignore"))
        names = names[[c for c in ("zone_id", "name", "name_en") if c in names.columns]].copy()
        names["zone_id"] = names["zone_id"].astype(str)
        means = means.merge(names.drop_duplicates("zone_id"), on="zone_id", how="left")
    means["label"] = [
        display_label(row.get("name_en"), row.get("name"), row["zone_id"]) for row in means.to_dict("records")
    ]
    return means.sort_values("nearest_store_km", kind="stable", na_position="last").reset_index(drop=True)


def launch_window(daily: pd.DataFrame, days: int = LAUNCH_DAYS) -> pd.DataFrame:
    """Daily launch-rush counts over the first ``days`` days, mean over replications.

    Columns ``day`` (and ``date`` when the table has dates) and, of ``bookings_requested``,
    ``test_drives``, ``queue_length`` and ``bookings_lost``, those present (``_scaled``
    values when the run has them, under the plain names).
    """
    names = ("bookings_requested", "test_drives", "queue_length", "bookings_lost")
    columns = {}
    for name in names:
        column = f"{name}_scaled" if f"{name}_scaled" in daily.columns else name
        if column in daily.columns:
            columns[column] = name
    if daily.empty or not columns:
        return pd.DataFrame()
    first = daily[daily["day"] < daily["day"].min() + days]
    window = first.groupby("day", sort=True)[list(columns)].mean().rename(columns=columns).reset_index()
    if time_axis(daily)[1]:
        dates = first.groupby("day", sort=True)["date"].first()
        window["date"] = pd.to_datetime(window["day"].map(dates))
    return window


def weekly_bookings(daily: pd.DataFrame) -> pd.Series:
    """Bookings requested at the brand's stores per complete week since the first day, mean over replications.

    Week :math:`w` covers days :math:`7w .. 7w+6`; an incomplete last week is dropped.
    Empty when ``bookings_requested`` is missing.
    """
    column = "bookings_requested_scaled" if "bookings_requested_scaled" in daily.columns else "bookings_requested"
    if daily.empty or column not in daily.columns:
        return pd.Series(dtype=float)
    day = daily["day"] - daily["day"].min()
    week = day // 7
    per_day = daily.assign(week=week).groupby(["replication", "week"])[column].agg(["sum", "size"])
    complete = per_day[per_day["size"] == 7]["sum"]
    return complete.groupby(level="week").mean()


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
            style = {"hatch": "////", "edgecolor": "#444444"} if key == "lost" else {"edgecolor": "black"}
            axis.barh(position, value, left=left, color=_SEGMENT_COLOURS[key], linewidth=0.5, height=0.62, **style)
            if value >= 0.045 * x_max:
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
            handles.setdefault(key, Patch(facecolor=_SEGMENT_COLOURS[key], label=_LEGEND_LABELS[key], **style))
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
    palette = [c for i, c in enumerate(colormaps["tab10"].colors) if i not in (0, 3)]  # not blue, not red
    colours = {BRAND_LABEL: LINE_COLOUR}
    rivals = [b for b in dict.fromkeys(brands.astype(str)) if b != BRAND_LABEL]
    for index, brand in enumerate(rivals):
        colours[brand] = _hex(palette[index % len(palette)])
    return colours


def _latin_label(name: Any, ident: Any) -> str:
    """``name`` if the fonts can draw it, else its drawable part (``Hopson One (合生汇)`` -> ``Hopson One``), else ``ident``."""
    text = display_label(name, "")
    if text:
        return text
    latin = re.sub(r"\(\s*\)", "", "".join(c for c in str(name) if renderable(c))).strip(" -/·")
    return latin or str(ident)


def _hex(colour: Any) -> str:
    return "#" + "".join(f"{round(float(c) * 255):02x}" for c in colour[:3])


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
    axis.set_xlim(left=0)
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
    if "bookings_requested" in window.columns:
        axis_flow.plot(x, window["bookings_requested"], color=LINE_COLOUR, linewidth=1.6, label="bookings requested")
    if "test_drives" in window.columns:
        axis_flow.plot(x, window["test_drives"], color="#1e8449", linewidth=1.6, label="test drives")
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


# --------------------------------------------------------------------------- saving


def save_market_figures(result: RunResult, folder: str | os.PathLike[str], zone_gdf: Any = None) -> dict[str, Path]:
    """Write the market figures the run's tables allow into ``folder`` (which must exist).

    Returns
    -------
    dict of str to pathlib.Path
        ``intent_funnel`` (needs ``test_drive_intents``), ``rival_share`` (needs a
        non-empty ``rivals`` table), ``access`` (needs ``nearest_store_km`` in zones),
        ``launch_rush`` (needs ``queue_length``); each only when its input is there.
    """
    folder = Path(folder)
    written: dict[str, Path] = {}
    daily = result.daily
    if "test_drive_intents" in daily.columns and len(daily):
        written["intent_funnel"] = save_png(intent_funnel_figure(daily), folder / "intent_funnel.png")
    brands, _showrooms = rival_bookings(result)
    if len(brands):
        written["rival_share"] = save_png(rival_share_figure(result), folder / "rival_share.png")
    access = zone_access(result, zone_gdf)
    if len(access) and "bookings_requested_per_1000" in access.columns:
        written["access"] = save_png(access_figure(access), folder / "access.png")
    if "queue_length" in daily.columns and len(daily):
        scaled = any(str(c).endswith("_scaled") for c in daily.columns)
        figure = launch_rush_figure(daily, result.plan, capacity_in_people=scaled or result.consumer_weight == 1.0)
        written["launch_rush"] = save_png(figure, folder / "launch_rush.png")
    return written

"""The market sections of the run report: intent funnel, rival share, access, launch rush.

Each function returns one ``<section>`` of ``report.html`` (or an empty string when the
run's tables do not carry what it needs, as in run folders written before rivals, access
and the intent funnel were recorded). Numbers come from
:mod:`simulator.reports.market_data`, figures from the PNG files of
:func:`simulator.reports.market_figures.save_market_figures`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.reports.figures import format_number
from simulator.reports.html import escape_html, html_table, image_tag
from simulator.reports.market_data import (
    LAUNCH_DAYS,
    count_unit,
    funnel_standard_errors,
    funnel_totals,
    launch_window,
    rival_bookings,
    weekly_bookings,
    zone_access,
)
from simulator.reports.noise import format_se, value_with_se
from simulator.results import RunResult

_CAPTIONS = {
    "intent_funnel": (
        "Where test-drive intent goes",
        "Totals over the horizon. Top bar: every test-drive intent either books at one of the brand's stores, "
        "books at a rival showroom (lost to the brand), finds every site too far and does not visit (the consumer "
        "stays in the market and may try again, so an intent is an attempt, not a person), or finds no store "
        "open. Below: what became of the brand's bookings, test drives, online orders, and where purchases "
        "came from.",
    ),
    "rival_share": (
        "Rival share",
        "Test-drive bookings won by each rival brand and showroom over the horizon, against the bookings at the "
        "brand's own stores.",
    ),
    "access": (
        "Bookings and distance",
        "One point per district: test-drive bookings per 1,000 residents at the brand's stores (filled) and at "
        "rivals (open) against the residents' mean distance to the nearest brand store; point area: population.",
    ),
    "launch_rush": (
        "The launch rush",
        "Daily bookings requested at the brand's stores and test drives against the stores' daily capacity (top); "
        "bookings waiting in the queue at the end of each day and bookings abandoned after waiting too long "
        "(bottom).",
    ),
}


def _figure(figures: Mapping[str, Path], key: str) -> str:
    if key not in figures:
        return ""
    title, caption = _CAPTIONS[key]
    return f"<figure>{image_tag(figures[key], title)}<figcaption>{escape_html(caption)}</figcaption></figure>"


def _with_se(value: float, se: float, pattern: str = "{:,.2f}") -> str:
    """``value ± se`` for a plain number (``–`` when unknown; the SE with two significant digits)."""
    if not math.isfinite(value):
        return "–"
    text = pattern.format(value)
    return f"{text} ± {se:.2g}" if math.isfinite(se) else text


def _share(part: float, whole: float) -> str:
    return format_number(part / whole, "share") if whole > 0 else "–"


def _funnel_table(totals: Mapping[str, float], unit: str, errors: Mapping[str, float] | None = None) -> str:
    """Steps of the funnel with their totals ± SE and shares of the step above."""
    get = totals.get
    errors = errors or {}
    labels = {
        "Test-drive intents": "test_drive_intents",
        "… booked at the brand's stores": "bookings_requested",
        "… lost to rivals": "bookings_to_rivals",
        "… no visit (too far)": "intents_no_visit",
        "… no store or showroom open": "bookings_no_store",
        "Test drives": "test_drives",
        "Bookings abandoned in the queue": "bookings_lost",
        "Online orders (no test drive)": "online_orders",
        "Purchases": "purchases",
        "… online, without a test drive": "purchases_direct",
    }
    intents, booked = get("test_drive_intents", 0.0), get("bookings_requested", 0.0)
    drives, online = get("test_drives", 0.0), get("online_orders", 0.0)
    direct = get("purchases_direct", 0.0)
    after_drive = max(get("purchases", 0.0) - direct, 0.0)
    rows = [
        ("Test-drive intents", intents, "", ""),
        ("… booked at the brand's stores", booked, _share(booked, intents), "of intents"),
        (
            "… lost to rivals",
            get("bookings_to_rivals", 0.0),
            _share(get("bookings_to_rivals", 0.0), intents),
            "of intents",
        ),
        (
            "… no visit (too far)",
            get("intents_no_visit", 0.0),
            _share(get("intents_no_visit", 0.0), intents),
            "of intents",
        ),
        (
            "… no store or showroom open",
            get("bookings_no_store", 0.0),
            _share(get("bookings_no_store", 0.0), intents),
            "of intents",
        ),
        ("Test drives", drives, _share(drives, booked), "of the brand's bookings"),
        (
            "Bookings abandoned in the queue",
            get("bookings_lost", 0.0),
            _share(get("bookings_lost", 0.0), booked),
            "of the brand's bookings",
        ),
        ("Online orders (no test drive)", online, "", ""),
        ("Purchases", get("purchases", 0.0), "", ""),
        ("… after a test drive", after_drive, _share(after_drive, drives), "of test drives"),
        ("… online, without a test drive", direct, _share(direct, online), "of online orders"),
    ]
    return html_table(
        ["Step", f"Total ({unit})", "± SE", "Share", "of"],
        [
            (label, format_number(value, "people"), format_se(errors.get(labels.get(label, "")), "people"), share, base)
            for label, value, share, base in rows
        ],
        [False, True, True, True, False],
    )


def intent_funnel_section(result: RunResult, figures: Mapping[str, Path]) -> str:
    """Where test-drive intent goes: the figure and a table of the funnel steps (needs ``test_drive_intents``)."""
    daily = result.daily
    if daily.empty or "test_drive_intents" not in daily.columns:
        return ""
    totals = funnel_totals(daily)
    unit = count_unit(daily)
    intents = totals.get("test_drive_intents", 0.0)
    lost = totals.get("bookings_to_rivals", 0.0) + totals.get("intents_no_visit", 0.0)
    lead = (
        f"Of {format_number(intents, 'people')} test-drive intents, {_share(totals.get('bookings_requested', 0.0), intents)} "
        f"booked at the brand's stores; {_share(lost, intents)} went to rivals or found every site too far."
    )
    return "\n".join(
        [
            "<section><h2>Where test-drive intent goes</h2>",
            f"<p>{escape_html(lead)}</p>",
            _figure(figures, "intent_funnel"),
            _funnel_table(totals, unit, funnel_standard_errors(daily, result.consumer_weight)),
            f'<p class="note">Totals over the horizon, mean over replications, in {escape_html(unit)}; ± SE is the '
            "Monte-Carlo standard error (over replications, or the within-run √n with one).</p>",
            "</section>",
        ]
    )


def rival_section(result: RunResult, figures: Mapping[str, Path]) -> str:
    """Bookings won by each rival brand and showroom against the brand's own (one line without rivals)."""
    brands, showrooms = rival_bookings(result)
    if brands.empty:
        return (
            "<section><h2>Rival share</h2><p>This run has no rival showrooms: every test-drive booking "
            "went to the brand's stores or to no visit.</p></section>"
        )
    unit = "people" if "bookings_scaled" in result.rivals.columns else "simulated consumers"
    brand_rows = [
        (
            b["brand"],
            f"{int(b['showrooms']):,}",
            value_with_se(b["bookings"], b["bookings_se"], "people"),
            format_number(b["share"], "share"),
        )
        for b in brands.to_dict("records")
    ]
    showroom_rows = [
        (s["name"], s["brand"], format_number(s["bookings"], "people")) for s in showrooms.to_dict("records")
    ]
    return "\n".join(
        [
            "<section><h2>Rival share</h2>",
            _figure(figures, "rival_share"),
            html_table(
                ["Brand", "Showrooms", f"Test-drive bookings ({unit})", "Share of all bookings"],
                brand_rows,
                [False, True, True, True],
            ),
            "<details><summary>By showroom</summary>",
            '<div class="scroll">',
            html_table(["Showroom", "Brand", f"Test-drive bookings ({unit})"], showroom_rows, [False, False, True]),
            "</div></details>",
            '<p class="note">Totals over the horizon, mean over replications. A booking at a rival is lost to the '
            "brand: the consumer leaves the market.</p>",
            "</section>",
        ]
    )


def access_section(result: RunResult, figures: Mapping[str, Path], zone_frame: Any = None) -> str:
    """Districts by distance to the nearest store, with access and booking rates (needs ``nearest_store_km``)."""
    access = zone_access(result, zone_frame)
    if access.empty:
        return ""

    def value(row: Mapping[Hashable, Any], column: str) -> float:
        number = row.get(column, math.nan)
        return float(number) if number is not None and pd.notna(number) else math.nan

    rows = []
    for row in access.to_dict("records"):
        names = " / ".join(str(n) for n in (row.get("name_en"), row.get("name")) if isinstance(n, str) and n.strip())
        rows.append(
            [
                names or row["zone_id"],
                format_number(value(row, "population_represented"), "count"),
                _with_se(value(row, "nearest_store_km"), value(row, "nearest_store_km_se"), "{:,.1f}"),
                value_with_se(value(row, "brand_access"), value(row, "brand_access_se"), "share"),
                value_with_se(value(row, "rival_access"), value(row, "rival_access_se"), "share"),
                _with_se(value(row, "bookings_requested_per_1000"), value(row, "bookings_requested_per_1000_se")),
                _with_se(value(row, "bookings_to_rivals_per_1000"), value(row, "bookings_to_rivals_per_1000_se")),
            ]
        )
    headers = [
        "District",
        "Population",
        "Nearest store (km)",
        "Brand access",
        "Rival access",
        "Bookings / 1,000",
        "Bookings to rivals / 1,000",
    ]
    return "\n".join(
        [
            "<section><h2>Access by district</h2>",
            _figure(figures, "access"),
            '<div class="scroll">',
            html_table(headers, rows, [False, True, True, True, True, True, True]),
            "</div>",
            '<p class="note">Nearest store: mean distance of the residents to the nearest open brand store at the end '
            "of the horizon. Brand (rival) access: the mean probability that a resident's test-drive intent, "
            "travelling from home, goes to one of the brand's stores (to a rival showroom); the rest is no visit. Bookings per "
            "1,000 residents over the horizon, by home district; mean over replications ± SE.</p>",
            "</section>",
        ]
    )


LAUNCH_MONTH_WEEKS = 4
"""Weeks of the launch month, left out of the later weekly mean when the run is long enough."""


def launch_sentence(daily: pd.DataFrame) -> str:
    """One sentence comparing the launch week's bookings with the mean later week (empty when impossible)."""
    weeks = weekly_bookings(daily)
    if len(weeks) < 2:
        return ""
    # After the launch month when the run is long enough for it, else after the launch week.
    first_later = LAUNCH_MONTH_WEEKS if len(weeks) > LAUNCH_MONTH_WEEKS + 1 else 1
    launch, later = float(weeks.iloc[0]), float(weeks.iloc[first_later:].mean())
    ratio = f", {launch / later:,.1f} times the mean later week" if later > 0 else ""
    return (
        f"In the launch week {format_number(launch, 'people')} test-drive bookings were requested at the brand's "
        f"stores against {format_number(later, 'people')} in the mean later week "
        f"(weeks {first_later + 1} to {len(weeks)}){ratio}."
    )


def _queue_sentence(daily: pd.DataFrame) -> str:
    """When the queue peaked and when it first fell below a tenth of the peak (empty without a queue)."""
    window = (
        launch_window(daily, days=int(daily["day"].max() - daily["day"].min()) + 1) if len(daily) else pd.DataFrame()
    )
    if window.empty or "queue_length" not in window.columns or window["queue_length"].max() <= 0:
        return ""
    queue = window["queue_length"].to_numpy(float)
    peak_index = int(queue.argmax())
    label = "date" if "date" in window.columns else "day"

    def when(index: int) -> str:
        stamp = window[label].iloc[index]
        return pd.Timestamp(stamp).strftime("%d %b %Y") if label == "date" else f"day {int(stamp)}"

    text = f"The queue peaked at {format_number(queue[peak_index], 'people')} waiting on {when(peak_index)}"
    settled = [i for i in range(peak_index, len(queue)) if queue[i] <= 0.1 * queue[peak_index]]
    if settled:
        text += f" and fell below a tenth of that on {when(settled[0])}, {settled[0] - peak_index} days later"
    return text + "."


def launch_section(result: RunResult, figures: Mapping[str, Path]) -> str:
    """The launch rush: the figure, launch week against later weeks, the queue's peak (needs ``queue_length``)."""
    daily = result.daily
    if daily.empty or "queue_length" not in daily.columns:
        return ""
    sentences = " ".join(s for s in (launch_sentence(daily), _queue_sentence(daily)) if s)
    return "\n".join(
        [
            "<section><h2>The launch rush</h2>",
            f"<p>{escape_html(sentences)}</p>" if sentences else "",
            _figure(figures, "launch_rush"),
            f'<p class="note">The figure shows the first {LAUNCH_DAYS} days; weeks are counted from the first day of '
            f"the run, complete weeks only; values in {escape_html(count_unit(daily))}, mean over replications.</p>",
            "</section>",
        ]
    )


def market_sections(result: RunResult, figures: Mapping[str, Path]) -> list[str]:
    """The market sections before the stores, in report order: intent funnel, launch rush, rival share.

    The rival section (a one-line note when there are no rivals) is shown only for runs
    that record test-drive intents; older runs get at most the launch rush.
    """
    sections = [intent_funnel_section(result, figures), launch_section(result, figures)]
    if "test_drive_intents" in result.daily.columns:
        sections.append(rival_section(result, figures))
    return sections

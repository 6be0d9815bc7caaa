"""The self-contained ``report.html`` of a comparison of plans.

Built on the HTML helpers of :mod:`simulator.reports.html` (tables, embedded PNG, inline
CSS, no scripts, fonts or links): the comparison, headline differences with paired
confidence intervals, figures, plans side by side, stores, zones, marginal contributions,
scenarios and reproducibility.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.experiments.compare import ComparisonResult
from simulator.reports.compare_text import difference_rows, format_difference, signed
from simulator.reports.figures import (
    format_number,
)
from simulator.reports.html import (
    escape_html,
    html_table,
    image_tag,
    key_value_table,
    warnings_block,
    write_html_document,
)
from simulator.reports.noise import rank_labels, ranking_note, value_with_se
from simulator.reports.trade_area_html import transfer_section
from simulator.reports.webmap import comparison_map_section
from simulator.results import merge_warnings

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


def _interval_text(low: float, high: float, unit: str) -> str:
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
    headers, rows = difference_rows(result)
    return html_table(headers, rows, [False] + [True] * (len(headers) - 1))


def _differences_table(result: ComparisonResult) -> str:
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
                f"{signed(100 * relative, '{:+.1f}')} %" if np.isfinite(relative) else "–",
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
        by_plan = {row["plan"]: row for row in group.to_dict("records")}
        unit = str(group["unit"].iloc[0])
        cells = [str(group["label"].iloc[0])]
        for name in names:
            row = by_plan[name]
            text = value_with_se(row["mean"], row.get("se"), unit)
            if np.isfinite(row["ci_low"]):
                low = max(float(row["ci_low"]), 0.0)
                high = min(float(row["ci_high"]), 1.0) if unit in ("share", "index") else float(row["ci_high"])
                text += f" ({format_number(low, unit)} – {format_number(high, unit)})"
            cells.append(text)
        rows.append(cells)
    return html_table(headers, rows, [False] + [True] * len(names))


def _stores_table(result: ComparisonResult) -> tuple[str, int]:
    """Each plan's stores ranked by bookings requested (± SE, ≈ within noise) and how many are marked."""
    stores = result.stores.sort_values(["plan", "bookings_requested_scaled"], ascending=[True, False], kind="stable")
    order = {name: i for i, name in enumerate(result.plan_names)}
    stores = stores.sort_values("plan", key=lambda s: s.map(order), kind="stable")
    headers = [
        "Plan",
        "Rank",
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
    numeric = [False, False, False, False, True, True, True, True, True, True, True, True, True]
    ranks: dict[Any, str] = {}
    marked = 0
    for _plan, group in stores.groupby("plan", sort=False):
        se = group.get("bookings_requested_scaled_se", pd.Series(np.nan, index=group.index))
        labels, count = rank_labels(group["bookings_requested_scaled"], se)
        ranks.update(zip(group.index, labels, strict=True))
        marked += count
    rows = []
    for index, row in stores.iterrows():

        def people(column: str, values: Any = row) -> str:
            return value_with_se(values[column], values.get(f"{column}_se", math.nan), "people")

        baseline = row.get("bookings_requested_scaled_baseline")
        rows.append(
            [
                row["plan"],
                ranks[index],
                f"{row['store_name']} ({row['store_id']})" if row["store_name"] != row["store_id"] else row["store_id"],
                row["format"],
                format_number(row["capacity"], "count"),
                people("bookings_requested_scaled"),
                format_number(baseline, "people")
                if baseline is not None and np.isfinite(baseline) and row["plan"] != result.baseline
                else "–",
                people("test_drives_scaled"),
                people("bookings_lost_scaled"),
                people("purchases_scaled"),
                value_with_se(row["utilisation"], row.get("utilisation_se"), "share"),
                value_with_se(row.get("queue_mean_scaled", math.nan), row.get("queue_mean_scaled_se"), "people"),
                format_number(row.get("queue_max_scaled", math.nan), "people"),
            ]
        )
    return html_table(headers, rows, numeric), marked


def _rate_with_se(row: Mapping[Any, Any], column: str) -> str:
    """A rate per 1,000 with two decimals ``± SE``."""
    value, se = float(row[column]), float(row.get(f"{column}_se", math.nan))
    if not np.isfinite(value):
        return "–"
    return f"{value:,.2f} ± {se:.2g}" if np.isfinite(se) else f"{value:,.2f}"


def _zones_table(result: ComparisonResult) -> str:
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
                value_with_se(row["mean_familiarity"], row.get("mean_familiarity_se"), "index"),
                format_difference(row["mean_familiarity_difference"], "index"),
                _interval_text(
                    row["mean_familiarity_difference_ci_low"], row["mean_familiarity_difference_ci_high"], "index"
                ),
                _rate_with_se(row, "bookings_requested_per_1000"),
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


MARGINAL_TABLE_KPIS = ("bookings_requested_scaled", "test_drives_scaled", "purchases_scaled", "share_familiar")
"""KPIs of the report's table of marginal contributions, in its column order."""


def _marginal_table(marginal: pd.DataFrame, plan_names: Sequence[str]) -> str:
    """One row per plan and store: its contribution to each KPI with the paired interval, and its share."""
    wide_rows: list[tuple[float, str, list[str]]] = []
    for (plan, store_id), group in marginal.groupby(["plan", "store_id"], sort=False):
        by_kpi = {str(row["kpi"]): row for row in group.to_dict("records")}
        first = group.iloc[0]
        cells = [
            str(plan),
            f"{first['store_name']} ({store_id})" if first["store_name"] != store_id else str(store_id),
            str(first["format"]),
        ]
        for kpi in MARGINAL_TABLE_KPIS:
            row = by_kpi.get(kpi)
            if row is None:
                cells.append("–")
                continue
            text = format_difference(row["contribution"], row["unit"])
            if np.isfinite(row["ci_low"]):
                text += f" [{format_difference(row['ci_low'], row['unit'])}, {format_difference(row['ci_high'], row['unit'])}]"
            cells.append(text)
        bookings = by_kpi.get("bookings_requested_scaled")
        share = float(bookings["share_of_plan_effect"]) if bookings is not None else math.nan
        cells.append(f"{100 * share:.0f} %" if np.isfinite(share) else "–")
        wide_rows.append((float(bookings["contribution"]) if bookings is not None else 0.0, str(plan), cells))
    order = {name: i for i, name in enumerate(plan_names)}
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
    spec = result.spec
    stores_table, marked = _stores_table(result)
    noise_note = ranking_note(marked, "bookings requested")
    sections = [
        f"<header><h1>Plan comparison: {escape_html(spec.name)}</h1>",
        f'<p class="description">{escape_html(spec.description)}</p>' if spec.description else "",
        "</header>",
        warnings_block(_comparison_warnings(result)),
        "<section><h2>Comparison</h2>",
        key_value_table(_comparison_pairs(result)),
        "</section>",
        *_headline_section(result, figure_paths),
        comparison_map_section(result.city, {name: result.runs[name] for name in result.plan_names}),
        "<section><h2>Funnel over time</h2>",
        _figure_block(figure_paths, "funnel"),
        _figure_block(figure_paths, "difference_over_time"),
        "</section>",
        "<section><h2>Plans side by side</h2>",
        _plans_table(result),
        '<p class="note">Mean over replications ± SE, with the 95 % confidence interval of each plan on its own. Two '
        "plans' intervals may overlap while their paired difference is clearly not 0: use the difference table to "
        "compare.</p></section>",
        "<section><h2>Stores</h2>",
        _figure_block(figure_paths, "stores"),
        '<div class="scroll">',
        stores_table,
        "</div>",
        '<p class="note">Totals over the horizon in people, mean over replications ± SE (the spread over '
        "replications / √R; with one replication the within-run estimate of docs/model.md); queues in people "
        "waiting, mean and maximum over open days. Each plan's stores are ranked by bookings requested."
        f"{' ' + escape_html(noise_note) if noise_note else ''}</p></section>",
        *transfer_section(
            result.transfers,
            result.baseline,
            set(result.runs[result.baseline].plan.get("store_id", pd.Series(dtype=str)).astype(str)),
        ),
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
        sections += _marginal_section(result.marginal, result.plan_names, figure_paths)
    sections += _reproducibility_section(result.metadata)
    return write_html_document(f"{spec.name} – plan comparison", sections, out_path)


def _comparison_warnings(result: ComparisonResult) -> list[str]:
    """The comparison's warnings (``metadata.json``), else those of its plans' runs."""
    if "warnings" in result.metadata:
        return list(result.metadata["warnings"] or [])
    return merge_warnings({name: run.metadata.get("warnings") or [] for name, run in result.runs.items()})


def _headline_section(result: ComparisonResult, figure_paths: Mapping[str, Path]) -> list[str]:
    """The headline differences with their paired intervals, the differences figure and all results."""
    note_single = (
        ""
        if result.spec.replications >= 2
        else '<p class="note"><b>One replication:</b> the intervals are within-run estimates. Counts, shares and mean '
        "familiarity: batch means, the differences of 32 batches of consumers (every 32nd consumer) between plan "
        "and baseline under common random numbers; mean trust: the two runs' within-run SEs combined as if "
        "independent; a result the plan leaves unchanged day by day (media contacts): 0. Word of mouth and "
        "queues tie consumers together, so these are approximations "
        '(docs/model.md, section "Monte-Carlo error"); run with --replications 5 or more for intervals that include '
        "everything that varies between seeds.</p>"
    )
    return [
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
    ]


def _marginal_section(marginal: pd.DataFrame, plan_names: list[str], figure_paths: Mapping[str, Path]) -> list[str]:
    """Which stores carry each plan: the marginal figure and table (with ``--marginal``)."""
    return [
        "<section><h2>Which stores carry each plan</h2>",
        _figure_block(figure_paths, "marginal"),
        '<div class="scroll">',
        _marginal_table(marginal, plan_names),
        "</div>",
        '<p class="note">Marginal contribution = the plan minus the same plan without that store, same seeds, '
        "with paired 95 % intervals. The last column divides it by the plan's total effect on bookings (the plan "
        "minus no stores at all). When the shares add up to less than 100 %, stores overlap: they reach the same "
        "people, so each one adds less than it would alone. A negative contribution means the plan does better "
        "without the store.</p></section>",
    ]


def _reproducibility_section(metadata: Mapping[str, Any]) -> list[str]:
    """Each plan's canonical scenario, package versions and timings."""
    scenarios = "".join(
        f"<details><summary>{escape_html(plan['name'])} (hash {escape_html(plan['scenario_hash'][:16])})</summary>"
        f"<pre>{escape_html(json.dumps(plan['scenario'], indent=2, sort_keys=True, ensure_ascii=False))}</pre></details>"
        for plan in metadata.get("plans", [])
    )
    timings = metadata.get("timings") or {}
    versions = metadata.get("package_versions") or {}
    return [
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

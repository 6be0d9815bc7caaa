"""The report of a run: the self-contained ``report.html`` and the terminal summary.

:func:`write_report_html` writes one HTML page (inline CSS, figures embedded as base64
PNG, no scripts, external fonts or links) from the run's tables and the PNG files of
:func:`simulator.reports.run_figures.save_figures`; :func:`summary_rows` gives the
``(label, value)`` rows the command line prints after a run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.reports.derived import replication_means_of, store_totals_of
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
from simulator.reports.market_report import access_section, market_sections
from simulator.reports.noise import format_se, rank_labels, ranking_line, ranking_note, value_with_se
from simulator.reports.trade_area_html import catchment_section
from simulator.reports.webmap import run_map_section
from simulator.results import RunResult

RANKING_KPI = ("bookings_requested", "test-drive bookings requested")
"""The per-store KPI the report ranks stores by (and marks ≈ within noise), with its label."""

# --------------------------------------------------------------------------- terminal summary


def _clipped_interval(row: Mapping[Hashable, Any]) -> tuple[float, float]:
    """The row's confidence interval clipped to the possible range (counts >= 0, shares in [0, 1])."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    low = max(low, 0.0)
    if row["unit"] in ("share", "index"):
        high = min(high, 1.0)
    return low, high


def _kpi_text(row: Mapping[Hashable, Any], with_interval: bool) -> str:
    text = value_with_se(row["mean"], row.get("se"), row["unit"])
    if with_interval and math.isfinite(row["ci_low"]):
        low, high = _clipped_interval(row)
        text += f" (95 % CI {format_number(low, row['unit'])} – {format_number(high, row['unit'])})"
    return text


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """Rows ``(label, formatted value)`` for a terminal table of the run's key results.

    Counts are people of the real population (thousands separators), shares in %, each
    ``± SE`` (Monte-Carlo standard error) and with the 95 % confidence interval over
    replications when there are several; a last row says how many stores of the ranking
    are within noise of a neighbour, when some are.
    """
    summary = result.summary()
    metadata = result.metadata
    rows: list[tuple[str, str]] = [
        ("Scenario", result.scenario_name),
        ("Replications", f"{result.n_replications:,}"),
    ]
    if metadata.get("consumers") is not None:
        rows.append(
            ("Consumers (1 represents)", f"{int(metadata['consumers']):,} ({result.consumer_weight:,.1f} people)")
        )
    with_interval = result.n_replications >= 2
    for row in summary.to_dict("records"):
        if row["unit"] == "consumers":
            continue
        rows.append((row["label"], _kpi_text(row, with_interval)))
    ranked = _ranked_stores(result)
    line = ranking_line(int(ranked["_marked"].sum()), len(ranked), RANKING_KPI[1]) if len(ranked) else ""
    if line:
        rows.append(("Store ranking", line))
    return rows


def _ranked_stores(result: RunResult) -> pd.DataFrame:
    """Per-store totals in ranking order with ``_rank`` texts (``"2 ≈"``) and ``_marked`` flags."""
    kpi = RANKING_KPI[0]
    totals = store_totals_of(result.stores, result.plan)
    if totals.empty or kpi not in totals.columns:
        return totals.assign(_rank=[], _marked=[])
    totals = totals.sort_values(kpi, ascending=False, kind="stable").reset_index(drop=True)
    labels, _ = rank_labels(totals[kpi], totals[f"{kpi}_se"])
    return totals.assign(_rank=labels, _marked=[label.endswith("≈") for label in labels])


# --------------------------------------------------------------------------- HTML


_FIGURE_CAPTIONS = {
    "funnel": (
        "Funnel over time",
        "Awareness and familiarity build with store sightings; trust drives test-drive bookings and purchases. "
        "Daily counts are 7-day rolling means scaled to the real population.",
    ),
    "stores": (
        "Stores compared",
        "Bookings requested per store split into test drives, bookings lost in the queue and the rest; "
        "right: test drives as a share of capacity on open days.",
    ),
    "familiarity_map": (
        "Where the brand is familiar",
        "Mean familiarity (0–1) of the consumers living in each area at the end of the horizon, with the stores.",
    ),
}


def _horizon_text(metadata: Mapping[str, Any], daily: pd.DataFrame) -> str:
    days = metadata.get("horizon_days")
    if days is None and len(daily):
        days = int(daily["day"].max()) + 1
    start = metadata.get("start_date")
    if start is None and "date" in daily.columns and len(daily):
        start = pd.to_datetime(daily["date"]).min().date().isoformat()
    if start and days:
        end = dt.date.fromisoformat(str(start)[:10]) + dt.timedelta(days=int(days) - 1)
        return f"{int(days):,} days, {start} to {end.isoformat()}"
    return f"{days} days" if days else "–"


def _run_pairs(result: RunResult) -> list[tuple[str, Any]]:
    metadata = result.metadata
    seeds = metadata.get("replication_seeds") or []
    seeds_text = ", ".join(str(s) for s in seeds[:10]) + (" …" if len(seeds) > 10 else "")
    pairs: list[tuple[str, Any]] = [
        ("Scenario", result.scenario_name),
        ("Scenario hash", metadata.get("scenario_hash", "–")),
        ("City", metadata.get("city", "–")),
        ("Horizon", _horizon_text(metadata, result.daily)),
        ("Seed", metadata.get("seed", "–")),
        ("Replications", f"{result.n_replications} (seeds {seeds_text})" if seeds else result.n_replications),
    ]
    if metadata.get("consumers") is not None:
        pairs.append(("Simulated consumers", f"{int(metadata['consumers']):,}"))
    if metadata.get("population_total") is not None:
        pairs.append(("Population represented", f"{float(metadata['population_total']):,.0f}"))
    if metadata.get("consumer_weight") is not None:
        pairs.append(("People per simulated consumer", f"{float(metadata['consumer_weight']):,.2f}"))
    if metadata.get("created_utc"):
        pairs.append(("Created (UTC)", metadata["created_utc"]))
    if metadata.get("command"):
        pairs.append(("Command", metadata["command"]))
    return pairs


def _summary_table(result: RunResult, units: Sequence[str] = ("people", "share", "index")) -> str:
    summary = result.summary()
    summary = summary[summary["unit"].isin(list(units))]
    several = result.n_replications >= 2
    headers = ["Result", "Unit", "Mean" if several else "Value", "± SE"]
    numeric = [False, False, True, True]
    if several:
        headers += ["95 % confidence interval", "Range over replications"]
        numeric += [True, True]
    unit_names = {"people": "people", "consumers": "simulated consumers", "share": "% of consumers", "index": "0–1"}
    rows = []
    for row in summary.to_dict("records"):
        cells = [
            row["label"],
            unit_names.get(row["unit"], row["unit"]),
            format_number(row["mean"], row["unit"]),
            format_se(row["se"], row["unit"]),
        ]
        if several:
            low, high = _clipped_interval(row)
            cells.append(f"{format_number(low, row['unit'])} – {format_number(high, row['unit'])}")
            cells.append(f"{format_number(row['min'], row['unit'])} – {format_number(row['max'], row['unit'])}")
        rows.append(cells)
    return html_table(headers, rows, numeric)


def _stores_table(result: RunResult) -> tuple[str, int]:
    """The per-store table in ranking order (rank marked ≈ within noise) and how many are marked."""
    totals = _ranked_stores(result)
    weight = result.consumer_weight
    headers = [
        "Rank",
        "Store",
        "Id",
        "Format",
        "Capacity / day",
        "Open days",
        "Bookings requested",
        "Test drives",
        "Bookings lost",
        "Purchases",
        "Utilisation",
    ]
    numeric = [False, False, False, False, True, True, True, True, True, True, True]
    rows = []
    for row in totals.to_dict("records"):

        def people(column: str, values: Mapping[Hashable, Any] = row) -> str:
            return value_with_se(
                values.get(column, 0) * weight, values.get(f"{column}_se", math.nan) * weight, "people"
            )

        rows.append(
            [
                row["_rank"],
                row["store_name"],
                row["store_id"],
                row["format"],
                format_number(row["capacity"], "count") if pd.notna(row["capacity"]) else "–",
                f"{row.get('open_days', 0):,.0f}",
                people("bookings_requested"),
                people("test_drives"),
                people("bookings_lost"),
                people("purchases"),
                value_with_se(row.get("utilisation", 0), row.get("utilisation_se"), "share"),
            ]
        )
    return html_table(headers, rows, numeric), int(totals["_marked"].sum()) if len(totals) else 0


def _zones_table(result: RunResult, zone_frame: Any = None) -> str:
    means = replication_means_of(result.zones, "zone_id")
    if zone_frame is not None:
        names = pd.DataFrame(zone_frame.drop(columns=zone_frame.geometry.name))
        names = names[[c for c in ("zone_id", "name", "name_en") if c in names.columns]].copy()
        names["zone_id"] = names["zone_id"].astype(str)
        means = means.merge(names, on="zone_id", how="left")
    if "mean_familiarity" in means.columns:
        means = means.sort_values("mean_familiarity", ascending=False, kind="stable")
    headers = [
        "Zone",
        "Id",
        "Consumers",
        "Population",
        "Mean familiarity",
        "Familiar",
        "Aware",
        "Mean trust",
        "Bookings / 1,000",
        "Test drives / 1,000",
        "Purchases / 1,000",
    ]
    numeric = [False, False, True, True, True, True, True, True, True, True, True]
    rows = []
    for row in means.to_dict("records"):
        names_text = " / ".join(
            str(n) for n in (row.get("name_en"), row.get("name")) if isinstance(n, str) and n.strip()
        )
        rows.append(
            [
                names_text or row["zone_id"],
                row["zone_id"],
                format_number(row.get("consumers", math.nan), "count"),
                format_number(row.get("population_represented", math.nan), "count"),
                value_with_se(row.get("mean_familiarity", math.nan), row.get("mean_familiarity_se"), "index"),
                value_with_se(row.get("share_familiar", math.nan), row.get("share_familiar_se"), "share"),
                value_with_se(row.get("share_aware", math.nan), row.get("share_aware_se"), "share"),
                value_with_se(row.get("mean_trust", math.nan), row.get("mean_trust_se"), "index"),
                _rate_text(row, "bookings_requested_per_1000"),
                _rate_text(row, "test_drives_per_1000"),
                _rate_text(row, "purchases_per_1000"),
            ]
        )
    return html_table(headers, rows, numeric)


def _rate_text(row: Mapping[Hashable, Any], column: str) -> str:
    """A rate per 1,000 with two decimals and its SE."""
    value, se = row.get(column, math.nan), row.get(f"{column}_se", math.nan)
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:,.2f}"
    return f"{text} ± {se:.2g}" if se is not None and math.isfinite(se) else text


def _figure_block(figures: Mapping[str, Path], key: str) -> str:
    if key not in figures:
        return ""
    title, caption = _FIGURE_CAPTIONS[key]
    return f"<figure>{image_tag(figures[key], title)}<figcaption>{escape_html(caption)}</figcaption></figure>"


def write_report_html(
    result: RunResult,
    figures: Mapping[str, str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
) -> Path:
    """Write one self-contained ``report.html`` (atomically).

    Contents: title, scenario name and description; the run (hash, seed, replications,
    consumers and weight, city, horizon); the key results (:meth:`RunResult.summary`);
    the funnel over time; where test-drive intent goes, the launch rush and rival share
    (:mod:`simulator.reports.market_report`, when the run records them); a per-store
    table; a per-zone table; access by district; the figures embedded as base64 PNG; the
    canonical scenario in a collapsible block; package versions and timings. CSS is
    inline, there are no scripts, external fonts or links, and all text is escaped.

    Parameters
    ----------
    result : RunResult
    figures : mapping of str to path
        PNG files by key (``funnel``, ``stores``, ``familiarity_map``, ``intent_funnel``,
        ``rival_share``, ``access``, ``launch_rush``), as returned by :func:`save_figures`;
        missing keys are skipped.
    out_path : path-like
        Target HTML file.
    zone_frame : geopandas.GeoDataFrame or pandas.DataFrame, optional
        Gives zone names (``name``, ``name_en``) to the zone table.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    figure_paths = {key: Path(value) for key, value in figures.items()}
    name = result.scenario_name
    description = result.scenario_description
    sections = [
        f"<header><h1>Retail footprint simulation: {escape_html(name)}</h1>",
        f'<p class="description">{escape_html(description)}</p>' if description else "",
        "</header>",
        warnings_block(result.metadata.get("warnings") or []),
        "<section><h2>Run</h2>",
        key_value_table(_run_pairs(result)),
        "</section>",
        _results_section(result),
        run_map_section(result),
        "<section><h2>Funnel over time</h2>",
        _figure_block(figure_paths, "funnel"),
        "</section>",
        *market_sections(result, figure_paths),
        _stores_section(result, figure_paths),
        catchment_section(result),
        _zones_section(result, figure_paths, zone_frame),
        access_section(result, figure_paths, zone_frame),
        _reproducibility_sections(result.metadata),
    ]
    return write_html_document(f"{name} – footprint simulator report", sections, out_path)


def _lines(parts: Sequence[str]) -> str:
    """The non-empty parts, one per line."""
    return "\n".join(part for part in parts if part)


def _results_section(result: RunResult) -> str:
    """Key results at the end of the horizon, people first, simulated counts folded away."""
    return _lines(
        [
            "<section><h2>Key results at the end of the horizon</h2>",
            _summary_table(result),
            "<details><summary>Simulated counts (before scaling to the population)</summary>",
            _summary_table(result, units=("consumers",)),
            "</details>",
            '<p class="note">Counts are totals over the horizon; shares and trust are values on the last day. '
            "People = simulated consumers × people per consumer. ± SE is the Monte-Carlo standard error: "
            f"{_se_method_text(result)} Confidence intervals are Student-t intervals over replications, "
            "clipped to the possible range.</p></section>",
        ]
    )


def _se_method_text(result: RunResult) -> str:
    """How the report's standard errors were estimated, in one sentence."""
    if result.n_replications >= 2:
        return (
            f"the standard deviation over the {result.n_replications} replications divided by √{result.n_replications}."
        )
    return (
        "with one replication, the within-run estimate (√n for a count of n simulated events, √(p(1−p)/N) for a "
        "share, s/√N for a mean; docs/model.md, section Monte-Carlo error), an approximation because word of "
        "mouth and queues correlate consumers."
    )


def _stores_section(result: RunResult, figure_paths: Mapping[str, Path]) -> str:
    """The stores figure and the per-store table, ranked, with the noise note."""
    table, marked = _stores_table(result)
    note = ranking_note(marked, RANKING_KPI[1])
    return _lines(
        [
            "<section><h2>Stores</h2>",
            _figure_block(figure_paths, "stores"),
            '<div class="scroll">',
            table,
            "</div>",
            '<p class="note">Totals over the horizon in people (mean over replications) ± SE; utilisation is the '
            "mean over open days of test drives / capacity. Stores are ranked by test-drive bookings requested."
            f"{' ' + escape_html(note) if note else ''}</p></section>",
        ]
    )


def _zones_section(result: RunResult, figure_paths: Mapping[str, Path], zone_frame: Any) -> str:
    """The familiarity map and the per-zone table."""
    return _lines(
        [
            "<section><h2>Zones</h2>",
            _figure_block(figure_paths, "familiarity_map"),
            '<div class="scroll">',
            _zones_table(result, zone_frame),
            "</div>",
            '<p class="note">End-of-horizon values by home zone, mean over replications; rates per 1,000 residents.</p>',
            "</section>",
        ]
    )


def _reproducibility_sections(metadata: Mapping[str, Any]) -> str:
    """The canonical scenario (folded), package versions and timings."""
    scenario_json = json.dumps(metadata.get("scenario", {}), indent=2, sort_keys=True, ensure_ascii=False)
    versions = metadata.get("package_versions") or {}
    timings = metadata.get("timings") or {}
    timing_table = html_table(
        ["Stage", "Seconds"],
        [(stage, f"{float(seconds):,.2f}") for stage, seconds in timings.items()],
        [False, True],
    )
    return _lines(
        [
            "<section><h2>Scenario</h2><details><summary>Canonical scenario (JSON)</summary>",
            f"<pre>{escape_html(scenario_json)}</pre></details></section>",
            "<section><h2>Reproducibility</h2>",
            html_table(["Package", "Version"], sorted(versions.items()), [False, False]),
            timing_table if timings else "",
            "</section>",
        ]
    )

"""Report sections on trade areas: each store's catchments (runs) and bookings that moved between stores (comparisons).

:func:`catchment_section` summarises a run's ``trade_area_summary``
(:func:`simulator.results.catchment_summary`): per store, the cells and the farthest cell
of its 50/70/90 % catchments. :func:`transfer_section` reads the ``transfers`` table of a
comparison (:func:`simulator.results.transfer_table`): for each plan, a matrix of the
baseline's destinations (rows) by the plan's (columns), in people, and one line per store
of the plan that is not in the baseline saying where its bookings came from.
"""

from __future__ import annotations

import pandas as pd

from simulator.reports.figures import format_number
from simulator.reports.html import escape_html, html_table
from simulator.results import (
    CATCHMENT_SHARES,
    RunResult,
    catchment_summary,
    trade_area_summary,
    transfer_matrix,
)
from simulator.results.trade_areas import NONE, RIVALS


def _label(destination: str) -> str:
    return {RIVALS: "rivals", NONE: "none (no booking)"}.get(destination, destination)


def _plan_block(plan: str, transfers: pd.DataFrame, baseline_stores: set[str]) -> str:
    matrix = transfer_matrix(transfers)
    if matrix.empty:
        return f"<h3>{escape_html(plan)}</h3><p>No bookings in either run.</p>"
    headers = ["Baseline → plan", *[_label(str(c)) for c in matrix.columns], "Baseline total"]
    rows = [
        [
            _label(str(index)),
            *[format_number(float(v), "people") for v in row],
            format_number(float(sum(row)), "people"),
        ]
        for index, row in zip(matrix.index, matrix.to_numpy(), strict=True)
    ]
    rows.append(["Plan total", *[format_number(float(v), "people") for v in matrix.sum(axis=0)], ""])
    numeric = [False, *[True] * (len(headers) - 1)]
    lines = []
    for store in matrix.columns:
        if store in baseline_stores or store in (RIVALS, NONE):
            continue
        column = matrix[store]
        total = float(column.sum())
        if total <= 0:
            continue
        from_own = float(column[[i for i in column.index if i in baseline_stores]].sum())
        new = float(column.get(NONE, 0.0))
        from_rivals = float(column.get(RIVALS, 0.0))
        lines.append(
            f"<li><b>{escape_html(store)}</b>: {format_number(total, 'people')} bookings, of which "
            f"{from_own / total:.0%} moved from the baseline's stores, {from_rivals / total:.0%} from rivals and "
            f"{new / total:.0%} are bookings the baseline did not have.</li>"
        )
    summary = f"<ul>{''.join(lines)}</ul>" if lines else ""
    return f'<h3>{escape_html(plan)}</h3>{summary}<div class="scroll">{html_table(headers, rows, numeric)}</div>'


def transfer_section(transfers: pd.DataFrame, baseline: str, baseline_stores: set[str]) -> list[str]:
    """The report section: one matrix per non-baseline plan (empty list without transfers)."""
    if transfers is None or transfers.empty:
        return []
    blocks = [_plan_block(str(plan), frame, baseline_stores) for plan, frame in transfers.groupby("plan", sort=False)]
    return [
        "<section><h2>Where each plan's bookings come from</h2>",
        *blocks,
        '<p class="note">The same consumers exist in both runs (common random numbers), so each consumer\'s '
        f"k-th booking in the baseline ({escape_html(baseline)}) is paired with their k-th booking in the plan. "
        "Rows: where the booking went in the baseline; columns: where it went in the plan; people over the horizon, "
        "mean over replications (transfers.parquet has the SEs and the simulated counts). The diagonal stayed "
        'put; off the diagonal it moved. "none": that consumer had no such booking in that run. Row totals are '
        "the baseline's bookings per store, column totals the plan's.</p></section>",
    ]


def catchment_section(result: RunResult) -> str:
    """The run report's table of each store's catchments (empty without trade areas)."""
    if result.trade_areas is None or result.trade_areas.empty:
        return ""
    summary = trade_area_summary(
        result.trade_areas, result.plan, n_replications=result.n_replications, weight=result.consumer_weight
    )
    table = catchment_summary(summary)
    if table.empty:
        return ""
    percents = [round(share * 100) for share in CATCHMENT_SHARES]
    headers = ["Store", "Bookings (people)", "Home cells", *[f"{p} %: cells / farthest km" for p in percents]]
    rows = [
        [
            row["store_name"],
            format_number(float(row["bookings_requested_scaled"]), "people"),
            f"{int(row['cells']):,}",
            *[f"{int(row[f'cells_{p}']):,} / {float(row[f'radius_km_{p}']):.1f}" for p in percents],
        ]
        for row in table.to_dict("records")
    ]
    return (
        "<section><h2>Trade areas</h2>"
        f'<div class="scroll">{html_table(headers, rows, [False, True, True, *[True] * len(percents)])}</div>'
        '<p class="note">Where each store\'s bookings come from: the 1 km home cells of the consumers who booked '
        "there. A store's p % catchment is the fewest cells, densest first, that hold p % of its bookings; the "
        "farthest km is the straight-line distance to the catchment's farthest cell centre. The map's "
        '"Trade areas" layer draws them; trade_area_summary.parquet has every cell with SEs.</p></section>'
    )

"""Comparison results as text: signed differences and the terminal table of ``footprint compare``.

Shared by the comparison's figures (:mod:`simulator.reports.compare_figures`), its HTML
report (:mod:`simulator.reports.compare_html`) and the command line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from simulator.experiments.compare import HEADLINE_KPIS, ComparisonResult
from simulator.reports.figures import format_number

SHORT_LABELS = {
    "bookings_requested_scaled": "Bookings requested",
    "test_drives_scaled": "Test drives",
    "bookings_lost_scaled": "Bookings lost in queues",
    "purchases_scaled": "Purchases",
    "share_aware": "Aware (end)",
    "share_familiar": "Familiar, F ≥ 0.5 (end)",
    "mean_trust": "Mean trust (end)",
}
"""Labels of the headline KPIs in the terminal table (counts: totals over the horizon, in people)."""


def signed(value: float, value_format: str) -> str:
    """``value_format`` applied, without a sign when the shown value is zero (``0``, not ``-0``)."""
    text = value_format.format(value)
    return text.lstrip("+-") if not any(c in "123456789" for c in text) else text


def format_difference(value: float | None, unit: str) -> str:
    """A signed difference: people with thousands separators, shares in percentage points.

    A value that shows as zero gets no sign (``0``, not ``-0``).
    """
    if value is None or not math.isfinite(value):
        return "–"
    if unit in ("people", "consumers", "count"):
        return signed(value, "{:+,.0f}")
    if unit in ("share", "percent"):
        return signed(100.0 * value, "{:+.2f} pp")
    if unit == "index":
        return signed(value, "{:+.3f}")
    return signed(value, "{:+,.4g}")


def difference_rows(result: ComparisonResult, kpis: Sequence[str] = HEADLINE_KPIS) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the terminal table: baseline value, then each plan's difference and CI."""
    headers = ["KPI", f"{result.baseline} (baseline)"] + [f"{name} − baseline" for name in result.plan_names[1:]]
    baseline = {row["kpi"]: row for row in result.plans[result.plans["plan"] == result.baseline].to_dict("records")}
    differences = {(row["plan"], row["kpi"]): row for row in result.differences.to_dict("records")}
    rows = []
    for kpi in kpis:
        if kpi not in baseline:
            continue
        unit = str(baseline[kpi]["unit"])
        label = SHORT_LABELS.get(kpi, str(baseline[kpi]["label"]))
        cells = [label, format_number(float(baseline[kpi]["mean"]), unit)]
        for name in result.plan_names[1:]:
            difference = differences[(name, kpi)]
            text = format_difference(float(difference["difference"]), unit)
            low, high = float(difference["ci_low"]), float(difference["ci_high"])
            if math.isfinite(low):
                text += f" [{format_difference(low, unit)}, {format_difference(high, unit)}]"
            cells.append(text)
        rows.append(cells)
    return headers, rows

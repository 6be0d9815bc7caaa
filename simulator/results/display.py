"""How result objects show themselves in a terminal and in Jupyter: a short ``repr`` and a small KPI table.

:class:`~simulator.results.RunResult`, the comparison's and the sweep's results build their
``__repr__`` and ``_repr_html_`` from :func:`short_repr` and :func:`kpi_table_html`. Every
text is escaped: a scenario or store name cannot inject markup into a notebook.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["HEADLINE_RUN_KPIS", "format_kpi", "kpi_table_html", "plural", "run_kpi_rows", "short_repr"]

HEADLINE_RUN_KPIS = (
    "bookings_requested_scaled",
    "test_drives_scaled",
    "purchases_scaled",
    "share_aware",
    "share_familiar",
    "mean_trust",
)
"""KPIs of a run's repr and notebook table: counts in people over the horizon, shares and trust at its end."""

_STYLE = "border-collapse:collapse;font-size:0.9em"
_CELL = "padding:2px 8px;border-bottom:1px solid #ddd"


def format_kpi(value: Any, unit: str = "") -> str:
    """A KPI value for people: counts with thousands separators, shares and indices with 3 decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if unit in ("share", "index") or (not unit and isinstance(value, float) and abs(value) < 1):
        return f"{float(value):.3f}"
    return f"{float(value):,.0f}"


def plural(count: int, noun: str) -> str:
    """``1 store``, ``2 stores``, ``1,000 consumers``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def short_repr(kind: str, name: str, facts: Sequence[str]) -> str:
    """``Kind('name': fact, fact, ...)`` on one line."""
    return f"{kind}({name!r}: {', '.join(facts)})" if facts else f"{kind}({name!r})"


def kpi_table_html(title: str, facts: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A title, a line of facts and a small table, as escaped HTML for ``_repr_html_``.

    Parameters
    ----------
    title : str
        Shown in bold.
    facts : sequence of str
        Joined by ``·`` under the title.
    header : sequence of str
        Column titles; the first column is left-aligned, the others right-aligned.
    rows : sequence of sequences
        Cell values (turned to text with ``str``).
    """

    def cell(tag: str, value: Any, position: int) -> str:
        align = "left" if position == 0 else "right"
        return f'<{tag} style="{_CELL};text-align:{align}">{html.escape(str(value))}</{tag}>'

    head = "".join(cell("th", value, i) for i, value in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", v, i) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return (
        f"<div><b>{html.escape(title)}</b>"
        f'<div style="color:#555">{html.escape(" · ".join(facts))}</div>'
        f'<table style="{_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def run_kpi_rows(summary: Any, kpis: Sequence[str] = HEADLINE_RUN_KPIS) -> list[list[str]]:
    """``[label, mean, ± SE]`` rows of a run summary (:meth:`RunResult.summary`) for the given KPIs."""
    rows = []
    by_kpi = {row["kpi"]: row for row in summary.to_dict("records")}
    for kpi in kpis:
        if kpi in by_kpi:
            row = by_kpi[kpi]
            rows.append([row["label"], format_kpi(row["mean"], row["unit"]), format_kpi(row["se"], row["unit"])])
    return rows

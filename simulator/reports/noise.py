"""Monte-Carlo error on the page: ``value ± SE`` texts and rankings marked where they are within noise.

The statistics are :mod:`simulator.results.uncertainty`; this module only formats them:
:func:`format_se` and :func:`value_with_se` for table cells, :func:`rank_labels` for a
ranking column (``"3 ≈"``: the store cannot be told apart from a neighbour), and
:func:`ranking_note` for the sentence under a ranking.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.reports.figures import format_number
from simulator.results import NOISE_MARK, NOISE_NOTE, ranking_within_noise


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_se(se: Any, unit: str) -> str:
    """A standard error in the KPI's unit, with two significant digits below the unit's resolution.

    Counts: whole numbers (two significant digits under 10); shares: percentage points
    with two significant digits; indices: two significant digits. ``–`` when unknown.
    """
    if not _finite(se):
        return "–"
    value = float(se)
    if unit in ("people", "consumers", "count"):
        return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"
    if unit in ("share", "percent"):
        return f"{100.0 * value:.2g} %"
    return f"{value:.2g}"


def value_with_se(value: Any, se: Any, unit: str) -> str:
    """``"<value> ± <se>"`` (just the value when the SE is unknown)."""
    text = format_number(value, unit)
    if not _finite(se) or not _finite(value):
        return text
    return f"{text} ± {format_se(se, unit)}"


def rank_labels(values: Any, ses: Any) -> tuple[list[str], int]:
    """Rank texts ``"1"``, ``"2 ≈"``, ... for rows already in ranking order, and how many are marked.

    A row is marked when it is within noise of the row just above or below
    (:func:`simulator.results.ranking_within_noise`).
    """
    marks = ranking_within_noise(np.asarray(values, dtype=float), np.asarray(ses, dtype=float))
    labels = [f"{rank} {NOISE_MARK}" if mark else str(rank) for rank, mark in enumerate(marks, start=1)]
    return labels, int(marks.sum())


def ranking_note(n_marked: int, kpi_label: str) -> str:
    """The sentence under a ranking: what ≈ means (empty when nothing is marked)."""
    if n_marked == 0:
        return ""
    return f"Ranked by {kpi_label}. {NOISE_NOTE}"


def ranking_line(n_marked: int, n_ranked: int, kpi_label: str) -> str:
    """The one terminal line about a ranking within noise (empty when nothing is marked)."""
    if n_marked == 0:
        return ""
    return (
        f"{n_marked} of {n_ranked} stores within noise of a neighbour by {kpi_label} (≈ in report.html); "
        "run more consumers or replications to tell them apart."
    )

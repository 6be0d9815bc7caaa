r"""Batch means: the within-run SE of a comparison's differences when there is one replication.

A run tallies its KPIs over :math:`B = 32` batches of consumers (consumer ``i`` in batch
``i mod B``; the ``batches`` table, :mod:`simulator.model.batches`). A plan and its
baseline simulate the same consumers under common random numbers, so the batch-by-batch
differences carry the pairing: a batch whose consumers happened to book more under the
baseline books more under the plan too, and the difference of the two is far less noisy
than either.

For a KPI that is a total over consumers, :math:`T = \sum_b t_b`, with batch differences
:math:`d_b = t^{plan}_b - t^{base}_b`:

.. math::

    \widehat{\mathrm{SE}}(\Delta T) = \sqrt{\frac{B}{B-1} \sum_b (d_b - \bar d)^2}

(the batches are alike, so their totals are exchangeable draws and :math:`\mathrm{Var}(\sum_b
d_b) = B\,\mathrm{Var}(d_b)`). For a share or a mean over the ``N`` consumers,
:math:`M = \sum_b s_b / N`, the ratio estimator's residuals
:math:`e_b = (s_b - M n_b)/N` take the place of the centred totals (batches differ by at
most one consumer): :math:`d_b = e^{plan}_b - e^{base}_b` and
:math:`\widehat{\mathrm{SE}} = \sqrt{B/(B-1) \sum_b d_b^2}`. The interval is
:math:`\Delta \pm t_{(1+c)/2,\,B-1}\,\widehat{\mathrm{SE}}`.

Word of mouth and store queues tie consumers of different batches together, so the
estimate is an approximation; ``tests/test_batch_means.py`` checks it against the spread of
the difference over many seeds (``docs/model.md``, section "Monte-Carlo error").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from simulator.results.contract import RunResult

WITHIN_RUN_BATCHES = "within-run batch means"
WITHIN_RUN_UNPAIRED = "within-run, unpaired"
"""Values of a difference's ``se_method`` with one replication: the batch-means estimate,
or (for a KPI the batches do not tally) :math:`\\sqrt{SE_{plan}^2 + SE_{base}^2}` of the
two runs' within-run SEs, which ignores the pairing and is conservative."""

WITHIN_RUN_IDENTICAL = "within-run, identical series"
"""``se_method`` of a difference that is 0 on every day of the two runs: SE 0."""

BATCH_TOTALS = (
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
"""KPIs that are totals of a ``batches`` column of the same name (and their ``_scaled`` twins)."""

BATCH_MEANS = {
    "share_aware": "aware",
    "share_familiar": "familiar",
    "mean_familiarity": "familiarity",
    "reach_28d": "reach_28d",
    "effective_frequency_28d": "effective_frequency_28d",
}
"""KPIs that are a ``batches`` column's sum over the consumers, by that column.

Not mean trust: it has terms shared by every consumer that depend on the run's own buyers
(online testimonials, social proof), a common shock that batches cannot see (measured: the
batch-means SE of its difference was a ninth of the spread over seeds); it gets the
unpaired estimate."""


def batch_column(kpi: str) -> tuple[str, str, bool] | None:
    """The ``batches`` column of a summary KPI, its kind (``total`` or ``mean``) and whether it is scaled.

    None for a KPI the batches do not tally (e.g. media contacts).
    """
    if kpi in BATCH_MEANS:
        return BATCH_MEANS[kpi], "mean", False
    base = kpi.removesuffix("_scaled")
    if base in BATCH_TOTALS:
        return base, "total", base != kpi
    return None


def _residuals(batches: pd.DataFrame, column: str, kind: str, factor: float) -> np.ndarray:
    """Each batch's contribution to the KPI, centred: totals on their mean, means by the ratio estimator."""
    values = batches[column].to_numpy(dtype=np.float64)
    if kind == "total":
        return factor * (values - values.mean())
    size = batches["consumers"].to_numpy(dtype=np.float64)
    total = float(size.sum())
    if total <= 0:
        return np.full(len(values), np.nan)
    return (values - values.sum() / total * size) / total


def batch_difference_se(
    plan: pd.DataFrame, baseline: pd.DataFrame, kpis: list[str], plan_weight: float = 1.0, baseline_weight: float = 1.0
) -> dict[str, float]:
    """Batch-means SE of ``plan - baseline`` for each KPI the batches tally, one replication each.

    Parameters
    ----------
    plan, baseline : pandas.DataFrame
        One replication's ``batches`` table of each run (a ``batch`` column and the
        columns of :data:`BATCH_TOTALS` and :data:`BATCH_MEANS`).
    kpis : list of str
        Summary KPIs (``SUMMARY_KPIS`` names); those without a batch column are left out.
    plan_weight, baseline_weight : float
        People per simulated consumer of each run (for the ``_scaled`` KPIs).

    Returns
    -------
    dict
        KPI to SE (NaN with fewer than two batches, or batches that do not match).
    """
    x = plan.sort_values("batch").reset_index(drop=True)
    b = baseline.sort_values("batch").reset_index(drop=True)
    matched = len(x) >= 2 and len(x) == len(b) and bool((x["batch"].to_numpy() == b["batch"].to_numpy()).all())
    result: dict[str, float] = {}
    for kpi in kpis:
        found = batch_column(kpi)
        if found is None or found[0] not in x.columns or found[0] not in b.columns:
            continue
        column, kind, scaled = found
        if not matched:
            result[kpi] = math.nan
            continue
        d = _residuals(x, column, kind, plan_weight if scaled else 1.0) - _residuals(
            b, column, kind, baseline_weight if scaled else 1.0
        )
        n = len(d)
        result[kpi] = float(math.sqrt(n / (n - 1) * float((d**2).sum())))
    return result


def batch_se(batches: pd.DataFrame, kpis: list[str], weight: float = 1.0) -> dict[str, float]:
    """Batch-means SE of each KPI of one run's replication (the level, not a difference)."""
    zero = batches[["batch", "consumers"]].copy()
    for column in batches.columns:
        if column not in ("batch", "consumers"):
            zero[column] = 0.0
    return batch_difference_se(batches, zero, kpis, weight, weight)


def batch_interval(difference: float, se: float, confidence: float, batches: int) -> tuple[float, float]:
    r"""``difference`` :math:`\pm t_{(1+c)/2,\,B-1}` ``se`` (NaN with fewer than two batches or no SE)."""
    if batches < 2 or not math.isfinite(se):
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2.0, batches - 1)) * se
    return difference - half, difference + half


def within_run_difference_se(
    plan: RunResult, baseline: RunResult, kpis: list[str]
) -> dict[str, tuple[float, str, int]]:
    r"""Within-run SE of ``plan - baseline`` per KPI, for runs of one replication each.

    KPIs the ``batches`` tables tally get :func:`batch_difference_se` (method
    :data:`WITHIN_RUN_BATCHES`); the others (or all, when a run has no ``batches`` table)
    :math:`\sqrt{SE_{plan}^2 + SE_{base}^2}` of :meth:`RunResult.within_run_se`
    (:data:`WITHIN_RUN_UNPAIRED`), except that a KPI whose daily series is the same in both
    runs (one the plan does not touch, e.g. media contacts, under common random numbers)
    gets 0 (:data:`WITHIN_RUN_IDENTICAL`).

    Returns
    -------
    dict
        KPI to ``(se, se_method, B)`` with ``B`` the batches (the interval's degrees of
        freedom are ``B - 1``; a large number for the unpaired estimate, whose interval is normal).
    """
    batches = {}
    n_batches = 0
    if _has_batches(plan) and _has_batches(baseline):
        first_plan, first_base = _first(plan.batches), _first(baseline.batches)
        n_batches = len(first_plan)
        batches = batch_difference_se(first_plan, first_base, kpis, plan.consumer_weight, baseline.consumer_weight)
    plan_se, base_se = plan.within_run_se(), baseline.within_run_se()
    result: dict[str, tuple[float, str, int]] = {}
    for kpi in kpis:
        if kpi in batches:
            result[kpi] = (batches[kpi], WITHIN_RUN_BATCHES, n_batches)
        elif _same_series(plan, baseline, kpi):
            result[kpi] = (0.0, WITHIN_RUN_IDENTICAL, NORMAL_DEGREES)
        else:
            se = math.sqrt(plan_se.get(kpi, math.nan) ** 2 + base_se.get(kpi, math.nan) ** 2)
            result[kpi] = (se, WITHIN_RUN_UNPAIRED, NORMAL_DEGREES)
    return result


NORMAL_DEGREES = 1_000_000
"""Batches that make the t quantile the normal one (for the unpaired estimate)."""


def _same_series(plan: RunResult, baseline: RunResult, kpi: str) -> bool:
    """True when ``kpi``'s daily column (without ``_scaled``) is the same, day by day, in both runs."""
    column = kpi.removesuffix("_scaled")
    if column not in plan.daily.columns or column not in baseline.daily.columns:
        return False
    ours, theirs = _first(plan.daily), _first(baseline.daily)
    return len(ours) == len(theirs) and bool(
        np.array_equal(ours[column].to_numpy(), theirs[column].to_numpy(), equal_nan=True)
    )


def _has_batches(result: RunResult) -> bool:
    return not result.batches.empty and {"batch", "consumers"} <= set(result.batches.columns)


def _first(table: pd.DataFrame) -> pd.DataFrame:
    """The first replication's rows of a table with a ``replication`` column (all rows without one)."""
    if "replication" in table.columns:
        return table[table["replication"] == table["replication"].min()]
    return table

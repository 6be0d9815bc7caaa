r"""Paired statistics of a comparison: mean differences to the baseline and their intervals.

For per-replication values ``x_r`` (plan) and ``b_r`` (baseline) with common random numbers,
``d_r = x_r - b_r`` and the interval is :math:`\bar d \pm t_{(1+c)/2,\,R-1}\, s_d / \sqrt{R}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.experiments.compare.spec import ComparisonSpec, PlanSpec
from simulator.results.batch_means import batch_interval

CONFIDENCE_LEVEL = 0.95
"""Two-sided level of every confidence interval of a comparison."""


def paired_interval(differences: np.ndarray, confidence: float = CONFIDENCE_LEVEL) -> dict[str, float]:
    r"""Mean of paired differences and its Student-t confidence interval.

    .. math:: \bar d \pm t_{(1+c)/2,\,R-1}\, s_d / \sqrt{R}

    Parameters
    ----------
    differences : array_like
        ``d_r = x_r - b_r``, one per replication.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    dict
        ``mean``, ``std`` (ddof=1), ``se`` (``std / sqrt(R)``), ``ci_low``, ``ci_high``,
        ``n``. With one replication the spread and the interval are NaN; when every
        difference is equal the interval is that value exactly.
    """
    values = np.asarray(differences, dtype=np.float64)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "std": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n}
    if np.all(values == values[0]):
        return {
            "mean": float(values[0]),
            "std": 0.0,
            "se": 0.0,
            "ci_low": float(values[0]),
            "ci_high": float(values[0]),
            "n": n,
        }
    std = float(values.std(ddof=1))
    se = std / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * se
    return {"mean": mean, "std": std, "se": se, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def grouped_paired_intervals(frame: pd.DataFrame, keys: list[str], column: str, confidence: float) -> pd.DataFrame:
    """Vectorised :func:`paired_interval` of ``frame[column]`` per group of ``keys``."""
    grouped = frame.groupby(keys, sort=False)[column]
    summary = grouped.agg(["mean", "std", "count", "min", "max"])
    n = summary["count"].to_numpy(dtype=float)
    std = np.where(summary["min"].to_numpy() == summary["max"].to_numpy(), 0.0, summary["std"].to_numpy(dtype=float))
    std = np.where(n >= 2, std, np.nan)
    t = np.where(n >= 2, stats.t.ppf(0.5 + confidence / 2.0, np.maximum(n - 1, 1)), np.nan)
    half = t * std / np.sqrt(np.maximum(n, 1))
    mean = np.where(std == 0.0, summary["min"].to_numpy(dtype=float), summary["mean"].to_numpy(dtype=float))
    return pd.DataFrame({"mean": mean, "ci_low": mean - half, "ci_high": mean + half}, index=summary.index)


DIFFERENCE_COLUMNS = (
    "plan",
    "plan_slug",
    "baseline",
    "kpi",
    "label",
    "unit",
    "plan_mean",
    "baseline_mean",
    "difference",
    "relative_difference",
    "std",
    "se",
    "se_method",
    "ci_low",
    "ci_high",
    "se_unpaired",
    "n_replications",
    "significant",
)
"""Columns of :func:`difference_table` (``differences.parquet``)."""


def difference_table(
    spec: ComparisonSpec,
    kpis: Mapping[str, pd.DataFrame],
    labels: pd.DataFrame,
    confidence: float = CONFIDENCE_LEVEL,
    within: Mapping[str, Mapping[str, tuple[float, str, int]]] | None = None,
) -> pd.DataFrame:
    r"""Paired differences of every non-baseline plan to the baseline, per KPI.

    Parameters
    ----------
    spec : ComparisonSpec
    kpis : mapping of plan name to DataFrame
        :meth:`RunResult.replication_kpis` of each plan (index ``replication``).
    labels : pandas.DataFrame
        ``label`` and ``unit`` by KPI.
    confidence : float
    within : mapping, optional
        With one replication: per plan, per KPI, the within-run SE of the difference, its
        ``se_method`` and the number ``B`` of consumer batches
        (:func:`simulator.results.batch_means.within_run_difference_se`); the interval is then :math:`\Delta \pm t_{(1+c)/2,\,B-1}\,SE` with ``B`` the
        consumer batches. Without it a single replication has no SE.

    Returns
    -------
    pandas.DataFrame
        Columns ``plan``, ``plan_slug``, ``baseline``, ``kpi``, ``label``, ``unit``,
        ``plan_mean``, ``baseline_mean``, ``difference`` (mean of ``d_r``),
        ``relative_difference`` (``difference / baseline_mean``), ``std``, ``se``,
        ``se_method`` (``replications``, or with one replication the within-run method),
        ``ci_low``, ``ci_high``, ``se_unpaired`` (``sqrt(s_x^2/R + s_b^2/R)``: what
        the standard error would be with independent seeds), ``n_replications`` and
        ``significant`` (the interval excludes 0).
    """
    reference = kpis[spec.baseline.name]
    rows = [
        _difference_row(spec, plan, kpi, kpis[plan.name], reference, labels, confidence, (within or {}).get(plan.name))
        for plan in spec.plans[1:]
        for kpi in reference.columns
    ]
    return pd.DataFrame(rows, columns=list(DIFFERENCE_COLUMNS))


def _difference_row(
    spec: ComparisonSpec,
    plan: PlanSpec,
    kpi: str,
    values: pd.DataFrame,
    reference: pd.DataFrame,
    labels: pd.DataFrame,
    confidence: float,
    within: Mapping[str, tuple[float, str, int]] | None = None,
) -> dict[str, Any]:
    """One row of :func:`difference_table`: a plan's paired difference to the baseline on one KPI."""
    x = values[kpi].to_numpy(dtype=float)
    b = reference.loc[values.index, kpi].to_numpy(dtype=float)
    paired = paired_interval(x - b, confidence)
    n = len(x)
    method = "replications" if n >= 2 else ""
    if n == 1 and within is not None and kpi in within:
        se, method, batches = within[kpi]
        low, high = batch_interval(paired["mean"], se, confidence, batches)
        paired = {**paired, "se": se, "ci_low": low, "ci_high": high}
    baseline_mean = float(b.mean())
    return {
        "plan": plan.name,
        "plan_slug": plan.slug,
        "baseline": spec.baseline.name,
        "kpi": kpi,
        **label_and_unit(labels, kpi),
        "plan_mean": float(x.mean()),
        "baseline_mean": baseline_mean,
        "difference": paired["mean"],
        "relative_difference": paired["mean"] / baseline_mean if baseline_mean != 0 else math.nan,
        "std": paired["std"],
        "se": paired["se"],
        "se_method": method,
        "ci_low": paired["ci_low"],
        "ci_high": paired["ci_high"],
        "se_unpaired": math.sqrt(x.var(ddof=1) / n + b.var(ddof=1) / n) if n >= 2 else math.nan,
        "n_replications": n,
        "significant": is_significant(paired),
    }


def is_significant(paired: Mapping[str, float]) -> bool:
    """True when a :func:`paired_interval` excludes 0 (two replications or more, or a within-run interval)."""
    return bool(paired["ci_low"] > 0 or paired["ci_high"] < 0)


def label_and_unit(labels: pd.DataFrame, kpi: str) -> dict[str, Any]:
    """``label`` and ``unit`` of a KPI from a table of them by KPI (the KPI itself and no unit if absent)."""
    if kpi in labels.index:
        return {"label": labels.loc[kpi, "label"], "unit": labels.loc[kpi, "unit"]}
    return {"label": kpi, "unit": ""}

"""Sensitivity of a sweep's KPIs to its parameters: Sobol', Morris, RBD-FAST, and grid variance shares."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from simulator.experiments.sweep.design import Design, unit_problem
from simulator.experiments.sweep.parsing import Sweep

SENSITIVITY_COLUMNS = [
    "kpi",
    "method",
    "index",
    "parameter",
    "other_parameter",
    "value",
    "conf",
    "ci_low",
    "ci_high",
    "confidence_level",
    "points",
]


def _point_means(summary: pd.DataFrame, kpi: str, n_points: int) -> np.ndarray:
    ok = summary[summary["status"] == "ok"]
    means = ok.groupby("point")[kpi].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=np.float64)


def analyse_sensitivity(sweep: Sweep, design: Design, summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices of every KPI to every parameter, with confidence intervals.

    The output of a point is the mean of the KPI over its successful replications.

    * sobol: first-order ``S1`` and total-order ``ST`` (and ``S2`` with second_order)
      by ``SALib.analyze.sobol`` (Saltelli 2010 / Jansen estimators), bootstrap intervals;
    * morris: ``mu``, ``mu_star`` (bootstrap interval) and ``sigma`` by
      ``SALib.analyze.morris``; elementary effects are per unit of the parameter's
      normalised range (0 = low, 1 = high), so they compare across parameters;
    * lhs: first-order ``S1`` by RBD-FAST (``SALib.analyze.rbd_fast``, harmonics from
      :func:`rbd_fast_harmonics`), bootstrap interval (conservative for small samples);
    * grid: the exact variance decomposition over the grid (each value equally likely):
      :math:`S_i = \\mathrm{Var}(E[Y|x_i]) / \\mathrm{Var}(Y)`,
      :math:`S_{Ti} = E[\\mathrm{Var}(Y|x_{\\sim i})] / \\mathrm{Var}(Y)`, with intervals
      from a bootstrap over replications (resampled jointly at every point, keeping the
      common random numbers) when there are at least 2.

    Returns
    -------
    sensitivity : pandas.DataFrame
        Columns :data:`SENSITIVITY_COLUMNS`; ``conf`` is the interval's half-width and
        ``ci_low``/``ci_high`` = value -/+ conf (NaN where the method gives none).
    notes : list of str
        KPIs skipped (failed points, constant output) and why.
    """
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    level = sweep.spec.analysis.confidence_level
    n_points = design.size
    for k, kpi in enumerate(sweep.kpis):
        y = _point_means(summary, kpi, n_points)
        missing = int(np.isnan(y).sum())
        if missing:
            notes.append(
                f"{kpi}: no sensitivity indices: {missing} of {n_points} design points have no value (failed runs)"
            )
            continue
        if float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())):
            notes.append(f"{kpi}: no sensitivity indices: the KPI is constant over the design")
            continue
        analysis_seed = int(np.random.SeedSequence([sweep.root_seed, k]).generate_state(1)[0])
        indices: list[IndexValue] = []
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                _kpi_indices(sweep, design, summary, kpi, y, analysis_seed, indices)
        except Exception as error:  # SALib's own checks (e.g. too few points for RBD-FAST)
            notes.append(f"{kpi}: no sensitivity indices: {type(error).__name__}: {error}".splitlines()[0])
        rows += [_index_row(kpi, index, level, n_points) for index in indices]
    frame = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    frame["other_parameter"] = frame["other_parameter"].astype(object)
    return frame, notes


IndexValue = tuple[str, str, str, float, float, str | None]
"""One index: method, index, parameter, value, interval half-width, other parameter (S2)."""


def _index_row(kpi: str, index: IndexValue, level: float, n_points: int) -> dict[str, Any]:
    """A row of :data:`SENSITIVITY_COLUMNS`."""
    method, name, parameter, value, conf, other = index
    value, conf = float(value), float(conf) if conf is not None else math.nan
    return {
        "kpi": kpi,
        "method": method,
        "index": name,
        "parameter": parameter,
        "other_parameter": other,
        "value": value,
        "conf": conf,
        "ci_low": value - conf,
        "ci_high": value + conf,
        "confidence_level": level,
        "points": n_points,
    }


def _kpi_indices(
    sweep: Sweep,
    design: Design,
    summary: pd.DataFrame,
    kpi: str,
    y: np.ndarray,
    seed: int,
    indices: list[IndexValue],
) -> None:
    """Append the indices of one KPI (point means ``y``) by the design's method to ``indices``."""
    analysis = sweep.spec.analysis
    level = analysis.confidence_level
    names = [p.key for p in sweep.parameters]
    problem = unit_problem(sweep.parameters)
    if design.kind == "sobol":
        from SALib.analyze import sobol

        second = bool(sweep.spec.design.second_order)
        result = sobol.analyze(
            problem, y, calc_second_order=second, num_resamples=analysis.resamples, conf_level=level, seed=seed
        )
        for j, name in enumerate(names):
            indices.append(("sobol", "S1", name, result["S1"][j], result["S1_conf"][j], None))
            indices.append(("sobol", "ST", name, result["ST"][j], result["ST_conf"][j], None))
        if second:
            for a, b in itertools.combinations(range(len(names)), 2):
                indices.append(("sobol", "S2", names[a], result["S2"][a, b], result["S2_conf"][a, b], names[b]))
    elif design.kind == "morris":
        from SALib.analyze import morris

        result = morris.analyze(
            problem,
            design.unit,
            y,
            num_resamples=analysis.resamples,
            conf_level=level,
            num_levels=sweep.spec.design.levels or 4,
            seed=seed,
        )
        for j, name in enumerate(names):
            indices.append(("morris", "mu_star", name, result["mu_star"][j], result["mu_star_conf"][j], None))
            indices.append(("morris", "mu", name, result["mu"][j], math.nan, None))
            indices.append(("morris", "sigma", name, result["sigma"][j], math.nan, None))
    elif design.kind == "lhs":
        from SALib.analyze import rbd_fast

        result = rbd_fast.analyze(
            problem,
            design.unit,
            y,
            M=rbd_fast_harmonics(design.size),
            num_resamples=analysis.resamples,
            conf_level=level,
            seed=seed,
        )
        for j, name in enumerate(names):
            indices.append(("rbd_fast", "S1", name, result["S1"][j], result["S1_conf"][j], None))
    else:
        for index, name, value, conf in _grid_indices(sweep, design, summary, kpi, seed):
            indices.append(("grid", index, name, value, conf, None))


def rbd_fast_harmonics(points: int) -> int:
    """Harmonics M of RBD-FAST: SALib's 10 from 160 points, fewer for small samples (at least 2).

    ``M = min(10, max(2, points // 16))``: with few points, high harmonics add mostly noise
    (at 64 points, M = 4 halves the spread of the estimates against M = 10).
    """
    return min(10, max(2, points // 16))


def _grid_decomposition(y: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """First- and total-order indices of a full-factorial table ``y`` (C order, uniform weights)."""
    table = y.reshape(shape)
    variance = float(table.var())
    first, total = [], []
    for axis in range(len(shape)):
        others = tuple(a for a in range(len(shape)) if a != axis)
        main = table.mean(axis=others) if others else table
        first.append(float(main.var()) / variance if variance > 0 else math.nan)
        total.append(float(table.var(axis=axis).mean()) / variance if variance > 0 else math.nan)
    return np.array(first), np.array(total)


def _grid_indices(
    sweep: Sweep, design: Design, summary: pd.DataFrame, kpi: str, seed: int
) -> list[tuple[str, str, float, float]]:
    shape = tuple(len(p.grid) for p in sweep.parameters)
    y = _point_means(summary, kpi, design.size)
    first, total = _grid_decomposition(y, shape)
    first_conf = np.full(len(shape), math.nan)
    total_conf = np.full(len(shape), math.nan)
    replications = sweep.replications
    if replications >= 2:
        ok = summary["status"] == "ok"
        table = summary[ok].pivot_table(index="point", columns="replication", values=kpi, aggfunc="first")
        wide = table.reindex(index=range(design.size), columns=range(replications)).to_numpy(dtype=np.float64)
        rng = np.random.Generator(np.random.PCG64(seed))
        draws_first, draws_total = [], []
        for _ in range(sweep.spec.analysis.resamples):
            chosen = rng.integers(0, replications, replications)
            resampled = np.nanmean(wide[:, chosen], axis=1)
            if np.isnan(resampled).any() or resampled.var() == 0:
                continue
            f, t = _grid_decomposition(resampled, shape)
            draws_first.append(f)
            draws_total.append(t)
        if len(draws_first) >= 10:
            from scipy import stats

            z = float(stats.norm.ppf(0.5 + sweep.spec.analysis.confidence_level / 2))
            first_conf = z * np.std(draws_first, axis=0, ddof=1)
            total_conf = z * np.std(draws_total, axis=0, ddof=1)
    rows = []
    for j, parameter in enumerate(sweep.parameters):
        rows.append(("S1", parameter.key, first[j], first_conf[j]))
        rows.append(("ST", parameter.key, total[j], total_conf[j]))
    return rows

"""Figures of a parameter sweep.

Figures (PNG under ``<sweep>/figures/``), built like the run report's
(:mod:`simulator.reports.figures`: matplotlib ``Figure`` objects on the Agg canvas, no pyplot):

* ``main_effects_<kpi>.png``: one panel per parameter: every run as a dot and the mean
  of the KPI over all runs at each value of the parameter (in bins of equal counts for
  sampled parameters) with its 95 % confidence interval;
* ``heatmap_<kpi>.png``: for a grid of exactly two parameters, the mean of the KPI in
  every cell of the grid;
* ``tornado.png``: the sensitivity indices of each KPI, parameters sorted by importance.

:mod:`simulator.reports.sweep_report` embeds them in the sweep's ``report.html``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.reports.figures import format_number, new_figure, save_png, thousands_formatter
from simulator.results import FIGURES_DIR

DISCRETE_LIMIT = 12
"""A parameter with at most this many distinct values is shown value by value, else in bins."""
BINS = 8
"""Bins of equal counts for a sampled parameter's main effect."""

_DOT_COLOUR = "#9aa9b8"
_LINE_COLOUR = "#1f4e79"
_FIRST_COLOUR = "#1f4e79"
_TOTAL_COLOUR = "#9ecae1"
_SIGMA_COLOUR = "#b03a2e"

KpiLabels = Mapping[str, tuple[str, str]]


def kpi_label(kpi: str, labels: KpiLabels) -> tuple[str, str]:
    """``(label, unit)`` of a KPI (the KPI itself and ``value`` when it has no label)."""
    return labels.get(kpi, (kpi, "value"))


def _value_axis(axis: Any, unit: str, which: str = "y") -> None:
    """Format a KPI axis: % for shares, thousands for counts."""
    target = axis.yaxis if which == "y" else axis.xaxis
    if unit == "share":
        target.set_major_formatter(ticker.PercentFormatter(xmax=1.0, decimals=1))
    elif unit in ("people", "consumers", "count"):
        target.set_major_formatter(thousands_formatter())


def kpi_slug(text: str) -> str:
    """File-name-safe form of a KPI column (names the figures ``main_effects_<slug>.png``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "kpi"


def _mean_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t interval (NaN with fewer than 2 values)."""
    from scipy import stats

    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    half = float(stats.t.ppf(0.975, len(values) - 1)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, half


def format_value(value: Any) -> str:
    """A parameter value as text: booleans in lower case, floats with 4 significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --------------------------------------------------------------------------- main effects

_UNIT_TEXT = {"people": "people", "consumers": "simulated consumers", "share": "% of consumers"}


def _wants_log_axis(parameter: Mapping[str, Any], centres: np.ndarray) -> bool:
    """Log x axis for loguniform parameters and for positive values spanning a factor of 10 or more."""
    if len(centres) == 0 or not np.all(np.isfinite(centres)) or np.any(centres <= 0):
        return False
    if parameter.get("distribution") == "loguniform":
        return True
    return bool(parameter.get("values")) and centres.max() / centres.min() >= 10


def main_effects_figure(
    summary: pd.DataFrame, parameters: Sequence[Mapping[str, Any]], kpi: str, labels: KpiLabels
) -> Figure:
    """Main effect of each parameter on one KPI.

    For every parameter: the runs as dots, and the mean of the KPI over all successful
    runs at each value (sampled parameters: in :data:`BINS` bins of equal counts, at the
    bin's mean value) with a 95 % Student-t interval. The other parameters vary across
    the runs at a value, so the line is the *marginal* (main) effect. Panels share the
    KPI axis, so their slopes compare directly.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``summary.parquet`` of the sweep.
    parameters : sequence of mappings
        The ``parameters`` of ``sweep.json`` (``key``, ``label``, ``kind``, ``values``,
        ``distribution``).
    kpi : str
        The KPI column.
    labels : mapping
        ``{kpi: (label, unit)}``.
    """
    label, unit = kpi_label(kpi, labels)
    ok = summary[summary["status"] == "ok"]
    n = len(parameters)
    n_columns = 2 if n == 4 else min(n, 3)
    n_rows = math.ceil(n / n_columns)
    figure = new_figure(4.3 * n_columns + 0.4, 3.3 * n_rows + 0.9)
    axes = figure.subplots(n_rows, n_columns, sharey=True, squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= n:
            axis.set_visible(False)
            continue
        parameter = parameters[index]
        _main_effect_panel(axis, parameter, ok[parameter["key"]], ok[kpi].to_numpy(dtype=np.float64))
        _value_axis(axis, unit)
        if index % n_columns == 0:
            axis.set_ylabel(f"{label}, {_UNIT_TEXT[unit]}" if unit in _UNIT_TEXT else label, fontsize=8)
        if index == 0:
            axis.legend(fontsize=7, loc="best", framealpha=0.85)
    figure.suptitle(
        f"Main effects on {label}\n"
        "dots: runs; line: mean over all runs at each value, other parameters varying (95 % CI)",
        fontsize=11,
    )
    return figure


def _main_effect_panel(axis: Any, parameter: Mapping[str, Any], x: pd.Series, y: np.ndarray) -> None:
    """One parameter's panel: the runs as dots and the mean (95 % CI) at each value or bin."""
    categorical = parameter.get("kind") in ("text", "boolean")
    distinct = list(parameter["values"]) if parameter.get("values") else sorted(x.dropna().unique().tolist())
    if categorical or len(distinct) <= DISCRETE_LIMIT:
        if categorical:
            position = {value: i for i, value in enumerate(distinct)}
            xs = x.map(position).to_numpy(dtype=np.float64)
            centres = np.arange(len(distinct), dtype=np.float64)
            axis.set_xticks(centres, [format_value(v) for v in distinct])
            axis.set_xlim(-0.5, len(distinct) - 0.5)
        else:
            xs = x.to_numpy(dtype=np.float64)
            centres = np.asarray(distinct, dtype=np.float64)
        stats = [_mean_interval(y[xs == c]) for c in centres]
        discrete_numeric = not categorical
    else:
        discrete_numeric = False
        xs = x.to_numpy(dtype=np.float64)
        edges = np.unique(np.quantile(xs, np.linspace(0, 1, BINS + 1)))
        bin_of = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, len(edges) - 2)
        centres = np.array([xs[bin_of == b].mean() for b in range(len(edges) - 1)])
        stats = [_mean_interval(y[bin_of == b]) for b in range(len(edges) - 1)]
    means = np.array([s[0] for s in stats])
    halves = np.array([s[1] for s in stats])
    axis.scatter(xs, y, s=9, color=_DOT_COLOUR, alpha=0.55, linewidths=0, zorder=1, label="run")
    axis.errorbar(
        centres,
        means,
        yerr=np.where(np.isfinite(halves), halves, 0.0),
        color=_LINE_COLOUR,
        marker="o",
        markersize=4.5,
        linewidth=1.8,
        capsize=3,
        zorder=3,
        label="mean (95 % CI)",
    )
    if not categorical and _wants_log_axis(parameter, centres):
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _pos: f"{value:g}"))
    if discrete_numeric:  # tick exactly the values that were run
        axis.xaxis.set_minor_locator(ticker.NullLocator())
        axis.set_xticks(centres, [format_value(float(c)) for c in centres], rotation=45 if len(centres) > 6 else 0)
    axis.set_title(parameter.get("label") or parameter["key"], fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.tick_params(labelsize=8)


# --------------------------------------------------------------------------- heat map


def heatmap_figure(
    summary: pd.DataFrame, parameters: Sequence[Mapping[str, Any]], kpi: str, labels: KpiLabels
) -> Figure:
    """Mean of a KPI over the replications of every cell of a two-parameter grid.

    The first parameter runs along the x axis, the second along the y axis; every cell
    is annotated with its value.
    """
    label, unit = kpi_label(kpi, labels)
    across, up = parameters[0], parameters[1]
    ok = summary[summary["status"] == "ok"]
    x_values = list(across["values"]) if across.get("values") else sorted(ok[across["key"]].unique())
    y_values = list(up["values"]) if up.get("values") else sorted(ok[up["key"]].unique())
    table = ok.pivot_table(index=up["key"], columns=across["key"], values=kpi, aggfunc="mean")
    table = table.reindex(index=y_values, columns=x_values)
    grid = table.to_numpy(dtype=np.float64)
    figure = new_figure(max(5.5, 0.9 * len(x_values) + 3.0), max(3.8, 0.6 * len(y_values) + 2.2))
    axis = figure.subplots()
    finite = grid[np.isfinite(grid)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    image = axis.imshow(
        grid, origin="lower", aspect="auto", cmap="viridis", vmin=low, vmax=high if high > low else low + 1
    )
    axis.set_xticks(range(len(x_values)), [format_value(v) for v in x_values])
    axis.set_yticks(range(len(y_values)), [format_value(v) for v in y_values])
    axis.set_xlabel(across.get("label") or across["key"])
    axis.set_ylabel(up.get("label") or up["key"])
    midpoint = (low + high) / 2
    if len(x_values) * len(y_values) <= 150:
        for row in range(len(y_values)):
            for column in range(len(x_values)):
                value = grid[row, column]
                text = "failed" if not np.isfinite(value) else format_number(value, unit)
                colour = "white" if np.isfinite(value) and value < midpoint else "black"
                axis.text(column, row, text, ha="center", va="center", fontsize=7.5, color=colour)
    bar = figure.colorbar(image, ax=axis, shrink=0.9)
    bar.set_label(label, fontsize=8)
    _value_axis(bar.ax, unit)
    axis.set_title(f"{label}\nmean over replications in each cell of the grid", fontsize=10)
    return figure


# --------------------------------------------------------------------------- tornado

_INDEX_TEXT = {
    "sobol": ("ST", "S1", "Sobol' indices: share of the KPI's variance"),
    "grid": ("ST", "S1", "variance shares over the grid"),
    "rbd_fast": (None, "S1", "RBD-FAST first-order index: share of variance"),
    "morris": ("mu_star", None, "Morris μ*: mean |elementary effect| per full range"),
}


def tornado_figure(
    sensitivity: pd.DataFrame, parameters: Sequence[Mapping[str, Any]], kpis: Sequence[str], labels: KpiLabels
) -> Figure | None:
    """Sensitivity of each KPI to each parameter as horizontal bars, most important on top.

    Sobol' and grid designs: total-order (light, upper bar) and first-order (dark, lower
    bar) indices; Morris: μ* with its interval and σ (interactions, non-linearity) as a
    diamond; LHS: the RBD-FAST first-order index. Error bars are the bootstrap
    confidence intervals. Returns None when there are no indices.
    """
    if sensitivity.empty:
        return None
    names = {p["key"]: p.get("label") or p["key"] for p in parameters}
    shown = [k for k in kpis if k in set(sensitivity["kpi"])]
    if not shown:
        return None
    method = str(sensitivity["method"].iloc[0])
    wide_index, narrow_index, axis_text = _INDEX_TEXT.get(method, (None, "S1", "index"))
    n_columns = min(len(shown), 2)
    n_rows = math.ceil(len(shown) / n_columns)
    height_per_row = 0.42 * len(parameters) + 1.3
    figure = new_figure(6.2 * n_columns, height_per_row * n_rows + 1.0)
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= len(shown):
            axis.set_visible(False)
            continue
        kpi = shown[index]
        rows = sensitivity[(sensitivity["kpi"] == kpi) & sensitivity["other_parameter"].isna()]
        main = wide_index or narrow_index
        ranking = rows[rows["index"] == main].set_index("parameter")["value"].reindex(list(names)).fillna(0.0)
        order = list(ranking.sort_values(kind="stable").index)  # ascending: the largest ends on top
        positions = np.arange(len(order))

        if method == "morris":
            handles = _morris_bars(axis, rows, order)
            _value_axis(axis, kpi_label(kpi, labels)[1], which="x")
        else:
            handles = _index_bars(axis, rows, order, wide_index, narrow_index or "S1")
        axis.set_yticks(positions, [names.get(p, p) for p in order])
        axis.set_title(kpi_label(kpi, labels)[0], fontsize=10)
        axis.grid(True, axis="x", alpha=0.3)
        axis.tick_params(labelsize=8)
        axis.set_xlabel(axis_text, fontsize=8)
        if index == 0:
            axis.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.85)
    figure.suptitle("Sensitivity of each KPI to the parameters (most influential on top)", fontsize=11)
    return figure


def _index_series(rows: pd.DataFrame, index: str, order: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Values and interval half-widths of one index, parameters in ``order``."""
    part = rows[rows["index"] == index].set_index("parameter").reindex(list(order))
    return part["value"].to_numpy(dtype=np.float64), part["conf"].to_numpy(dtype=np.float64)


def _morris_bars(axis: Any, rows: pd.DataFrame, order: Sequence[str]) -> list[Any]:
    """Morris μ* as bars with their intervals and σ as diamonds; returns the legend handles."""
    positions = np.arange(len(order))
    values, conf = _index_series(rows, "mu_star", order)
    sigma, _ = _index_series(rows, "sigma", order)
    axis.barh(
        positions,
        values,
        height=0.6,
        color=_FIRST_COLOUR,
        xerr=np.nan_to_num(conf),
        capsize=3,
        error_kw={"elinewidth": 1, "ecolor": "#333333"},
    )
    axis.scatter(sigma, positions, marker="D", color=_SIGMA_COLOUR, s=28, zorder=3)
    return [
        Patch(color=_FIRST_COLOUR, label="μ* (95 % CI)"),
        Patch(color=_SIGMA_COLOUR, label="σ (interactions / non-linearity)"),
    ]


def _index_bars(
    axis: Any, rows: pd.DataFrame, order: Sequence[str], wide_index: str | None, narrow_index: str
) -> list[Any]:
    """Variance shares side by side: total order above, first order below, each with its interval."""
    positions = np.arange(len(order))
    handles = []
    offset = 0.19 if wide_index is not None else 0.0
    if wide_index is not None:
        values, conf = _index_series(rows, wide_index, order)
        axis.barh(
            positions + offset,
            values,
            height=0.36,
            color=_TOTAL_COLOUR,
            xerr=np.nan_to_num(conf),
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
        handles.append(Patch(color=_TOTAL_COLOUR, label="total order ST (95 % CI)"))
    values, conf = _index_series(rows, narrow_index, order)
    axis.barh(
        positions - offset,
        values,
        height=0.36 if offset else 0.6,
        color=_FIRST_COLOUR,
        xerr=np.nan_to_num(conf),
        capsize=3,
        error_kw={"elinewidth": 1, "ecolor": "#333333"},
    )
    handles.append(Patch(color=_FIRST_COLOUR, label="first order S1 (95 % CI)"))
    axis.axvline(0, color="#444444", linewidth=0.8)
    axis.set_xlim(left=min(-0.05, axis.get_xlim()[0]), right=max(1.0, axis.get_xlim()[1]))
    return handles


# --------------------------------------------------------------------------- saving


def save_sweep_figures(
    folder: str | os.PathLike[str],
    manifest: Mapping[str, Any],
    summary: pd.DataFrame,
    sensitivity: pd.DataFrame,
    labels: KpiLabels,
) -> dict[str, Path]:
    """Write the sweep's figures under ``<folder>/figures/`` (atomically).

    Returns
    -------
    dict of str to pathlib.Path
        ``tornado``, ``main_effects_<kpi>`` and (two-parameter grids) ``heatmap_<kpi>``.
    """
    target = Path(folder) / FIGURES_DIR
    target.mkdir(parents=True, exist_ok=True)
    parameters = manifest["parameters"]
    kpis = [c for c in summary.columns if c in kpi_columns(manifest)]
    written: dict[str, Path] = {}
    if (summary["status"] == "ok").any():
        figure = tornado_figure(sensitivity, parameters, kpis, labels)
        if figure is not None:
            written["tornado"] = save_png(figure, target / "tornado.png")
        for kpi in kpis:
            name = f"main_effects_{kpi_slug(kpi)}"
            written[name] = save_png(main_effects_figure(summary, parameters, kpi, labels), target / f"{name}.png")
        if manifest["design"]["kind"] == "grid" and len(parameters) == 2:
            for kpi in kpis:
                name = f"heatmap_{kpi_slug(kpi)}"
                written[name] = save_png(heatmap_figure(summary, parameters, kpi, labels), target / f"{name}.png")
    return written


def kpi_columns(manifest: Mapping[str, Any]) -> list[str]:
    """The KPIs a sweep keeps, from its ``sweep.json``."""
    return list(manifest["identity"]["sweep"]["kpis"])

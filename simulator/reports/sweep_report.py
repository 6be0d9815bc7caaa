"""The self-contained ``report.html`` of a parameter sweep, and the sweep folder's figures and report.

The report embeds the figures of :mod:`simulator.reports.sweep_figures` as base64 PNG with
the tables of the sweep, built on the HTML helpers of :mod:`simulator.reports.html`.
:func:`write_sweep_outputs` draws both into a finished sweep folder; :func:`run_sweep` runs a
sweep (:func:`simulator.experiments.sweep.run_sweep`) and then draws them, as
``footprint sweep`` does.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import ResultsError
from simulator.experiments import ExecutorSpec
from simulator.experiments.sweep import KPI_LABELS, REPORT_FILE, Evaluation, ProgressCallback, Sweep, SweepResult
from simulator.experiments.sweep import run_sweep as run_experiment_sweep
from simulator.reports.figures import format_number
from simulator.reports.html import (
    escape_html,
    html_table,
    image_tag,
    key_value_table,
    warnings_block,
    write_html_document,
)
from simulator.reports.sweep_figures import (
    KpiLabels,
    format_value,
    kpi_columns,
    kpi_label,
    kpi_slug,
    save_sweep_figures,
)
from simulator.results import folder_lock

RUN_ROWS_SHOWN = 1000
"""The report's table of runs shows at most this many rows (all are in summary.parquet)."""


def _parameter_rows(parameters: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for p in parameters:
        if p.get("values"):
            spread = ", ".join(format_value(v) for v in p["values"])
        elif p.get("distribution") == "normal":
            spread = f"normal, mean {format_value(p['mean'])}, sd {format_value(p['sd'])}"
        else:
            spread = f"{p.get('distribution', 'uniform')} on [{format_value(p['low'])}, {format_value(p['high'])}]"
        targets = p.get("targets") or [p["key"]]
        sets = targets[0] if len(targets) == 1 else f"{len(targets)} keys ({targets[0]}, …)"
        rows.append([p["key"], p.get("label") or p["key"], p.get("kind", ""), spread, sets])
    return rows


def _kpi_overview(summary: pd.DataFrame, kpis: Sequence[str], labels: KpiLabels) -> str:
    ok = summary[summary["status"] == "ok"]
    rows = []
    for kpi in kpis:
        label, unit = kpi_label(kpi, labels)
        values = ok[kpi].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            rows.append([label, kpi, "–", "–", "–", "–"])
            continue
        rows.append(
            [
                label,
                kpi,
                format_number(float(values.min()), unit),
                format_number(float(values.mean()), unit),
                format_number(float(values.max()), unit),
                format_number(float(values.std(ddof=1)) if len(values) > 1 else math.nan, unit),
            ]
        )
    return html_table(
        ["KPI", "Column", "Minimum", "Mean", "Maximum", "Std. dev. over runs"],
        rows,
        [False, False, True, True, True, True],
    )


def _sensitivity_table(sensitivity: pd.DataFrame, parameters: Sequence[Mapping[str, Any]], labels: KpiLabels) -> str:
    names = {p["key"]: p.get("label") or p["key"] for p in parameters}
    rows = []
    for row in sensitivity.to_dict("records"):
        parameter = names.get(row["parameter"], row["parameter"])
        if isinstance(row.get("other_parameter"), str):
            parameter += " × " + names.get(row["other_parameter"], row["other_parameter"])
        conf = row["conf"]
        # variance shares on a 0-1 scale with 3 decimals; Morris effects in the KPI's unit
        shown = (lambda v: f"{v:.3f}") if row["method"] != "morris" else (lambda v: f"{v:,.4g}")
        interval = (
            f"{shown(row['ci_low'])} – {shown(row['ci_high'])}" if conf is not None and math.isfinite(conf) else "–"
        )
        rows.append(
            [kpi_label(row["kpi"], labels)[0], parameter, row["method"], row["index"], shown(row["value"]), interval]
        )
    level = sensitivity["confidence_level"].iloc[0] if len(sensitivity) else 0.95
    return html_table(
        ["KPI", "Parameter", "Method", "Index", "Value", f"{level:.0%} confidence interval"],
        rows,
        [False, False, False, False, True, True],
    )


def _runs_table(
    summary: pd.DataFrame, parameters: Sequence[Mapping[str, Any]], kpis: Sequence[str], labels: KpiLabels
) -> str:
    shown = summary.head(RUN_ROWS_SHOWN)
    keys = [p["key"] for p in parameters]
    headers = [
        "Run",
        "Seed",
        *[p.get("label") or p["key"] for p in parameters],
        *[kpi_label(k, labels)[0] for k in kpis],
        "Status",
    ]
    numeric = [False, True, *([True] * len(keys)), *([True] * len(kpis)), False]
    rows = []
    for row in shown.to_dict("records"):
        kpi_cells = [format_number(row[k], kpi_label(k, labels)[1]) if row["status"] == "ok" else "–" for k in kpis]
        status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('error') or ''}"
        rows.append([row["run_id"], row["seed"], *[format_value(row[k]) for k in keys], *kpi_cells, status])
    return html_table(headers, rows, numeric)


def _figure_block(figures: Mapping[str, Path], key: str, caption: str) -> str:
    if key not in figures:
        return ""
    return f"<figure>{image_tag(figures[key], caption)}<figcaption>{escape_html(caption)}</figcaption></figure>"


def _design_text(manifest: Mapping[str, Any]) -> str:
    design = manifest["identity"]["sweep"]["design"]
    kind = design["kind"]
    d = len(manifest["parameters"])
    points = manifest["design"]["points"]
    if kind == "grid":
        return f"full grid of {points:,} points"
    if kind == "lhs":
        return f"Latin hypercube of {design['samples']:,} points"
    if kind == "sobol":
        factor = "2D + 2" if design.get("second_order") else "D + 2"
        return f"Sobol' / Saltelli: N = {design['samples']:,} base samples × ({factor}) with D = {d}: {points:,} points"
    return f"Morris: {design['samples']:,} trajectories of D + 1 = {d + 1} points, {design.get('levels') or 4} levels: {points:,} points"


def write_sweep_report(
    path: str | os.PathLike[str],
    manifest: Mapping[str, Any],
    metadata: Mapping[str, Any],
    summary: pd.DataFrame,
    sensitivity: pd.DataFrame,
    figures: Mapping[str, str | os.PathLike[str]],
    labels: KpiLabels,
) -> Path:
    """Write the sweep's self-contained ``report.html`` (atomically).

    Contents: the sweep (design, runs, seeds, executor), the parameters, failed runs,
    the KPIs over the sweep, the sensitivity indices (tornado and table) with analysis
    notes, the main-effect plots and heat maps, the table of runs, the base scenario and
    package versions. Inline CSS, figures as base64 PNG, no scripts or external links.
    """
    figure_paths = {key: Path(value) for key, value in figures.items()}
    parameters = manifest["parameters"]
    kpis = kpi_columns(manifest)
    name = manifest.get("name") or "sweep"
    failed = summary[summary["status"] != "ok"]
    base = manifest.get("base_scenario")
    sections = [
        f"<header><h1>Parameter sweep: {escape_html(name)}</h1>",
        f'<p class="description">{escape_html(manifest.get("description"))}</p>' if manifest.get("description") else "",
        "</header>",
        warnings_block(metadata.get("warnings") or []),
        "<section><h2>Sweep</h2>",
        key_value_table(_sweep_pairs(manifest, metadata, summary, len(failed))),
        "</section>",
        "<section><h2>Parameters</h2>",
        html_table(
            ["Key", "Label", "Type", "Values or distribution", "Sets"], _parameter_rows(parameters), [False] * 5
        ),
        "</section>",
    ]
    if len(failed):
        sections += _failed_section(failed)
    sections += _results_sections(
        summary, sensitivity, parameters, kpis, labels, metadata.get("notes") or [], figure_paths
    )
    more = (
        f" (first {RUN_ROWS_SHOWN:,} of {len(summary):,}; all are in summary.parquet)"
        if len(summary) > RUN_ROWS_SHOWN
        else ""
    )
    sections += [
        f"<section><h2>Runs{escape_html(more)}</h2>",
        '<div class="scroll">',
        _runs_table(summary, parameters, kpis, labels),
        "</div></section>",
        "<section><h2>Reproducibility</h2>",
        html_table(["Package", "Version"], sorted((metadata.get("package_versions") or {}).items()), [False, False]),
    ]
    if base:
        sections.append(
            "<details><summary>Base scenario (canonical JSON)</summary>"
            f"<pre>{escape_html(json.dumps(base, indent=2, sort_keys=True, ensure_ascii=False))}</pre></details>"
        )
    sections.append("</section>")
    return write_html_document(f"{name} – footprint sweep report", sections, path)


def _sweep_pairs(
    manifest: Mapping[str, Any], metadata: Mapping[str, Any], summary: pd.DataFrame, failed: int
) -> list[tuple[str, Any]]:
    """The report's table of the sweep: base scenario, design, runs, seeds, executor, command."""
    name = manifest.get("name") or "sweep"
    base = manifest.get("base_scenario")
    pairs: list[tuple[str, Any]] = [("Sweep", name)]
    if base:
        pairs.append(
            ("Base scenario", f"{base.get('name')} (hash {str(manifest['identity']['base_scenario_hash'])[:16]})")
        )
        population = base.get("population", {})
        horizon = base.get("horizon", {})
        pairs.append(("Each run", f"{population.get('consumers', 0):,} consumers, {horizon.get('days')} days"))
    pairs += [
        ("Design", _design_text(manifest)),
        ("Replications per point", manifest["identity"]["sweep"]["replications"]),
        ("Runs", f"{len(summary):,} ({len(summary) - failed:,} succeeded, {failed:,} failed)"),
        ("Root seed", f"{manifest['identity']['root_seed']} (replication r uses the same seed at every point)"),
        ("Executor", metadata.get("executor", "–")),
        (
            "This time",
            f"{metadata.get('runs_executed', 0):,} runs executed, {metadata.get('runs_reused', 0):,} found finished",
        ),
    ]
    if metadata.get("command"):
        pairs.append(("Command", metadata["command"]))
    if metadata.get("created_utc"):
        pairs.append(("Created (UTC)", metadata["created_utc"]))
    return pairs


def _failed_section(failed: pd.DataFrame) -> list[str]:
    """The failed runs (at most 200) with their one-line errors."""
    rows = [
        [r["run_id"], r["point"], r["replication"], r.get("error") or ""] for r in failed.head(200).to_dict("records")
    ]
    return [
        "<section><h2>Failed runs</h2>",
        (
            '<p class="note">Each failure is recorded in runs/&lt;run_id&gt;.error.json with its traceback; '
            "running the same command again retries them.</p>"
        ),
        html_table(["Run", "Point", "Replication", "Error"], rows, [False, True, True, False]),
        "</section>",
    ]


def _results_sections(
    summary: pd.DataFrame,
    sensitivity: pd.DataFrame,
    parameters: Sequence[Mapping[str, Any]],
    kpis: Sequence[str],
    labels: KpiLabels,
    notes: Sequence[str],
    figure_paths: Mapping[str, Path],
) -> list[str]:
    """The KPIs over the sweep, the sensitivity indices, the main effects and the heat maps."""
    sections = [
        "<section><h2>KPIs over the sweep</h2>",
        _kpi_overview(summary, kpis, labels),
        (
            '<p class="note">Over all successful runs. Counts are totals over the horizon scaled to the real population '
            "(people), shares and trust are values on the last day.</p></section>"
        ),
        "<section><h2>Sensitivity</h2>",
        _figure_block(figure_paths, "tornado", "Sensitivity indices per KPI, most influential parameter on top."),
        "".join(f'<p class="note">{escape_html(note)}</p>' for note in notes),
        '<div class="scroll">',
        _sensitivity_table(sensitivity, parameters, labels) if len(sensitivity) else "<p>No indices.</p>",
        "</div>",
        (
            '<p class="note">Indices use the mean of each design point over its replications. S1: share of the KPI\'s '
            "variance explained by the parameter alone; ST: including its interactions; Morris μ*: mean absolute change "
            "of the KPI when the parameter moves over its whole range, σ: spread of that change (interactions, "
            "non-linearity). Intervals: bootstrap, value ± z × its standard deviation, so an interval may reach below 0 "
            "or above 1.</p></section>"
        ),
        "<section><h2>Main effects</h2>",
        *[
            _figure_block(figure_paths, f"main_effects_{kpi_slug(k)}", f"Main effects on {kpi_label(k, labels)[0]}.")
            for k in kpis
        ],
        "</section>",
    ]
    heatmaps = [k for k in kpis if f"heatmap_{kpi_slug(k)}" in figure_paths]
    if heatmaps:
        sections += [
            "<section><h2>Heat maps</h2>",
            *[
                _figure_block(figure_paths, f"heatmap_{kpi_slug(k)}", f"{kpi_label(k, labels)[0]} over the grid.")
                for k in heatmaps
            ],
            "</section>",
        ]
    return sections


# --------------------------------------------------------------------------- the sweep folder


def write_sweep_outputs(result: SweepResult) -> dict[str, Path]:
    """Draw the figures and ``report.html`` of a finished sweep into its folder.

    The time it takes counts in the sweep's wall seconds (``result.wall_seconds`` and
    ``metadata.json``), as the whole ``footprint sweep`` command.

    Returns
    -------
    dict of str to pathlib.Path
        The figures by key (see :func:`simulator.reports.sweep_figures.save_sweep_figures`).
    """
    started = time.perf_counter()
    with folder_lock(result.folder, what="sweep folder"):
        try:
            figures = save_sweep_figures(result.folder, result.manifest, result.summary, result.sensitivity, KPI_LABELS)
            write_sweep_report(
                result.folder / REPORT_FILE,
                result.manifest,
                result.metadata,
                result.summary,
                result.sensitivity,
                figures,
                KPI_LABELS,
            )
        except ResultsError as error:
            raise ResultsError(f"{error} (the runs are saved: the same command draws the report again)") from None
        result.add_wall_seconds(time.perf_counter() - started)
    return figures


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    evaluate: Evaluation | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
    report: bool = True,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and write its summary, sensitivity and report.

    :func:`simulator.experiments.sweep.run_sweep` (see there for the parameters), then,
    with ``report``, :func:`write_sweep_outputs`: ``figures/`` and ``report.html``.
    """
    result = run_experiment_sweep(sweep, out, evaluate=evaluate, spec=spec, progress=progress, command=command)
    if report:
        write_sweep_outputs(result)
    return result

"""The calibration folder's figures, ``report.html`` and ``summary.xlsx``.

Figures: ``fit.png`` (each target's observed value with its ±1.645 SE bar against the
simulations at posterior draws, median and 90 % band, and the emulator at the calibrated
point) and ``pairs.png`` (the pairwise posterior: histograms on the diagonal, scatter of
the sample below, the prior's range as the axes). The report embeds them as base64 PNG
with the intervals and fit tables (:mod:`simulator.reports.html`); the workbook is
written by :func:`simulator.results.write_summary_workbook`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.config import ResultsError
from simulator.experiments.calibrate import REPORT_FILE, SUMMARY_WORKBOOK, CalibrationResult
from simulator.reports.figures import new_figure, save_png
from simulator.reports.html import escape_html, html_table, image_tag, key_value_table, write_html_document
from simulator.results import folder_lock, write_summary_workbook

Z90 = 1.6448536269514722


def fit_figure(fit: pd.DataFrame):
    """Observed against simulated per target, each on its own scale (relative to the observed value)."""
    count = len(fit)
    figure = new_figure(8.0, 1.2 + 0.45 * count)
    axes = figure.add_subplot(1, 1, 1)
    y = np.arange(count)[::-1]
    scale = fit["observed"].abs().replace(0, 1.0).to_numpy()
    observed = fit["observed"].to_numpy() / scale
    error = Z90 * fit["se"].to_numpy() / scale
    axes.errorbar(observed, y + 0.15, xerr=error, fmt="o", color="#1d2733", label="observed ± 90 %")
    low, high = fit["simulated_q05"].to_numpy() / scale, fit["simulated_q95"].to_numpy() / scale
    if np.isfinite(low).any():
        axes.hlines(y - 0.1, low, high, color="#1f77b4", linewidth=5, alpha=0.45, label="simulated, 90 % band")
        axes.plot(fit["simulated_median"].to_numpy() / scale, y - 0.1, "|", color="#1f77b4", markersize=14)
    emulated = fit["emulated"].to_numpy() / scale
    axes.errorbar(
        emulated,
        y - 0.3,
        xerr=[emulated - fit["emulated_q05"].to_numpy() / scale, fit["emulated_q95"].to_numpy() / scale - emulated],
        fmt="s",
        color="#d62728",
        markersize=4,
        label="emulator at the calibrated point",
    )
    axes.set_yticks(y, [str(t) for t in fit["target"]])
    axes.axvline(1.0, color="#999999", linewidth=0.8)
    axes.set_xlabel("value relative to the observed value")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.2 / (1.2 + 0.45 * count)), ncol=3, fontsize=7)
    return figure


def pairs_figure(posterior: pd.DataFrame, intervals: pd.DataFrame):
    """The pairwise posterior: histograms on the diagonal, the sample's scatter below it."""
    keys = list(intervals["parameter"])
    labels = list(intervals["label"])
    count = len(keys)
    figure = new_figure(2.0 * count + 1.0, 2.0 * count + 1.0)
    sample = posterior[keys].to_numpy(dtype=np.float64)
    limits = [
        (min(row["prior_q05"], float(sample[:, i].min())), max(row["prior_q95"], float(sample[:, i].max())))
        for i, row in enumerate(intervals.to_dict("records"))
    ]
    for i in range(count):
        for j in range(i + 1):
            axes = figure.add_subplot(count, count, i * count + j + 1)
            if i == j:
                axes.hist(sample[:, i], bins=30, range=limits[i], color="#1f77b4", alpha=0.7)
                axes.axvline(float(intervals["median"].iloc[i]), color="#d62728", linewidth=1)
                axes.set_yticks([])
            else:
                axes.scatter(sample[:, j], sample[:, i], s=2, alpha=0.25, color="#1f77b4")
                axes.set_xlim(limits[j])
                axes.set_ylim(limits[i])
            if i == count - 1:
                axes.set_xlabel(labels[j], fontsize=7)
            if j == 0 and i > 0:
                axes.set_ylabel(labels[i], fontsize=7)
            axes.tick_params(labelsize=6)
    return figure


def _number(value: float) -> str:
    return "" if value != value else f"{value:.4g}"


def write_calibration_report(result: CalibrationResult, figures: dict[str, Path]) -> Path:
    """Write the calibration's self-contained ``report.html`` (atomically)."""
    manifest, metadata, tables = result.manifest, result.metadata, result.tables
    intervals, fit = tables["intervals"], tables["fit"]
    interval_rows = [
        [r["label"], r["prior"], *(_number(r[k]) for k in ("median", "mean", "q05", "q95", "width_ratio"))]
        for r in intervals.to_dict("records")
    ]
    fit_rows = [
        [
            r["target"],
            *(
                _number(r[k])
                for k in ("observed", "se", "simulated_median", "simulated_q05", "simulated_q95", "emulated")
            ),
        ]
        for r in fit.to_dict("records")
    ]
    name = manifest.get("name") or "calibration"
    sections = [
        f"<header><h1>Calibration: {escape_html(name)}</h1>",
        f'<p class="description">{escape_html(manifest.get("description"))}</p>' if manifest.get("description") else "",
        "</header><section><h2>Calibration</h2>",
        key_value_table(
            [
                ("Method", "Gaussian-process emulators, history matching, MCMC (emcee) on the emulators"),
                ("Simulations", f"{result.simulations_total:,}"),
                ("Executor", metadata.get("executor")),
                ("Root seed", metadata.get("root_seed")),
                ("Calibrated scenario", "calibrated.toml (posterior medians)"),
                *((f"Note {i + 1}", note) for i, note in enumerate(metadata.get("notes") or [])),
            ]
        ),
        "</section><section><h2>Posterior</h2>",
        html_table(
            ["Parameter", "Prior", "Median", "Mean", "5 %", "95 %", "90 % width / prior's"],
            interval_rows,
            [False, False, True, True, True, True, True],
        ),
        '<p class="note">A width ratio near 1 means the targets say little about the parameter.</p>',
        f"<figure>{image_tag(figures['pairs'], 'pairwise posterior')}<figcaption>Pairwise posterior sample.</figcaption></figure>",
        "</section><section><h2>Fit</h2>",
        html_table(
            ["Target", "Observed", "SE", "Simulated median", "5 %", "95 %", "Emulated"], fit_rows, [False] + [True] * 6
        ),
        f"<figure>{image_tag(figures['fit'], 'observed against simulated')}<figcaption>Observed (±1.645 SE) "
        "against simulations at posterior draws (90 % band) and the emulator at the calibrated point.</figcaption></figure>",
        "</section><section><h2>Reproducibility</h2>",
        html_table(["Package", "Version"], sorted((metadata.get("package_versions") or {}).items()), [False, False]),
        "<details><summary>Base scenario (canonical JSON)</summary>"
        f"<pre>{escape_html(json.dumps(manifest.get('base_scenario'), indent=2, sort_keys=True, ensure_ascii=False))}</pre></details>",
        "</section>",
    ]
    return write_html_document(f"{name} – footprint calibration report", sections, result.folder / REPORT_FILE)


def write_calibration_outputs(result: CalibrationResult) -> dict[str, Path]:
    """Draw ``figures/fit.png``, ``figures/pairs.png``, ``report.html`` and ``summary.xlsx`` into the folder."""
    started = time.perf_counter()
    with folder_lock(result.folder, what="calibration folder"):
        try:
            target = result.folder / "figures"
            target.mkdir(exist_ok=True)
            figures = {
                "fit": save_png(fit_figure(result.tables["fit"]), target / "fit.png"),
                "pairs": save_png(
                    pairs_figure(result.tables["posterior"], result.tables["intervals"]), target / "pairs.png"
                ),
            }
            write_calibration_report(result, figures)
            write_summary_workbook(
                result.folder / SUMMARY_WORKBOOK,
                {"intervals": result.tables["intervals"], "fit": result.tables["fit"]},
                about={
                    "calibration": result.manifest.get("name"),
                    "method": "Gaussian-process emulators, history matching, MCMC (emcee)",
                    "simulations": result.simulations_total,
                    "calibrated scenario": "calibrated.toml (posterior medians)",
                    "counts": "KPIs ending in _scaled count people of the city",
                },
            )
        except ResultsError as error:
            raise ResultsError(
                f"{error} (the simulations are saved: the same command draws the report again)"
            ) from None
        result.add_wall_seconds(time.perf_counter() - started)
    return figures

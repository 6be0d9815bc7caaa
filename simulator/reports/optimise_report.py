"""The optimisation folder's figures and report: the curve, the map, ``report.html`` and ``summary.xlsx``.

* ``figures/curve.png``: the objective gained over the base plan against the number of
  new stores along the search, with paired 95 % intervals, and each step's marginal gain;
* ``figures/map.png``: the districts, the fixed stores, the chosen candidates (numbered in
  the order they were added), the other shortlisted candidates and the rejected ones;
* ``report.html``: self-contained (inline CSS, figures as base64 PNG, no scripts);
* ``summary.xlsx``: the candidates, the curve and the moves
  (:func:`simulator.results.write_summary_workbook`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.city import load_city, zone_frame
from simulator.config import ResultsError
from simulator.experiments.cache import bundle_key
from simulator.experiments.optimise import OptimisationResult
from simulator.experiments.optimise.tables import BASE_PLAN_FILE, BEST_PLAN_FILE
from simulator.reports.figures import display_label, font_kwargs, new_figure, save_png
from simulator.reports.html import (
    escape_html,
    html_table,
    image_tag,
    key_value_table,
    warnings_block,
    write_html_document,
)
from simulator.reports.maps import draw_outlines, frame_map, metric_frames, store_points
from simulator.results import folder_lock, write_summary_workbook

FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
WORKBOOK_FILE = "summary.xlsx"
CANDIDATE_ROWS_SHOWN = 200


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(float(value))
    if magnitude == 0 or magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _interval(mean: Any, low: Any, high: Any) -> str:
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return _number(mean)
    return f"{_number(mean)} [{_number(low)}, {_number(high)}]"


def draw_curve(result: OptimisationResult, path: Path) -> Path:
    """The gain over the base plan against the number of new stores (paired intervals), and each step's gain."""
    curve = result.curve
    figure = new_figure(8.0, 4.2)
    left, right = figure.subplots(1, 2)
    x = list(range(len(curve)))
    mean = curve["gain_over_base"].to_numpy(float)
    low = curve["gain_over_base_low"].to_numpy(float)
    high = curve["gain_over_base_high"].to_numpy(float)
    left.plot(x, mean, marker="o", color="#1f5fa8")
    left.fill_between(x, low, high, color="#1f5fa8", alpha=0.2, label="95 % paired interval")
    labels = [f"{int(n)}" + ("*" if kind == "swap" else "") for n, kind in zip(curve["new_stores"], curve["kind"])]
    left.set_xticks(x, labels)
    left.set_xlabel("new stores (* after a swap)")
    left.set_ylabel("gain over the base plan")
    left.set_title(result.metadata.get("objective_label", "objective"), fontsize=9)
    left.axhline(0, color="#888888", linewidth=0.8)
    left.legend(fontsize=8, loc="upper left")
    steps = curve.iloc[1:]
    gains = steps["gain"].to_numpy(float)
    errors = [gains - steps["gain_low"].to_numpy(float), steps["gain_high"].to_numpy(float) - gains]
    positions = list(range(len(steps)))
    right.bar(positions, gains, color="#6a9fd4")
    if len(steps):
        right.errorbar(positions, gains, yerr=errors, fmt="none", ecolor="#333333", capsize=3)
    right.set_xticks(
        positions, [display_label(a) for a in steps["added"]], rotation=60, ha="right", fontsize=7, **font_kwargs()
    )
    right.axhline(0, color="#888888", linewidth=0.8)
    right.set_title("marginal gain of each step", fontsize=9)
    return save_png(figure, path)


def draw_map(result: OptimisationResult, path: Path) -> Path:
    """Districts, fixed stores, chosen (numbered), shortlisted and rejected candidates."""
    manifest = result.manifest
    base = json.loads(manifest["base_scenario"])
    from simulator.config import parse_canonical_json

    scenario = parse_canonical_json(manifest["base_scenario"], "optimisation")
    city = load_city(bundle_key(scenario))
    zones, _cells = metric_frames(zone_frame(city), None)
    figure = new_figure(7.5, 7.0)
    axis = figure.subplots()
    zones.plot(ax=axis, color="#f4f1ea", edgecolor="none")
    draw_outlines(axis, zones.geometry, colour="#999999", linewidth=0.6)
    table = store_points(result.candidates, zones.crs)
    rejected = table[~table["shortlisted"]]
    shortlisted = table[table["shortlisted"] & ~table["chosen"]]
    chosen = table[table["chosen"]].sort_values("step_added")
    axis.scatter(
        rejected["map_x"], rejected["map_y"], s=12, color="#bbbbbb", label="rejected by the surrogate", zorder=3
    )
    axis.scatter(
        shortlisted["map_x"],
        shortlisted["map_y"],
        s=30,
        facecolor="none",
        edgecolor="#d07a1f",
        label="shortlisted, not chosen",
        zorder=4,
    )
    fixed = [
        store
        for store in base["plan"]["stores"]
        if store.get("lon") is not None or store.get("mall") or store.get("station")
    ]
    if fixed:
        from simulator.model import place_stores

        placed = place_stores(scenario, city).to_frame(city)
        points = store_points(placed, zones.crs)
        axis.scatter(
            points["map_x"], points["map_y"], s=45, marker="s", color="#444444", label="fixed stores", zorder=5
        )
    axis.scatter(chosen["map_x"], chosen["map_y"], s=110, marker="*", color="#c0392b", label="chosen", zorder=6)
    for number, (_index, row) in enumerate(chosen.iterrows(), start=1):
        axis.annotate(
            str(number), (row["map_x"], row["map_y"]), xytext=(4, 4), textcoords="offset points", fontsize=8, zorder=7
        )
    frame_map(axis, _extent(table, tuple(zones.total_bounds)))
    axis.legend(loc="upper left", fontsize=8, framealpha=0.9)
    axis.set_title(f"{result.metadata['name']}: chosen and rejected candidates", fontsize=10)
    return save_png(figure, path)


def _extent(points: pd.DataFrame, city: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The candidates' extent with a margin of a fifth of the city's width, within the city's bounds."""
    if points.empty:
        return city
    margin = 0.2 * (city[2] - city[0])
    return (
        max(city[0], float(points["map_x"].min()) - margin),
        max(city[1], float(points["map_y"].min()) - margin),
        min(city[2], float(points["map_x"].max()) + margin),
        min(city[3], float(points["map_y"].max()) + margin),
    )


def run_optimise_file(
    path: Path,
    out: Path | None,
    *,
    options: Any = None,
    spec: Any = None,
    progress: Any = None,
    command: str | None = None,
    results_root: Path = Path("results"),
) -> OptimisationResult:
    """Load an optimisation file, run (or resume) it and write its figures and report: ``footprint optimise``.

    ``out`` defaults to ``<results_root>/<name>``, a fixed name, so that the same command
    finds and resumes an interrupted optimisation.
    """
    from simulator.experiments import ExecutorSpec
    from simulator.experiments.optimise import load_optimisation, run_optimisation

    optimisation = load_optimisation(path, options)
    target = out if out is not None else results_root / optimisation.name
    result = run_optimisation(optimisation, target, spec=spec or ExecutorSpec(), progress=progress, command=command)
    write_optimisation_outputs(result)
    return result


def summary_rows(result: OptimisationResult) -> list[tuple[str, str]]:
    """The terminal's summary: each step's plan change and gain, the stop reason."""
    rows = []
    for row in result.curve.to_dict("records")[1:]:
        change = f"+{row['added']}" + (f" -{row['removed']}" if row["removed"] else "")
        rows.append(
            (f"{row['kind']} {row['new_stores']}: {change}", _interval(row["gain"], row["gain_low"], row["gain_high"]))
        )
    gain = result.metadata["gain_over_base"]
    rows.append(("gain over the base plan", _interval(gain["mean"], gain["ci_low"], gain["ci_high"])))
    rows.append(("stopped because", result.metadata["stop_reason"]))
    return rows


def _candidate_rows(candidates: pd.DataFrame) -> list[list[str]]:
    rows = []
    for row in candidates.head(CANDIDATE_ROWS_SHOWN).to_dict("records"):
        rows.append(
            [
                str(row["rank"]),
                f"{row['candidate_id']} ({row['name']})",
                row["format"],
                row["district"],
                _number(row["surrogate_score"]),
                str(row["shortlist_rank"]) if row["shortlist_rank"] > 0 else "–",
                _interval(row["gain_vs_base"], row["gain_vs_base_low"], row["gain_vs_base_high"]),
                f"{int(row['step_added'])}: "
                + _interval(row["gain_when_added"], row["gain_when_added_low"], row["gain_when_added_high"])
                if row["chosen"]
                else "–",
            ]
        )
    return rows


def _curve_rows(curve: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(row["step"]),
            row["kind"],
            str(row["new_stores"]),
            (f"+{row['added']}" if row["added"] else "") + (f" −{row['removed']}" if row["removed"] else ""),
            _interval(row["objective"], row["objective_low"], row["objective_high"]),
            _interval(row["gain"], row["gain_low"], row["gain_high"]),
            _interval(row["gain_over_base"], row["gain_over_base_low"], row["gain_over_base_high"]),
        ]
        for row in curve.to_dict("records")
    ]


def write_optimisation_report(result: OptimisationResult, figures: dict[str, Path]) -> Path:
    """Write ``report.html`` (self-contained) of an optimisation folder."""
    meta = result.metadata
    gain = meta["gain_over_base"]
    pairs = [
        ("Objective", f"{meta['objective']}: {meta['objective_label']}"),
        ("Fixed stores", f"{len(meta['fixed_stores'])}: {', '.join(meta['fixed_stores']) or 'none'}"),
        ("Candidates", f"{meta['candidates']} (shortlist of {len(meta['shortlist'])} by the surrogate)"),
        ("Budget", ", ".join(f"{k} {v}" for k, v in meta["budget"].items() if v is not None)),
        ("Constraints", ", ".join(f"{k} {v}" for k, v in meta["constraints"].items() if v is not None)),
        ("Chosen", ", ".join(meta["chosen"]) or "none"),
        ("Gain over the base plan", _interval(gain["mean"], gain["ci_low"], gain["ci_high"])),
        ("Stopped because", meta["stop_reason"]),
        (
            "Each simulation",
            f"{meta['consumers']:,} consumers, {meta['days']} days; {meta['replications']} replications (common random numbers), root seed {meta['root_seed']}",
        ),
        (
            "Simulations",
            f"{meta['timings']['simulations_executed']} run this time, {meta['timings']['simulations_reused']} found in the journal",
        ),
        ("Executor", meta["executor"]),
        ("Best plan", f"{BEST_PLAN_FILE} (footprint run / footprint compare {BASE_PLAN_FILE} {BEST_PLAN_FILE})"),
    ]
    if meta.get("command"):
        pairs.append(("Command", meta["command"]))
    sections = [
        f"<header><h1>Optimisation: {escape_html(meta['name'])}</h1>",
        f'<p class="description">{escape_html(meta.get("description"))}</p>' if meta.get("description") else "",
        "</header>",
        warnings_block(meta.get("warnings") or []),
        "<section><h2>Result</h2>",
        key_value_table(pairs),
        "</section><section><h2>Objective against the number of new stores</h2>",
        image_tag(figures["curve"], "curve"),
        html_table(
            [
                "Step",
                "Kind",
                "New stores",
                "Change",
                "Objective [95 % CI]",
                "Step gain [paired 95 % CI]",
                "Gain over base",
            ],
            _curve_rows(result.curve),
            [True, False, True, False, True, True, True],
        ),
        (
            '<p class="note">Intervals are paired over the replications, which share their random numbers across '
            "plans: a step is taken only when its gain's interval lies above 0.</p>"
        ),
        "</section><section><h2>Map</h2>",
        image_tag(figures["map"], "map of candidates"),
        "</section><section><h2>Candidates</h2>",
        '<div class="scroll">',
        html_table(
            [
                "Rank",
                "Candidate",
                "Format",
                "District",
                "Surrogate score",
                "Shortlist",
                "Gain alone [95 % CI]",
                "Added at step: gain",
            ],
            _candidate_rows(result.candidates),
            [True, False, False, False, True, True, True, True],
        ),
        "</div>",
        '<p class="note">Surrogate: familiarity-weighted reach times the store-choice share (docs/optimising.md). '
        "Gain alone: the simulated gain of the base plan plus that candidate.</p></section>",
        "<section><h2>Reproducibility</h2>",
        html_table(["Package", "Version"], sorted((meta.get("package_versions") or {}).items()), [False, False]),
        "</section>",
    ]
    return write_html_document(f"{meta['name']} – footprint optimisation report", sections, result.folder / REPORT_FILE)


def write_optimisation_outputs(result: OptimisationResult) -> dict[str, Path]:
    """Draw the curve and the map, write ``report.html`` and ``summary.xlsx`` into the folder (locked)."""
    with folder_lock(result.folder, what="optimisation folder"):
        try:
            (result.folder / FIGURES_DIR).mkdir(exist_ok=True)
            figures = {
                "curve": draw_curve(result, result.folder / FIGURES_DIR / "curve.png"),
                "map": draw_map(result, result.folder / FIGURES_DIR / "map.png"),
            }
            write_optimisation_report(result, figures)
            meta = result.metadata
            write_summary_workbook(
                result.folder / WORKBOOK_FILE,
                {"candidates": result.candidates, "curve": result.curve, "moves": result.moves},
                about={
                    "optimisation": meta["name"],
                    "objective": f"{meta['objective']} ({meta['objective_label']})",
                    "chosen": ", ".join(meta["chosen"]),
                    "replications": meta["replications"],
                    "intervals": "paired 95 % Student-t over the replications (common random numbers)",
                },
            )
        except ResultsError as error:
            raise ResultsError(
                f"{error} (the simulations are saved: the same command draws the report again)"
            ) from None
    return figures

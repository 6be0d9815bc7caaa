"""Running a sweep: the run loop with resume, then the summary, the sensitivity and the metadata.

The figures and ``report.html`` of a sweep folder are drawn by the caller afterwards
(:func:`simulator.reports.sweep_report.write_sweep_outputs`): experiments never import reports.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.config import ScenarioError
from simulator.experiments.cache import bundle_key, cached_city, clear_caches
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.options import RunOptions, resolve_consumers
from simulator.experiments.resources import check_memory
from simulator.experiments.sweep.design import Design, RunTask, build_design, plan_tasks
from simulator.experiments.sweep.evaluation import ScenarioEvaluator, evaluator_name
from simulator.experiments.sweep.folder import (
    assemble_summary,
    build_manifest,
    checked_kpis,
    clean_temporaries,
    finished_runs,
    prepare_folder,
    write_failure_record,
    write_run_record,
)
from simulator.experiments.sweep.parsing import Sweep, sweep_from_file
from simulator.experiments.sweep.sensitivity import analyse_sensitivity
from simulator.experiments.sweep.spec import (
    KPI_LABELS,
    METADATA_FILE,
    RUNS_DIR,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_SCHEMA_VERSION,
)
from simulator.model import scenario_warnings
from simulator.results import (
    COUNT_NAMING,
    SUMMARY_WORKBOOK_FILE,
    capacity_granularity_warning,
    check_free_space,
    folder_lock,
    package_versions,
    utc_now_iso,
    write_json,
    write_parquet,
    write_summary_workbook,
)
from simulator.results.display import format_kpi, kpi_table_html, short_repr

SWEEP_FIXED_BYTES = 20_000_000
"""Figures, report, summary and sensitivity of a sweep folder, generously."""

SWEEP_BYTES_PER_RUN = 4_000
"""One ``runs/<run_id>.json`` and its rows in the summary, generously."""

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(runs_done, runs_total)``; runs found finished at a restart count as done."""

Evaluation = Callable[[RunTask], Mapping[str, float]]
"""``evaluate(task) -> {kpi: value}``: one run of a sweep."""


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    folder : pathlib.Path
        The sweep folder.
    summary : pandas.DataFrame
        ``summary.parquet``: one row per run.
    sensitivity : pandas.DataFrame
        ``sensitivity.parquet``.
    runs_total, runs_reused, runs_executed, runs_failed : int
        Runs of the design; found finished at the start; run now; failed (recorded in
        ``runs/*.error.json``).
    notes : list of str
        Analysis notes (e.g. a KPI whose indices could not be computed).
    wall_seconds : float
        Seconds this time, from the start to ``metadata.json`` (and the report, see
        :meth:`add_wall_seconds`).
    manifest : dict
        The content of ``sweep.json`` for this sweep (as built now, see
        :func:`~simulator.experiments.sweep.folder.build_manifest`).
    metadata : dict
        The content of ``metadata.json``.
    """

    folder: Path
    summary: pd.DataFrame
    sensitivity: pd.DataFrame
    runs_total: int
    runs_reused: int
    runs_executed: int
    runs_failed: int
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def _display_facts(self) -> list[str]:
        design = (self.manifest.get("design") or {}).get("kind")
        facts = [f"{self.runs_total:,} runs", f"{self.runs_failed:,} failed"]
        return ([f"{design} design"] if design else []) + facts + [str(self.folder)]

    def __repr__(self) -> str:
        return short_repr("SweepResult", str(self.manifest.get("name") or self.folder.name), self._display_facts())

    def _repr_html_(self) -> str:
        """Each KPI's range over the successful runs and its most influential parameter, for Jupyter."""
        ok = self.summary[self.summary["status"] == "ok"] if "status" in self.summary.columns else self.summary
        influential = dict(self.summary_rows()[2:])
        rows = []
        for kpi in (self.manifest.get("identity") or {}).get("sweep", {}).get("kpis") or []:
            if kpi not in ok.columns:
                continue
            label = KPI_LABELS.get(str(kpi), (str(kpi), ""))[0]
            values = ok[kpi].astype(float)
            low, high = (values.min(), values.max()) if len(values) else (math.nan, math.nan)
            rows.append([label, format_kpi(low), format_kpi(high), influential.get(label, "–")])
        name = str(self.manifest.get("name") or self.folder.name)
        return kpi_table_html(f"Sweep: {name}", self._display_facts(), ["KPI", "min", "max", "sensitivity"], rows)

    @property
    def ok(self) -> bool:
        """True when every run succeeded."""
        return self.runs_failed == 0

    def add_wall_seconds(self, seconds: float) -> None:
        """Count work done after the sweep (drawing its report) in this time's wall seconds and ``metadata.json``."""
        self.wall_seconds += seconds
        self.metadata.setdefault("timings", {})["wall_seconds_this_time"] = self.wall_seconds
        write_json(self.metadata, self.folder / METADATA_FILE)

    def summary_rows(self, parameter_labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        """Rows ``(label, text)`` for a terminal table: runs, and the most influential parameter per KPI."""
        labels = dict(parameter_labels or {})
        rows = [
            (
                "Runs",
                f"{self.runs_total:,} ({self.runs_total - self.runs_failed:,} succeeded, {self.runs_failed:,} failed)",
            ),
            (
                "This time",
                f"{self.runs_executed:,} executed, {self.runs_reused:,} found finished, {self.wall_seconds:,.1f} s",
            ),
        ]
        primary = {"sobol": "ST", "grid": "ST", "rbd_fast": "S1", "morris": "mu_star"}
        for kpi, part in self.sensitivity.groupby("kpi", sort=False):
            method = str(part["method"].iloc[0])
            main = part[(part["index"] == primary.get(method, "S1")) & part["other_parameter"].isna()]
            if main.empty:
                continue
            best = main.sort_values("value", ascending=False, kind="stable").to_dict("records")[0]
            name = labels.get(str(best["parameter"]), str(best["parameter"]))
            label = KPI_LABELS.get(str(kpi), (str(kpi), ""))[0]
            rows.append((label, f"most sensitive to {name} ({best['index']} {best['value']:.3g})"))
        return rows


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    evaluate: Evaluation | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and write its summary, sensitivity and metadata.

    Every run is written to ``runs/<run_id>.json`` as soon as it finishes (atomically),
    so results are never all held in memory and a sweep stopped at any point (even by
    SIGKILL) and started again with the same arguments runs only what is missing. Failed
    runs are recorded in ``runs/<run_id>.error.json`` and retried on the next start; they
    never stop the others. At the end ``summary.parquet`` is assembled from the run
    files, in run order, so it does not depend on interruptions or on the executor.
    The figures and ``report.html`` are drawn by
    :func:`simulator.reports.sweep_report.write_sweep_outputs` (``simulator.run_sweep``
    and ``footprint sweep`` do both).

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep` or :func:`parse_sweep`.
    out : path-like
        The sweep folder.
    evaluate : callable, optional
        ``evaluate(task) -> {kpi: value}``, picklable for parallel executors. Default: a
        :class:`ScenarioEvaluator` of the sweep's base scenario.
    spec : ExecutorSpec
        Where runs execute (serial, local processes, Dask).
    progress : callable, optional
        ``progress(runs_done, runs_total)``.
    command : str, optional
        Command line, recorded in ``metadata.json``.

    Raises
    ------
    ResultsError
        ``out`` holds a different sweep, cannot be written, lacks the disk space, or another
        command is writing it now (the folder is locked for the sweep, see
        :func:`simulator.config.atomic.folder_lock`).
    ScenarioError
        A simulator sweep without base scenario, or one whose population does not fit in memory.
    """
    with folder_lock(out, what="sweep folder"):
        return _run_sweep(sweep, Path(out), evaluate, spec, progress, command)


def _run_sweep(
    sweep: Sweep,
    folder: Path,
    evaluate: Evaluation | None,
    spec: ExecutorSpec,
    progress: ProgressCallback | None,
    command: str | None,
) -> SweepResult:
    started = time.perf_counter()
    if sweep.base is not None and isinstance(sweep.base.population.consumers, str):
        city = cached_city(bundle_key(sweep.base))
        sweep = replace(sweep, base=resolve_consumers(sweep.base, city.population_total))
    evaluate = evaluate if evaluate is not None else _scenario_evaluator(sweep)
    design = build_design(sweep)
    tasks = plan_tasks(sweep, design)
    manifest = build_manifest(sweep, design, tasks, evaluator_name(evaluate))
    if sweep.base is not None:
        check_memory(sweep.base, spec.workers if spec.kind == "processes" else 1)
    check_free_space(folder, SWEEP_FIXED_BYTES + SWEEP_BYTES_PER_RUN * len(tasks), what="sweep folder")
    prepare_folder(folder, manifest)
    runs = folder / RUNS_DIR
    clean_temporaries(runs)
    finished = finished_runs(runs)
    # Replication by replication: every point of a replication shares its population (and,
    # when only behaviour or levers change, its exposure) from the worker's caches.
    pending = sorted((task for task in tasks if task.run_id not in finished), key=lambda t: (t.replication, t.point))
    reused = len(tasks) - len(pending)
    try:
        run_seconds = _execute(evaluate, pending, runs, sweep.kpis, spec, progress, reused, len(tasks))
    finally:
        clear_caches()  # what runs in this process kept (a worker process ends with its caches)
    summary = assemble_summary(sweep, tasks, runs)
    write_parquet(summary, folder / SUMMARY_FILE)
    sensitivity, notes = analyse_sensitivity(sweep, design, summary)
    write_parquet(sensitivity, folder / SENSITIVITY_FILE)
    failed = int((summary["status"] != "ok").sum())
    result = SweepResult(
        folder, summary, sensitivity, len(tasks), reused, len(pending), failed, notes, manifest=manifest
    )
    result.metadata = _sweep_metadata(sweep, design, result, spec, command, run_seconds)
    result.wall_seconds = time.perf_counter() - started
    result.metadata["timings"]["wall_seconds_this_time"] = result.wall_seconds
    write_json(result.metadata, folder / METADATA_FILE)
    write_summary_workbook(
        folder / SUMMARY_WORKBOOK_FILE,
        {"sweep summary": summary, "sensitivity indices": sensitivity},
        about={
            "sweep": sweep.name,
            "design": design.kind,
            "points": design.size,
            "replications": sweep.replications,
            "root_seed": sweep.root_seed,
            "runs_failed": failed,
            "created_utc": result.metadata["created_utc"],
            "counts": COUNT_NAMING,
        },
    )
    return result


def _scenario_evaluator(sweep: Sweep) -> ScenarioEvaluator:
    """The evaluation of a simulator sweep: its base scenario with each point's values."""
    if sweep.base is None:
        raise ScenarioError(f"{sweep.source_name}: scenario: required key is missing (the base scenario to sweep)")
    return ScenarioEvaluator(sweep.base, tuple((p.key, p.targets) for p in sweep.parameters), sweep.kpis)


def _execute(
    evaluate: Evaluation,
    pending: Sequence[RunTask],
    runs: Path,
    kpis: Sequence[str],
    spec: ExecutorSpec,
    progress: ProgressCallback | None,
    done: int,
    total: int,
) -> float:
    """Run the pending tasks, writing each run's file as it finishes; the sum of their durations."""
    run_seconds = 0.0
    if progress is not None:
        progress(done, total)
    for outcome in execute(evaluate, pending, spec):
        task = pending[outcome.index]
        run_seconds += outcome.seconds
        error = outcome.error
        if error is None:
            try:
                write_run_record(runs, task, checked_kpis(outcome.value, kpis), outcome.seconds)
            except (TypeError, ValueError) as problem:
                error = f"{type(problem).__name__}: {problem}"
        if error is not None:
            write_failure_record(runs, task, error, outcome.seconds)
        done += 1
        if progress is not None:
            progress(done, total)
    return run_seconds


def _sweep_metadata(
    sweep: Sweep, design: Design, result: SweepResult, spec: ExecutorSpec, command: str | None, run_seconds: float
) -> dict[str, Any]:
    """``metadata.json`` of a sweep folder (its wall time is added once the sweep is done)."""
    manifest = result.manifest
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "name": sweep.name,
        "fingerprint": manifest["fingerprint"],
        "base_scenario_hash": manifest["identity"]["base_scenario_hash"],
        "root_seed": sweep.root_seed,
        "design": design.kind,
        "points": design.size,
        "replications": sweep.replications,
        "runs_total": result.runs_total,
        "runs_reused": result.runs_reused,
        "runs_executed": result.runs_executed,
        "runs_failed": result.runs_failed,
        "executor": spec.describe(),
        "command": command,
        "package_versions": {**package_versions(), **_extra_versions()},
        "created_utc": utc_now_iso(),
        "notes": result.notes,
        "timings": {"run_seconds_this_time": run_seconds},
        "warnings": _sweep_warnings(sweep, manifest),
    }


def _sweep_warnings(sweep: Sweep, manifest: Mapping[str, Any]) -> list[str]:
    """The base scenario's warnings: settings without effect, suspicious coordinates, capacity granularity.

    See :func:`simulator.model.scenario_warnings` and
    :func:`simulator.results.capacity_granularity_warning`. Points that set the consumers
    or a capacity differ from the base; the capacity warning says so.
    """
    if sweep.base is None:
        return []
    city = cached_city(bundle_key(sweep.base))
    warnings = [f"base scenario: {warning}" for warning in scenario_warnings(sweep.base, city)]
    if not isinstance(sweep.base.population.consumers, int):
        return warnings
    population_total = float(city.population_total)
    weight = population_total / max(sweep.base.population.consumers, 1)
    warning = capacity_granularity_warning(manifest.get("base_scenario") or {}, weight, population_total)
    if warning is None:
        return warnings
    varied = any("consumers" in p.key or "capacity" in p.key for p in sweep.parameters)
    return [
        *warnings,
        f"base scenario{' (points that set consumers or capacities differ)' if varied else ''}: {warning}",
    ]


def _extra_versions() -> dict[str, str]:
    versions = {}
    for name in ("SALib", "dask", "distributed"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def run_sweep_file(
    path: str | Path,
    out: str | Path | None = None,
    *,
    options: RunOptions | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
    results_root: str | Path = "results",
) -> SweepResult:
    """Load a sweep file and run it (what ``footprint sweep`` calls before drawing the report).

    ``options`` are the command line's ``--consumers``, ``--days``, ``--seed`` and ``--set``
    (see :func:`~simulator.experiments.sweep.parsing.parse_sweep`). ``out`` defaults to
    ``<results_root>/<sweep name>``: a fixed name, so that the same command finds and
    resumes an interrupted sweep.
    """
    sweep = sweep_from_file(path, options)
    target = Path(out) if out is not None else Path(results_root) / sweep.name
    return run_sweep(sweep, target, spec=spec, progress=progress, command=command)

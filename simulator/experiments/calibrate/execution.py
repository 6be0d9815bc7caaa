"""Running a calibration: waves of simulations with resume, the posterior, the checks and the tables.

Every simulation is a deterministic function of its parameter point and seed, and is
journaled as ``simulations/<sim_id>.json`` as it finishes. Each wave's points depend only
on the earlier waves' results, the emulators are fitted with fixed seeds and the MCMC
starts from a seeded state, so a calibration stopped at any point (even by SIGKILL) and
started again re-runs the same algorithm, takes the finished simulations from the
journal, and ends with the same result. The figures and ``report.html`` are drawn by
:mod:`simulator.reports.calibrate_report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import ResultsError, Scenario, apply_overrides
from simulator.experiments.cache import bundle_key, cached_city, clear_caches, prepared_run
from simulator.experiments.calibrate.folder import (
    SimulationTask,
    build_manifest,
    prepare_folder,
    read_finished,
    write_failure,
    write_scenario_toml,
    write_simulation,
)
from simulator.experiments.calibrate.method import (
    Emulator,
    Observation,
    generation_seeds,
    latin_hypercube,
    next_wave,
    observed_scale,
    sample_posterior,
    transform,
    wave_sizes,
)
from simulator.experiments.calibrate.parsing import Calibration, calibration_from_file
from simulator.experiments.calibrate.spec import CALIBRATED_SCENARIO_FILE, METADATA_FILE
from simulator.experiments.calibrate.tables import calibration_tables, write_tables
from simulator.experiments.calibrate.targets import Target, simulated_value
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.options import RunOptions, resolve_consumers
from simulator.experiments.resources import check_memory
from simulator.experiments.run import simulate_replication
from simulator.experiments.sweep.evaluation import evaluator_name
from simulator.results import check_free_space, folder_lock, package_versions, utc_now_iso, write_json

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(simulations_done, simulations_total)``."""


@dataclass(frozen=True)
class CalibrationEvaluator:
    """One simulation of a calibration (picklable, so it runs on any executor).

    Applies the task's values at every target key path, takes the city, population,
    stores and exposure from the process's caches (a point that changes only behaviour
    or levers reuses them: :func:`simulator.experiments.cache.prepared_run`), builds only
    the tables the targets need and returns ``{target label: value}``.
    """

    base: Scenario
    parameters: tuple[tuple[str, tuple[str, ...]], ...]
    targets: tuple[Target, ...]

    def __call__(self, task: SimulationTask) -> dict[str, float]:
        values = dict(task.values)
        changes = {path: values[key] for key, paths in self.parameters for path in paths}
        scenario = apply_overrides(self.base, changes, source_name=f"simulation {task.sim_id}")
        bundle = bundle_key(scenario)
        city = cached_city(bundle)
        prepared = prepared_run(bundle, city, scenario, task.seed)
        tables = {"daily"} | {t.table for t in self.targets}
        outcome = simulate_replication(scenario, task.seed, city, prepared=prepared, tables=tables)
        return {
            t.label: simulated_value(t, outcome.daily, outcome.stores, outcome.zones, outcome.weight)
            for t in self.targets
        }


@dataclass
class CalibrationResult:
    """What a calibration produced: the folder, its tables, counts and timings."""

    folder: Path
    tables: dict[str, pd.DataFrame]
    calibrated: Scenario
    simulations_total: int
    simulations_reused: int
    simulations_executed: int
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add_wall_seconds(self, seconds: float) -> None:
        """Count the report's drawing in this time's wall seconds and ``metadata.json``."""
        self.wall_seconds += seconds
        self.metadata.setdefault("timings", {})["wall_seconds_this_time"] = self.wall_seconds
        write_json(self.metadata, self.folder / METADATA_FILE)

    def summary_rows(self) -> list[tuple[str, str]]:
        """Rows ``(label, text)`` for the terminal: each parameter's median and 90 % interval."""
        rows = [
            (
                "Simulations",
                f"{self.simulations_total:,} ({self.simulations_executed:,} run now, "
                f"{self.simulations_reused:,} found finished, {self.wall_seconds:,.1f} s)",
            )
        ]
        for row in self.tables["intervals"].to_dict("records"):
            rows.append((str(row["label"]), f"{row['median']:.4g} (90 % {row['q05']:.4g} to {row['q95']:.4g})"))
        return rows


class _Runner:
    """Runs the simulations of a calibration, taking finished ones from the journal."""

    def __init__(
        self, evaluate: Callable, folder: Path, spec: ExecutorSpec, total: int, progress: ProgressCallback | None
    ):
        self.evaluate, self.folder, self.spec, self.total, self.progress = evaluate, folder, spec, total, progress
        self.done = self.reused = self.executed = 0
        self.run_seconds = 0.0

    def run(self, tasks: Sequence[SimulationTask], labels: Sequence[str]) -> np.ndarray:
        """Target values (len(tasks), J) of ``tasks``, simulating those not in the journal."""
        results = read_finished(self.folder, tasks)
        pending = sorted((t for t in tasks if t.sim_id not in results), key=lambda t: (t.replication, t.point))
        self.reused += len(tasks) - len(pending)
        self.done += len(tasks) - len(pending)
        if self.progress is not None:
            self.progress(self.done, self.total)
        failed = 0
        for outcome in execute(self.evaluate, pending, self.spec):
            task = pending[outcome.index]
            self.run_seconds += outcome.seconds
            if outcome.error is None:
                write_simulation(self.folder, task, outcome.value, outcome.seconds)
                results[task.sim_id] = outcome.value
            else:
                write_failure(self.folder, task, outcome.error, outcome.seconds)
                failed += 1
            self.executed += 1
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, self.total)
        if failed:
            raise ResultsError(
                f"{self.folder}: {failed} of {len(tasks)} simulations failed (see *.error.json there); "
                "the others are saved: run the same command again to retry"
            )
        return np.array([[results[t.sim_id][label] for label in labels] for t in tasks], dtype=np.float64)


def _tasks(calibration: Calibration, generation: int, units: np.ndarray, seeds: Sequence[int]) -> list[SimulationTask]:
    """One task per point and seed: the seeds of a generation are shared by all its points."""
    columns = [parameter.from_unit(units[:, d]) for d, parameter in enumerate(calibration.parameters)]
    tasks = []
    for point in range(units.shape[0]):
        values = tuple((p.key, columns[d][point]) for d, p in enumerate(calibration.parameters))
        unit = tuple(float(u) for u in units[point])
        for replication, seed in enumerate(seeds):
            sim_id = f"g{generation}-p{point}-r{replication}"
            tasks.append(SimulationTask(sim_id, generation, point, replication, int(seed), values, unit))
    return tasks


def run_calibration(
    calibration: Calibration,
    out: str | Path,
    *,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> CalibrationResult:
    """Run (or resume) a calibration into ``out``: simulations, posterior, checks, tables, calibrated scenario.

    The folder is locked for the duration (:func:`simulator.results.folder_lock`); every
    file is written atomically. Raises :class:`ResultsError` when ``out`` holds another
    calibration, when simulations failed (the others are kept), or when it cannot be
    written.
    """
    with folder_lock(out, what="calibration folder"):
        return _run(calibration, Path(out), spec, progress, command)


def _run(
    calibration: Calibration, folder: Path, spec: ExecutorSpec, progress: ProgressCallback | None, command: str | None
) -> CalibrationResult:
    started = time.perf_counter()
    if isinstance(calibration.base.population.consumers, str):
        city = cached_city(bundle_key(calibration.base))
        calibration = replace(calibration, base=resolve_consumers(calibration.base, city.population_total))
    method = calibration.spec.method
    evaluate = CalibrationEvaluator(
        calibration.base, tuple((p.key, p.targets) for p in calibration.parameters), calibration.targets
    )
    manifest = build_manifest(calibration, evaluator_name(evaluate))
    check_memory(calibration.base, spec.workers if spec.kind == "processes" else 1)
    points = max(method.simulations // method.replications, 4)
    total = points * method.replications + method.checks
    check_free_space(folder, 20_000_000 + 4_000 * total, what="calibration folder")
    runner = _Runner(evaluate, prepare_folder(folder, manifest), spec, total, progress)
    try:
        fit = _fit(calibration, runner, points)
    finally:
        clear_caches()
    tables, calibrated = calibration_tables(calibration, *fit)
    calibrated_path = folder / CALIBRATED_SCENARIO_FILE
    write_scenario_toml(
        calibrated,
        calibrated_path,
        [
            f"Calibrated by `footprint calibrate` ({calibration.source_name}): the posterior median of "
            + ", ".join(p.key for p in calibration.parameters),
            "set in the base scenario; see intervals.parquet for the uncertainty.",
        ],
    )
    write_tables(folder, tables)
    result = CalibrationResult(
        folder, tables, calibrated, total, runner.reused, runner.executed, fit[-1], manifest=manifest
    )
    result.wall_seconds = time.perf_counter() - started
    result.metadata = {
        "name": calibration.name,
        "fingerprint": manifest["fingerprint"],
        "root_seed": calibration.root_seed,
        "method": method.model_dump(mode="json"),
        "simulations_total": total,
        "simulations_reused": runner.reused,
        "simulations_executed": runner.executed,
        "executor": spec.describe(),
        "command": command,
        "package_versions": package_versions(),
        "created_utc": utc_now_iso(),
        "notes": result.notes,
        "timings": {"run_seconds_this_time": runner.run_seconds, "wall_seconds_this_time": result.wall_seconds},
    }
    write_json(result.metadata, folder / METADATA_FILE)
    return result


def _fit(calibration: Calibration, runner: _Runner, points: int) -> tuple[Any, ...]:
    """The waves, the emulator, the posterior sample and the checks."""
    method = calibration.spec.method
    targets = calibration.targets
    labels = [t.label for t in targets]
    logs = [t.log for t in targets]
    z, s = observed_scale(np.array([t.value for t in targets]), np.array([t.se for t in targets]), logs)
    observation = Observation(z, s, method.replications)
    dims, seed = len(calibration.parameters), calibration.method_seed
    units_seen: list[np.ndarray] = []
    outputs_seen: list[np.ndarray] = []
    simulated: list[pd.DataFrame] = []
    deviations: list[np.ndarray] = []
    notes: list[str] = []
    emulator: Emulator | None = None
    for generation, count in enumerate(wave_sizes(points, method.waves)):
        if emulator is None:
            units = latin_hypercube(dims, count, seed, generation)
        else:
            units, share = next_wave(emulator, observation, count, method.implausibility, seed, generation)
            notes.append(f"wave {generation + 1}: {share:.1%} of the parameter space not ruled out")
        tasks = _tasks(
            calibration, generation, units, generation_seeds(calibration.root_seed, generation, method.replications)
        )
        values = runner.run(tasks, labels)
        simulated.append(_simulation_rows(tasks, values, labels))
        scaled = transform(values, logs).reshape(count, method.replications, len(labels))
        per_point = scaled.mean(axis=1)
        if method.replications > 1:
            deviations.append((scaled - per_point[:, None, :]).reshape(-1, len(labels)))
            stacked = np.vstack(deviations)
            pooled = stacked.T @ stacked / (stacked.shape[0] * (method.replications - 1) / method.replications)
            observation = replace(observation, seed_covariance=pooled)
        units_seen.append(units)
        outputs_seen.append(per_point)
        emulator = Emulator.fit(np.vstack(units_seen), np.vstack(outputs_seen), seed + generation)
    assert emulator is not None
    chain, log_density, acceptance = sample_posterior(emulator, observation, method.posterior_samples, seed)
    notes.append(f"MCMC mean acceptance {acceptance:.2f}")
    checks = np.empty((0, len(labels)))
    if method.checks:
        picks = chain[np.linspace(0, chain.shape[0] - 1, method.checks).astype(int)]
        generation = len(units_seen)
        seeds = generation_seeds(calibration.root_seed, generation, method.checks)
        tasks = [replace(task, seed=seeds[task.point]) for task in _tasks(calibration, generation, picks, [0])]
        checks = runner.run(tasks, labels)
        simulated.append(_simulation_rows(tasks, checks, labels, "check"))
    return emulator, observation, chain, log_density, checks, pd.concat(simulated, ignore_index=True), notes


def _simulation_rows(
    tasks: Sequence[SimulationTask], values: np.ndarray, labels: Sequence[str], stage: str = "wave"
) -> pd.DataFrame:
    rows = []
    for task, row in zip(tasks, values, strict=True):
        record: dict[str, Any] = {
            "sim_id": task.sim_id,
            "stage": stage,
            "generation": task.generation,
            "point": task.point,
            "replication": task.replication,
            "seed": task.seed,
        }
        record.update(dict(task.values))
        record.update(zip(labels, (float(v) for v in row), strict=True))
        rows.append(record)
    return pd.DataFrame(rows)


def run_calibration_file(
    path: str | Path,
    out: str | Path | None = None,
    *,
    options: RunOptions | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
    results_root: str | Path = "results",
) -> CalibrationResult:
    """Load a calibration file and run it; ``out`` defaults to ``<results_root>/<name>`` (so the same command resumes)."""
    calibration = calibration_from_file(path, options)
    target = Path(out) if out is not None else Path(results_root) / calibration.name
    return run_calibration(calibration, target, spec=spec, progress=progress, command=command)

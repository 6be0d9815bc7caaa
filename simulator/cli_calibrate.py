"""``footprint calibrate``: kept out of :mod:`simulator.cli` so that it stays short (registered there in one line).

It imports only typer at the top, so ``footprint --help`` stays fast; the helpers of
:mod:`simulator.cli` are imported when the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def calibrate_command(
    calibration_file: Annotated[
        Path | None, typer.Argument(help="Calibration file (TOML), e.g. scenarios/calibrate_beijing.toml.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Local worker processes (default: one per core).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786.")
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Start a local Dask cluster: local:N.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Calibration folder (default: results/<name>); the same command resumes it."),
    ] = None,
    consumers: Annotated[str | None, typer.Option("--consumers", help="Consumers per simulation.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Days to simulate (horizon.days).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base-scenario key (repeatable).")] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the calibration file's JSON Schema and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
) -> None:
    """Fit scenario parameters to observed figures: posterior, fit plot, report.html, calibrated.toml.

    Every simulation is saved as it finishes: after an interruption the same command
    resumes and ends with the same result (docs/calibration.md).
    """
    from simulator.cli import DEFAULT_RESULTS, console, print_rows, print_warning, progress_bar
    from simulator.config import FootprintError, parse_set_options
    from simulator.experiments import ExecutorSpec, RunOptions, default_workers
    from simulator.experiments.calibrate import calibration_json_schema, run_calibration_file
    from simulator.reports.calibrate_report import write_calibration_outputs

    if schema:
        sys.stdout.write(json.dumps(calibration_json_schema(), indent=2, ensure_ascii=False) + "\n")
        return
    if calibration_file is None:
        raise FootprintError("calibrate: give a calibration file (TOML), e.g. scenarios/calibrate_beijing.toml")
    spec = ExecutorSpec.from_options(jobs=jobs, scheduler=scheduler, cluster=cluster)
    if jobs is None and scheduler is None and cluster is None and default_workers() > 1:
        spec = ExecutorSpec(kind="processes", workers=default_workers())
    print_warning(spec.warning)
    options = RunOptions(consumers=consumers, days=days, seed=seed, overrides=parse_set_options(set_ or []))
    with progress_bar(quiet, "calibrate") as bar:
        task_ids: list[Any] = []

        def on_progress(done: int, total: int) -> None:
            if not task_ids:
                task_ids.append(bar.add_task(f"{calibration_file.stem}: simulations", total=total, completed=done))
            else:
                bar.update(task_ids[0], completed=done)

        result = run_calibration_file(
            calibration_file,
            out,
            options=options,
            spec=spec,
            progress=on_progress,
            command=" ".join(["footprint", *sys.argv[1:]]),
            results_root=DEFAULT_RESULTS,
        )
        write_calibration_outputs(result)
    if not quiet:
        print_rows(f"{calibration_file.stem}: posterior median (90 % interval)", result.summary_rows())
    console.print(f"calibration folder: {result.folder}")

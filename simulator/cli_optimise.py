"""``footprint optimise``: kept out of :mod:`simulator.cli` so that it stays short (registered there in one line).

It imports only typer and the shared option types at the top, so ``footprint --help`` stays
fast; the helpers of :mod:`simulator.cli` are imported when the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from simulator.cli_support import ConsumersOption, DaysOption, QuietOption, SeedOption


def optimise_command(
    optimisation_file: Annotated[Path | None, typer.Argument(help="Optimisation file (TOML).")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Local worker processes.")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="A running Dask scheduler's address.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Start a local Dask cluster: local:N.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder (default: results/<name>); the same command resumes it.")
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replications: Annotated[int | None, typer.Option("--replications", help="Replications per plan.")] = None,
    quiet: QuietOption = False,
    schema_: Annotated[
        bool, typer.Option("--schema", help="Print the optimisation file's JSON Schema and exit.")
    ] = False,
) -> None:
    """Choose the next stores among candidate sites: surrogate screening, greedy and swaps under common random numbers.

    Exit code: 0 on success, 1 for bad input or a failure (one line on standard error).
    """
    from simulator.cli import DEFAULT_RESULTS, console, print_rows, print_warning, progress_bar
    from simulator.config import FootprintError
    from simulator.experiments import ExecutorSpec, RunOptions
    from simulator.experiments.optimise import optimisation_json_schema
    from simulator.reports.optimise_report import run_optimise_file, summary_rows

    if schema_:
        sys.stdout.write(json.dumps(optimisation_json_schema(), indent=2, ensure_ascii=False) + "\n")
        return
    if optimisation_file is None:
        raise FootprintError("optimise: give an optimisation file (TOML), e.g. scenarios/optimise_beijing.toml")
    spec = ExecutorSpec.from_options(jobs=jobs, scheduler=scheduler, cluster=cluster)
    print_warning(spec.warning)
    with progress_bar(quiet, "optimise") as bar:
        task = bar.add_task(f"{optimisation_file.stem}: simulations", total=None)
        result = run_optimise_file(
            optimisation_file,
            out,
            options=RunOptions(consumers, days, seed, replications),
            spec=spec,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            command=" ".join(["footprint", *sys.argv[1:]]),
            results_root=DEFAULT_RESULTS,
        )
    if not quiet:
        print_rows(f"{result.metadata['name']}: greedy and swaps ({spec.describe()})", summary_rows(result))
    console.print(
        f"best plan: {result.best_plan}\noptimisation folder: {result.folder}", soft_wrap=True, highlight=False
    )

"""The ``footprint`` command: a thin typer layer over the library.

Every command calls one library function. Domain errors (``FootprintError``) print one
line, ``error: <message>``, on standard error and exit with code 1; never a traceback.

Exit codes: 0 success; 1 bad input or a failure (one line on standard error); 2 a usage
error of the command line (click's); 3 some runs of a sweep failed (the others are saved);
130 interrupted.
"""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from simulator.config import FootprintError, default_scenario_path

DEFAULT_SCENARIO = default_scenario_path()
DEFAULT_RESULTS = Path("results")

EXIT_OK = 0
EXIT_FAILURE = 1  # bad input, or a failure: one line on standard error
EXIT_SOME_RUNS_FAILED = 3  # a sweep finished, but some of its runs failed (2 is click's usage error)
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="footprint",
    help="Simulate how a brand's store footprint builds familiarity, trust, test drives and purchases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
city_app = typer.Typer(help="Inspect and build city bundles.", no_args_is_help=True)
app.add_typer(city_app, name="city")

console = Console()
error_console = Console(stderr=True)


def domain_errors(command: Callable) -> Callable:
    """Turn domain errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FootprintError as error:
            print_error(str(error))
        except MemoryError:
            print_error("not enough memory for this run (use fewer --consumers, or fewer --jobs)")
        except OSError as error:  # the machine refused (disk full, permissions) outside the library's checks
            where = f"{error.filename}: " if error.filename else ""
            reason = "no space left on the device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
            print_error(f"{where}{reason}")
        except KeyboardInterrupt:
            error_console.print("interrupted: nothing was written for the unfinished work")
            raise typer.Exit(code=EXIT_INTERRUPTED) from None

    return wrapper


def print_error(message: str) -> None:
    """Print ``error: <message>`` (one line) on standard error and exit with code 1."""
    error_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code=EXIT_FAILURE)


def print_warning(message: str | None) -> None:
    """Print ``warning: <message>`` on standard error (nothing for None)."""
    if message:
        error_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def progress_bar(quiet: bool, description: str) -> Progress:
    """A rich progress bar with time remaining (disabled when quiet)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=error_console,
        disable=quiet,
        transient=False,
    )


def print_rows(title: str, rows: list[tuple[str, str]]) -> None:
    """Print (label, value) rows as a two-column table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


ConsumersOption = Annotated[
    str | None,
    typer.Option(
        "--consumers",
        help='Simulated consumers (population.consumers): a number (at least 100), or "all" for one per resident.',
    ),
]
DaysOption = Annotated[int | None, typer.Option("--days", help="Days to simulate (horizon.days).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Root seed.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key: --set behaviour.hill_k=4 (repeatable)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")]


@app.command()
@domain_errors
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario file (TOML). Default: the Beijing launch scenario.")
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replications: Annotated[
        int | None, typer.Option("--replications", help="Replications (runs differing only in seed).")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Local worker processes for the replications (run.workers).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run folder to write (default: results/<name>-<time>-<hash>); never replaced without --overwrite.",
        ),
    ] = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
) -> None:
    """Run a scenario and write a run folder (tables, GeoPackage, figures, report.html).

    Exit code: 0 on success, 1 for bad input or a failure (one line on standard error).
    """
    from simulator.city import cell_frame, load_city, zone_frame
    from simulator.config import parse_set_options, short_hash
    from simulator.experiments import RunOptions, prepare_scenario, resolve_consumers
    from simulator.experiments.executors import capped_workers
    from simulator.experiments.resources import check_run_resources
    from simulator.experiments.run import run as run_scenario
    from simulator.reports.publish import write_run
    from simulator.reports.run_report import summary_rows
    from simulator.results import default_run_dir, reserve_folder

    path = scenario if scenario is not None else DEFAULT_SCENARIO
    overrides: dict[str, Any] = dict(parse_set_options(set_ or []))
    if jobs is not None:
        overrides["run.workers"] = jobs
    prepared = prepare_scenario(path, RunOptions(consumers, days, seed, replications, overrides))
    workers, capped = capped_workers(
        min(prepared.run.workers, prepared.replications), "--jobs" if jobs is not None else "run.workers"
    )
    city = load_city(prepared.resolved_bundle)
    prepared = resolve_consumers(prepared, city.population_total)
    target = out if out is not None else default_run_dir(DEFAULT_RESULTS, prepared.name, short_hash(prepared))
    with reserve_folder(target, overwrite=overwrite, what="run folder", hint="use --overwrite or another --out"):
        check_run_resources(prepared, city, target, processes=workers)
        print_warning(capped)
        with progress_bar(quiet, f"{prepared.name}: simulating") as bar:
            task = bar.add_task(f"{prepared.name}: days", total=prepared.horizon.days * prepared.replications)
            result = run_scenario(
                prepared,
                city=city,
                progress=lambda done, total: bar.update(task, completed=done),
                command=" ".join(["footprint", *sys.argv[1:]]),
            )
        if not quiet:
            error_console.print("writing tables, GeoPackage, figures and report ...")
        folder = write_run(
            result, target, zone_frame=zone_frame(city), cell_frame=cell_frame(city), overwrite=overwrite
        )
    if not quiet:
        print_rows(f"{prepared.name}: summary", summary_rows(result))
    print_warnings(result.metadata)
    console.print(f"run folder: {folder}")


def print_warnings(metadata: dict) -> None:
    """Print the warnings of a run, comparison or sweep (``metadata["warnings"]``) on the terminal."""
    for warning in metadata.get("warnings") or []:
        print_warning(str(warning))


@app.command()
@domain_errors
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML) to check.")],
    set_: SetOption = None,
    with_city: Annotated[bool, typer.Option("--city/--no-city", help="Also place the stores on the city.")] = True,
) -> None:
    """Check a scenario file without running it."""
    from simulator.city import load_city
    from simulator.config import describe, parse_set_options
    from simulator.experiments import RunOptions, prepare_scenario, resolve_consumers
    from simulator.experiments.resources import check_memory
    from simulator.model import place_stores, scenario_warnings
    from simulator.model.plan import place_rivals

    prepared = prepare_scenario(scenario, RunOptions(overrides=parse_set_options(set_ or [])))
    city = load_city(prepared.resolved_bundle) if with_city else None
    if city is not None:
        place_stores(prepared, city, source_name=scenario.name)
        place_rivals(prepared, city, source_name=scenario.name)
        prepared = resolve_consumers(prepared, city.population_total)
    try:
        check_memory(prepared)
    except FootprintError as error:
        print_warning(f"{error}: footprint run would refuse it on this machine")
    console.print(f"{scenario}: valid")
    console.print(describe(prepared), highlight=False)
    print_warnings({"warnings": scenario_warnings(prepared, city)})


@app.command()
@domain_errors
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The key reference in Markdown instead of JSON Schema.")
    ] = False,
) -> None:
    """Print the JSON Schema of scenario files (for editor completion) or the key reference."""
    from simulator.config import reference_markdown, scenario_json_schema
    from simulator.config.errors import ResultsError
    from simulator.results import atomic_write_text, check_writable

    text = reference_markdown() if markdown else json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    if out.is_dir():
        raise ResultsError(f"--out {out}: is a folder, not a file (choose a file name)")
    try:
        check_writable(out.parent, what="folder")
    except ResultsError as error:
        raise ResultsError(f"--out {out}: {error}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    console.print(f"wrote {out}")


@city_app.command("show")
@domain_errors
def city_show(
    source: Annotated[str, typer.Argument(help="Bundle name (e.g. beijing) or path to a .gpkg.")] = "beijing",
    out: Annotated[Path | None, typer.Option("--out", help="PNG to write (default: results/city-<name>.png).")] = None,
) -> None:
    """Validate a city bundle, print a summary and write a PNG map."""
    from simulator.city import load_city
    from simulator.reports.city_map import format_city_summary, render_city_map

    city = load_city(source)
    target = render_city_map(city, out if out is not None else DEFAULT_RESULTS / f"city-{city.name}.png")
    print_rows(f"city: {city.name}", format_city_summary(city.summary()))
    console.print(f"map: {target}")


@app.command()
@domain_errors
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (TOML), e.g. scenarios/capacity_sweep.toml.")],
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Local worker processes (default: one per core).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Run on a running Dask cluster: its scheduler address, e.g. tcp://127.0.0.1:8786."
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="Start a local Dask cluster for this sweep: local:N (N workers on 127.0.0.1)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Sweep folder (default: results/<sweep name>); the same command resumes it."),
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run a parameter sweep (grid, lhs, sobol, morris): summary.parquet, sensitivity, figures, report.html.

    Every run is saved as it finishes: after an interruption the same command runs only what is missing.

    Exit code: 0 if every run succeeded, 1 for bad input or a failure, 3 if some runs failed
    (see runs/*.error.json; the same command retries them).
    """
    from simulator.config import parse_set_options
    from simulator.experiments import ExecutorSpec, RunOptions, default_workers, run_sweep_file
    from simulator.reports.sweep_report import write_sweep_outputs

    spec = ExecutorSpec.from_options(jobs=jobs, scheduler=scheduler, cluster=cluster)
    if jobs is None and scheduler is None and cluster is None and default_workers() > 1:
        spec = ExecutorSpec(kind="processes", workers=default_workers())
    print_warning(spec.warning)
    overrides = parse_set_options(set_ or [])
    with progress_bar(quiet, "sweep") as bar:
        task_ids: list[Any] = []

        def on_progress(done: int, total: int) -> None:
            if not task_ids:  # created at the first report so that runs found finished do not skew the ETA
                task_ids.append(bar.add_task(f"{sweep_file.stem}: runs", total=total, completed=done))
            else:
                bar.update(task_ids[0], completed=done)

        result = run_sweep_file(
            sweep_file,
            out,
            options=RunOptions(consumers=consumers, days=days, seed=seed, overrides=overrides),
            spec=spec,
            progress=on_progress,
            command=" ".join(["footprint", *sys.argv[1:]]),
            results_root=DEFAULT_RESULTS,
        )
        write_sweep_outputs(result)
    if not quiet:
        labels = {
            row["key"]: row["label"] for row in json.loads((result.folder / "sweep.json").read_text())["parameters"]
        }
        print_rows(f"{sweep_file.stem}: summary ({spec.describe()})", result.summary_rows(labels))
        for note in result.notes:
            error_console.print(f"note: {note}", highlight=False)
    print_warnings(result.metadata)
    console.print(f"sweep folder: {result.folder}")
    if not result.ok:
        error_console.print(
            f"[bold red]{result.runs_failed} of {result.runs_total} runs failed[/] (errors in {result.folder / 'runs'}/*.error.json); "
            "run the same command again to retry them",
            highlight=False,
        )
        raise typer.Exit(code=EXIT_SOME_RUNS_FAILED)


@app.command()
@domain_errors
def compare(
    files: Annotated[
        list[Path],
        typer.Argument(help="One comparison file (base scenario + [[plans]]), or two or more scenario files."),
    ],
    replications: Annotated[
        int | None, typer.Option("--replications", help="Replications, the same seeds for every plan.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Local worker processes (default: this process).")
    ] = None,
    marginal: Annotated[
        bool, typer.Option("--marginal", help="Also measure each store's marginal contribution (the plan without it).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Comparison folder (default: results/compare-<name>-<time>-<hash>); never replaced without --overwrite.",
        ),
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing comparison folder.")] = False,
) -> None:
    """Compare store plans under common random numbers: paired differences with 95 % confidence intervals.

    Exit code: 0 on success, 1 for bad input or a failure (one line on standard error).
    """
    from simulator.config import parse_set_options
    from simulator.experiments import ExecutorSpec, RunOptions, comparison_from_files, default_comparison_dir
    from simulator.experiments.compare import compare as compare_plans
    from simulator.experiments.resources import check_comparison_resources
    from simulator.reports.compare_report import write_comparison
    from simulator.reports.compare_text import difference_rows
    from simulator.results import reserve_folder

    options = RunOptions(consumers, days, seed, replications, parse_set_options(set_ or []))
    spec = comparison_from_files(files, options)
    executor = ExecutorSpec.from_options(jobs=jobs)
    target = out if out is not None else default_comparison_dir(DEFAULT_RESULTS, spec)
    processes = executor.workers if executor.kind == "processes" else 1
    with reserve_folder(target, overwrite=overwrite, what="comparison folder", hint="use --overwrite or another --out"):
        check_comparison_resources([plan.scenario for plan in spec.plans], target, processes=processes)
        print_warning(executor.warning)
        with progress_bar(quiet, f"{spec.name}: runs") as bar:
            task = bar.add_task(f"{spec.name}: runs", total=spec.n_runs(marginal))
            result = compare_plans(
                spec,
                marginal=marginal,
                executor=executor,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                command=" ".join(["footprint", *sys.argv[1:]]),
            )
        if not quiet:
            error_console.print("writing tables, GeoPackage, figures and report ...")
        folder = write_comparison(result, target, overwrite=overwrite)
    if not quiet:
        headers, rows = difference_rows(result)
        table = Table(
            title=f"{spec.name}: difference to the baseline, mean [95 % CI], {spec.replications} paired replications",
            title_justify="left",
        )
        for position, header in enumerate(headers):
            table.add_column(
                header, justify="left" if position == 0 else "right", style="bold" if position == 0 else None
            )
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if spec.replications < 2:
            error_console.print("note: one replication gives no confidence intervals; use --replications 5 or more")
    print_warnings(result.metadata)
    console.print(f"comparison folder: {folder}", soft_wrap=True, highlight=False)


@app.command()
@domain_errors
def optimise(
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
    from simulator.experiments import ExecutorSpec, RunOptions
    from simulator.experiments.optimise import optimisation_json_schema
    from simulator.reports.optimise_report import run_optimise_file, summary_rows

    if schema_:
        sys.stdout.write(json.dumps(optimisation_json_schema(), indent=2, ensure_ascii=False) + "\n")
        return
    if optimisation_file is None:
        print_error("missing the optimisation file: footprint optimise FILE (--schema prints its JSON Schema)")
        return
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


@city_app.command("build")
@domain_errors
def city_build(
    name: Annotated[str, typer.Option("--name", help="City name (letters, digits, - and _): the default file name.")],
    osm: Annotated[
        Path, typer.Option("--osm", help="OpenStreetMap extract (.osm.pbf, or .osm XML) covering the city.")
    ],
    population: Annotated[
        Path,
        typer.Option(
            "--population", help="Population layer: polygons, or points at grid-cell centres (any CRS it declares)."
        ),
    ],
    population_column: Annotated[
        str | None,
        typer.Option("--population-column", help="Column of residents (default: guessed from common names)."),
    ] = None,
    population_layer: Annotated[
        str | None, typer.Option("--population-layer", help="Layer of a multi-layer population file.")
    ] = None,
    boundary: Annotated[
        Path | None,
        typer.Option(
            "--boundary",
            help="Polygon(s) of the city (default: the population cells, gaps closed); two or more polygons become the zones.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="GeoPackage to write (default: ./<name>.gpkg).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
    zone_size: Annotated[
        float | None,
        typer.Option(
            "--zone-size", help="Side of the square zones, metres (0: one zone per cell; default: automatic)."
        ),
    ] = None,
    build_date: Annotated[
        str | None, typer.Option("--build-date", help="YYYY-MM-DD written to the sources layer (default: today).")
    ] = None,
    population_licence: Annotated[
        str | None,
        typer.Option("--population-licence", help="Licence of the population layer, e.g. 'CC BY 4.0 (provider)'."),
    ] = None,
) -> None:
    """Build a city bundle from an OpenStreetMap extract and a population layer (no network needed)."""
    from simulator.city.build import build_city_bundle

    with console.status(f"building {name} ..."):
        report = build_city_bundle(
            name,
            osm,
            population,
            population_column=population_column,
            population_layer=population_layer,
            boundary_path=boundary,
            out_path=out,
            overwrite=overwrite,
            zone_size_m=zone_size,
            build_date=build_date,
            population_licence=population_licence,
        )
    table = Table(title=f"city build: {report.name}", title_justify="left")
    for column in ("layer", "found", "repaired", "skipped", "outside", "dropped", "kept"):
        table.add_column(
            column, justify="left" if column == "layer" else "right", style="bold" if column == "layer" else None
        )
    for row in report.table_rows():
        table.add_row(*row)
    console.print(table)
    for note in report.layer_notes():
        console.print(f"  {note}", highlight=False)
    console.print(
        f"population: {report.population_kept:,} residents kept of {report.population_found:,} "
        f"(column '{report.population_column}', {report.population_crs}); modelled jobs {report.jobs_total:,}; "
        f"metric CRS {report.metric_crs}",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(
        f"wrote {report.out_path} ({report.file_bytes / 1e6:.2f} MB) in {report.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,  # a path broken over two lines cannot be copied
    )
    console.print(
        f'check the map: footprint city show {report.out_path}\nuse it in a scenario: [city] bundle = "{report.out_path.as_posix()}"',
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def main() -> None:
    """Entry point of the ``footprint`` console script."""
    app()


if __name__ == "__main__":
    main()

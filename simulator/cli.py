"""The ``footprint`` command: a thin typer layer over the library.

Every command calls one library function. Domain errors (``FootprintError``) print one
line, ``error: <message>``, on standard error and exit with code 1; never a traceback.

Exit codes: 0 success; 1 bad input or a failure (one line on standard error); 2 a usage
error of the command line (click's); 3 some runs of a sweep failed (the others are saved);
130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from simulator import __version__
from simulator.cli_calibrate import calibrate_command
from simulator.cli_optimise import optimise_command
from simulator.cli_support import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    ConsumersOption,
    DaysOption,
    JsonOption,
    QuietOption,
    SeedOption,
    SetOption,
    console,
    domain_errors,
    error_console,
    print_error,
    print_json,
    print_note,
    print_rows,
    print_table,
    print_warning,
    print_warnings,
    progress_bar,
)
from simulator.config import default_scenario_path

DEFAULT_SCENARIO = default_scenario_path()
DEFAULT_RESULTS = Path("results")

EXIT_OK = 0
EXIT_SOME_RUNS_FAILED = 3  # a sweep finished, but some of its runs failed (2 is click's usage error)

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_SOME_RUNS_FAILED", "app", "main", "print_error", "print_warning"]

# Help is plain text (no rich markup: "[[plans]]" and "[i]" stay as typed) and shows defaults.
SETTINGS = {"show_default": True}
app = typer.Typer(
    name="footprint",
    help="Simulate how a brand's store footprint builds familiarity, trust, test drives and purchases.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=SETTINGS,
)
city_app = typer.Typer(help="Inspect and build city bundles.", rich_markup_mode=None, context_settings=SETTINGS)
app.add_typer(city_app, name="city")


def help_without_command(context: typer.Context) -> None:
    """Without a command, print the help on standard output and exit with code 0."""
    if context.invoked_subcommand is None:
        console.print(context.get_help())
        raise typer.Exit()


city_app.callback(invoke_without_command=True)(help_without_command)


def show_version(value: bool) -> None:
    """``--version``: print the package version and exit."""
    if value:
        console.print(f"footprint {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_options(
    context: typer.Context,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Simulate how a brand's store footprint builds familiarity, trust, test drives and purchases."""
    help_without_command(context)


@app.command()
@domain_errors
def run(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario file (TOML). Default: the Beijing launch scenario.", show_default=False),
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications",
            help="Replications (runs differing only in seed). Default: the scenario's.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="Local worker processes for the replications (run.workers). Default: the scenario's.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run folder to write (default: results/<name>-<time>-<hash>); never replaced without --overwrite.",
            show_default=False,
        ),
    ] = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
    json_: JsonOption = False,
) -> None:
    """Run a scenario and write a run folder (tables, GeoPackage, figures, report.html).

    Exit code: 0 on success, 1 for bad input or a failure (one line on standard error).
    """
    from simulator.city import cell_frame, load_city, zone_frame
    from simulator.cli_support import run_summary
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
    print_warnings(result.metadata)
    if json_:
        print_json(run_summary(result, folder))
        return
    if not quiet:
        print_rows(f"{prepared.name}: summary", summary_rows(result))
    console.print(f"run folder: {folder}", soft_wrap=True)


@app.command()
@domain_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Scenario, comparison or sweep file (TOML) to check.")],
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    set_: SetOption = None,
    with_city: Annotated[bool, typer.Option("--city/--no-city", help="Also place the stores on the city.")] = True,
    json_: JsonOption = False,
) -> None:
    """Check a scenario, comparison or sweep file without running it (the kind is read from its keys)."""
    from simulator.config import parse_set_options
    from simulator.experiments import RunOptions
    from simulator.experiments.file_kinds import check_file

    options = RunOptions(consumers=consumers, days=days, overrides=parse_set_options(set_ or []))
    checked = check_file(file, options, with_city=with_city)
    print_warnings({"warnings": checked.warnings})
    if json_:
        print_json(
            {"file": str(file), "valid": True, "kind": checked.kind, **checked.facts, "warnings": checked.warnings}
        )
        return
    console.print(f"{file}: valid {checked.kind} file", soft_wrap=True)
    console.print(checked.text)


@app.command()
@domain_errors
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The key reference in Markdown instead of JSON Schema.")
    ] = False,
    kind: Annotated[
        str, typer.Option("--kind", help="Which file: scenario, comparison, sweep, calibration or optimisation.")
    ] = "scenario",
) -> None:
    """Print the JSON Schema of a kind of input file (for editor completion) or the key reference."""
    from simulator.config import reference_markdown
    from simulator.config.errors import ResultsError
    from simulator.experiments.file_kinds import file_json_schema
    from simulator.results import atomic_write_text, check_writable

    text = reference_markdown() if markdown else json.dumps(file_json_schema(kind), indent=2, ensure_ascii=False) + "\n"
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
            print_note(note)
    print_warnings(result.metadata)
    console.print(f"sweep folder: {result.folder}")
    if not result.ok:
        error_console.print(
            f"{result.runs_failed} of {result.runs_total} runs failed (errors in {result.folder / 'runs'}/*.error.json); "
            "run the same command again to retry them",
            style="bold red",
            soft_wrap=True,
        )
        raise typer.Exit(code=EXIT_SOME_RUNS_FAILED)


@app.command()
@domain_errors
def compare(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="One comparison file (base scenario + [[plans]]), or two or more scenario files.", show_default=False
        ),
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
    json_: JsonOption = False,
) -> None:
    """Compare store plans under common random numbers: paired differences with 95 % confidence intervals.

    Exit code: 0 on success, 1 for bad input or a failure (one line on standard error).
    """
    from simulator.cli_support import comparison_summary
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
    print_warnings(result.metadata)
    if json_:
        print_json(comparison_summary(result, folder))
        return
    if not quiet:
        title = f"{spec.name}: difference to the baseline, mean [95 % CI], {spec.replications} paired replications"
        print_table(title, *difference_rows(result))
        if spec.replications < 2:
            print_note(
                "one replication: the intervals are within-run estimates (batch means over consumers); "
                "use --replications 5 or more"
            )
    console.print(f"comparison folder: {folder}", soft_wrap=True)


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
    from simulator.cli_support import print_build_report

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
    print_build_report(report)


@city_app.command("sites")
@domain_errors
def city_sites(
    source: Annotated[str, typer.Argument(help="Bundle name (e.g. beijing) or path to a .gpkg.")] = "beijing",
    csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table (on standard output, or --out).")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="CSV file to write (implies --csv).", show_default=False)
    ] = None,
) -> None:
    """List a city's malls, subway stations and street sites with the ids a scenario places stores by."""
    from simulator.city import load_city
    from simulator.city.sites import site_table
    from simulator.cli_support import print_sites, sites_csv, write_text_file

    city = load_city(source)
    table = site_table(city)
    if out is not None:
        write_text_file(out, sites_csv(table), option="--out")
        console.print(f"wrote {out} ({len(table):,} sites)", soft_wrap=True)
    elif csv:
        sys.stdout.write(sites_csv(table))
    else:
        print_sites(city.name, table)


@app.command()
@domain_errors
def init(
    path: Annotated[Path, typer.Argument(help="Scenario file to write.")] = Path("scenario.toml"),
) -> None:
    """Write a commented scenario template (valid as it is: footprint run PATH runs it)."""
    from simulator.cli_support import write_text_file
    from simulator.config.template import SCENARIO_TEMPLATE

    write_text_file(path, SCENARIO_TEMPLATE, replace=False)
    console.print(f"wrote {path}: edit it, then footprint validate {path} and footprint run {path}", soft_wrap=True)


@app.command()
@domain_errors
def report(
    folder: Annotated[Path, typer.Argument(help="A run, comparison or sweep folder.")],
    city: Annotated[
        str | None,
        typer.Option(
            "--city",
            help="City bundle (name or .gpkg) of a run or comparison. Default: the one its metadata.json names.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw a folder's figures and report.html again from its tables (nothing is simulated again)."""
    from simulator.reports.rerender import rerender_report

    with console.status(f"drawing the report of {folder} ..."):
        kind, written = rerender_report(folder, city=city)
    console.print(f"{kind} report: {written}", soft_wrap=True)


app.command(name="calibrate")(domain_errors(calibrate_command))  # footprint calibrate (cli_calibrate.py)
app.command(name="optimise")(domain_errors(optimise_command))  # footprint optimise (cli_optimise.py)


def main() -> None:
    """Entry point of the ``footprint`` console script."""
    app()


if __name__ == "__main__":
    main()

"""The ``footprint`` command: a thin typer layer over the library.

Every command calls one library function. Domain errors (``FootprintError``) print one
line, ``error: <message>``, on standard error and exit with code 1; never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import FootprintError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = PROJECT_ROOT / "scenarios" / "beijing_launch.toml"
DEFAULT_RESULTS = Path("results")

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
            error_console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            error_console.print("interrupted: nothing was written for the unfinished work")
            raise typer.Exit(code=130) from None

    return wrapper


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


ConsumersOption = Annotated[Optional[int], typer.Option("--consumers", help="Simulated consumers (population.consumers).")]
DaysOption = Annotated[Optional[int], typer.Option("--days", help="Days to simulate (horizon.days).")]
SeedOption = Annotated[Optional[int], typer.Option("--seed", help="Root seed.")]
SetOption = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override a scenario key: --set behaviour.hill_k=4 (repeatable)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")]


@app.command()
@domain_errors
def run(
    scenario: Annotated[
        Optional[Path], typer.Argument(help="Scenario file (TOML). Default: the Beijing launch scenario.")
    ] = None,
    consumers: ConsumersOption = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replications: Annotated[Optional[int], typer.Option("--replications", help="Replications (runs differing only in seed).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder to write (default: results/<name>-<time>-<hash>).")] = None,
    set_: SetOption = None,
    quiet: QuietOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
) -> None:
    """Run a scenario and write a run folder (tables, GeoPackage, figures, report.html)."""
    from .city import cell_frame, load_city, zone_frame
    from .experiment import prepare_scenario, run as run_scenario
    from .report import summary_rows
    from .results import default_run_dir, write_run
    from .scenario import parse_set_options, short_hash

    path = scenario if scenario is not None else DEFAULT_SCENARIO
    prepared = prepare_scenario(
        path, consumers=consumers, days=days, seed=seed, replications=replications,
        overrides=parse_set_options(set_ or []),
    )
    city = load_city(prepared.resolved_bundle)
    target = out if out is not None else default_run_dir(DEFAULT_RESULTS, prepared.name, short_hash(prepared))
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FootprintError(f"{target}: run folder exists and is not empty (use --overwrite or another --out)")
    total_days = prepared.horizon.days * prepared.replications
    with progress_bar(quiet, f"{prepared.name}: simulating") as bar:
        task = bar.add_task(f"{prepared.name}: days", total=total_days)
        result = run_scenario(
            prepared, city=city, progress=lambda done, total: bar.update(task, completed=done),
            command=" ".join(["footprint", *sys.argv[1:]]),
        )
    if not quiet:
        error_console.print("writing tables, GeoPackage, figures and report ...")
    folder = write_run(result, target, zone_frame=zone_frame(city), cell_frame=cell_frame(city), overwrite=overwrite)
    if not quiet:
        print_rows(f"{prepared.name}: summary", summary_rows(result))
    warning = capacity_granularity_warning(result.metadata, city.population_total)
    if warning:
        error_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"run folder: {folder}")


def capacity_granularity_warning(metadata: dict, population_total: float) -> str | None:
    """A warning when one simulated consumer stands for more people than a store serves a day."""
    capacities = [s["capacity_per_day"] for s in metadata["scenario"]["plan"]["stores"] if s["capacity_per_day"] > 0]
    weight = metadata["consumer_weight"]
    if not capacities or weight <= min(capacities):
        return None
    needed = int(-(-population_total // min(capacities)))
    return (
        f"one simulated consumer stands for {weight:,.0f} people, more than the smallest daily test-drive "
        f"capacity ({min(capacities)}): queues and lost bookings are lumpy; use --consumers {needed:,} or more "
        "to study capacity"
    )


@app.command()
@domain_errors
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML) to check.")],
    set_: SetOption = None,
    with_city: Annotated[bool, typer.Option("--city/--no-city", help="Also place the stores on the city.")] = True,
) -> None:
    """Check a scenario file without running it."""
    from .city import load_city
    from .experiment import prepare_scenario
    from .plan import place_stores
    from .scenario import describe, parse_set_options

    prepared = prepare_scenario(scenario, overrides=parse_set_options(set_ or []))
    if with_city:
        place_stores(prepared, load_city(prepared.resolved_bundle), source_name=scenario.name)
    console.print(f"{scenario}: valid")
    console.print(describe(prepared), highlight=False)


@app.command()
@domain_errors
def schema(
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of standard output.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="The key reference in Markdown instead of JSON Schema.")] = False,
) -> None:
    """Print the JSON Schema of scenario files (for editor completion) or the key reference."""
    from .results import atomic_path
    from .scenario import reference_markdown, scenario_json_schema

    text = reference_markdown() if markdown else json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    with atomic_path(out) as temporary:
        temporary.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


@city_app.command("show")
@domain_errors
def city_show(
    source: Annotated[str, typer.Argument(help="Bundle name (e.g. beijing) or path to a .gpkg.")] = "beijing",
    out: Annotated[Optional[Path], typer.Option("--out", help="PNG to write (default: results/city-<name>.png).")] = None,
) -> None:
    """Validate a city bundle, print a summary and write a PNG map."""
    from .city import load_city
    from .citymap import format_city_summary, render_city_map

    city = load_city(source)
    target = out if out is not None else DEFAULT_RESULTS / f"city-{city.name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    render_city_map(city, target)
    print_rows(f"city: {city.name}", format_city_summary(city.summary()))
    console.print(f"map: {target}")


def main() -> None:
    """Entry point of the ``footprint`` console script."""
    app()


if __name__ == "__main__":
    main()

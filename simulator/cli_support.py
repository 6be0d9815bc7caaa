"""What the ``footprint`` commands share: the terminal, one-line errors, tables, JSON summaries.

:mod:`simulator.cli` stays a thin list of commands; this module holds how they print.
Rich markup is off on both consoles, so square brackets in messages, names and ids
(``[[plans]]``, ``[i]``, a store ``[x]``) are printed as typed; styles are given as
:class:`rich.text.Text` styles, never as markup inside a message.
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from simulator.config import FootprintError

EXIT_FAILURE = 1  # bad input, or a failure: one line on standard error
EXIT_INTERRUPTED = 130

# The options that mean the same in several commands.
ConsumersOption = Annotated[
    str | None,
    typer.Option(
        "--consumers",
        help='Simulated consumers (population.consumers): a number (at least 100), or "all" for one per resident. '
        "Default: the scenario's.",
        show_default=False,
    ),
]
DaysOption = Annotated[
    int | None,
    typer.Option("--days", help="Days to simulate (horizon.days). Default: the scenario's.", show_default=False),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Root seed. Default: the scenario's seed.", show_default=False)
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a scenario key: --set behaviour.hill_k=4; [*] sets every item of a list: "
        "--set plan.stores[*].capacity_per_day=40 (repeatable).",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print a machine-readable summary (JSON) on standard output, and nothing else there."),
]


console = Console(markup=False, highlight=False)
error_console = Console(stderr=True, markup=False, highlight=False)


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
    """Print ``error: <message>`` (one line, as typed) on standard error and exit with code 1."""
    error_console.print(Text("error:", style="bold red"), Text(message), soft_wrap=True)
    raise typer.Exit(code=EXIT_FAILURE)


def print_warning(message: str | None) -> None:
    """Print ``warning: <message>`` on standard error (nothing for None)."""
    if message:
        error_console.print(Text("warning:", style="yellow"), Text(message), soft_wrap=True)


def print_warnings(metadata: Mapping[str, Any]) -> None:
    """Print the warnings of a run, comparison or sweep (``metadata["warnings"]``) on standard error."""
    for warning in metadata.get("warnings") or []:
        print_warning(str(warning))


def print_note(message: str) -> None:
    """Print ``note: <message>`` on standard error."""
    error_console.print(f"note: {message}", soft_wrap=True)


def progress_bar(quiet: bool, description: str) -> Progress:
    """A rich progress bar with time remaining on standard error (disabled when quiet)."""
    return Progress(
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=error_console,
        disable=quiet,
        transient=False,
    )


def print_rows(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print (label, value) rows as a two-column table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table whose first column is left-aligned and bold, the others right-aligned."""
    table = Table(title=title, title_justify="left")
    for position, header in enumerate(headers):
        table.add_column(header, justify="left" if position == 0 else "right", style="bold" if position == 0 else None)
    for row in rows:
        table.add_row(*row)
    console.print(table)


# --------------------------------------------------------------------------- JSON summaries


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def print_json(data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON on standard output (and nothing else there)."""
    sys.stdout.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def run_summary(result: Any, folder: Path) -> dict[str, Any]:
    """``footprint run --json``: the run folder, the scenario and each KPI's mean, SE and interval."""
    metadata = result.metadata
    kpis = {
        row["kpi"]: {key: row[key] for key in ("label", "unit", "mean", "se", "ci_low", "ci_high")}
        for row in result.summary().to_dict("records")
    }
    return {
        "kind": "run",
        "folder": str(folder),
        "scenario": result.scenario_name,
        "scenario_hash": metadata.get("scenario_hash"),
        "seed": metadata.get("seed"),
        "replications": result.n_replications,
        "consumers": metadata.get("consumers"),
        "consumer_weight": metadata.get("consumer_weight"),
        "days": metadata.get("horizon_days"),
        "kpis": kpis,
        "warnings": list(metadata.get("warnings") or []),
    }


def comparison_summary(result: Any, folder: Path) -> dict[str, Any]:
    """``footprint compare --json``: the folder, each plan's KPI means and paired differences to the baseline."""
    plans: dict[str, dict[str, Any]] = {name: {"kpis": {}, "differences": {}} for name in result.plan_names}
    for row in result.plans.to_dict("records"):
        plans[row["plan"]]["kpis"][row["kpi"]] = {k: row.get(k) for k in ("mean", "ci_low", "ci_high")}
    for row in result.differences.to_dict("records"):
        plans[row["plan"]]["differences"][row["kpi"]] = {k: row.get(k) for k in ("difference", "ci_low", "ci_high")}
    return {
        "kind": "comparison",
        "folder": str(folder),
        "name": result.spec.name,
        "baseline": result.baseline,
        "replications": result.spec.replications,
        "seed": result.spec.seed,
        "plans": plans,
        "warnings": list(result.metadata.get("warnings") or []),
    }


# --------------------------------------------------------------------------- city sites and templates


def write_text_file(path: Path, text: str, *, replace: bool = True, option: str = "") -> None:
    """Write a text file atomically, creating its folder; refuse a folder, and an existing file unless ``replace``.

    Raises
    ------
    ResultsError
        One line naming the path (after ``option``, e.g. ``--out``) and the problem.
    """
    from simulator.config import ResultsError
    from simulator.results import atomic_write_text, check_writable

    where = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise ResultsError(f"{where}: is a folder, not a file (choose a file name)")
    if not replace and (path.exists() or path.is_symlink()):
        raise ResultsError(f"{where}: exists already; choose another file name (it is never replaced)")
    try:
        check_writable(path.parent, what="folder")
    except ResultsError as error:
        raise ResultsError(f"{where}: {error}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def sites_csv(table: Any) -> str:
    """A site table (:func:`simulator.city.sites.site_table`) as CSV text."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buffer.getvalue()


def print_sites(city_name: str, table: Any) -> None:
    """A site table as a rich table on standard output."""
    headers = ["kind", "id", "name", "name (English)", "lon", "lat", "attractiveness", "lines"]
    rows = [
        [
            str(r["kind"]),
            str(r["id"]),
            str(r["name"]),
            str(r["name_en"]),
            f"{r['lon']:.6f}",
            f"{r['lat']:.6f}",
            "" if not math.isfinite(r["attractiveness"]) else f"{r['attractiveness']:g}",
            str(r["lines"]),
        ]
        for r in table.to_dict("records")
    ]
    counts = table["kind"].value_counts()
    title = (
        f"{city_name}: {counts.get('mall', 0)} malls, {counts.get('station', 0)} stations, "
        f'{counts.get("street", 0)} street sites (place a store with mall = "<id>", station = "<id>" or lon/lat)'
    )
    table_widget = Table(title=title, title_justify="left")
    for header in headers:
        table_widget.add_column(header, justify="right" if header in ("lon", "lat", "attractiveness") else "left")
    for row in rows:
        table_widget.add_row(*row)
    console.print(table_widget)


def print_build_report(report: Any) -> None:
    """The summary of ``footprint city build``: layers found and kept, notes, the file written."""
    print_table(
        f"city build: {report.name}",
        ["layer", "found", "repaired", "skipped", "outside", "dropped", "kept"],
        report.table_rows(),
    )
    for note in report.layer_notes():
        console.print(f"  {note}")
    console.print(
        f"population: {report.population_kept:,} residents kept of {report.population_found:,} "
        f"(column '{report.population_column}', {report.population_crs}); modelled jobs {report.jobs_total:,}; "
        f"metric CRS {report.metric_crs}"
    )
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(
        f"wrote {report.out_path} ({report.file_bytes / 1e6:.2f} MB) in {report.seconds:.1f} s",
        soft_wrap=True,  # a path broken over two lines cannot be copied
    )
    console.print(
        f'check the map: footprint city show {report.out_path}\nuse it in a scenario: [city] bundle = "{report.out_path.as_posix()}"',
        soft_wrap=True,
    )

"""Fuzz harness (issue 13): generated scenario, comparison and sweep files and command lines.

Every input goes through the real command line in this process, and the oracle
(:func:`check_outcome`) asks the same of each: no exception escapes (no traceback), the
exit code is a documented one (0; 1 for bad input; 2 for a click usage error; a sweep's
"some runs failed" code), a failure is ONE line ``error: ...`` naming a file, key or option
of the input, nothing else on standard error looks like an exception or a Python warning,
no ``.partial`` folder is left and a failed command leaves no ``--out`` behind (an existing
one is untouched). Inputs that are knowably bad (``--out`` at a file or in /proc,
10**11 consumers, 10**9 days) must be refused before the simulation starts.

To keep 1,000 inputs fast, the simulation is replaced by a stop (:class:`ReachedSimulation`)
for every test but :func:`test_tiny_runs`, which runs a few real ones (200 consumers,
3 days, on the tiny city). The default run generates 1,004 inputs and runs the 25 cases of
the issue (``ISSUE_SCENARIOS``, ``ISSUE_COMMAND_LINES``, a valid run). The long fuzz draws
``FOOTPRINT_FUZZ_EXAMPLES`` inputs of all kinds together and runs only when that is set:
``FOOTPRINT_FUZZ_EXAMPLES=10000 pytest -m slow tests/test_fuzz.py`` (6 to 10 minutes of CPU).
Hypothesis is derandomised with no example database, so every run generates the same inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import resource
import shutil
import signal
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import click.testing
import fuzzcommands as fc
import fuzzinputs as fi
import pytest
import typer.main
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import simulator.city
from simulator.cli import app

COMMAND = typer.main.get_command(app)  # built once: typer rebuilds it on every CliRunner.invoke otherwise
RUNNER = click.testing.CliRunner()

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
#: Inputs of the long fuzz (``test_fuzz_slow``), which runs only when this is set: 10,000 take 6 to
#: 10 minutes of CPU here, too long for every CI run.
SLOW_EXAMPLES = int(os.environ.get("FOOTPRINT_FUZZ_EXAMPLES", "0") or 0)

#: Exit codes a command may end with: success, bad input, click usage error.
EXIT_CODES = {0, 1, 2}
#: A sweep may also say that some runs failed (2 until issue 13 gives it its own code, 3).
SWEEP_EXIT_CODES = EXIT_CODES | {3}
SECONDS_PER_INPUT = 30  # a command that takes longer hangs (e.g. loops over 10**9 seeds)
SECONDS_PER_RUN = 600
MEMORY_ALLOWANCE = 2 * 1024**3  # bytes an input may allocate beyond what the test process holds

_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+(?:Error|Exception|Warning)\b|File \"|\S+:\d+: \w+Warning:)")
_SHORTHAND_KEYS = ["population.consumers", "horizon.days", "seed", "replications", "run.workers"]


BOM = b"\xef\xbb\xbf"


class ReachedSimulation(Exception):
    """Raised instead of simulating: the input passed every check a command makes up front."""


class Hang(Exception):
    """A command ran longer than its time limit."""


@dataclasses.dataclass
class Expectation:
    """What the oracle needs to know of an input."""

    names: list[str]  # the error line must contain one of these (files, keys, options of the input)
    out: Path | None = None  # the --out target
    refuse_early: bool = False  # knowably bad: the command must fail before simulating
    sweep: bool = False


# --------------------------------------------------------------------------------------
# Running a command in this process, safely
# --------------------------------------------------------------------------------------


@functools.cache
def _tiny_city(path: str) -> Any:
    return _real_load_city(path)


_real_load_city = simulator.city.load_city


def _load_city_cached(source: Any) -> Any:
    """``load_city``, the tiny city loaded once (the fuzz inputs do not change it)."""
    if str(source) == str(HARNESS.city):
        return _tiny_city(str(source))
    return _real_load_city(source)


def _stop(*_args: Any, **_kwargs: Any) -> Any:
    raise ReachedSimulation


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise Hang


@contextlib.contextmanager
def guarded(seconds: float, simulate: bool) -> Iterator[None]:
    """Time and memory limits, the cached tiny city, and the stop instead of the simulation."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    in_use = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    limit = in_use + MEMORY_ALLOWANCE if hard == resource.RLIM_INFINITY else min(hard, in_use + MEMORY_ALLOWANCE)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("simulator.city.load_city", _load_city_cached))
        if not simulate:
            stack.enter_context(mock.patch("simulator.experiments.run.run", _stop))
            stack.enter_context(mock.patch("simulator.experiments.compare.compare", _stop))
            stack.enter_context(mock.patch("simulator.experiments.sweep.execution.execute", _stop))
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
            signal.signal(signal.SIGALRM, previous)


@dataclasses.dataclass
class Harness:
    """The tiny city and a scratch folder for the examples."""

    city: Path = Path()
    scratch: Path = Path()


HARNESS = Harness()


@pytest.fixture(scope="module", autouse=True)
def harness(tiny_city_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    HARNESS.city = tiny_city_path
    HARNESS.scratch = tmp_path_factory.mktemp("fuzz")
    yield HARNESS


@contextlib.contextmanager
def example_folder() -> Iterator[Path]:
    """A fresh working folder for one example (also the working directory: results/ goes there)."""
    folder = Path(tempfile.mkdtemp(dir=HARNESS.scratch))
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(cwd)
        shutil.rmtree(folder, ignore_errors=True)


def write_files(folder: Path, files: dict[str, bytes | None]) -> None:
    """Write an example's files; ``@CITY`` in them becomes the tiny city's path."""
    for name, data in files.items():
        if data is None:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(data.replace(fi.CITY.encode(), HARNESS.city.as_posix().encode()))


def snapshot(path: Path | None) -> Any:
    """What is at ``path`` (to check that a failed command left it as it was)."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        return ("file", path.read_bytes())
    return ("folder", sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*")))


def invoke(arguments: list[str], expect: Expectation, folder: Path, *, simulate: bool = False) -> int | None:
    """Run ``footprint ARGUMENTS`` and check the outcome (see the module docstring); the exit code.

    None means that the command reached the simulation (replaced by a stop).
    """
    before = snapshot(expect.out)
    with guarded(SECONDS_PER_RUN if simulate else SECONDS_PER_INPUT, simulate):
        result = RUNNER.invoke(COMMAND, arguments, catch_exceptions=True)
    check_outcome(result, arguments, expect, folder, before)
    return None if isinstance(result.exception, ReachedSimulation) else result.exit_code


def check_outcome(
    result: click.testing.Result, arguments: list[str], expect: Expectation, folder: Path, before: Any
) -> None:
    """The oracle: no traceback, a documented exit code, one error line, nothing partial left."""
    command = "footprint " + " ".join(arguments)
    exception = result.exception
    leftovers = [str(p) for p in folder.rglob("*") if ".partial" in p.name]
    if expect.out is not None and expect.out.parent.is_dir():
        leftovers += [str(p) for p in expect.out.parent.iterdir() if ".partial" in p.name]
    assert not leftovers, f"{command}: partial output left: {leftovers}"
    if isinstance(exception, ReachedSimulation):
        assert not expect.refuse_early, f"{command}: knowably bad input reached the simulation"
        return
    if exception is not None and not isinstance(exception, SystemExit):
        frames = [f for f in traceback.extract_tb(exception.__traceback__) if "simulator" in Path(f.filename).parts]
        where = (
            f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}"
            if frames
            else "outside simulator/"
        )
        last = traceback.format_exception_only(exception)[-1].strip()
        raise AssertionError(f"{command}: uncaught {type(exception).__name__} at {where}\nTraceback ... {last[:300]}")
    output, errors = result.stdout, result.stderr
    assert "Traceback" not in output and "Traceback" not in errors, f"{command}: traceback\n{result.output}"
    dumps = [line for line in errors.splitlines() if _EXCEPTION_LINE.match(line)]
    assert not dumps, f"{command}: exception or warning dump on stderr: {dumps}"
    code = result.exit_code
    assert code in (SWEEP_EXIT_CODES if expect.sweep else EXIT_CODES), f"{command}: exit code {code}\n{result.output}"
    if code == 1:
        # Warnings may come first (e.g. --jobs capped at the cores); then exactly one error line.
        lines = [line for line in errors.splitlines() if line.strip() and not line.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error:"), f"{command}: not one error line:\n{errors}"
        assert any(name in lines[0] for name in expect.names), (
            f"{command}: error names no input ({expect.names}): {lines[0]}"
        )
    elif code == 2 and "Usage:" in errors:
        assert "Error" in errors, f"{command}: usage error without a message:\n{errors}"
    if code != 0 and expect.out is not None and not (expect.sweep and code in {2, 3} and "runs failed" in errors):
        assert snapshot(expect.out) == before, f"{command}: failed, and changed or left --out {expect.out}"


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def file_names(files: fi.FileSet) -> list[str]:
    return [*files.files, fi.STORES_FILE, fi.SCENARIO_FILE, HARNESS.city.name, str(HARNESS.city), "bundle"]


def _integer_at(document: Any, *path: str) -> int:
    for key in path:
        if not isinstance(document, dict):
            return 0
        document = document.get(key)
    return document if isinstance(document, int) and not isinstance(document, bool) else 0


def knowably_too_big(document: Any) -> bool:
    """A scenario, comparison or sweep document that no machine can run: refused before simulating."""
    return (
        _integer_at(document, "population", "consumers") >= 10**11
        or _integer_at(document, "horizon", "days") >= 10**9
        or _integer_at(document, "replications") >= 10**9
    )


def check_scenario_file(files: fi.FileSet, how: str) -> None:
    with example_folder() as folder:
        write_files(folder, files.files)
        path = str(folder / files.main)
        commands = {
            "validate": ["validate", path, "--no-city"],
            "validate_city": ["validate", path],
            "run": ["run", path, "--quiet", "--out", "out"],
        }
        expect = Expectation(file_names(files), out=folder / "out" if how == "run" else None)
        if how == "run":
            expect.refuse_early = _document_too_big(files.files[files.main])
        code = invoke(commands[how], expect, folder)
        data = files.files[files.main] or b""
        if data.startswith(BOM) and how != "run":
            (folder / files.main).write_bytes(
                data[len(BOM) :].replace(fi.CITY.encode(), HARNESS.city.as_posix().encode())
            )
            assert invoke(commands[how], expect, folder) == code, f"{files.main}: a byte-order mark changes the outcome"


def _document_too_big(data: bytes | None) -> bool:
    import tomllib

    try:
        return knowably_too_big(tomllib.loads((data or b"").decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def check_comparison_file(files: fi.FileSet) -> None:
    with example_folder() as folder:
        write_files(folder, files.files)
        expect = Expectation(file_names(files), out=folder / "out")
        expect.refuse_early = _document_too_big(files.files[fi.COMPARISON_FILE]) or _document_too_big(
            files.files[fi.SCENARIO_FILE]
        )
        invoke(["compare", str(folder / files.main), "--quiet", "--out", "out"], expect, folder)


def check_sweep_file(files: fi.FileSet) -> None:
    with example_folder() as folder:
        write_files(folder, files.files)
        expect = Expectation(file_names(files), out=folder / "out", sweep=True)
        invoke(["sweep", str(folder / files.main), "--quiet", "--jobs", "1", "--out", "out"], expect, folder)


def with_examples(examples: list[Any]) -> Any:
    """Hypothesis ``@example`` for each of ``examples`` (run before the generated inputs, every time)."""

    def decorate(test: Any) -> Any:
        for case in reversed(examples):
            test = example(case)(test)
        return test

    return decorate


def scenario_case(edit: Any, prefix: bytes = b"") -> fi.FileSet:
    """The tiny scenario changed by ``edit`` (a function of the document), as a file set."""
    document = fi.tiny_scenario(fi.CITY)
    edit(document)
    return fi.FileSet({fi.SCENARIO_FILE: prefix + fi.toml_text(document).encode()}, fi.SCENARIO_FILE)


def first_store(**changes: Any) -> Any:
    return lambda document: document["plan"]["stores"][0].update(changes)


#: The scenario cases of issue 13, always run (the generated inputs come on top).
ISSUE_SCENARIOS = [
    (scenario_case(first_store(capacity_per_day=3_000_000_000)), "validate_city"),
    (scenario_case(first_store(capacity_per_day=3_000_000_000)), "run"),
    (scenario_case(first_store(open_day=3_000_000_000)), "validate_city"),
    (scenario_case(first_store(open_day=400)), "validate_city"),
    (scenario_case(lambda d: d["population"].update(consumers=10**12)), "validate"),
    (scenario_case(lambda d: d["population"].update(consumers=10**12)), "run"),
    (scenario_case(lambda d: d["horizon"].update(days=10**9)), "validate"),
    (scenario_case(lambda d: d["horizon"].update(days=10**9)), "run"),
    (scenario_case(lambda d: None, prefix=b"\xef\xbb\xbf"), "validate"),
    (scenario_case(lambda d: d["plan"]["stores"][0].update(crs="EPSG:3857", lon=116.4, lat=39.9)), "validate_city"),
]
#: The command-line cases of issue 13.
ISSUE_COMMAND_LINES = [
    ["run", "@scenario", "--quiet", "--out", "a_file"],
    ["run", "@scenario", "--quiet", "--out", "a_file/below"],
    ["run", "@scenario", "--quiet", "--out", "/proc/fuzz-out"],
    ["run", "@scenario", "--quiet", "--out", "/sys/fuzz-out"],
    ["run", "@scenario", "--quiet", "--out", "full_folder"],
    ["run", "@scenario", "--quiet", "--out", "new", "--consumers", "1000000000000"],
    ["run", "@scenario", "--quiet", "--out", "new", "--days", "1000000000"],
    ["validate", "@scenario", "--set", "horizon.days=1000000000"],
    ["compare", "@comparison", "--quiet", "--out", "a_file"],
    ["compare", "@scenario", "@scenario2", "--quiet", "--out", "full_folder"],
    ["sweep", "@sweep", "--quiet", "--out", "a_file"],
    ["sweep", "@sweep", "--quiet", "--out", "new", "--jobs", "100"],
    ["schema", "--out", "a_file/below"],
    ["schema", "--out", "/proc/fuzz.json"],
]


def scenario_inputs() -> st.SearchStrategy[tuple[fi.FileSet, str]]:
    how = st.sampled_from(["validate", "validate", "validate_city", "run"])
    return st.tuples(fi.scenario_files(), how)


@with_examples(ISSUE_SCENARIOS)
@settings(FUZZ, max_examples=420)
@given(scenario_inputs())
def test_scenario_files(example):
    check_scenario_file(*example)


@settings(FUZZ, max_examples=150)
@given(fi.comparison_files())
def test_comparison_files(files):
    check_comparison_file(files)


@settings(FUZZ, max_examples=150)
@given(fi.sweep_files())
def test_sweep_files(files):
    check_sweep_file(files)


# --------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------


def _valid_files(folder: Path) -> dict[str, bytes | None]:
    bundle = fi.CITY
    second = {**fi.tiny_scenario(bundle), "name": "fuzz2"}
    second["plan"] = {**second["plan"], "name": "other"}
    return {
        fi.SCENARIO_FILE: fi.toml_text(fi.tiny_scenario(bundle)).encode(),
        "scenario2.toml": fi.toml_text(second).encode(),
        fi.COMPARISON_FILE: fi.toml_text(fi.tiny_comparison()).encode(),
        fi.STORES_FILE: fi.STORES_CSV.encode(),
        fi.SWEEP_FILE: fi.toml_text(fi.tiny_sweep("grid")).encode(),
        "folder": None,
        "garbage.gpkg": bytes(range(256)) * 8,
        "empty.gpkg": b"",
        "a_file": b"not a folder\n",
        "full_folder": None,
        "full_folder/keep.txt": b"keep me\n",
        "empty_folder": None,
    }


_PLACEHOLDERS = {
    "@scenario": fi.SCENARIO_FILE,
    "@scenario2": "scenario2.toml",
    "@comparison": fi.COMPARISON_FILE,
    "@sweep": fi.SWEEP_FILE,
    "@missing": "missing.toml",
    "@folder": "folder",
    "@garbage_gpkg": "garbage.gpkg",
    "@empty_gpkg": "empty.gpkg",
}


def _option_values(arguments: list[str], option: str) -> list[str]:
    return [arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a == option]


def _as_integer(text: str) -> int:
    try:
        return int(float(text)) if "e" in text.lower() and "x" not in text else int(text)
    except (ValueError, OverflowError):
        return 0


def refused_early(arguments: list[str]) -> bool:
    """Command lines that must fail before simulating: a bad --out, 10**11 consumers, 10**9 days or runs."""
    overwrite = "--overwrite" in arguments
    for out in _option_values(arguments, "--out"):
        if out in fc.BAD_OUT_PLACES and not (overwrite and out in {"a_file", "full_folder"}):
            return True
    sets = dict(option.partition("=")[::2] for option in _option_values(arguments, "--set"))
    consumers = _option_values(arguments, "--consumers") + [sets.get("population.consumers", "")]
    days = _option_values(arguments, "--days") + [sets.get("horizon.days", "")]
    runs = _option_values(arguments, "--replications") + [sets.get("replications", "")]
    return (
        any(_as_integer(v) >= 10**11 for v in consumers)
        or any(_as_integer(v) >= 10**9 for v in days)
        or any(_as_integer(v) >= 10**9 for v in runs)
    )


def check_command_line(arguments: list[str]) -> None:
    with example_folder() as folder:
        write_files(folder, _valid_files(folder))
        arguments = [str(folder / _PLACEHOLDERS[a]) if a in _PLACEHOLDERS else a for a in arguments]
        outs = _option_values(arguments, "--out")
        out = (folder / outs[-1]) if outs else None
        names = [*_PLACEHOLDERS.values(), *_SHORTHAND_KEYS, *(a for a in arguments if a.startswith("-"))]
        names += [part for a in arguments for part in (a, Path(a).name, a.partition("=")[0]) if part]
        sweep = bool(arguments) and arguments[0] == "sweep"
        invoke(arguments, Expectation(names, out=out, refuse_early=refused_early(arguments), sweep=sweep), folder)


@with_examples(ISSUE_COMMAND_LINES)
@settings(FUZZ, max_examples=280)
@given(fc.command_lines())
def test_command_lines(arguments):
    check_command_line(arguments)


# --------------------------------------------------------------------------------------
# A few real runs, and the slow mode
# --------------------------------------------------------------------------------------


VALID_RUN = fi.FileSet({fi.SCENARIO_FILE: fi.toml_text(fi.tiny_scenario(fi.CITY)).encode()}, fi.SCENARIO_FILE)


def check_tiny_run(files: fi.FileSet) -> None:
    """A real run of a (mutated) scenario, capped at 200 consumers and 3 days."""
    with example_folder() as folder:
        write_files(folder, files.files)
        arguments = ["run", str(folder / files.main), "--consumers", "200", "--days", "3", "--replications", "1"]
        arguments += ["--jobs", "1", "--quiet", "--out", "out"]
        code = invoke(arguments, Expectation(file_names(files), out=folder / "out"), folder, simulate=True)
        if files == VALID_RUN:
            assert code == 0 and (folder / "out" / "metadata.json").is_file(), "the valid tiny scenario did not run"


@example(VALID_RUN)
@settings(FUZZ, max_examples=4)
@given(fi.scenario_files())
def test_tiny_runs(files):
    check_tiny_run(files)


def any_input() -> st.SearchStrategy[tuple[str, Any]]:
    bundle = fi.CITY
    return st.one_of(
        st.tuples(st.just("scenario"), scenario_inputs()),
        st.tuples(st.just("comparison"), fi.comparison_files(bundle)),
        st.tuples(st.just("sweep"), fi.sweep_files(bundle)),
        st.tuples(st.just("command"), fc.command_lines()),
    )


_CHECKS = {
    "scenario": lambda example: check_scenario_file(*example),
    "comparison": check_comparison_file,
    "sweep": check_sweep_file,
    "command": check_command_line,
}


@pytest.mark.slow
@pytest.mark.skipif(
    SLOW_EXAMPLES < 1, reason="the long fuzz: FOOTPRINT_FUZZ_EXAMPLES=10000 pytest -m slow tests/test_fuzz.py"
)
@settings(FUZZ, max_examples=max(SLOW_EXAMPLES, 1))
@given(any_input())
def test_fuzz_slow(example):
    kind, value = example
    _CHECKS[kind](value)

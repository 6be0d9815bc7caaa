"""Nothing lost, nothing cryptic (issue 13): outputs never replaced, one-line errors before any work.

Every case gives one line on standard error, no traceback, exit code 1 (or the documented
code) and leaves no partial output; workers die with a command killed by SIGKILL.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelpers import assert_one_line_error
from typer.testing import CliRunner

from simulator.cli import EXIT_SOME_RUNS_FAILED, app
from simulator.config import ResultsError, load_scenario
from simulator.config.atomic import atomic_folder, folder_lock, reserve_folder
from simulator.config.limits import MAX_DAYS
from simulator.experiments.executors import ExecutorSpec, capped_workers, default_workers

PROJECT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def scenario_file(
    folder: Path, city_path: Path, extra: str = "", store: str = "", name: str = "tiny.toml", title: str = "tiny"
) -> Path:
    path = folder / name
    path.write_text(
        f"""name = "{title}"
seed = 5
[city]
bundle = "{city_path.as_posix()}"
[population]
consumers = 1000
[horizon]
days = 5
{extra}
[[plan.stores]]
id = "A"
mall = "M1"
{store}
""",
        encoding="utf-8",
    )
    return path


def leftovers(folder: Path) -> list[str]:
    """Hidden partial folders, retired folders and temporaries left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name or p.suffix == ".tmp")


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --------------------------------------------------------------------------- where the output goes


@pytest.mark.parametrize("command", ["run", "compare"])
def test_out_pointing_at_a_file_is_one_line_before_any_work(tmp_path, tiny_city_path, command):
    scenario = scenario_file(tmp_path, tiny_city_path)
    other = scenario_file(tmp_path, tiny_city_path, name="other.toml", title="other")
    target = tmp_path / "a-file"
    target.write_text("keep me", encoding="utf-8")
    files = [str(scenario)] if command == "run" else [str(scenario), str(other)]
    result = runner.invoke(app, [command, *files, "--out", str(target), "-q"])
    assert_one_line_error(result, str(target), "is a file, not a")
    assert target.read_text(encoding="utf-8") == "keep me" and not leftovers(tmp_path)


@pytest.mark.parametrize("out", ["/proc/footprint-run", "/sys/footprint-run", "{file}/below", "x" * 250])
def test_out_in_a_place_that_cannot_be_written(tmp_path, tiny_city_path, out):
    scenario = scenario_file(tmp_path, tiny_city_path)
    (tmp_path / "file").write_text("", encoding="utf-8")
    target = out.format(file=tmp_path / "file")
    started = time.perf_counter()
    result = runner.invoke(app, ["run", str(scenario), "--out", target, "-q"])
    assert_one_line_error(result, target)
    assert time.perf_counter() - started < 20  # refused before the simulation, not after it


def test_a_full_disk_is_refused_before_the_run(tmp_path, tiny_city_path, monkeypatch):
    monkeypatch.setattr("simulator.config.atomic.free_bytes", lambda path: 50_000)
    scenario = scenario_file(tmp_path, tiny_city_path)
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run"), "-q"])
    assert_one_line_error(result, "needs about", "free on that disk")
    assert not (tmp_path / "run").exists() and not leftovers(tmp_path)


def test_a_disk_full_while_writing_leaves_nothing(tmp_path, tiny_city_path, monkeypatch):
    import pyogrio.errors

    def full(*args, **kwargs):
        raise pyogrio.errors.DataSourceError("sqlite3_exec(COMMIT) failed: database or disk is full")

    monkeypatch.setattr("simulator.results.run_folder.write_geopackage", full)
    scenario = scenario_file(tmp_path, tiny_city_path)
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run"), "-q"])
    assert_one_line_error(result, str(tmp_path / "run"), "no space left on the device", "nothing was written")
    assert not (tmp_path / "run").exists() and not leftovers(tmp_path)
    assert not list(tmp_path.glob(".run.lock"))


def add(task) -> dict[str, float]:
    """The KPI of a generic sweep: a + b."""
    return {"y": task.values["a"] + task.values["b"]}


def test_a_disk_full_while_drawing_a_sweep_report_keeps_the_runs(tmp_path, monkeypatch):
    import tomllib

    from simulator.experiments.sweep import parse_sweep
    from simulator.reports.sweep_report import run_sweep

    grid = 'kpis = ["y"]\n[[parameters]]\nkey = "a"\nvalues = [0, 1]\n[[parameters]]\nkey = "b"\nvalues = [0, 1]\n'
    sweep = parse_sweep(tomllib.loads(grid), "generic.toml")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full)
    monkeypatch.setattr("simulator.reports.figures.render_png", full)  # figures drawn once (save_png)
    with pytest.raises(ResultsError, match=r"no space left on the device \(the runs are saved: the same command"):
        run_sweep(sweep, tmp_path / "s", evaluate=add)
    assert (tmp_path / "s" / "summary.parquet").is_file() and not (tmp_path / "s" / "report.html").exists()
    assert not list((tmp_path / "s").rglob("*.tmp")) and not (tmp_path / ".s.lock").exists()


def test_write_errors_of_one_file_are_one_line(tmp_path, monkeypatch):
    from simulator.config.atomic import atomic_write_text

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(ResultsError, match=r"report\.html: cannot write the file: no space left on the device"):
        atomic_write_text(tmp_path / "report.html", "<html>")
    monkeypatch.undo()
    assert not leftovers(tmp_path)


# --------------------------------------------------------------------------- never replaced, never racing


def test_the_next_writer_removes_what_dead_writers_left(tmp_path):
    out = tmp_path / "run"
    stale = tmp_path / f".run.partial-{dead_pid()}-0123456789ab"
    (stale / "figures").mkdir(parents=True)
    old_format = tmp_path / ".run.partial-0123456789ab"  # written before partial folders named their process
    old_format.mkdir()
    alive = tmp_path / f".run.partial-{os.getppid()}-0123456789ab"  # a live process's work is left alone
    alive.mkdir()
    with atomic_folder(out, what="run folder") as partial:
        (partial / "metadata.json").write_text("{}", encoding="utf-8")
    assert (out / "metadata.json").is_file() and alive.is_dir()
    assert not stale.exists() and not old_format.exists() and not (tmp_path / ".run.lock").exists()
    with pytest.raises(ResultsError, match="already exists and is not empty"), atomic_folder(out, what="run folder"):
        pass


def test_a_folder_being_written_by_another_process_is_refused(tmp_path, tiny_city_path):
    scenario = scenario_file(tmp_path, tiny_city_path)
    other = scenario_file(tmp_path, tiny_city_path, name="other.toml", title="other")
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom simulator.config.atomic import reserve_folder\n"
            "with reserve_folder(sys.argv[1], what='run folder'):\n    print('held', flush=True)\n    time.sleep(120)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        sweep = tmp_path / "sweep.toml"
        sweep.write_text(
            'scenario = "tiny.toml"\nkpis = ["mean_trust"]\n[[parameters]]\nkey = "behaviour.hill_k"\nvalues = [2.0, 3.0]\n',
            encoding="utf-8",
        )
        for command in (["run", str(scenario)], ["compare", str(scenario), str(other)], ["sweep", str(sweep)]):
            result = runner.invoke(app, [*command, "--out", str(out), "-q"])
            assert_one_line_error(result, str(out), f"another footprint command (process {holder.pid})")
        os.kill(holder.pid, signal.SIGKILL)  # the kernel drops its lock: the folder can be claimed again
        holder.wait(timeout=10)
        with reserve_folder(out, what="run folder"):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not out.exists()


def test_the_lock_is_reentrant_and_the_final_rename_never_replaces(tmp_path):
    out = tmp_path / "out"
    with (
        folder_lock(out),
        pytest.raises(ResultsError, match="appeared while this command ran"),
        atomic_folder(out) as partial,
    ):
        (partial / "a.txt").write_text("new", encoding="utf-8")
        out.mkdir()  # a writer that ignores the lock
        (out / "b.txt").write_text("appeared meanwhile", encoding="utf-8")
    assert (out / "b.txt").is_file() and not (out / "a.txt").exists() and not leftovers(tmp_path)


def test_an_interrupted_overwrite_gets_its_old_folder_back(tmp_path):
    retired = tmp_path / ".out.old-0123456789ab"
    retired.mkdir()
    (retired / "metadata.json").write_text("{}", encoding="utf-8")
    with folder_lock(tmp_path / "out"):
        pass
    assert (tmp_path / "out" / "metadata.json").is_file() and not retired.exists()


WORKER_PARENT = """
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
import os
from slowtasks import slow
from simulator.config.processes import start_worker
if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=start_worker, initargs=(os.getpid(),)) as pool:
        list(pool.map(slow, [sys.argv[1]] * 4))
"""

EXECUTE_PARENT = """
import sys
from simulator.experiments.executors import ExecutorSpec, execute
from slowtasks import slow
if __name__ == "__main__":
    for _ in execute(slow, [sys.argv[1]] * 4, ExecutorSpec("processes", workers=2)):
        pass
"""


def kill_parent_and_watch_workers(folder: Path, script: str) -> None:
    """Start ``script`` (two workers running ``slowtasks.slow``), SIGKILL it, and check no worker survives."""
    (folder / "slowtasks.py").write_text(
        "import os, pathlib, time\n"
        "def slow(folder):\n"
        "    pathlib.Path(folder, f'worker-{os.getpid()}').touch()\n"
        "    time.sleep(120)\n",
        encoding="utf-8",
    )
    (folder / "parent.py").write_text(script, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), str(folder)])}
    parent = subprocess.Popen([sys.executable, "parent.py", str(folder)], cwd=folder, env=env)
    expected = min(2, default_workers())
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("worker-*"))) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.name.split("-")[1]) for p in folder.glob("worker-*")]
        assert len(workers) == expected
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _running(pid)], "a worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path):
    kill_parent_and_watch_workers(tmp_path, WORKER_PARENT)


@pytest.mark.slow
def test_executor_workers_die_with_a_command_killed_by_sigkill(tmp_path):
    kill_parent_and_watch_workers(tmp_path, EXECUTE_PARENT)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_more_jobs_than_cores_are_capped_with_a_warning():
    cores = default_workers()
    assert capped_workers(cores) == (cores, None)
    workers, warning = capped_workers(cores + 98)
    assert workers == cores and warning is not None and f"{cores + 98}" in warning
    spec = ExecutorSpec.from_options(jobs=cores + 98)
    assert spec.workers <= cores and spec.warning == warning


# --------------------------------------------------------------------------- bad input, one line, before any work


@pytest.mark.parametrize(
    ("extra", "store", "fragments"),
    [
        ("", "capacity_per_day = 3000000000", ["plan.stores[0].capacity_per_day", "<= 1000000"]),
        ("", "open_day = 3e9", ["plan.stores[0].open_day", "<= 36500"]),
        ("", "close_day = 9223372036854775807", ["plan.stores[0].close_day"]),
        ("[behaviour]\nqueue_patience_days = 1e300", "", ["behaviour.queue_patience_days", "between"]),
    ],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_integers_beyond_their_maxima(tmp_path, tiny_city_path, extra, store, fragments, command):
    scenario = scenario_file(tmp_path, tiny_city_path, extra=extra, store=store)
    arguments = [command, str(scenario)] + (["--out", str(tmp_path / "run"), "-q"] if command == "run" else [])
    result = runner.invoke(app, arguments)
    assert_one_line_error(result, "tiny.toml", *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["--set", "horizon.days=1000000000"], ["horizon.days", f"<= {MAX_DAYS}"]),
        (["--set", f"population.consumers={10**12}"], ["population.consumers", "100,000,000"]),
        (["--set", f"replications={10**9}"], ["replications", "<= 10000"]),
        (["--set", "horizon.start_date=9999-12-30"], ["horizon.days", "to 9999-12-31), got 5"]),
        (["--set", f"seed={2**64}"], ["seed", "between"]),
    ],
)
def test_horizon_population_and_replications_are_bounded(tmp_path, tiny_city_path, arguments, fragments):
    scenario = scenario_file(tmp_path, tiny_city_path)
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, str(scenario), *arguments])
        assert_one_line_error(result, *fragments)


def test_a_population_too_large_for_the_memory_is_refused(tmp_path, tiny_city_path, monkeypatch):
    monkeypatch.setattr("simulator.experiments.resources.available_memory", lambda: 2 * 10**9)
    scenario = scenario_file(tmp_path, tiny_city_path)
    result = runner.invoke(app, ["run", str(scenario), "--consumers", "50000000", "--out", str(tmp_path / "run"), "-q"])
    assert_one_line_error(result, "tiny.toml: population.consumers: 50,000,000 consumers need about", "2.0 GB")
    assert not (tmp_path / "run").exists() and not leftovers(tmp_path)
    validated = runner.invoke(app, ["validate", str(scenario), "--set", "population.consumers=50000000"])
    assert validated.exit_code == 0 and "warning:" in validated.output and "would refuse" in validated.output


def test_a_toml_file_with_a_byte_order_mark_is_read(tmp_path, tiny_city_path):
    scenario = scenario_file(tmp_path, tiny_city_path)
    scenario.write_bytes(b"\xef\xbb\xbf" + scenario.read_bytes())
    assert load_scenario(scenario).name == "tiny"
    result = runner.invoke(app, ["validate", str(scenario), "--no-city"])
    assert result.exit_code == 0, result.output


def test_errors_of_run_name_the_file(tmp_path, tiny_city_path):
    scenario = scenario_file(tmp_path, tiny_city_path, name="plan-b.toml")
    scenario.write_text(scenario.read_text(encoding="utf-8").replace('"M1"', '"NO-SUCH-MALL"'), encoding="utf-8")
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run"), "-q"])
    assert_one_line_error(result, "plan-b.toml: plan.stores[0] (A): mall", "NO-SUCH-MALL")
    assert not (tmp_path / "run").exists() and not leftovers(tmp_path)


def test_exit_codes_are_documented():
    assert EXIT_SOME_RUNS_FAILED == 3
    assert "3 if some runs failed" in " ".join(runner.invoke(app, ["sweep", "--help"]).output.split())
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert "## Exit codes" in readme and "`3`" in readme and "--overwrite" in readme

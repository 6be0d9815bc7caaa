"""Parameter sweeps: sweep files, designs, executors, resume after a kill, failures, sensitivity."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config.errors import ResultsError, ScenarioError
from simulator.experiments.executors import ExecutorSpec
from simulator.experiments.run import run
from simulator.experiments.sweep import (
    build_design,
    load_sweep,
    parse_sweep,
    plan_tasks,
    read_summary,
)
from simulator.model.rng import replication_seeds
from simulator.reports.sweep_report import run_sweep

PROJECT = Path(__file__).resolve().parent.parent
runner = CliRunner()

# --------------------------------------------------------------------------- helpers


def write_tiny_scenario(folder: Path, city_path: Path) -> Path:
    """A scenario on the tiny test city: 2,000 consumers, 30 days, three stores."""
    path = folder / "tiny.toml"
    path.write_text(
        f"""name = "tiny"
seed = 11
[city]
bundle = "{Path(city_path).as_posix()}"
[population]
consumers = 2000
[horizon]
days = 30

[[plan.stores]]
id = "A"
mall = "M1"

[[plan.stores]]
id = "B"
station = "木樨地"
format = "street"
capacity_per_day = 5

[[plan.stores]]
id = "C"
station = "东门"
format = "flagship"
open_day = 10
""",
        encoding="utf-8",
    )
    return path


TINY_GRID = """
scenario = "tiny.toml"
seed = 3
replications = {replications}
kpis = ["test_drives_scaled", "share_familiar", "mean_trust"]

[[parameters]]
key = "plan.stores[*].capacity_per_day"
values = {capacities}

[[parameters]]
key = "behaviour.hill_k"
values = {hill_k}
"""


def write_sweep(folder: Path, text: str, name: str = "tiny_sweep.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def tiny_folder(tmp_path, tiny_city_path) -> Path:
    write_tiny_scenario(tmp_path, tiny_city_path)
    return tmp_path


# Generic evaluation functions (module level, so that they pickle).

ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1


def ishigami(task) -> dict[str, float]:
    r"""Ishigami function :math:`\sin x_1 + a \sin^2 x_2 + b x_3^4 \sin x_1` (a = 7, b = 0.1)."""
    x1, x2, x3 = (task.values[name] for name in ("x1", "x2", "x3"))
    return {"y": math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3**4 * math.sin(x1)}


LINEAR_COEFFICIENTS = {"a": 3.0, "b": -1.0, "c": 0.0}


def linear(task) -> dict[str, float]:
    return {"y": sum(c * task.values[name] for name, c in LINEAR_COEFFICIENTS.items())}


CALLS: list[str] = []
FAILING_POINTS: set[int] = set()


def recorded_sum(task) -> dict[str, float]:
    """a + 2 b + seed noise; records its calls; raises at the points in FAILING_POINTS."""
    CALLS.append(task.run_id)
    if task.point in FAILING_POINTS:
        raise ValueError(f"cannot evaluate point {task.point}")
    noise = (task.seed % 1000) / 1e6
    return {"y": task.values["a"] + 2.0 * task.values["b"] + noise}


def generic_sweep(text: str, name: str = "generic.toml"):
    import tomllib

    return parse_sweep(tomllib.loads(text), name)


GENERIC_GRID = """
seed = {seed}
replications = 2
kpis = ["y"]
[[parameters]]
key = "a"
values = [0, 1]
[[parameters]]
key = "b"
values = [0, 1, 2]
"""


# --------------------------------------------------------------------------- designs and seeds


def test_grid_plan_uses_common_random_numbers(tiny_folder):
    sweep = load_sweep(write_sweep(tiny_folder, TINY_GRID.format(replications=2, capacities=[4, 9], hill_k=[2.0, 4.0])))
    design = build_design(sweep)
    tasks = plan_tasks(sweep, design)
    assert design.points.to_dict("records") == [
        {"plan.stores[*].capacity_per_day": c, "behaviour.hill_k": k} for c in (4, 9) for k in (2.0, 4.0)
    ]
    assert [t.run_id for t in tasks[:3]] == ["p00000-r000", "p00000-r001", "p00001-r000"]
    seeds = replication_seeds(3, 2)
    assert all(t.seed == seeds[t.replication] for t in tasks)  # replication r: same seed at every point
    assert sweep.parameters[0].targets == tuple(f"plan.stores[{i}].capacity_per_day" for i in range(3))
    assert sweep.parameters[0].kind == "integer"


def test_sampling_designs_respect_ranges_distributions_and_integers():
    sweep = generic_sweep(
        """
kpis = ["y"]
[design]
kind = "lhs"
samples = 40
[[parameters]]
key = "count"
low = 1
high = 9
integer = true
[[parameters]]
key = "scale"
distribution = "loguniform"
low = 0.01
high = 100
"""
    )
    design = build_design(sweep)
    counts = design.points["count"].to_numpy()
    assert counts.dtype.kind == "i" and counts.min() >= 1 and counts.max() <= 9
    # Latin hypercube: exactly one point in each of the 40 strata of every dimension
    for column in range(2):
        assert sorted(np.floor(design.unit[:, column] * 40).astype(int)) == list(range(40))
    scale = design.points["scale"].to_numpy()
    np.testing.assert_allclose(np.log10(scale), -2 + 4 * design.unit[:, 1], rtol=1e-12)


# --------------------------------------------------------------------------- executors


@pytest.mark.slow
def test_processes_and_dask_cluster_give_identical_results(tiny_folder):
    """8 runs on the tiny city: local processes and a local Dask cluster agree exactly."""
    sweep_file = write_sweep(tiny_folder, TINY_GRID.format(replications=2, capacities=[4, 9], hill_k=[2.0, 4.0]))
    sweep = load_sweep(sweep_file)
    processes = run_sweep(sweep, tiny_folder / "processes", spec=ExecutorSpec("processes", workers=2))
    dask = run_sweep(sweep, tiny_folder / "dask", spec=ExecutorSpec("dask-local", workers=2), report=False)
    assert processes.ok and dask.ok and processes.runs_total == 8
    summary = read_summary(tiny_folder / "processes")
    pd.testing.assert_frame_equal(summary, read_summary(tiny_folder / "dask"))
    pd.testing.assert_frame_equal(processes.sensitivity, dask.sensitivity)
    assert summary["plan.stores[*].capacity_per_day"].dtype == np.int64
    assert summary["test_drives_scaled"].notna().all()

    # A design point is the scenario with its values set: footprint run --seed <root> gives the same runs.
    point = summary[summary["point"] == 3]
    expected = _direct_kpis(sweep, {"plan.stores[*].capacity_per_day": 9, "behaviour.hill_k": 4.0})
    # Counts agree exactly; mean trust to 1e-9 (an in-process run and a worker's differ by about
    # 5e-10 relative in float32 trust, a difference whose cause is not yet found).
    np.testing.assert_array_equal(point[["test_drives_scaled", "share_familiar"]].to_numpy(), expected[:, :2])
    np.testing.assert_allclose(point["mean_trust"].to_numpy(), expected[:, 2], rtol=1e-9, atol=0)

    # Outputs: figures (a heat map for this two-parameter grid) and a self-contained report.
    figures = {p.name for p in (tiny_folder / "processes" / "figures").glob("*.png")}
    assert {"tornado.png", "heatmap_test_drives_scaled.png", "main_effects_mean_trust.png"} <= figures
    html = (tiny_folder / "processes" / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "<script" not in html and 'src="http' not in html


def _tiny_city(sweep):
    from simulator.city.bundle import load_city

    return load_city(sweep.base.resolved_bundle)


def _direct_kpis(sweep, values: dict) -> np.ndarray:
    overrides = {f"plan.stores[{i}].capacity_per_day": values["plan.stores[*].capacity_per_day"] for i in range(3)}
    overrides["behaviour.hill_k"] = values["behaviour.hill_k"]
    result = run(sweep.base, overrides=overrides, city=_tiny_city(sweep))  # seed and replications of the sweep
    kpis = result.replication_kpis()
    return kpis[["test_drives_scaled", "share_familiar", "mean_trust"]].to_numpy()


# --------------------------------------------------------------------------- resume


def test_resume_runs_only_what_is_missing(tmp_path):
    sweep = generic_sweep(GENERIC_GRID.format(seed=1))
    CALLS.clear()
    first = run_sweep(sweep, tmp_path / "s", evaluate=recorded_sum, report=False)
    assert len(CALLS) == 12 and first.runs_executed == 12
    runs = tmp_path / "s" / "runs"
    for run_id in ("p00001-r000", "p00004-r001"):
        (runs / f"{run_id}.json").unlink()
    (runs / ".p00002-r000.json.abc123.tmp").write_text("{half a fi")  # left by a kill during a write
    CALLS.clear()
    again = run_sweep(sweep, tmp_path / "s", evaluate=recorded_sum, report=False)
    assert sorted(CALLS) == ["p00001-r000", "p00004-r001"]
    assert (again.runs_reused, again.runs_executed) == (10, 2)
    assert not list(runs.glob(".*.tmp"))
    pd.testing.assert_frame_equal(first.summary, again.summary)
    pd.testing.assert_frame_equal(first.summary, read_summary(tmp_path / "s"))


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_summary(tiny_folder):
    sweep_file = write_sweep(
        tiny_folder, TINY_GRID.format(replications=1, capacities=[2, 4, 8, 16], hill_k=[1.5, 3.0, 4.5, 6.0])
    )
    out = tiny_folder / "killed"
    command = [
        sys.executable,
        "-m",
        "simulator.cli",
        "sweep",
        str(sweep_file),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=tiny_folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if runs.is_dir() and len(list(runs.glob("p*.json"))) >= 3:
                break
            time.sleep(0.02)
        assert process.poll() is None, f"the sweep ended before it could be killed: {process.stderr.read()}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    finished_at_kill = len(list(runs.glob("p*.json")))
    assert 3 <= finished_at_kill < 16
    assert not (out / "summary.parquet").exists()

    completed = subprocess.run(command, cwd=tiny_folder, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["runs_reused"] >= finished_at_kill
    assert metadata["runs_reused"] + metadata["runs_executed"] == 16

    uninterrupted = run_sweep(load_sweep(sweep_file), tiny_folder / "uninterrupted", report=False)
    pd.testing.assert_frame_equal(read_summary(out), uninterrupted.summary)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sensitivity.parquet"), uninterrupted.sensitivity)


def test_a_restart_with_a_different_sweep_is_refused(tmp_path):
    run_sweep(generic_sweep(GENERIC_GRID.format(seed=1)), tmp_path / "s", evaluate=recorded_sum, report=False)
    with pytest.raises(ResultsError, match=r"holds a different sweep \(it differs in: .*root seed"):
        run_sweep(generic_sweep(GENERIC_GRID.format(seed=2)), tmp_path / "s", evaluate=recorded_sum, report=False)
    with pytest.raises(ResultsError, match="not a sweep folder"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        run_sweep(generic_sweep(GENERIC_GRID.format(seed=1)), tmp_path / "other", evaluate=recorded_sum, report=False)


# --------------------------------------------------------------------------- failures


def test_a_failing_point_is_recorded_and_retried_on_restart(tmp_path):
    sweep = generic_sweep(GENERIC_GRID.format(seed=1))
    FAILING_POINTS.clear()
    FAILING_POINTS.add(3)
    try:
        result = run_sweep(sweep, tmp_path / "s", evaluate=recorded_sum, report=True)
    finally:
        FAILING_POINTS.clear()
    assert (result.runs_failed, result.ok) == (2, False)
    failed = result.summary[result.summary["status"] == "failed"]
    assert failed["point"].tolist() == [3, 3]
    assert failed["error"].str.startswith("ValueError: cannot evaluate point 3").all()
    assert result.summary.loc[result.summary["status"] == "ok", "y"].notna().sum() == 10
    record = json.loads((tmp_path / "s" / "runs" / "p00003-r000.error.json").read_text())
    assert "cannot evaluate point 3" in record["error"] and record["parameters"] == {"a": 1, "b": 0}
    assert any("1 of 6 design points" in note for note in result.notes)
    assert "Failed runs" in (tmp_path / "s" / "report.html").read_text(encoding="utf-8")

    CALLS.clear()
    retried = run_sweep(sweep, tmp_path / "s", evaluate=recorded_sum, report=False)
    assert sorted(CALLS) == ["p00003-r000", "p00003-r001"] and retried.ok
    assert not list((tmp_path / "s" / "runs").glob("*.error.json"))


def test_cli_exit_code_3_when_a_run_fails(tiny_folder):
    sweep_file = write_sweep(
        tiny_folder,
        """
scenario = "tiny.toml"
kpis = ["test_drives_scaled"]
[[parameters]]
key = "plan.stores[0].mall"
values = ["M1", "NO-SUCH-MALL"]
""",
    )
    result = runner.invoke(app, ["sweep", str(sweep_file), "--out", str(tiny_folder / "s"), "--jobs", "1", "-q"])
    assert result.exit_code == 3, result.output
    assert "1 of 2 runs failed" in result.output
    summary = read_summary(tiny_folder / "s")
    assert summary["status"].tolist() == ["ok", "failed"]
    assert "NO-SUCH-MALL" in summary.loc[1, "error"]
    assert "Exit code" in runner.invoke(app, ["sweep", "--help"]).output
    # the same folder with another base scenario (--consumers) is refused, not mixed
    other = runner.invoke(app, ["sweep", str(sweep_file), "--out", str(tiny_folder / "s"), "-q", "--consumers", "3000"])
    assert_one_line_error(other, "holds a different sweep", "base scenario")


# --------------------------------------------------------------------------- sensitivity


@pytest.mark.slow
def test_sobol_indices_of_ishigami_match_the_analytic_values(tmp_path):
    """Ishigami through design, execution, run files, summary and SALib (N = 1024 base samples)."""
    sweep = generic_sweep(
        """
seed = 12345
kpis = ["y"]
[design]
kind = "sobol"
samples = 1024
"""
        + "".join(f'[[parameters]]\nkey = "x{i}"\nlow = {-math.pi!r}\nhigh = {math.pi!r}\n' for i in (1, 2, 3))
    )
    result = run_sweep(sweep, tmp_path / "ishigami", evaluate=ishigami, report=False)
    assert result.runs_total == 1024 * 5 and result.ok
    a, b = ISHIGAMI_A, ISHIGAMI_B
    variance = a**2 / 8 + b * math.pi**4 / 5 + b**2 * math.pi**8 / 18 + 0.5
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    analytic = {
        "S1": [v1 / variance, v2 / variance, 0.0],  # 0.3139, 0.4424, 0
        "ST": [(v1 + v13) / variance, v2 / variance, v13 / variance],  # 0.5576, 0.4424, 0.2437
    }
    table = result.sensitivity.set_index(["index", "parameter"])["value"]
    for index, values in analytic.items():
        estimated = [table[(index, f"x{i}")] for i in (1, 2, 3)]
        np.testing.assert_allclose(estimated, values, atol=0.05, err_msg=index)
    assert (result.sensitivity["conf"] > 0).all()


def test_morris_elementary_effects_of_a_linear_function_are_exact(tmp_path):
    sweep = generic_sweep(
        """
kpis = ["y"]
[design]
kind = "morris"
samples = 10
[[parameters]]
key = "a"
low = 0
high = 2
[[parameters]]
key = "b"
low = -1
high = 3
[[parameters]]
key = "c"
low = 5
high = 6
"""
    )
    result = run_sweep(sweep, tmp_path / "m", evaluate=linear, report=True)
    table = result.sensitivity.set_index(["index", "parameter"])["value"]
    # effect of moving a parameter over its whole range: coefficient x (high - low)
    np.testing.assert_allclose([table[("mu_star", p)] for p in "abc"], [6.0, 4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose([table[("mu", p)] for p in "abc"], [6.0, -4.0, 0.0], atol=1e-9)
    np.testing.assert_allclose([table[("sigma", p)] for p in "abc"], [0.0, 0.0, 0.0], atol=1e-9)
    assert (tmp_path / "m" / "figures" / "tornado.png").is_file()


def test_grid_indices_are_the_exact_variance_shares(tmp_path):
    """y = a + 2 b (+ tiny noise) on a {0,1} x {0,1,2} grid: Var(a) = 1/4, Var(2b) = 8/3."""
    result = run_sweep(generic_sweep(GENERIC_GRID.format(seed=1)), tmp_path / "g", evaluate=recorded_sum, report=False)
    table = result.sensitivity.set_index(["index", "parameter"])
    total = 0.25 + 8 / 3
    for index in ("S1", "ST"):
        np.testing.assert_allclose(table.loc[(index, "a"), "value"], 0.25 / total, atol=1e-4)
        np.testing.assert_allclose(table.loc[(index, "b"), "value"], (8 / 3) / total, atol=1e-4)
    assert table["conf"].notna().all()  # bootstrap over the 2 replications


def test_lhs_first_order_indices_find_the_influential_parameter(tmp_path):
    sweep = generic_sweep(
        """
kpis = ["y"]
[design]
kind = "lhs"
samples = 256
[[parameters]]
key = "a"
low = 0
high = 1
[[parameters]]
key = "b"
low = 0
high = 1
[[parameters]]
key = "c"
low = 0
high = 1
"""
    )
    result = run_sweep(sweep, tmp_path / "l", evaluate=linear, report=False)
    s1 = result.sensitivity.set_index("parameter")["value"]
    assert s1["a"] > 0.8 and s1["c"] < 0.1  # y = 3a - b: S1 = 0.9, 0.1, 0


# --------------------------------------------------------------------------- bad sweep files

GOOD_PARAMETER = "[[parameters]]\nkey = 'behaviour.hill_k'\nlow = 1\nhigh = 5\n"
BAD_SWEEPS = [
    (
        "replicatons = 2\n" + GOOD_PARAMETER + "count = 3",
        "bad.toml: replicatons: unknown key (did you mean 'replications'?)",
    ),
    (
        GOOD_PARAMETER + "[design]\nkind = 'sobel'",
        "design.kind: must be one of 'grid', 'lhs', 'sobol', 'morris', got 'sobel' (did you mean 'sobol'?)",
    ),
    (GOOD_PARAMETER + "[design]\nkind = 'sobol'\nsample = 16", "design.sample: unknown key (did you mean 'samples'?)"),
    (
        GOOD_PARAMETER + "[design]\nkind = 'sobol'\nsamples = 100",
        "design.samples: must be a power of 2 for Sobol' sampling (e.g. 128), got 100",
    ),
    (GOOD_PARAMETER + "[design]\nsamples = 10", "design.samples: not used by a grid"),
    (
        "kpis = ['purchase_scaled']\n" + GOOD_PARAMETER + "count = 3",
        "bad.toml: kpis[0]: unknown KPI 'purchase_scaled' (did you mean 'purchases_scaled'?)",
    ),
    ("seed = \n" + GOOD_PARAMETER, "bad.toml: invalid TOML at line 2"),
    (
        "[overrides]\n'population.consumer' = 10\n" + GOOD_PARAMETER + "count = 3",
        "bad.toml: overrides: population.consumer: unknown key (did you mean 'consumers'?)",
    ),
]
BAD_PARAMETERS = [
    (
        "key = 'behaviour.hil_k'\nvalues = [1, 2]",
        "parameters[0].key: behaviour.hil_k: unknown key (did you mean 'hill_k'?)",
    ),
    ("key = 'behaviour.hill_k'\nlow = 4\nhigh = 2\ncount = 3", "parameters[0].high: must be > low (4), got 2"),
    ("key = 'behaviour.hill_k'", "parameters[0].low: required (give values, or low, high and count)"),
    (
        "key = 'plan.stores[*].capacity_per_day'\nvalues = [5, -5]",
        "parameters[0]: value -5: plan.stores[0].capacity_per_day: must be > 0, got -5",
    ),
    ("key = 'behaviour[*].hill_k'\nvalues = [1]", "parameters[0].key: behaviour[*].hill_k: 'behaviour' is not a list"),
    ("key = 'behaviour.hill_k'\nvalues = [1, 1]", "parameters[0].values: has repeated values"),
    (
        "key = 'population.mixing'\nlow = 1\nhigh = 2\ncount = 2",
        "population.mixing takes text values: list them in values",
    ),
    (
        "key = 'behaviour.hill_k'\nlow = 1\nhigh = 5\ncount = 3\nlabels = 'K'",
        "parameters[0].labels: unknown key (did you mean 'label'?)",
    ),
]


def _check_bad(folder: Path, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_sweep(write_sweep(folder, text, "bad.toml"))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("bad.toml: ")
    assert expected in message, message


@pytest.mark.parametrize(("text", "expected"), BAD_SWEEPS, ids=[e for _t, e in BAD_SWEEPS])
def test_bad_sweep_files_give_one_line_errors(tiny_folder, text, expected):
    _check_bad(tiny_folder, "scenario = 'tiny.toml'\n" + text + "\n", expected)


@pytest.mark.parametrize(("parameter", "expected"), BAD_PARAMETERS, ids=[e for _t, e in BAD_PARAMETERS])
def test_bad_parameters_give_one_line_errors(tiny_folder, parameter, expected):
    _check_bad(tiny_folder, f"scenario = 'tiny.toml'\n[[parameters]]\n{parameter}\n", expected)


def test_design_rules(tiny_folder):
    _check_bad(tiny_folder, "scenario = 'tiny.toml'\n", "bad.toml: parameters: required key is missing")
    _check_bad(
        tiny_folder,
        "scenario = 'missing.toml'\n" + GOOD_PARAMETER + "count = 3\n",
        "bad.toml: scenario: file not found",
    )
    _check_bad(
        tiny_folder,
        "scenario = 'tiny.toml'\n[design]\nkind = 'lhs'\nsamples = 8\n[[parameters]]\nkey = 'behaviour.hill_k'\nvalues = [1, 2]\n",
        "parameters[0].values: a lhs design samples a range: give low and high (values are for grids)",
    )
    _check_bad(
        tiny_folder,
        "scenario = 'tiny.toml'\n[design]\nkind = 'morris'\nsamples = 4\n"
        "[[parameters]]\nkey = 'behaviour.hill_k'\ndistribution = 'normal'\nmean = 3\nsd = 1\n",
        "parameters[0].distribution: normal is for lhs and sobol designs, not morris",
    )


def test_cli_bad_input_is_one_line_and_exit_code_1(tiny_folder):
    sweep_file = write_sweep(
        tiny_folder, "scenario = 'tiny.toml'\n[[parameters]]\nkey = 'behaviour.hill_k'\nvalues = [2, 4]\n"
    )
    result = runner.invoke(app, ["sweep", str(sweep_file), "--jobs", "2", "--cluster", "local:2"])
    assert_one_line_error(result, "choose one way to execute")
    result = runner.invoke(app, ["sweep", str(sweep_file), "--set", "behaviour.hil_k=3"])
    assert_one_line_error(result, "--set: behaviour.hil_k: unknown key (did you mean 'hill_k'?)")


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --------------------------------------------------------------------------- shipped examples


@pytest.mark.parametrize("path", sorted((PROJECT / "scenarios").glob("*sweep*.toml")), ids=lambda p: p.name)
def test_example_sweeps_load_and_stay_modest(path):
    sweep = load_sweep(path)
    runs = build_design(sweep).size * sweep.replications
    assert 10 <= runs <= 100
    assert sweep.base.population.consumers <= 20000 and sweep.base.horizon.days <= 180


def test_every_design_has_an_example():
    kinds = {load_sweep(p).spec.design.kind for p in (PROJECT / "scenarios").glob("*sweep*.toml")}
    assert kinds == {"grid", "lhs", "sobol", "morris"}


def test_sweep_metadata_and_report_carry_the_capacity_warning(tiny_folder, tiny_city):
    """A consumer stands for 191 people, a store serves 5 a day: the warning is in metadata.json and the report."""
    sweep_file = write_sweep(tiny_folder, TINY_GRID.format(replications=1, capacities=[1], hill_k=[2.0]))
    result = run_sweep(load_sweep(sweep_file), tiny_folder / "warned")
    weight = tiny_city.population_total / 2000
    assert weight > 1
    warnings = json.loads((tiny_folder / "warned" / "metadata.json").read_text())["warnings"]
    assert len(warnings) == 1 and "capacity (5)" in warnings[0] and warnings[0].startswith("base scenario (points")
    assert warnings == result.metadata["warnings"]
    html = (tiny_folder / "warned" / "report.html").read_text(encoding="utf-8")
    assert 'class="warning"' in html and "--consumers all" in html

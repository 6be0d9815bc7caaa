"""``footprint optimise`` (issue 16): the file's checks, the search's invariants, the plan files, resume.

The slow tests (``-m slow``) run the must-show checks on a small Beijing instance: 12 mall
candidates, K = 3, every subset simulated under the same common random numbers.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clihelpers import assert_one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from simulator.cli import app
from simulator.experiments import ExecutorSpec
from simulator.experiments.cache import bundle_key, cached_city, prepared_run
from simulator.experiments.compare.statistics import paired_interval
from simulator.experiments.optimise import SearchProblem, load_optimisation, optimise_plan, run_optimisation
from simulator.experiments.optimise.execution import JournalledEvaluation, PlanEvaluator, superset_scenario
from simulator.experiments.run import simulate_replication

runner = CliRunner()
PROJECT = Path(__file__).resolve().parent.parent
BASE = PROJECT / "tests" / "data" / "optimise" / "base_empty.toml"
TWELVE_MALLS = [
    "BJ-M01",
    "BJ-M02",
    "BJ-M03",
    "BJ-M05",
    "BJ-M07",
    "BJ-M10",
    "BJ-M11",
    "BJ-M13",
    "BJ-M16",
    "BJ-M20",
    "BJ-M26",
    "BJ-M29",
]


def write_file(folder: Path, body: str, *, base: Path = BASE, name: str = "opt") -> Path:
    """An optimisation file in ``folder`` on the test base scenario (given by absolute path)."""
    path = folder / f"{name}.toml"
    path.write_text(f'base = "{base.as_posix()}"\n' + body, encoding="utf-8")
    return path


SMALL = """
replications = 3
consumers = 2000
days = 60

[objective]
kpi = "share_familiar"

[candidates]
malls = true
ids = ["mall:BJ-M29", "mall:BJ-M11", "mall:BJ-M26", "mall:BJ-M20", "mall:BJ-M13"]

[budget]
stores = 2

[search]
swap_alternatives = 1
"""


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (
            SMALL.replace('ids = ["mall:BJ-M29"', 'ids = ["mall:BJ-M99"'),
            ["candidates.ids[0]", "mall:BJ-M99", "unknown candidate id"],
        ),
        (SMALL.replace("stores = 2", "stores = 9"), ["budget.stores", "9 new stores", "only 5 candidate sites"]),
        (
            SMALL.replace("stores = 2", "total_cost = 5\n").replace("malls = true", "malls = true\nopening_cost = 10"),
            ["budget.total_cost", "no candidate fits"],
        ),
        (
            SMALL.replace('kpi = "share_familiar"', 'kpi = "share_familar"'),
            ["objective.kpi", "not an objective KPI", "share_familiar"],
        ),
        (SMALL.replace('kpi = "share_familiar"', 'kpi = "mean_trust"'), ["objective.kpi", "not an objective KPI"]),
        (SMALL.replace("[budget]", "[budgett]"), ["budgett", "did you mean 'budget'"]),
        (
            SMALL.replace("districts", "x") + "\n[constraints]\nmin_distance = 3\n",
            ["constraints.min_distance", "did you mean 'min_distance_m'"],
        ),
        (
            SMALL.replace("malls = true\n", 'malls = true\ndistricts = ["Atlantis"]\n'),
            ["candidates.districts[0]", "Atlantis"],
        ),
    ],
)
def test_bad_input_gives_one_line_and_exit_1(tmp_path, body, fragments):
    path = write_file(tmp_path, body)
    result = runner.invoke(app, ["optimise", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_missing_base_and_no_candidates(tmp_path):
    path = write_file(tmp_path, SMALL, base=tmp_path / "nowhere.toml")
    assert_one_line_error(runner.invoke(app, ["optimise", str(path), "-q"]), "base", "not found")
    path = write_file(tmp_path, SMALL.replace("malls = true", "malls = false"))
    assert_one_line_error(runner.invoke(app, ["optimise", str(path), "-q"]), "candidates", "no candidate sites")


def test_schema_is_json_schema_of_the_file():
    result = runner.invoke(app, ["optimise", "--schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"base", "candidates", "budget", "objective", "constraints", "search"} <= set(schema["properties"])
    assert schema["$defs"]["Budget"]["properties"]["stores"]["anyOf"][0]["minimum"] == 1


def test_example_file_loads():
    optimisation = load_optimisation(PROJECT / "scenarios" / "optimise_beijing.toml")
    assert len(optimisation.candidates) == 34 + 50
    assert optimisation.store_budget == 8 and optimisation.replications == 4
    assert optimisation.base.population.consumers == 100_000


# --------------------------------------------------------------------------- the search's invariants


def _random_problem(draw_seed: int, n: int, k: int, cost_budget: float | None, min_distance: float, per_district):
    rng = np.random.default_rng(draw_seed)
    return SearchProblem(
        order=tuple(int(i) for i in rng.permutation(n)),
        xy=rng.uniform(0, 10_000, size=(n, 2)),
        zone=rng.integers(0, 3, size=n),
        cost=rng.uniform(1, 5, size=n),
        fixed_xy=rng.uniform(0, 10_000, size=(2, 2)),
        fixed_zone=rng.integers(0, 3, size=2),
        max_stores=k,
        max_cost=cost_budget,
        min_distance_m=min_distance,
        max_per_district=per_district,
        swap_alternatives=2,
        swap_passes=2,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 10),
    k=st.integers(1, 5),
    cost_budget=st.none() | st.floats(1.0, 20.0),
    min_distance=st.sampled_from([0.0, 1500.0, 4000.0]),
    per_district=st.none() | st.integers(1, 3),
)
def test_plans_keep_the_budget_and_constraints_and_the_fixed_stores(
    seed, n, k, cost_budget, min_distance, per_district
):
    """Whatever the (noisy) values, every evaluated and chosen plan keeps the budget and constraints."""
    problem = _random_problem(seed, n, k, cost_budget, min_distance, per_district)
    value_of = np.random.default_rng(seed + 1).normal(1.0, 1.0, size=n)
    evaluated = []

    def evaluate(plans):
        evaluated.extend(plans)
        noise = np.random.default_rng(len(evaluated)).normal(0, 0.3, size=(len(plans), 4))
        return [sum(value_of[i] for i in plan) + noise[p] for p, plan in enumerate(plans)]

    result = optimise_plan(problem, evaluate)
    for plan in [*evaluated, frozenset(result.plan)]:
        assert problem.satisfied(plan)
        assert len(plan) <= k
        if cost_budget is not None:
            assert sum(problem.cost[i] for i in plan) <= cost_budget + 1e-9
    assert len(set(result.plan)) == len(result.plan)


def test_fixed_stores_are_open_in_every_simulated_plan(tmp_path):
    """The superset scenario keeps the base scenario's stores as they are, whatever the plan."""
    launch = load_optimisation(
        write_file(tmp_path, SMALL, base=PROJECT / "scenarios" / "beijing_launch.toml", name="launch")
    )
    fixed = launch.base.plan.stores
    superset = superset_scenario(launch.base, launch.candidates.stores, "all")
    evaluator = PlanEvaluator(superset.model_dump_json(), "beijing", len(fixed), "share_familiar", 1.0)
    days = launch.base.horizon.days
    for active in [(), (0,), (1, 3), tuple(range(len(launch.candidates)))]:
        stores = evaluator.scenario(active).plan.stores
        assert stores[: len(fixed)] == fixed
        opened = [i for i, store in enumerate(stores[len(fixed) :]) if store.open_day < days]
        assert opened == sorted(active)


def test_a_plan_in_the_superset_gives_the_plan_alone_to_the_last_bit(tmp_path):
    """Candidates that never open change nothing: the optimiser's value is footprint run's."""
    optimisation = load_optimisation(write_file(tmp_path, SMALL))
    superset = superset_scenario(optimisation.base, optimisation.candidates.stores, "all")
    evaluator = PlanEvaluator(superset.model_dump_json(), bundle_key(superset), 0, "share_familiar", 1.0)
    alone = superset_scenario(optimisation.base, [optimisation.candidates.stores[i] for i in (1, 3)], "alone")
    city = cached_city(bundle_key(alone))
    seed = optimisation.seeds[0]
    inside = evaluator.scenario((1, 3))
    expected = simulate_replication(
        alone, seed, city, prepared=prepared_run(bundle_key(alone), city, alone, seed), tables={"daily"}
    )
    got = simulate_replication(
        inside, seed, city, prepared=prepared_run(bundle_key(inside), city, inside, seed), tables={"daily"}
    )
    assert expected.daily["sightings"].sum() > 0
    pd.testing.assert_frame_equal(got.daily, expected.daily)


# --------------------------------------------------------------------------- the folder and the plan files


@pytest.mark.slow
def test_folder_plan_files_run_and_compare(tmp_path):
    path = write_file(tmp_path, SMALL)
    out = tmp_path / "out"
    result = runner.invoke(app, ["optimise", str(path), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    for name in (
        "best_plan.toml",
        "base_plan.toml",
        "candidates.parquet",
        "curve.parquet",
        "moves.parquet",
        "metadata.json",
        "report.html",
        "summary.xlsx",
        "figures/curve.png",
        "figures/map.png",
    ):
        assert (out / name).is_file(), name
    metadata = json.loads((out / "metadata.json").read_text())
    candidates = pd.read_parquet(out / "candidates.parquet")
    assert sorted(candidates.loc[candidates["chosen"], "candidate_id"]) == sorted(metadata["chosen"])
    assert {"surrogate_score", "gain_vs_base", "gain_vs_base_low", "gain_vs_base_high"} <= set(candidates.columns)
    assert (
        "<script" not in (out / "report.html").read_text()
        and "http" not in (out / "report.html").read_text().split("<style>")[0]
    )
    run = runner.invoke(app, ["run", str(out / "best_plan.toml"), "--out", str(tmp_path / "run"), "-q"])
    assert run.exit_code == 0, run.output
    plan = pd.read_parquet(tmp_path / "run" / "plan.parquet")
    assert sorted(plan["store_id"]) == sorted(metadata["chosen"])
    daily = pd.read_parquet(tmp_path / "run" / "daily.parquet")
    last = daily[daily["day"] == daily["day"].max()].sort_values("replication")["share_familiar"].to_numpy()
    assert last.mean() == pytest.approx(metadata["best_objective"]["mean"], rel=1e-12)
    compare = runner.invoke(
        app, ["compare", str(out / "base_plan.toml"), str(out / "best_plan.toml"), "--out", str(tmp_path / "cmp"), "-q"]
    )
    assert compare.exit_code == 0, compare.output
    again = runner.invoke(app, ["optimise", str(path), "--out", str(out), "-q"])
    assert again.exit_code == 0
    assert json.loads((out / "metadata.json").read_text())["timings"]["simulations_executed"] == 0


def test_a_folder_of_another_optimisation_is_refused(tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(app, ["optimise", str(write_file(tmp_path, SMALL)), "--out", str(out), "-q"]).exit_code == 0
    other = write_file(tmp_path, SMALL.replace("stores = 2", "stores = 1"), name="other")
    assert_one_line_error(
        runner.invoke(app, ["optimise", str(other), "--out", str(out), "-q"]), "different optimisation"
    )


@pytest.mark.slow
def test_resume_after_kill_9_gives_the_same_result(tmp_path):
    path = write_file(tmp_path, SMALL)
    reference = run_optimisation(load_optimisation(path), tmp_path / "reference")
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-m", "simulator.cli", "optimise", str(path), "--out", str(out), "-q", "--jobs", "2"]
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "runs").glob("*.json"))) < 6:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    journalled = len(list((out / "runs").glob("*.json")))
    assert 0 < journalled < len(list((tmp_path / "reference" / "runs").glob("*.json")))
    assert not (out / "metadata.json").exists()
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["chosen"] == list(reference.chosen)
    assert metadata["timings"]["simulations_reused"] >= journalled
    assert metadata["best_objective"] == reference.metadata["best_objective"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "curve.parquet"), reference.curve)


# --------------------------------------------------------------------------- must-show: exhaustive and random plans


TWELVE = f"""
replications = 4
consumers = 3000
days = 90

[objective]
kpi = "share_familiar"

[candidates]
malls = true
ids = {json.dumps(["mall:" + m for m in TWELVE_MALLS])}

[budget]
stores = 3

[search]
shortlist = 12
"""


@pytest.fixture(scope="module")
def twelve(tmp_path_factory):
    """The optimiser on 12 candidates, K = 3, and every 3-subset simulated under the same seeds."""
    folder = tmp_path_factory.mktemp("twelve")
    optimisation = load_optimisation(write_file(folder, TWELVE))
    spec = ExecutorSpec(kind="processes", workers=2)
    result = run_optimisation(optimisation, folder / "out", spec=spec)
    shortlist = result.metadata["shortlist"]
    index = [optimisation.candidates.index(c) for c in shortlist]
    evaluation = JournalledEvaluation(optimisation, folder / "out", index, spec, None, 0)
    subsets = [frozenset(s) for s in itertools.combinations(range(len(optimisation.candidates)), 3)]
    values = dict(zip(subsets, evaluation(subsets)))
    chosen = frozenset(optimisation.candidates.index(c) for c in result.chosen)
    return optimisation, result, values, chosen


@pytest.mark.slow
def test_exhaustive_search_finds_the_same_plan_or_one_within_the_paired_interval(twelve):
    _optimisation, _result, values, chosen = twelve
    assert len(chosen) == 3
    best = max(values, key=lambda plan: values[plan].mean())
    if best != chosen:
        difference = paired_interval(values[best] - values[chosen])
        assert difference["ci_low"] <= 0, (sorted(best), sorted(chosen), difference)


@pytest.mark.slow
def test_optimised_plan_beats_95_percent_of_random_plans(twelve):
    _optimisation, _result, values, chosen = twelve
    rng = np.random.default_rng(16)
    subsets = list(values)
    drawn = [subsets[i] for i in rng.choice(len(subsets), size=100, replace=False)]
    beaten = np.mean([values[chosen].mean() >= values[plan].mean() for plan in drawn])
    assert beaten >= 0.95, beaten

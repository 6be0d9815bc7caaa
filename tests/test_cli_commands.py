"""The commands of issue 14: --version, city sites, init, report, --json, help, brackets, option labels, [*], validate's kinds."""

from __future__ import annotations

import io
import json
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from cityfixtures import MALLS, SITES, STATIONS
from clihelpers import assert_one_line_error
from typer.testing import CliRunner

import simulator
from simulator.cli import app
from simulator.config.template import SCENARIO_TEMPLATE
from simulator.experiments.file_kinds import (
    FILE_KINDS,
    FileCheck,
    FileKind,
    detect_file_kind,
    file_kinds,
    register_file_kind,
)

PROJECT = Path(__file__).resolve().parent.parent
runner = CliRunner()

SCENARIO = """name = "tiny <b>{name}</b>"
seed = 7
[city]
bundle = "{bundle}"
[population]
consumers = 1000
[horizon]
days = 12

[[plan.stores]]
id = "[x]"
mall = "M1"

[[plan.stores]]
id = "B"
station = "木樨地"
format = "street"
{extra}
"""

SWEEP = """scenario = "tiny.toml"
replications = 1
kpis = ["test_drives_scaled", "share_familiar"]

[[parameters]]
key = "plan.stores[*].capacity_per_day"
values = [2, 8]

[[parameters]]
key = "behaviour.hill_k"
values = [2.0, 4.0]
"""

COMPARISON = """base = "tiny.toml"
replications = 2

[[plans]]
name = "launch"
use_base_plan = true

[[plans]]
name = "plus [C]"
use_base_plan = true
stores = [{ id = "C", station = "东门", format = "flagship" }]
"""


def write_inputs(folder: Path, city_path: Path) -> dict[str, Path]:
    """A tiny scenario (a store id with brackets), a second plan, a comparison file and a sweep file."""
    bundle = Path(city_path).as_posix()
    files = {
        "scenario": folder / "tiny.toml",
        "other": folder / "other.toml",
        "comparison": folder / "cmp.toml",
        "sweep": folder / "sweep.toml",
    }
    files["scenario"].write_text(SCENARIO.format(name="a", bundle=bundle, extra=""), encoding="utf-8")
    extra = '[[plan.stores]]\nid = "C"\nstation = "东门"\nformat = "flagship"\n'
    files["other"].write_text(SCENARIO.format(name="b", bundle=bundle, extra=extra), encoding="utf-8")
    files["comparison"].write_text(COMPARISON, encoding="utf-8")
    files["sweep"].write_text(SWEEP, encoding="utf-8")
    return files


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_city_path) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("inputs"), tiny_city_path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, inputs) -> dict[str, Path]:
    """A run, a comparison and a sweep folder written by the commands with --json, and their JSON."""
    root = tmp_path_factory.mktemp("folders")
    commands = {
        "run": ["run", str(inputs["scenario"]), "--out", str(root / "run"), "--json"],
        "comparison": ["compare", str(inputs["comparison"]), "--out", str(root / "comparison"), "--json"],
        "sweep": ["sweep", str(inputs["sweep"]), "--out", str(root / "sweep"), "--jobs", "1", "--quiet"],
    }
    for kind, command in commands.items():
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (kind, result.output)
        if kind != "sweep":
            (root / f"{kind}.json").write_text(result.stdout, encoding="utf-8")
    return {"run": root / "run", "comparison": root / "comparison", "sweep": root / "sweep", "root": root}


# --------------------------------------------------------------------------- --version and help


def test_version_is_the_package_version_written_once():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"footprint {simulator.__version__}"
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "simulator.__version__"}


def test_without_a_command_the_help_goes_to_standard_output():
    for arguments in ([], ["city"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0 and result.stdout.startswith("Usage: footprint")
        assert result.stderr == ""
    assert "sites" in runner.invoke(app, ["city"]).stdout


def test_help_shows_defaults_and_brackets_as_typed():
    compare_help = runner.invoke(app, ["compare", "--help"], terminal_width=200).stdout
    assert "[[plans]]" in compare_help
    assert "Default: the scenario's" in compare_help
    run_help = runner.invoke(app, ["run", "--help"], terminal_width=200).stdout
    assert "plan.stores[*].capacity_per_day" in run_help
    validate_help = runner.invoke(app, ["validate", "--help"], terminal_width=200).stdout
    assert "[default: city]" in validate_help
    assert "[default: scenario.toml]" in runner.invoke(app, ["init", "--help"], terminal_width=200).stdout


# --------------------------------------------------------------------------- city sites


def test_city_sites_lists_malls_stations_and_street_sites(tmp_path, tiny_city_path):
    table = runner.invoke(app, ["city", "sites", str(tiny_city_path)], terminal_width=250)
    assert table.exit_code == 0, table.output
    for mall_id in MALLS:
        assert mall_id in table.stdout
    as_csv = runner.invoke(app, ["city", "sites", str(tiny_city_path), "--csv"])
    assert as_csv.exit_code == 0
    sites = pd.read_csv(io.StringIO(as_csv.stdout))
    assert sites["kind"].value_counts().to_dict() == {
        "station": len(STATIONS),
        "mall": len(MALLS),
        "street": len(SITES),
    }
    assert set(sites.loc[sites["kind"] == "mall", "id"]) == set(MALLS)
    assert set(sites.loc[sites["kind"] == "street", "id"]) == set(SITES)
    # The transfer station lies on both lines; its key places a store there.
    centre = sites.set_index("id").loc["S3"]
    assert set(centre["lines"].split(";")) == {"1号线", "2号线"} and centre["scenario_key"] == 'station = "S3"'
    assert sites[["lon", "lat"]].notna().all().all()
    out = tmp_path / "sites.csv"
    written = runner.invoke(app, ["city", "sites", str(tiny_city_path), "--out", str(out)])
    assert written.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), sites)
    assert_one_line_error(runner.invoke(app, ["city", "sites", str(tmp_path / "nope.gpkg")]), "nope.gpkg")


# --------------------------------------------------------------------------- init


def test_init_writes_a_commented_template_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "mine.toml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text == SCENARIO_TEMPLATE
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 40
    data = tomllib.loads(text)
    assert {"city", "population", "horizon", "plan", "behaviour", "levers"} <= set(data)
    again = runner.invoke(app, ["init", str(path)])
    assert_one_line_error(again, str(path), "exists")
    assert path.read_text(encoding="utf-8") == text


def test_the_template_validates_and_runs(tmp_path):
    path = tmp_path / "scenario.toml"
    assert runner.invoke(app, ["init", str(path)]).exit_code == 0
    valid = runner.invoke(app, ["validate", str(path), "--json"])
    assert valid.exit_code == 0, valid.output
    facts = json.loads(valid.stdout)
    assert facts["kind"] == "scenario" and facts["city"] == "beijing" and len(facts["stores"]) == 3
    out = tmp_path / "run"
    ran = runner.invoke(app, ["run", str(path), "--days", "7", "--consumers", "500", "--out", str(out), "--quiet"])
    assert ran.exit_code == 0, ran.output
    assert (out / "report.html").is_file()


# --------------------------------------------------------------------------- messages and option labels


def test_brackets_in_messages_are_printed_as_typed(tmp_path, tiny_city_path):
    far = SCENARIO.format(name="far", bundle=Path(tiny_city_path).as_posix(), extra="").replace(
        'id = "[x]"\nmall = "M1"', 'id = "[x]"\nlon = 121.47\nlat = 31.23'
    )
    path = tmp_path / "far.toml"
    path.write_text(far, encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["validate", str(path)]), "plan.stores[0]", "[x]", "outside the city")
    assert_one_line_error(
        runner.invoke(app, ["validate", str(path), "--no-city", "--set", "plan.stores[5].id=y"]),
        "plan.stores[5]",
        "[2] appends",
    )
    duplicate = path.read_text(encoding="utf-8").replace('id = "B"', 'id = "[x]"')
    path.write_text(duplicate, encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["validate", str(path), "--no-city"]), "[x]")


@pytest.mark.parametrize(
    ("arguments", "label"),
    [
        (["--consumers", "5"], "--consumers: population.consumers"),
        (["--days", "0"], "--days: horizon.days"),
        (["--seed", "-1"], "--seed: seed"),
        (["--set", "horizon.days=0"], "--set: horizon.days"),
    ],
)
def test_errors_name_the_option_they_come_from(tmp_path, inputs, arguments, label):
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", str(inputs["scenario"]), "--out", str(out), "--quiet", *arguments])
    assert_one_line_error(result, label)
    if not label.startswith("--set"):
        assert "--set" not in result.output
    assert not out.exists()


def test_set_accepts_star_as_sweep_files_do(tmp_path, inputs):
    out = tmp_path / "run"
    command = ["run", str(inputs["scenario"]), "--out", str(out), "--quiet", "--days", "3"]
    result = runner.invoke(app, [*command, "--set", "plan.stores[*].capacity_per_day=7"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert [store["capacity_per_day"] for store in metadata["scenario"]["plan"]["stores"]] == [7, 7]
    assert_one_line_error(
        runner.invoke(app, ["validate", str(inputs["scenario"]), "--no-city", "--set", "plan.shops[*].id=x"]),
        "--set",
        "plan.shops[*].id",
        "not a list",
    )
    assert_one_line_error(
        runner.invoke(app, ["validate", str(inputs["scenario"]), "--no-city", "--set", "plan.stores[*].capacty=3"]),
        "plan.stores[0].capacty",
        "capacity_per_day",
    )


# --------------------------------------------------------------------------- validate: the kinds of file


def test_validate_recognises_comparison_and_sweep_files(inputs):
    for kind in ("comparison", "sweep", "scenario"):
        text = runner.invoke(app, ["validate", str(inputs[kind])])
        assert text.exit_code == 0, text.output
        assert f"valid {kind} file" in text.stdout and "unknown key" not in text.output
        facts = json.loads(runner.invoke(app, ["validate", str(inputs[kind]), "--json"]).stdout)
        assert facts["kind"] == kind and facts["valid"] is True
    comparison = json.loads(runner.invoke(app, ["validate", str(inputs["comparison"]), "--json"]).stdout)
    assert [plan["name"] for plan in comparison["plans"]] == ["launch", "plus [C]"] and comparison["runs"] == 4
    sweep = json.loads(runner.invoke(app, ["validate", str(inputs["sweep"]), "--json"]).stdout)
    assert sweep["points"] == 4 and sweep["parameters"][0]["targets"] == [
        "plan.stores[0].capacity_per_day",
        "plan.stores[1].capacity_per_day",
    ]


def test_validate_names_the_bad_key_of_each_kind(tmp_path, inputs):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(inputs["sweep"].read_text(encoding="utf-8").replace("replications", "replicatons"), "utf-8")
    shutil.copy(inputs["scenario"], tmp_path / "tiny.toml")
    assert_one_line_error(runner.invoke(app, ["validate", str(sweep)]), "sweep.toml", "replicatons")
    comparison = tmp_path / "cmp.toml"
    comparison.write_text(
        inputs["comparison"].read_text(encoding="utf-8").replace("use_base_plan", "use_base"), "utf-8"
    )
    assert_one_line_error(runner.invoke(app, ["validate", str(comparison)]), "cmp.toml", "plans[0]", "use_base")


def test_other_modules_can_register_a_kind_of_file(tmp_path):
    def check(path, options, with_city):
        return FileCheck("calibration", "demo", "a calibration", {"targets": 2})

    assert detect_file_kind({"targets": [], "name": "x"}) == "scenario"
    register_file_kind(FileKind("calibration-test", frozenset({"targets", "fit"}), check))
    try:
        assert "calibration-test" in file_kinds()
        assert detect_file_kind({"targets": [], "name": "x"}) == "calibration-test"
        assert detect_file_kind({"plans": [], "base": "b.toml"}) == "comparison"
        assert detect_file_kind({"scenario": "s.toml", "parameters": [], "targets": [], "fit": 1}) == "calibration-test"
        assert detect_file_kind({"scenario": "s.toml", "parameters": []}) == "sweep"
        path = tmp_path / "calibrate.toml"
        path.write_text('targets = []\nfit = "x"\n', encoding="utf-8")
        result = runner.invoke(app, ["validate", str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["targets"] == 2
    finally:
        FILE_KINDS.pop("calibration-test")


# --------------------------------------------------------------------------- --json


def test_run_and_compare_json_is_all_that_stdout_holds(folders):
    run = json.loads((folders["root"] / "run.json").read_text(encoding="utf-8"))
    assert run["kind"] == "run" and Path(run["folder"]) == folders["run"]
    summary = pd.read_parquet(folders["run"] / "summary.parquet").set_index("kpi")
    assert set(run["kpis"]) == set(summary.index)
    assert run["kpis"]["test_drives_scaled"]["mean"] == pytest.approx(summary.at["test_drives_scaled", "mean"])
    comparison = json.loads((folders["root"] / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["baseline"] == "launch" and set(comparison["plans"]) == {"launch", "plus [C]"}
    differences = pd.read_parquet(folders["comparison"] / "differences.parquet").set_index("kpi")
    assert comparison["plans"]["plus [C]"]["differences"]["purchases_scaled"]["difference"] == pytest.approx(
        differences.at["purchases_scaled", "difference"]
    )
    assert comparison["plans"]["launch"]["differences"] == {}


# --------------------------------------------------------------------------- report


@pytest.mark.parametrize("kind", ["run", "comparison", "sweep"])
def test_report_draws_the_report_again_from_the_tables(folders, kind):
    folder = folders[kind]
    report = folder / "report.html"
    report.unlink()
    shutil.rmtree(folder / "figures")
    tables = {path.name: path.read_bytes() for path in folder.glob("*.parquet")}
    result = runner.invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"{kind} report:" in result.stdout
    assert report.is_file() and report.stat().st_size > 10_000
    assert list((folder / "figures").glob("*.png"))
    assert {path.name: path.read_bytes() for path in folder.glob("*.parquet")} == tables
    html = report.read_text(encoding="utf-8")
    assert "tiny <b>a</b>" not in html and "tiny <b>b</b>" not in html
    if kind == "run":
        assert "tiny &lt;b&gt;a&lt;/b&gt;" in html


def test_report_refuses_what_is_not_a_results_folder(tmp_path, inputs):
    assert_one_line_error(runner.invoke(app, ["report", str(tmp_path / "missing")]), "missing")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(runner.invoke(app, ["report", str(tmp_path / "empty")]), "metadata.json")


# --------------------------------------------------------------------------- Jupyter


def test_result_objects_have_a_short_repr_and_escaped_html(folders, tiny_city):
    from simulator.experiments.compare.reading import read_comparison
    from simulator.experiments.sweep import SweepResult, read_summary

    run = simulator.read_run(folders["run"])
    assert repr(run).startswith("RunResult('tiny <b>a</b>': 1 replication, 12 days, 2 stores")
    html = run._repr_html_()
    assert "tiny &lt;b&gt;a&lt;/b&gt;" in html and "<b>a</b>" not in html and "Purchases" in html
    comparison = read_comparison(folders["comparison"], tiny_city)
    assert repr(comparison) == ("ComparisonResult('cmp': 2 plans, baseline 'launch', 2 paired replications)")
    html = comparison._repr_html_()
    assert "plus [C] − baseline" in html and html.count("<tr>") >= 6
    manifest = json.loads((folders["sweep"] / "sweep.json").read_text(encoding="utf-8"))
    summary = read_summary(folders["sweep"])
    sweep = SweepResult(
        folder=folders["sweep"],
        summary=summary,
        sensitivity=pd.read_parquet(folders["sweep"] / "sensitivity.parquet"),
        runs_total=len(summary),
        runs_reused=0,
        runs_executed=len(summary),
        runs_failed=0,
        manifest=manifest,
    )
    assert repr(sweep).startswith("SweepResult('sweep': grid design, 4 runs, 0 failed")
    assert "Test drives" in sweep._repr_html_()


def test_an_empty_result_still_shows_itself():
    from simulator.results import RunResult

    empty = pd.DataFrame()
    result = RunResult(daily=empty, stores=empty, zones=empty, cells=empty, plan=empty, metadata={"scenario": "x"})
    assert repr(result) == "RunResult('run': 0 replications, 0 days, 0 stores)"
    assert "<tbody></tbody>" in result._repr_html_()


def test_calibration_and_optimisation_files_are_told_from_sweeps_and_comparisons():
    assert detect_file_kind({"scenario": "s.toml", "parameters": []}) == "sweep"
    assert detect_file_kind({"scenario": "s.toml", "parameters": [], "observed": "o.csv"}) == "calibration"
    assert (
        detect_file_kind({"scenario": "s.toml", "parameters": [], "observed": "o.csv", "method": {}}) == "calibration"
    )
    assert detect_file_kind({"base": "b.toml", "plans": []}) == "comparison"
    assert detect_file_kind({"base": "b.toml", "candidates": {}, "budget": {}}) == "optimisation"
    assert {"calibration", "optimisation"} <= set(file_kinds())

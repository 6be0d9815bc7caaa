"""The command line: runs, validation, schema, city maps, and bad input (exit 1, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from clihelpers import assert_one_line_error
from typer.testing import CliRunner

from simulator.cli import app

PROJECT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def tiny_scenario_file(folder: Path, city_path: Path, extra: str = "", stores: str | None = None) -> Path:
    stores = (
        stores
        if stores is not None
        else """
[[plan.stores]]
id = "A"
mall = "M1"

[[plan.stores]]
id = "B"
lon = 116.36
lat = 39.915
format = "street"
"""
    )
    path = folder / "tiny.toml"
    path.write_text(
        f"""name = "tiny"
seed = 5
[city]
bundle = "{city_path.as_posix()}"
[population]
consumers = 1000
[horizon]
days = 20
{stores}
{extra}
""",
        encoding="utf-8",
    )
    return path


def test_run_writes_a_complete_run_folder(tmp_path, tiny_city_path):
    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(scenario), "--out", str(out), "--quiet", "--replications", "2", "--days", "15", "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    for name in (
        "metadata.json",
        "daily.parquet",
        "stores.parquet",
        "zones.parquet",
        "cells.parquet",
        "plan.parquet",
        "zones.gpkg",
        "report.html",
        "figures/funnel.png",
        "figures/stores.png",
        "figures/familiarity_map.png",
    ):
        assert (out / name).is_file(), name
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["scenario"]["horizon"]["days"] == 15 and metadata["scenario"]["run"]["workers"] == 2
    assert len(metadata["replication_seeds"]) == 2
    daily = pd.read_parquet(out / "daily.parquet")
    assert len(daily) == 30 and set(daily["replication"]) == {0, 1}
    assert set(daily["seed"]) == set(metadata["replication_seeds"])
    assert {"zones", "cells", "stores"} <= set(pyogrio.list_layers(out / "zones.gpkg")[:, 0])


def test_run_with_overrides_and_refusal_to_overwrite(tmp_path, tiny_city_path):
    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    out = tmp_path / "run"
    first = runner.invoke(
        app, ["run", str(scenario), "--out", str(out), "--quiet", "--set", "behaviour.hill_k=4", "--seed", "9"]
    )
    assert first.exit_code == 0, first.output
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["scenario"]["behaviour"]["hill_k"] == 4 and metadata["seed"] == 9
    again = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
    assert_one_line_error(again, str(out), "--overwrite")


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["--set", "behaviour.hil_k=4"], ["behaviour.hil_k", "did you mean 'hill_k'"]),
        (["--set", "behaviour.hill_k"], ["--set"]),
        (["--consumers", "5"], ["population.consumers"]),
    ],
)
def test_bad_overrides_are_one_line_errors_and_write_nothing(tmp_path, tiny_city_path, arguments, fragments):
    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--quiet", *arguments])
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_malformed_scenarios(tmp_path, tiny_city_path):
    unknown = tiny_scenario_file(tmp_path, tiny_city_path, extra="[behaviour]\nadstok_half_life_days = 10\n")
    assert_one_line_error(
        runner.invoke(app, ["validate", str(unknown)]),
        "tiny.toml",
        "behaviour.adstok_half_life_days",
        "adstock_half_life_days",
    )
    negative = tiny_scenario_file(
        tmp_path, tiny_city_path, stores='[[plan.stores]]\nid = "A"\nmall = "M1"\ncapacity_per_day = -5\n'
    )
    assert_one_line_error(
        runner.invoke(app, ["run", str(negative), "--quiet", "--out", str(tmp_path / "x")]),
        "tiny.toml",
        "plan.stores[0].capacity_per_day",
        "must be > 0, got -5",
    )
    assert not (tmp_path / "x").exists()
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.toml")])
    assert_one_line_error(missing, "nope.toml")


def test_stores_that_cannot_be_placed(tmp_path, tiny_city_path):
    outside = tiny_scenario_file(
        tmp_path, tiny_city_path, stores='[[plan.stores]]\nid = "far"\nlon = 121.47\nlat = 31.23\n'
    )
    assert_one_line_error(runner.invoke(app, ["validate", str(outside)]), "plan.stores[0]", "far", "outside the city")
    unknown_mall = tiny_scenario_file(tmp_path, tiny_city_path, stores='[[plan.stores]]\nid = "m"\nmall = "M9"\n')
    assert_one_line_error(
        runner.invoke(app, ["run", str(unknown_mall), "--quiet", "--out", str(tmp_path / "y")]),
        "plan.stores[0]",
        "mall",
    )
    assert not (tmp_path / "y").exists()


def test_missing_city_bundle(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[city]\nbundle = "atlantis"\n', encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["validate", str(path)]), "atlantis")


def test_validate_describes_a_good_scenario(tmp_path, tiny_city_path):
    result = runner.invoke(app, ["validate", str(tiny_scenario_file(tmp_path, tiny_city_path))])
    assert result.exit_code == 0
    assert "valid" in result.output and "2 stores" in result.output


def test_schema_is_json_and_reference_is_markdown(tmp_path):
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "behaviour" in json.dumps(schema) and "levers" in json.dumps(schema)
    out = tmp_path / "ref.md"
    assert runner.invoke(app, ["schema", "--markdown", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == (PROJECT / "docs" / "scenario-reference.md").read_text(encoding="utf-8")


def test_city_show_writes_a_map_and_prints_a_summary(tmp_path, tiny_city_path):
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["city", "show", str(tiny_city_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    assert "9" in result.output  # stations
    assert_one_line_error(runner.invoke(app, ["city", "show", str(tmp_path / "missing.gpkg")]), "missing.gpkg")


def test_example_scenarios_are_valid():
    for path in sorted((PROJECT / "scenarios").glob("*.toml")):
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 0, (path.name, result.output)


def test_end_to_end_on_beijing(tmp_path):
    """The default scenario, on the real city, with a small population."""
    out = tmp_path / "beijing"
    result = runner.invoke(app, ["run", "--consumers", "5000", "--days", "45", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["city"] == "beijing" and metadata["population_total"] == 21_893_095
    daily = pd.read_parquet(out / "daily.parquet")
    assert daily["sightings"].sum() > 0 and daily["share_aware"].iloc[-1] > daily["share_aware"].iloc[0]
    stores = pd.read_parquet(out / "stores.parquet")
    assert stores["store_id"].nunique() == 8
    zones = pd.read_parquet(out / "zones.parquet")
    assert len(zones) == 16 and zones["consumers"].sum() == 5000
    # Familiarity is highest in the districts with stores and lowest in the stationless north.
    by_zone = zones.set_index("zone_id")["mean_familiarity"]
    assert by_zone["110105"] > by_zone["110119"]  # Chaoyang (3 stores) vs Yanqing (none)


def test_public_python_api(tiny_city_path, tmp_path):
    import simulator

    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    result = simulator.run(scenario, consumers=500, days=5)
    assert isinstance(result, simulator.RunResult)
    folder = simulator.write_run(result, tmp_path / "api-run", figures=False, report=False)
    again = simulator.read_run(folder)
    pd.testing.assert_frame_equal(again.zones, result.zones)
    assert "run" in dir(simulator)

"""Failure classes the fuzz harness (tests/test_fuzz.py) found, kept as plain regression tests.

Each input gave a traceback; each is now one line ``error: ...`` and exit code 1.
"""

from __future__ import annotations

import fuzzinputs as fi
import pytest
import typer.main
from click.testing import CliRunner

from simulator.cli import app

COMMAND = typer.main.get_command(app)
runner = CliRunner()


def one_error_line(result) -> str:
    assert result.exit_code == 1 and isinstance(result.exception, (SystemExit, type(None))), result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("kind", "key"), [("sweep", "scenario"), ("compare", "base")])
def test_a_file_name_too_long_for_the_system_is_one_line(tmp_path, tiny_city_path, kind, key):
    """A sweep's ``scenario`` or a comparison's ``base`` of 5,000 characters (ENAMETOOLONG) was an ``OSError``."""
    document = fi.tiny_sweep("grid") if kind == "sweep" else fi.tiny_comparison()
    document[key] = "x" * 5000 + ".toml"
    name = fi.SWEEP_FILE if kind == "sweep" else fi.COMPARISON_FILE
    (tmp_path / name).write_text(fi.toml_text(document), encoding="utf-8")
    (tmp_path / fi.SCENARIO_FILE).write_text(
        fi.toml_text(fi.tiny_scenario(tiny_city_path.as_posix())), encoding="utf-8"
    )
    result = runner.invoke(COMMAND, [kind, str(tmp_path / name), "--quiet", "--out", str(tmp_path / "out")])
    line = one_error_line(result)
    assert line.startswith(f"error: {name}: {key}: ") and "name too long" in line.lower()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("start", "days", "longest"), [("9999-12-01", 365, 31), ("9999-06-01", 1000, 214)])
def test_a_horizon_past_the_calendar_is_one_line(tmp_path, start, days, longest):
    """``validate`` printed "valid" and then died on "year 10000 is out of range"."""
    (tmp_path / "late.toml").write_text(f"[horizon]\ndays = {days}\nstart_date = {start}\n", encoding="utf-8")
    result = runner.invoke(COMMAND, ["validate", str(tmp_path / "late.toml"), "--no-city"])
    assert one_error_line(result) == (
        f"error: late.toml: horizon.days: must be <= {longest} (from {start} to 9999-12-31), got {days}"
    )
    assert result.stdout == ""


def test_a_city_bundle_name_too_long_for_the_system_is_one_line(tmp_path):
    """``city.bundle`` of 5,000 characters gave an ``OSError`` traceback from ``validate``."""
    (tmp_path / "long.toml").write_text(f'[city]\nbundle = "{"x" * 5000}.gpkg"\n', encoding="utf-8")
    result = runner.invoke(COMMAND, ["validate", str(tmp_path / "long.toml")])
    assert "File name too long" in one_error_line(result)


@pytest.mark.parametrize("where", ["scenario", "comparison"])
def test_a_blank_stores_file_name_is_one_line_naming_the_key(tmp_path, tiny_city_path, where):
    """Found by the 10,000-input fuzz: ``stores_file = " "`` was silently ignored (scenario) or named no file (comparison)."""
    scenario = tmp_path / "scenario.toml"
    plan = '[plan]\nstores_file = " "\n' if where == "scenario" else '[plan]\nstores = [{id = "A", mall = "M1"}]\n'
    scenario.write_text(f'[city]\nbundle = "{tiny_city_path.as_posix()}"\n{plan}', encoding="utf-8")
    target = scenario
    if where == "comparison":
        target = tmp_path / "comparison.toml"
        target.write_text(
            'base = "scenario.toml"\nplans = [{name = "a", use_base_plan = true}, {name = "b", stores_file = " "}]\n',
            encoding="utf-8",
        )
    key = "plan.stores_file" if where == "scenario" else "plans[1].stores_file"
    line = one_error_line(runner.invoke(COMMAND, ["validate", str(target)]))
    assert target.name in line and key in line and "blank" in line, line

"""Outputs that say what they hold (issue 14, items 3 and 5).

``summary.xlsx`` of run, comparison and sweep folders opens with openpyxl and holds the
numbers of the Parquet tables; counts are named one way everywhere (``x`` simulated,
``x_scaled`` people); ``daily.parquet`` carries the run id; the JSON Schemas of every kind
of file reject values out of range as ``footprint validate`` does.
"""

from __future__ import annotations

import json

import jsonschema
import numba
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from pydantic import BaseModel
from test_compare import BASE_STORES, EXTRA_STORE, tiny_data, write_toml
from test_sweep import GENERIC_GRID, generic_sweep, recorded_sum
from typer.testing import CliRunner

from simulator.city import cell_frame, zone_frame
from simulator.cli import app
from simulator.config.scenario import parse_scenario
from simulator.experiments.compare import compare, load_comparison
from simulator.experiments.file_kinds import FILE_KINDS, FileKind, file_json_schema, register_file_kind
from simulator.experiments.run import run
from simulator.reports.compare_report import write_comparison
from simulator.reports.publish import write_run
from simulator.reports.sweep_report import run_sweep
from simulator.results import COUNT_NAMING, read_run


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


def sheet(path, name: str) -> pd.DataFrame:
    """A sheet of a workbook as a table (header row first), as openpyxl reads it."""
    rows = list(load_workbook(path, read_only=True)[name].values)
    return pd.DataFrame(rows[1:], columns=rows[0])


def assert_same_numbers(from_sheet: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every column of ``table`` is in the sheet with the same values (numbers to 1e-12, NaN as empty)."""
    assert list(from_sheet.columns) == [str(c) for c in table.columns]
    assert len(from_sheet) == len(table)
    for column in table.columns:
        expected, got = table[column], from_sheet[str(column)]
        if pd.api.types.is_bool_dtype(expected):
            assert got.tolist() == expected.tolist(), column
        elif pd.api.types.is_numeric_dtype(expected):
            np.testing.assert_allclose(
                pd.to_numeric(got, errors="coerce").to_numpy(dtype=float),
                expected.to_numpy(dtype=float),
                rtol=1e-12,
                equal_nan=True,
                err_msg=str(column),
            )
        else:
            assert [None if pd.isna(v) else str(v) for v in got] == [
                None if pd.isna(v) else str(v) for v in expected
            ], column


@pytest.fixture(scope="module")
def run_folder(tiny_city_path, tiny_city, tmp_path_factory):
    data = tiny_data(tiny_city_path, rivals={"showrooms": [{"id": "R1", "brand": "Rival", "station": "东门"}]})
    result = run(parse_scenario(data, "tiny.toml"), replications=2, city=tiny_city)
    folder = tmp_path_factory.mktemp("run") / "run"
    write_run(result, folder, zone_frame=zone_frame(tiny_city), cell_frame=cell_frame(tiny_city), figures=False)
    return result, folder


def test_run_workbook_holds_the_parquet_numbers(run_folder):
    _result, folder = run_folder
    workbook = folder / "summary.xlsx"
    assert load_workbook(workbook).sheetnames == ["about", "KPI summary", "store summary", "zone summary", "catchments"]
    for name, table in (
        ("KPI summary", "summary"),
        ("store summary", "store_summary"),
        ("zone summary", "zone_summary"),
    ):
        assert_same_numbers(sheet(workbook, name), pd.read_parquet(folder / f"{table}.parquet"))
    catchments = sheet(workbook, "catchments").set_index("store_id")
    areas = pd.read_parquet(folder / "trade_area_summary.parquet")
    for store, rows in areas.groupby("store_id"):
        assert catchments.loc[store, "bookings_requested_scaled"] == pytest.approx(
            rows["bookings_requested_scaled"].sum()
        )
        assert catchments.loc[store, "cells_50"] == rows["in_catchment_50"].sum()
    about = dict(sheet(workbook, "about").itertuples(index=False))
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert about["run_id"] == metadata["run_id"] and about["counts"] == COUNT_NAMING


def test_daily_parquet_carries_the_run_id(run_folder):
    result, folder = run_folder
    daily = pd.read_parquet(folder / "daily.parquet")
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert daily.columns[0] == "run_id" and set(daily["run_id"]) == {metadata["run_id"]}
    back = read_run(folder)
    assert "run_id" not in back.daily.columns and back.metadata["run_id"] == metadata["run_id"]
    pd.testing.assert_frame_equal(back.trade_areas, result.trade_areas, check_dtype=False)


def _scaled_pairs(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if f"{c}_scaled" in frame.columns]


def test_run_geopackage_names_simulated_and_people_counts_apart(run_folder):
    result, folder = run_folder
    gpkg = folder / "zones.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"zones", "cells", "stores", "rivals", "catchments", "about"} <= layers
    weight = result.consumer_weight
    for layer in ("zones", "cells", "stores"):
        frame = pyogrio.read_dataframe(gpkg, layer=layer, read_geometry=False)
        pairs = _scaled_pairs(frame)
        assert {"bookings_requested", "test_drives", "purchases"} <= set(pairs), layer
        for column in pairs:
            np.testing.assert_allclose(frame[f"{column}_scaled"], frame[column] * weight, err_msg=f"{layer}.{column}")
    about = pyogrio.read_dataframe(gpkg, layer="about", read_geometry=False)
    assert about["value"].tolist() == [COUNT_NAMING]
    catchments = pyogrio.read_dataframe(gpkg, layer="catchments")
    assert set(catchments["share_percent"]) == {50, 70, 90} and catchments.geometry.is_valid.all()
    by_store = catchments.pivot_table(index="store_id", columns="share_percent", values="cells")
    assert ((by_store[50] <= by_store[70]) & (by_store[70] <= by_store[90])).all()


@pytest.fixture(scope="module")
def comparison_folder(tiny_city_path, tiny_city, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    base = write_toml(folder / "base.toml", tiny_data(tiny_city_path, "two stores", horizon={"days": 40}))
    more = write_toml(
        folder / "more.toml",
        tiny_data(tiny_city_path, "three stores", stores=BASE_STORES + [EXTRA_STORE], horizon={"days": 40}),
    )
    result = compare(load_comparison([base, more], replications=2), city=tiny_city)
    return result, write_comparison(result, folder / "out", run_reports=False)


def test_comparison_workbook_holds_the_parquet_numbers(comparison_folder):
    _result, folder = comparison_folder
    workbook = folder / "summary.xlsx"
    assert load_workbook(workbook).sheetnames == ["about", "plans", "differences", "stores", "zones", "transfers"]
    for name in ("plans", "differences", "stores", "zones", "transfers"):
        assert_same_numbers(sheet(workbook, name), pd.read_parquet(folder / f"{name}.parquet"))
    for slug in ("two-stores", "three-stores"):
        assert (folder / "runs" / slug / "summary.xlsx").is_file()


def test_comparison_geopackage_gives_people_under_scaled_names(comparison_folder):
    result, folder = comparison_folder
    stores = pyogrio.read_dataframe(folder / "zones.gpkg", layer="stores", read_geometry=False)
    table = pd.read_parquet(folder / "stores.parquet")
    merged = stores.merge(table, on=["plan", "store_id"], suffixes=("", "_table"))
    # the report's people are the _scaled fields; the bare name is the simulated count
    np.testing.assert_allclose(merged["bookings_requested_scaled"], merged["bookings_requested_scaled_table"])
    np.testing.assert_allclose(
        merged["bookings_requested_scaled"], merged["bookings_requested"] * result.consumer_weight
    )
    zones = pyogrio.read_dataframe(folder / "zones.gpkg", layer="zones", read_geometry=False)
    for column in ("test_drives", "purchases", "bookings_requested"):
        np.testing.assert_allclose(zones[f"{column}_scaled"], zones[column] * result.consumer_weight)
    daily = pd.read_parquet(folder / "daily.parquet")
    plan_ids = {p["name"]: p.get("run_id") for p in json.loads((folder / "metadata.json").read_text())["plans"]}
    assert daily["run_id"].notna().all() and daily.groupby("plan")["run_id"].nunique().eq(1).all()
    assert len(plan_ids) == daily["run_id"].nunique()
    transfers = pd.read_parquet(folder / "transfers.parquet")
    assert {"bookings", "bookings_se", "bookings_scaled", "bookings_scaled_se"} <= set(transfers.columns)
    assert "<h2>Where each plan's bookings come from</h2>" in (folder / "report.html").read_text(encoding="utf-8")


def test_sweep_workbook_holds_the_summary_and_indices(tmp_path):
    result = run_sweep(generic_sweep(GENERIC_GRID.format(seed=3)), tmp_path / "g", evaluate=recorded_sum, report=False)
    workbook = tmp_path / "g" / "summary.xlsx"
    assert load_workbook(workbook).sheetnames == ["about", "sweep summary", "sensitivity indices"]
    assert_same_numbers(sheet(workbook, "sweep summary"), pd.read_parquet(tmp_path / "g" / "summary.parquet"))
    assert_same_numbers(sheet(workbook, "sensitivity indices"), result.sensitivity)


# --------------------------------------------------------------------------- JSON Schemas

BAD_SCENARIO_VALUES = [
    ({"plan": {"stores": [{"id": "a", "mall": "M1", "capacity_per_day": -5}]}}, "capacity_per_day"),
    ({"plan": {"stores": [{"id": "a", "mall": "M1", "capacity_per_day": 0}]}}, "capacity_per_day"),
    ({"plan": {"stores": [{"id": "a", "lon": 200.0, "lat": 39.9}]}}, "lon"),
    ({"plan": {"stores": [{"id": "a", "mall": "M1", "close_day": 0}]}}, "close_day"),
    ({"behaviour": {"hill_k": -1.0}}, "hill_k"),
    ({"behaviour": {"test_drive_share": 1.5}}, "test_drive_share"),
    ({"population": {"consumers": 5}}, "consumers"),
    ({"horizon": {"days": 0}}, "days"),
    ({"replications": 0}, "replications"),
]


def _accepted_by_validate(data: dict, tiny_city_path) -> bool:
    try:
        parse_scenario({"city": {"bundle": str(tiny_city_path)}, **data}, "s.toml")
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("data", "key"), BAD_SCENARIO_VALUES, ids=[key for _, key in BAD_SCENARIO_VALUES])
def test_scenario_schema_rejects_what_validate_rejects(data, key, tiny_city_path):
    schema = file_json_schema("scenario")
    assert not _accepted_by_validate(data, tiny_city_path)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_scenario_schema_accepts_the_edge_values_validate_accepts(tiny_city_path):
    schema = file_json_schema("scenario")
    for data in (
        {"plan": {"stores": [{"id": "d", "mall": "M1", "format": "delivery_centre", "capacity_per_day": 0}]}},
        {"plan": {"stores": [{"id": "p", "lon": 445500.0, "lat": 4418000.0, "crs": "EPSG:32650"}]}},
        {"plan": {"stores": [{"id": "a", "mall": "M1", "capacity_per_day": 1, "close_day": 1}]}},
    ):
        jsonschema.validate(data, schema)
        assert _accepted_by_validate(data, tiny_city_path), data


def test_comparison_and_sweep_files_have_bounded_schemas():
    comparison = file_json_schema("comparison")
    plans = [{"name": "a", "use_base_plan": True}, {"name": "b", "stores": [{"id": "x", "mall": "M1"}]}]
    jsonschema.validate({"base": "b.toml", "plans": plans}, comparison)
    bad_store = [plans[0], {"name": "b", "stores": [{"id": "x", "mall": "M1", "capacity_per_day": -5}]}]
    for bad in ({"base": "b.toml", "plans": bad_store}, {"base": "b.toml", "replications": 0, "plans": plans}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, comparison)
    sweep = file_json_schema("sweep")
    good = {"scenario": "s.toml", "parameters": [{"key": "behaviour.hill_k", "values": [2.0, 4.0]}]}
    jsonschema.validate(good, sweep)
    for bad in ({**good, "replications": 0}, {**good, "seed": -1}, {**good, "parameters": []}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, sweep)


def _no_check(path, options, with_city):
    raise AssertionError("not called")


def test_file_kinds_are_a_registry_and_the_cli_prints_each():
    runner = CliRunner()
    for kind in ("scenario", "comparison", "sweep", "calibration", "optimisation"):
        result = runner.invoke(app, ["schema", "--kind", kind])
        assert result.exit_code == 0, result.output
        schema = json.loads(result.output)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["x-file-kind"] == kind
    unknown = runner.invoke(app, ["schema", "--kind", "nope"])
    assert unknown.exit_code == 1 and "scenario, comparison, sweep" in unknown.output

    class Calibration(BaseModel):
        rounds: int = 1

    try:
        register_file_kind(FileKind("calibration-test", frozenset({"rounds"}), _no_check, Calibration, "a test kind"))
        assert file_json_schema("calibration-test")["x-file-kind"] == "calibration-test"
        with pytest.raises(ValueError, match="already registered"):
            register_file_kind(FileKind("sweep", frozenset(), _no_check, Calibration, "clash"))
    finally:
        FILE_KINDS.pop("calibration-test", None)

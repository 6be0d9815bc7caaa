"""Run folders: atomic writes, round trip, refusal to overwrite, GeoPackage, summary CI."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from scipy import stats

import simulator.results.run_folder as results_module
from simulator.config.errors import ResultsError
from simulator.reports.publish import write_run
from simulator.results import (
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    RunResult,
    atomic_path,
    build_metadata,
    default_run_dir,
    read_run,
    replication_means,
    store_totals,
    to_jsonable,
    write_json,
    write_parquet,
)
from simulator.results.uncertainty import add_within_run_se

CRS = "EPSG:32650"
ORIGIN_X, ORIGIN_Y = 440_000.0, 4_420_000.0
ZONE_SIDE_M = 10_000.0
START = dt.date(2024, 4, 1)


# --------------------------------------------------------------------------- synthetic run


def synthetic_frames() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Four 10 km square zones in a 2 x 2 grid, each split into four 5 km cells (EPSG:32650)."""
    zone_rows, cell_rows = [], []
    names_en = ["Dongcheng", "Xicheng", "Chaoyang", "Haidian"]
    names = ["东城区", "西城区", "朝阳区", "海淀区"]
    for index in range(4):
        column, row = index % 2, index // 2
        x0, y0 = ORIGIN_X + column * ZONE_SIDE_M, ORIGIN_Y + row * ZONE_SIDE_M
        zone_id = f"Z{index + 1}"
        zone_rows.append(
            {
                "zone_id": zone_id,
                "name": names[index],
                "name_en": names_en[index],
                "population": 100_000 * (index + 1),
                "geometry": shapely.box(x0, y0, x0 + ZONE_SIDE_M, y0 + ZONE_SIDE_M),
            }
        )
        half = ZONE_SIDE_M / 2
        for sub in range(4):
            cx, cy = x0 + (sub % 2) * half, y0 + (sub // 2) * half
            cell_rows.append(
                {
                    "cell_id": f"{zone_id}-C{sub}",
                    "zone_id": zone_id,
                    "geometry": shapely.box(cx, cy, cx + half, cy + half),
                }
            )
    return gpd.GeoDataFrame(zone_rows, crs=CRS), gpd.GeoDataFrame(cell_rows, crs=CRS)


RIVALS = (
    ("R1", "Tesla", "Tesla Guomao", 446_000.0, 4_426_000.0, "Z1"),
    ("R2", "Tesla", "Tesla Haidian", 449_000.0, 4_435_000.0, "Z3"),
    ("R3", "NIO", "NIO House 蔚来", 455_000.0, 4_433_000.0, "Z4"),
)
"""Rival showrooms of the synthetic run: id, brand, name, x, y (EPSG:32650), zone."""


def synthetic_rivals(replication_seeds: list[int], weight: float, rng: np.random.Generator) -> pd.DataFrame:
    """The ``rivals`` table of the synthetic run: each rival's bookings per replication."""
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    rows = []
    for replication, replication_seed in enumerate(replication_seeds):
        for rival_id, brand, name, x, y, zone_id in RIVALS:
            lon, lat = to_lonlat.transform(x, y)
            bookings = int(rng.integers(5, 40))
            rows.append(
                {
                    "replication": replication,
                    "seed": replication_seed,
                    "rival_id": rival_id,
                    "brand": brand,
                    "rival_name": name,
                    "lon": lon,
                    "lat": lat,
                    "open_day": 0,
                    "close_day": -1,
                    "attractiveness": 0.2,
                    "zone_id": zone_id,
                    "bookings": bookings,
                    "bookings_scaled": bookings * weight,
                }
            )
    return pd.DataFrame(rows)


def _area_counts(rng: np.random.Generator, consumers: int, weight: float, distance_km: float) -> dict[str, float]:
    """Access and test-drive counts of one zone or cell (bookings fall with the distance)."""
    booked = int(rng.poisson(40 / (1 + distance_km / 5)))
    to_rivals = int(rng.poisson(10))
    counts: dict[str, float] = {
        "brand_access": 0.7 / (1 + distance_km / 10),
        "rival_access": 0.2,
        "nearest_store_km": distance_km,
        "test_drive_intents": booked + to_rivals + int(rng.poisson(5)),
        "bookings_to_rivals": to_rivals,
    }
    for name in ("test_drive_intents", "bookings_to_rivals"):
        counts[f"{name}_per_1000"] = 1000 * counts[name] / (consumers * weight)
    return counts


def synthetic_result(
    n_replications: int = 2, n_days: int = 30, seed: int = 7, *, with_rivals: bool = True
) -> RunResult:
    """A hand-made run: n_replications x n_days x 3 stores x 4 zones (and 3 rivals), following the table contract."""
    rng = np.random.default_rng(seed)
    consumers, weight = 2_000, 500.0
    replication_seeds = [1000 + r for r in range(n_replications)]
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    store_xy = [(445_000.0, 4_425_000.0), (456_000.0, 4_424_000.0), (448_000.0, 4_436_000.0)]
    lonlat = [to_lonlat.transform(x, y) for x, y in store_xy]
    plan = pd.DataFrame(
        {
            "store_id": ["S1", "S2", "S3"],
            "store_name": ["Xiaomi Auto Joy City", "小米汽车 国贸", "Flagship Haidian"],
            "format": ["mall", "street", "flagship"],
            "lon": [p[0] for p in lonlat],
            "lat": [p[1] for p in lonlat],
            "x": [p[0] for p in store_xy],
            "y": [p[1] for p in store_xy],
            "mall_id": ["M1", "", ""],
            "open_day": [0, 0, 10],
            "close_day": [-1, -1, -1],
            "capacity": [6, 4, 10],
            "attractiveness": [1.0, 0.8, 2.0],
            "visibility_radius_m": [150.0, 80.0, 300.0],
            "zone_id": ["Z1", "Z2", "Z3"],
        }
    )
    daily_rows, store_rows, zone_rows, cell_rows = [], [], [], []
    zones_gdf, cells_gdf = synthetic_frames()
    for replication, replication_seed in enumerate(replication_seeds):
        cumulative = 0
        for day in range(n_days):
            growth = 1 - math.exp(-(day + 1) / 12)
            online_orders = int(rng.poisson(1 + 2 * growth))
            counts = {
                "in_market": int(40 + rng.integers(0, 5)),
                "sightings": int(rng.poisson(800 * growth)),
                "media_contacts": int(rng.poisson(300)),
                "bookings_requested": int(rng.poisson(2 + 6 * growth)),
                "bookings_to_rivals": int(rng.poisson(2)),
                "intents_no_visit": int(rng.poisson(1)),
                "test_drives": int(rng.poisson(1 + 4 * growth)),
                "bookings_lost": int(rng.poisson(0.5 * growth)),
                "bookings_no_store": int(rng.poisson(0.2)),
                "queue_length": int(rng.poisson(1)),
                "online_orders": online_orders,
                "purchases_direct": int(rng.binomial(online_orders, 0.2)),
            }
            counts["test_drive_intents"] = sum(
                counts[k] for k in ("bookings_requested", "bookings_to_rivals", "intents_no_visit", "bookings_no_store")
            )
            counts["purchases"] = int(rng.poisson(0.3 + growth)) + counts["purchases_direct"]
            cumulative += counts["purchases"]
            counts["cumulative_purchases"] = cumulative
            row = {
                "replication": replication,
                "seed": replication_seed,
                "day": day,
                "date": START + dt.timedelta(days=day),
                "share_aware": 0.6 * growth + rng.uniform(0, 0.02),
                "mean_familiarity": 0.3 * growth,
                "share_familiar": 0.25 * growth,
                "reach_28d": 0.7 * growth,
                "effective_frequency_28d": 0.4 * growth,
                "mean_trust": 0.2 + 0.2 * growth + rng.uniform(0, 0.01),
                **counts,
                **{f"{k}_scaled": v * weight for k, v in counts.items()},
            }
            daily_rows.append(row)
            for store in plan.itertuples(index=False):
                is_open = day >= store.open_day
                drives = int(min(store.capacity, rng.poisson(3))) if is_open else 0
                store_rows.append(
                    {
                        "replication": replication,
                        "seed": replication_seed,
                        "day": day,
                        "store_id": store.store_id,
                        "store_name": store.store_name,
                        "format": store.format,
                        "is_open": is_open,
                        "capacity": store.capacity,
                        "sightings": int(rng.poisson(200)) if is_open else 0,
                        "bookings_requested": drives + int(rng.poisson(1)) if is_open else 0,
                        "test_drives": drives,
                        "bookings_lost": int(rng.poisson(0.3)) if is_open else 0,
                        "queue_length": int(rng.poisson(1)) if is_open else 0,
                        "purchases": int(rng.poisson(0.4)) if is_open else 0,
                        "utilisation": drives / store.capacity if is_open else 0.0,
                    }
                )
        for zone_index, zone_id in enumerate(zones_gdf["zone_id"]):
            zone_consumers = 200 * (zone_index + 1)
            familiarity = 0.1 + 0.15 * zone_index + rng.uniform(0, 0.02)
            booked, driven, bought = (int(rng.integers(5, 30)) for _ in range(3))
            zone_rows.append(
                {
                    "replication": replication,
                    "seed": replication_seed,
                    "zone_id": zone_id,
                    "consumers": zone_consumers,
                    "population_represented": zone_consumers * weight,
                    "mean_familiarity": familiarity,
                    "share_familiar": familiarity * 0.8,
                    "mean_trust": 0.3 + 0.05 * zone_index,
                    "share_aware": min(1.0, familiarity * 2),
                    "bookings_requested": booked,
                    "test_drives": driven,
                    "purchases": bought,
                    "bookings_requested_per_1000": 1000 * booked / (zone_consumers * weight),
                    "test_drives_per_1000": 1000 * driven / (zone_consumers * weight),
                    "purchases_per_1000": 1000 * bought / (zone_consumers * weight),
                    **_area_counts(rng, zone_consumers, weight, 2.0 + 6.0 * zone_index),
                }
            )
        for cell in cells_gdf.itertuples(index=False):
            if cell.cell_id == "Z1-C0":  # an empty cell: no consumers, no row
                continue
            cell_consumers = int(rng.integers(20, 200))
            familiarity = float(rng.uniform(0.05, 0.6))
            cell_rows.append(
                {
                    "replication": replication,
                    "seed": replication_seed,
                    "cell_id": cell.cell_id,
                    "zone_id": cell.zone_id,
                    "consumers": cell_consumers,
                    "population_represented": cell_consumers * weight,
                    "mean_familiarity": familiarity,
                    "share_familiar": familiarity * 0.7,
                    "mean_trust": 0.35,
                    "share_aware": min(1.0, familiarity * 1.8),
                    "bookings_requested": 3,
                    "test_drives": 2,
                    "purchases": 1,
                    "bookings_requested_per_1000": 3000 / (cell_consumers * weight),
                    "test_drives_per_1000": 2000 / (cell_consumers * weight),
                    "purchases_per_1000": 1000 / (cell_consumers * weight),
                    **_area_counts(rng, cell_consumers, weight, float(rng.uniform(0.5, 20.0))),
                }
            )
    metadata = build_metadata(
        None,
        scenario_canonical=json.dumps(
            {
                "name": "tiny-launch",
                "description": "Three stores in a tiny city <test & check>",
                "seed": 42,
                "horizon_days": n_days,
                "city": "tiny",
            },
            sort_keys=True,
        ),
        scenario_hash="0123456789abcdef" * 4,
        seed=42,
        replication_seeds=replication_seeds,
        consumers=consumers,
        consumer_weight=weight,
        population_total=consumers * weight,
        city="tiny",
        horizon_days=n_days,
        start_date=START,
        timings={"population": 0.5, "simulate": 2.25},
        command="footprint run scenarios/tiny.toml",
    )
    return RunResult(
        daily=pd.DataFrame(daily_rows),
        stores=pd.DataFrame(store_rows),
        zones=with_standard_errors(pd.DataFrame(zone_rows)),
        cells=with_standard_errors(pd.DataFrame(cell_rows)),
        plan=plan,
        metadata=metadata,
        rivals=synthetic_rivals(replication_seeds, weight, rng) if with_rivals else pd.DataFrame(),
    )


def with_standard_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """The within-run ``_se`` columns a run writes: means with a spread of 0.2 per consumer, the rest from the row."""
    frame = frame.copy()
    for mean in ("mean_familiarity", "mean_trust", "brand_access", "rival_access", "nearest_store_km"):
        if mean in frame.columns:
            frame[f"{mean}_se"] = 0.2 / np.sqrt(frame["consumers"])
    return add_within_run_se(frame)


@pytest.fixture(scope="module")
def result() -> RunResult:
    return synthetic_result()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- atomic writes


def test_atomic_path_renames_on_success(tmp_path: Path) -> None:
    target = tmp_path / "table.txt"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".") and temporary.name.endswith(".tmp")
        temporary.write_text("complete")
        assert not target.exists()
    assert target.read_text() == "complete"
    assert _leftovers(tmp_path) == []


def test_atomic_path_failure_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_write_parquet_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet

    def broken_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("interrupted")

    monkeypatch.setattr(pyarrow.parquet, "write_table", broken_write)
    with pytest.raises(ResultsError, match=r"a\.parquet: cannot write the file: interrupted"):  # one line, no traceback
        write_parquet(pd.DataFrame({"a": [1, 2]}), tmp_path / "a.parquet")
    assert list(tmp_path.iterdir()) == []


def test_write_json_handles_numpy_dates_paths_and_nan(tmp_path: Path) -> None:
    path = write_json(
        {
            "b": np.int64(3),
            "a": np.float32(0.5),
            "d": dt.date(2024, 1, 2),
            "p": Path("x") / "y",
            "n": float("nan"),
            "arr": np.arange(3),
            "flag": np.bool_(True),
            "名": "北京",
        },
        tmp_path / "m.json",
    )
    text = path.read_text(encoding="utf-8")
    assert "北京" in text  # ensure_ascii=False
    assert text.index('"a"') < text.index('"b"')  # sorted keys
    assert json.loads(text) == {
        "a": 0.5,
        "arr": [0, 1, 2],
        "b": 3,
        "d": "2024-01-02",
        "flag": True,
        "n": None,
        "p": "x/y",
        "名": "北京",
    }


def test_to_jsonable_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError, match="object"):
        to_jsonable({"x": object()})


# --------------------------------------------------------------------------- run folder


def test_round_trip(tmp_path: Path, result: RunResult) -> None:
    out = write_run(result, tmp_path / "run", figures=False, report=False)
    assert out == tmp_path / "run"
    back = read_run(out)
    for name in ("daily", "stores", "zones", "cells", "plan"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(result, name), check_dtype=False)
    assert back.daily["date"].iloc[3] == START + dt.timedelta(days=3)
    assert back.metadata == json.loads(json.dumps(result.metadata))
    assert back.metadata["schema_version"] == SCHEMA_VERSION
    assert _leftovers(tmp_path) == []


def test_datetime_dates_are_stored_as_calendar_dates(tmp_path: Path, result: RunResult) -> None:
    variant = RunResult(**{**result.__dict__, "daily": result.daily.assign(date=pd.to_datetime(result.daily["date"]))})
    back = read_run(write_run(variant, tmp_path / "run", figures=False, report=False))
    assert str(pq.read_schema(tmp_path / "run" / "daily.parquet").field("date").type) == "date32[day]"
    assert back.daily["date"].iloc[0] == START


def test_parquet_readable_by_pyarrow_and_pandas(tmp_path: Path, result: RunResult) -> None:
    out = write_run(result, tmp_path / "run", figures=False, report=False)
    for name in ("daily", "stores", "zones", "cells", "plan"):
        table = pq.read_table(out / f"{name}.parquet")
        assert set(REQUIRED_COLUMNS[name]) <= set(table.column_names)
        assert table.num_rows == len(getattr(result, name))
        assert "__index_level_0__" not in table.column_names
        assert len(pd.read_parquet(out / f"{name}.parquet")) == table.num_rows


def test_geopackage_layers_and_crs(tmp_path: Path, result: RunResult) -> None:
    zones, cells = synthetic_frames()
    out = write_run(result, tmp_path / "run", zone_frame=zones, cell_frame=cells, figures=False, report=False)
    gpkg = out / "zones.gpkg"
    layers = {name for name, _geometry in pyogrio.list_layers(gpkg)}
    assert layers == {"zones", "cells", "stores", "rivals", "about"}  # no trade areas in this result
    for layer in layers - {"about"}:
        assert pyogrio.read_info(gpkg, layer=layer)["crs"] == "EPSG:4326"
    zone_layer = pyogrio.read_dataframe(gpkg, layer="zones")
    expected = result.zones.groupby("zone_id")["mean_familiarity"].mean()
    got = zone_layer.set_index("zone_id")["mean_familiarity"]
    np.testing.assert_allclose(got.loc[expected.index], expected.to_numpy())
    assert list(zone_layer["name_en"]) == list(zones["name_en"])
    # the zone polygons land where they were: the projected centroid of Z1 round-trips
    centroid = zone_layer.to_crs(CRS).set_index("zone_id").geometry.loc["Z1"].centroid
    assert centroid.distance(shapely.Point(ORIGIN_X + 5_000, ORIGIN_Y + 5_000)) < 1.0
    cell_layer = pyogrio.read_dataframe(gpkg, layer="cells")
    assert len(cell_layer) == 16
    assert cell_layer.set_index("cell_id")["mean_familiarity"].isna().sum() == 1  # the empty cell
    store_layer = pyogrio.read_dataframe(gpkg, layer="stores")
    np.testing.assert_allclose(store_layer.geometry.x, result.plan["lon"])
    totals = result.stores.groupby(["replication", "store_id"])["test_drives"].sum().groupby("store_id").mean()
    np.testing.assert_allclose(store_layer.set_index("store_id")["test_drives"].loc[totals.index], totals)
    rival_layer = pyogrio.read_dataframe(gpkg, layer="rivals").set_index("rival_id")
    mean_bookings = result.rivals.groupby("rival_id")["bookings_scaled"].mean()
    np.testing.assert_allclose(rival_layer["mean_bookings_scaled"].loc[mean_bookings.index], mean_bookings)


def test_refuses_to_overwrite_non_empty_folder(tmp_path: Path, result: RunResult) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(ResultsError) as caught:
        write_run(result, target, figures=False, report=False)
    message = str(caught.value)
    assert "\n" not in message and str(target) in message and "not empty" in message
    assert (target / "keep.txt").read_text() == "precious"
    assert _leftovers(tmp_path) == []


def test_empty_existing_folder_is_used(tmp_path: Path, result: RunResult) -> None:
    target = tmp_path / "run"
    target.mkdir()
    write_run(result, target, figures=False, report=False)
    assert (target / "daily.parquet").is_file()


def test_overwrite_replaces_only_when_complete(tmp_path: Path, result: RunResult, monkeypatch) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old run")

    def failing_geopackage(*args, **kwargs):
        raise RuntimeError("crash while writing the GeoPackage")

    monkeypatch.setattr(results_module, "write_geopackage", failing_geopackage)
    with pytest.raises(RuntimeError, match="crash"):
        write_run(result, target, figures=False, report=False, overwrite=True)
    assert (target / "old.txt").read_text() == "old run"  # old folder untouched
    assert _leftovers(tmp_path) == []

    monkeypatch.undo()
    write_run(result, target, figures=False, report=False, overwrite=True)
    assert not (target / "old.txt").exists()
    assert (target / "metadata.json").is_file()
    assert _leftovers(tmp_path) == []


def test_failure_midway_leaves_no_folder(tmp_path: Path, result: RunResult, monkeypatch) -> None:
    import simulator.reports.publish as report

    def failing_report(*args, **kwargs):
        raise RuntimeError("report crashed")

    monkeypatch.setattr(report, "write_report_html", failing_report)
    with pytest.raises(RuntimeError, match="report crashed"):
        write_run(result, tmp_path / "run", figures=False, report=True)
    assert list(tmp_path.iterdir()) == []


def test_missing_column_is_a_one_line_results_error(tmp_path: Path, result: RunResult) -> None:
    broken = RunResult(**{**result.__dict__, "stores": result.stores.drop(columns=["utilisation"])})
    with pytest.raises(ResultsError, match=r"^stores: missing column\(s\) utilisation$"):
        write_run(broken, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_read_run_errors(tmp_path: Path, result: RunResult) -> None:
    with pytest.raises(ResultsError, match="run folder not found"):
        read_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="metadata.json: missing"):
        read_run(tmp_path / "empty")
    out = write_run(result, tmp_path / "run", figures=False, report=False)
    (out / "zones.parquet").unlink()
    with pytest.raises(ResultsError, match="zones.parquet: missing"):
        read_run(out)
    metadata = json.loads((out / "metadata.json").read_text())
    metadata["schema_version"] = SCHEMA_VERSION + 1
    (out / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ResultsError, match="schema_version"):
        read_run(out)


def test_default_run_dir_is_unique(tmp_path: Path) -> None:
    now = dt.datetime(2025, 3, 4, 5, 6, 7)
    first = default_run_dir(tmp_path, "beijing launch/v2", "abcdef0123456789", now=now)
    assert first == tmp_path / "beijing-launch-v2-20250304-050607-abcdef01"
    first.mkdir()
    second = default_run_dir(tmp_path, "beijing launch/v2", "abcdef0123456789", now=now)
    assert second == tmp_path / "beijing-launch-v2-20250304-050607-abcdef01-2"


# --------------------------------------------------------------------------- metadata and summary


def test_metadata_contents(result: RunResult) -> None:
    metadata = result.metadata
    for key in (
        "schema_version",
        "scenario",
        "scenario_hash",
        "seed",
        "replication_seeds",
        "consumers",
        "consumer_weight",
        "population_total",
        "city",
        "horizon_days",
        "start_date",
        "package_versions",
        "timings",
        "created_utc",
        "command",
    ):
        assert key in metadata
    assert metadata["scenario"]["name"] == "tiny-launch"
    assert metadata["start_date"] == "2024-04-01"
    assert {"python", "numpy", "pandas", "pyarrow"} <= set(metadata["package_versions"])
    assert dt.datetime.fromisoformat(metadata["created_utc"]).tzinfo is not None
    assert result.scenario_name == "tiny-launch"


def test_summary_ci_matches_student_t() -> None:
    """Hand-made case: three replications whose purchase totals are 10, 14 and 21."""
    totals = {0: [4, 6], 1: [7, 7], 2: [10, 11]}
    rows = []
    for replication, per_day in totals.items():
        for day, purchases in enumerate(per_day):
            rows.append(
                {
                    "replication": replication,
                    "seed": replication,
                    "day": day,
                    "purchases": purchases,
                    "purchases_scaled": purchases * 2.0,
                    "share_aware": [0.1, 0.2, 0.6][replication] if day == 1 else 0.0,
                }
            )
    result = RunResult(
        daily=pd.DataFrame(rows),
        stores=pd.DataFrame(),
        zones=pd.DataFrame(),
        cells=pd.DataFrame(),
        plan=pd.DataFrame(),
        metadata={"consumer_weight": 2.0},
    )
    summary = result.summary().set_index("kpi")
    values = np.array([10.0, 14.0, 21.0])
    half = stats.t.ppf(0.975, df=2) * values.std(ddof=1) / math.sqrt(3)
    row = summary.loc["purchases"]
    assert row["mean"] == pytest.approx(15.0)
    assert row["ci_low"] == pytest.approx(15.0 - half)
    assert row["ci_high"] == pytest.approx(15.0 + half)
    assert row["n_replications"] == 3
    assert summary.loc["purchases_scaled", "ci_high"] == pytest.approx(2 * (15.0 + half))
    aware = summary.loc["share_aware"]  # end of horizon = last day's value, not a sum
    assert aware["mean"] == pytest.approx(0.3)
    assert aware["ci_high"] - aware["mean"] == pytest.approx(
        stats.t.ppf(0.975, df=2) * np.std([0.1, 0.2, 0.6], ddof=1) / math.sqrt(3)
    )
    assert "test_drives" not in summary.index  # absent columns are skipped


def test_summary_single_replication_has_no_interval() -> None:
    single = synthetic_result(n_replications=1, n_days=5)
    summary = single.summary().set_index("kpi")
    assert summary.loc["purchases", "mean"] == single.daily["purchases"].sum()
    assert math.isnan(summary.loc["purchases", "ci_low"])
    assert summary.loc["share_familiar", "mean"] == pytest.approx(single.daily["share_familiar"].iloc[-1])


def test_store_totals_and_replication_means(result: RunResult) -> None:
    totals = store_totals(result.stores, result.plan).set_index("store_id")
    assert list(totals.index) == ["S1", "S2", "S3"]
    s3 = result.stores[result.stores["store_id"] == "S3"]
    assert totals.loc["S3", "open_days"] == 20  # opens on day 10 of 30
    per_replication = s3[s3["is_open"]].groupby("replication")["utilisation"].mean()
    assert totals.loc["S3", "utilisation"] == pytest.approx(per_replication.mean())
    means = replication_means(result.zones, "zone_id").set_index("zone_id")
    assert means.loc["Z2", "replications"] == 2
    assert means.loc["Z2", "consumers"] == 400
    assert "replication" not in means.columns and "seed" not in means.columns


def _metadata_with_capacities(capacities: list[int], weight: float) -> dict:
    scenario = {
        "name": "s",
        "plan": {"stores": [{"id": f"S{i}", "capacity_per_day": c} for i, c in enumerate(capacities)]},
    }
    return build_metadata(
        None,
        scenario_canonical=json.dumps(scenario),
        scenario_hash="0" * 64,
        seed=1,
        replication_seeds=[1],
        consumers=1_000,
        consumer_weight=weight,
        population_total=1_000 * weight,
        city="tiny",
        horizon_days=10,
        start_date=None,
    )


def test_metadata_warns_when_a_consumer_stands_for_more_people_than_a_store_serves() -> None:
    warnings = _metadata_with_capacities([60, 20, 0], weight=55.0)["warnings"]
    assert len(warnings) == 1
    assert "55 people" in warnings[0] and "capacity (20)" in warnings[0]
    assert "--consumers 2750" in warnings[0] and "--consumers all" in warnings[0]  # ceil(55,000 / 20)
    assert _metadata_with_capacities([60, 20], weight=20.0)["warnings"] == []
    assert _metadata_with_capacities([60, 80], weight=55.0)["warnings"] == []
    assert _metadata_with_capacities([0], weight=55.0)["warnings"] == []  # closed stores only: no capacity


def test_merge_warnings_names_the_runs_only_when_not_all_carry_a_warning() -> None:
    from simulator.results import merge_warnings

    assert merge_warnings({"A": ["w1", "w2"], "B": ["w1"]}) == ["w1", "A: w2"]
    assert merge_warnings({"A": [], "B": []}) == []

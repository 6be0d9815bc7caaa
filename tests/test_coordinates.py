"""Coordinate systems of site positions (GCJ-02, BD-09, EPSG codes) and the no-effect warnings.

Known pairs are the published examples of the reference implementations: coordtransform
(wandergis/coordtransform, test/app.js, also coordtransform_rs) for Beijing, and a
Shanghai pair of another implementation (geotool), which agrees to about 1 cm.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from clihelpers import assert_one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config import ScenarioError, load_scenario, parse_scenario
from simulator.config.china_coordinates import (
    CHINA_BOX,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from simulator.config.no_effect import no_effect_warnings
from simulator.experiments import RunOptions, prepare_scenario
from simulator.experiments.run import run
from simulator.model import place_stores, scenario_warnings
from simulator.model.plan import lonlat_of, place_rivals

runner = CliRunner()

# coordtransform: the input point and its published outputs
TIANANMEN = (116.404, 39.915)
WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
BD09_TO_GCJ02_PUBLISHED = (116.39762729119315, 39.90865673957631)  # the published approximate inverse
# geotool: WGS84, GCJ-02 and BD-09 of one point in Shanghai
SHANGHAI_WGS84 = (121.0917077, 30.6107779)
SHANGHAI_GCJ02 = (121.09626935575027, 30.608604331756705)
SHANGHAI_BD09 = (121.10271732371203, 30.61484572185035)

china_lon = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=18.0, max_value=53.5)


def metres(a, b) -> float:
    """Distance between two (lon, lat) points in Beijing, metres (UTM 50N)."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    return float(np.hypot(*(np.subtract(to_utm.transform(*a), to_utm.transform(*b)))))


def error_of(function, *args, **kwargs) -> str:
    with pytest.raises(ScenarioError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------------
# The transforms
# --------------------------------------------------------------------------------------


def test_forward_transforms_match_the_published_pairs_exactly():
    assert np.allclose(wgs84_to_gcj02(*TIANANMEN), WGS84_TO_GCJ02, rtol=0, atol=1e-12)
    assert np.allclose(gcj02_to_bd09(*TIANANMEN), GCJ02_TO_BD09, rtol=0, atol=1e-12)


def test_transforms_match_another_implementation_to_a_centimetre():
    assert np.allclose(wgs84_to_gcj02(*SHANGHAI_WGS84), SHANGHAI_GCJ02, rtol=0, atol=1e-6)
    assert np.allclose(wgs84_to_bd09(*SHANGHAI_WGS84), SHANGHAI_BD09, rtol=0, atol=1e-6)
    assert np.allclose(gcj02_to_wgs84(*SHANGHAI_GCJ02), SHANGHAI_WGS84, rtol=0, atol=1e-6)
    assert np.allclose(bd09_to_wgs84(*SHANGHAI_BD09), SHANGHAI_WGS84, rtol=0, atol=1e-6)


def test_inverses_are_exact_and_close_to_the_published_approximations():
    # GCJ-02 -> WGS84 undoes the published forward transform to 1e-9 degrees
    assert np.allclose(gcj02_to_wgs84(*WGS84_TO_GCJ02), TIANANMEN, rtol=0, atol=1e-9)
    # BD-09 -> GCJ-02 is the exact inverse of the forward transform ...
    assert np.allclose(bd09_to_gcj02(*GCJ02_TO_BD09), TIANANMEN, rtol=0, atol=1e-9)
    # ... and within a few centimetres of the published one-step approximation
    exact = bd09_to_gcj02(*TIANANMEN)
    assert np.allclose(exact, BD09_TO_GCJ02_PUBLISHED, rtol=0, atol=1e-6)
    assert not np.allclose(exact, BD09_TO_GCJ02_PUBLISHED, rtol=0, atol=1e-8)


def test_the_offset_in_beijing_is_the_few_hundred_metres_the_issue_reports():
    gcj = tuple(float(v) for v in wgs84_to_gcj02(*TIANANMEN))
    bd = tuple(float(v) for v in wgs84_to_bd09(*TIANANMEN))
    assert 300.0 < metres(TIANANMEN, gcj) < 700.0
    assert 900.0 < metres(TIANANMEN, bd) < 1500.0


@settings(max_examples=150, deadline=None)
@given(lon=china_lon, lat=china_lat)
def test_round_trips_within_a_millionth_of_a_degree(lon, lat):
    for forward, inverse in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        back = inverse(*forward(lon, lat))
        assert abs(float(back[0]) - lon) < 1e-6 and abs(float(back[1]) - lat) < 1e-6
        again = forward(*inverse(lon, lat))
        assert abs(float(again[0]) - lon) < 1e-6 and abs(float(again[1]) - lat) < 1e-6


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(min_value=-180.0, max_value=180.0), lat=st.floats(min_value=-90.0, max_value=90.0))
def test_outside_china_gcj02_is_wgs84(lon, lat):
    lon_min, lon_max, lat_min, lat_max = CHINA_BOX
    if lon_min <= lon <= lon_max and lat_min <= lat <= lat_max:
        lon = lon - 180.0 if lon > 0 else lon  # move it west of the box
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_vectorised_over_points_inside_and_outside_china():
    lon = np.array([116.404, 2.35, 121.0917077])
    lat = np.array([39.915, 48.85, 30.6107779])
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert gcj_lon.shape == (3,)
    assert (gcj_lon[1], gcj_lat[1]) == (2.35, 48.85)
    one_by_one = [tuple(float(v) for v in wgs84_to_gcj02(x, y)) for x, y in zip(lon, lat)]
    assert np.array_equal(np.column_stack([gcj_lon, gcj_lat]), np.array(one_by_one))
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert np.allclose(back_lon, lon, atol=1e-9) and np.allclose(back_lat, lat, atol=1e-9)


# --------------------------------------------------------------------------------------
# Scenario keys and placement
# --------------------------------------------------------------------------------------


def tiny_scenario(city_path: Path, stores: list[dict], **sections) -> dict:
    return {
        "city": {"bundle": str(city_path)},
        "population": {"consumers": 100},
        "plan": {"stores": stores},
        **sections,
    }


def mall_lonlat(city, mall: int = 0) -> tuple[float, float]:
    lon, lat = lonlat_of(city, city.mall_xy[mall : mall + 1])[0]
    return float(lon), float(lat)


def test_inline_gcj02_and_bd09_stores_land_on_their_wgs84_position(tiny_city, tiny_city_path):
    lon, lat = 116.37, 39.905
    gcj = [float(v) for v in wgs84_to_gcj02(lon, lat)]
    bd = [float(v) for v in wgs84_to_bd09(lon, lat)]
    scenario = parse_scenario(
        tiny_scenario(
            tiny_city_path,
            [
                {"id": "w", "lon": lon, "lat": lat},
                {"id": "g", "lon": gcj[0], "lat": gcj[1], "crs": "gcj02"},
                {"id": "b", "lon": bd[0], "lat": bd[1], "crs": "BD-09"},
                {"id": "g_as_wgs84", "lon": gcj[0], "lat": gcj[1]},
            ],
        )
    )
    assert [s.crs for s in scenario.plan.stores] == ["wgs84", "gcj02", "bd09", "wgs84"]
    placed = place_stores(scenario, tiny_city)
    assert np.hypot(*(placed.xy[1] - placed.xy[0])) < 0.01
    assert np.hypot(*(placed.xy[2] - placed.xy[0])) < 0.01
    assert np.hypot(*(placed.xy[3] - placed.xy[0])) > 300.0  # what happened before: silently off
    assert np.allclose(placed.lonlat[1], (lon, lat), atol=1e-8)


def test_epsg_codes_by_pyproj(tiny_city, tiny_city_path):
    lon, lat = 116.37, 39.905
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    scenario = parse_scenario(
        tiny_scenario(
            tiny_city_path,
            [
                {"id": "w", "lon": lon, "lat": lat},
                {"id": "m", "lon": x, "lat": y, "crs": "EPSG:3857"},
                {"id": "c", "lon": lon, "lat": lat, "crs": "epsg:4490"},
                {"id": "e", "lon": lon, "lat": lat, "crs": "epsg:4326"},
            ],
        )
    )
    assert [s.crs for s in scenario.plan.stores] == ["wgs84", "EPSG:3857", "EPSG:4490", "wgs84"]
    placed = place_stores(scenario, tiny_city)
    assert np.abs(placed.xy[1:] - placed.xy[0]).max() < 0.01


def test_rivals_take_a_crs_too(tiny_city, tiny_city_path):
    gcj = [float(v) for v in wgs84_to_gcj02(116.37, 39.905)]
    data = tiny_scenario(tiny_city_path, [])
    data["rivals"] = {"showrooms": [{"id": "r", "brand": "R", "lon": gcj[0], "lat": gcj[1], "crs": "gcj02"}]}
    placed = place_rivals(parse_scenario(data), tiny_city)
    assert np.allclose(placed.lonlat[0], (116.37, 39.905), atol=1e-8)


def test_geojson_in_epsg_3857_is_reprojected(tmp_path, tiny_city, tiny_city_path):
    points = [shapely.Point(116.37, 39.905), shapely.Point(116.39, 39.91)]
    frame = gpd.GeoDataFrame({"id": ["a", "b"], "open_day": [0, 3]}, geometry=points, crs="EPSG:4326")
    frame.to_crs("EPSG:3857").to_file(tmp_path / "stores.geojson", driver="GeoJSON")
    assert "EPSG::3857" in (tmp_path / "stores.geojson").read_text()
    data = tiny_scenario(tiny_city_path, [])
    data["plan"]["stores_file"] = "stores.geojson"
    scenario = parse_scenario(data, "s.toml", base_dir=tmp_path)
    stores = scenario.plan.stores
    assert [(s.id, s.crs) for s in stores] == [("a", "wgs84"), ("b", "wgs84")]
    assert abs(stores[0].lon - 116.37) < 1e-9 and abs(stores[1].lat - 39.91) < 1e-9
    assert place_stores(scenario, tiny_city).open_day.tolist() == [0, 3]


def test_stores_file_crs_applies_to_rows_without_their_own(tmp_path, tiny_city, tiny_city_path):
    gcj = [float(v) for v in wgs84_to_gcj02(116.37, 39.905)]
    (tmp_path / "stores.csv").write_text(
        f"id,lon,lat,crs,mall\ng,{gcj[0]!r},{gcj[1]!r},,\nw,116.37,39.905,wgs84,\nm,,,,M1\n", encoding="utf-8"
    )
    data = tiny_scenario(tiny_city_path, [])
    data["plan"].update(stores_file="stores.csv", stores_file_crs="GCJ02")
    scenario = parse_scenario(data, "s.toml", base_dir=tmp_path)
    assert [s.crs for s in scenario.plan.stores] == ["gcj02", "wgs84", "wgs84"]
    placed = place_stores(scenario, tiny_city)
    assert np.hypot(*(placed.xy[0] - placed.xy[1])) < 0.01
    assert no_effect_warnings(scenario) == []


def test_canonical_form_keeps_what_was_written_and_parses_back(tiny_city_path):
    from simulator.config import canonical_json, parse_canonical_json, scenario_hash

    scenario = parse_scenario(tiny_scenario(tiny_city_path, [{"id": "g", "lon": 116.4, "lat": 39.9, "crs": "gcj02"}]))
    again = parse_canonical_json(canonical_json(scenario))
    assert again.plan.stores[0].crs == "gcj02" and again.plan.stores[0].lon == 116.4
    assert scenario_hash(again) == scenario_hash(scenario)


@pytest.mark.parametrize(
    ("store", "fragment"),
    [
        ({"crs": "utm"}, "s.toml: plan.stores[0].crs: unknown coordinate system 'utm'"),
        ({"crs": "EPSG:999999"}, "s.toml: plan.stores[0].crs: unknown EPSG code"),
        ({"crs": 3857}, "s.toml: plan.stores[0].crs: must be a string"),
        ({"crs": "EPSG:4978"}, "s.toml: plan.stores[0].crs: EPSG:4978 is a Geocentric CRS: use a 2D geographic"),
        ({"crs": "gcj02", "lon": 190.0}, "s.toml: plan.stores[0].lon: must be <= 180, got 190"),
        ({"crs": "EPSG:3857", "lon": 1e9}, "s.toml: plan.stores[0].lon: (1e+09, 39.9) in EPSG:3857 is not a valid"),
    ],
)
def test_bad_crs_is_one_line_naming_the_key(store, fragment):
    data = {"plan": {"stores": [{"id": "a", "lon": 116.4, "lat": 39.9, **store}]}}
    assert fragment in error_of(parse_scenario, data, "s.toml")


def test_bad_file_crs_and_declared_crs(tmp_path):
    (tmp_path / "stores.csv").write_text("id,lon,lat\na,116.4,39.9\n", encoding="utf-8")
    data = {"plan": {"stores_file": "stores.csv", "stores_file_crs": "mars"}}
    assert error_of(parse_scenario, data, "s.toml", base_dir=tmp_path).startswith(
        "s.toml: plan.stores_file_crs: unknown coordinate system 'mars'"
    )
    document = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "features": [
            {"type": "Feature", "properties": {"id": "a"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
        ],
    }
    (tmp_path / "s.geojson").write_text(json.dumps(document), encoding="utf-8")
    data = {"plan": {"stores_file": "s.geojson", "stores_file_crs": "gcj02"}}
    assert error_of(parse_scenario, data, "s.toml", base_dir=tmp_path) == (
        "s.geojson: crs: the file declares EPSG:3857 for its geometries, but its crs is set to gcj02"
    )
    document["features"][0]["geometry"]["coordinates"] = [1e9, 4851421.0]  # would wrap to longitude -16.8
    (tmp_path / "s.geojson").write_text(json.dumps(document), encoding="utf-8")
    message = error_of(parse_scenario, {"plan": {"stores_file": "s.geojson"}}, "s.toml", base_dir=tmp_path)
    assert message.startswith("s.geojson: features[0]: lon: (1e+09, 4.85142e+06) in EPSG:3857 is not a valid position")
    document["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:FOO::1"}}
    (tmp_path / "s.geojson").write_text(json.dumps(document), encoding="utf-8")
    message = error_of(parse_scenario, {"plan": {"stores_file": "s.geojson"}}, "s.toml", base_dir=tmp_path)
    assert message.startswith("s.geojson: crs: unsupported declared coordinate system")


def test_file_crs_cannot_be_overridden(tmp_path, tiny_city_path):
    path = tmp_path / "s.toml"
    path.write_text(f'[city]\nbundle = "{tiny_city_path.as_posix()}"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="plan.stores_file_crs: cannot be overridden"):
        prepare_scenario(path, RunOptions(overrides={"plan.stores_file_crs": "gcj02"}))


# --------------------------------------------------------------------------------------
# Warnings
# --------------------------------------------------------------------------------------


def test_no_effect_warnings_name_the_key(tiny_city_path):
    data = tiny_scenario(
        tiny_city_path,
        [{"id": "late", "mall": "M1", "open_day": 30, "crs": "gcj02"}, {"id": "ok", "mall": "M2", "open_day": 19}],
        horizon={"days": 20},
        rivals={"showrooms": [{"id": "r", "brand": "R", "mall": "M3", "open_day": 25}]},
        levers={
            "media": {"events": [{"kind": "shock", "day": 20, "size": 0.1, "half_life_days": 3}]},
            "expert_brand": {"start_day": 40},
            "testimonials": {"enabled": False, "events": [{"kind": "step", "day": 1, "size": 0.1}]},
        },
    )
    warnings = no_effect_warnings(parse_scenario(data))
    assert warnings == [
        "plan.stores[0] (late): open_day 30 is after the horizon (horizon.days = 20 simulates days 0 to 19): "
        "the store never opens and its settings have no effect",
        "plan.stores[0] (late): crs = 'gcj02' has no effect on a store placed by mall",
        "rivals.showrooms[0] (r): open_day 25 is after the horizon (horizon.days = 20 simulates days 0 to 19): "
        "the showroom never opens and its settings have no effect",
        "levers.expert_brand.start_day: 40 is after the horizon (horizon.days = 20 simulates days 0 to 19): "
        "the offset has no effect",
        "levers.testimonials: enabled = false: its 1 event(s) have no effect",
        "levers.media.events[0]: day 20 is after the horizon (horizon.days = 20 simulates days 0 to 19): "
        "the shock has no effect",
    ]
    data["horizon"]["days"] = 50
    assert [w.split(":")[0] for w in no_effect_warnings(parse_scenario(data))] == [
        "plan.stores[0] (late)",
        "levers.testimonials",
    ]


def test_gcj02_looking_coordinates_are_flagged_only_when_reading_them_so_finds_the_named_mall(
    tiny_city, tiny_city_path
):
    mall = mall_lonlat(tiny_city, 0)  # M1, 中心广场 / Central Plaza
    gcj = [float(v) for v in wgs84_to_gcj02(*mall)]
    bd = [float(v) for v in wgs84_to_bd09(*mall)]
    rng = np.random.default_rng(3)
    near = []
    for k in range(20):  # correct WGS84 positions inside the mall's extent, in every direction
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0, 150.0)
        lon, lat = mall[0] + radius * np.cos(angle) / 85_000, mall[1] + radius * np.sin(angle) / 111_000
        near.append({"id": f"n{k}", "name": "Central Plaza pop-up", "lon": lon, "lat": lat})
    stores = [
        {"id": "g", "name": "中心广场店", "lon": gcj[0], "lat": gcj[1]},
        {"id": "b", "name": "Central Plaza", "lon": bd[0], "lat": bd[1]},
        {"id": "declared", "name": "Central Plaza", "lon": gcj[0], "lat": gcj[1], "crs": "gcj02"},
        {"id": "unnamed", "name": "street corner", "lon": gcj[0], "lat": gcj[1]},
        *near,
    ]
    warnings = scenario_warnings(parse_scenario(tiny_scenario(tiny_city_path, stores)), tiny_city)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("plan.stores[0] (g): lon/lat are ")
    assert "the mall '中心广场' (M1) the store names" in warnings[0] and 'set crs = "gcj02"' in warnings[0]
    assert warnings[1].startswith("plan.stores[1] (b): ") and 'set crs = "bd09"' in warnings[1]


def test_validate_prints_warnings_and_a_run_records_them(tmp_path, tiny_city, tiny_city_path):
    gcj = [float(v) for v in wgs84_to_gcj02(*mall_lonlat(tiny_city, 1))]  # M2, Muxidi Mall
    scenario = tmp_path / "w.toml"
    scenario.write_text(
        f"""[city]
bundle = "{tiny_city_path.as_posix()}"
[population]
consumers = 100
[horizon]
days = 10
[[plan.stores]]
id = "A"
mall = "M1"
[[plan.stores]]
id = "late"
mall = "M3"
open_day = 12
[[plan.stores]]
id = "muxidi"
name = "Muxidi Mall store"
lon = {gcj[0]!r}
lat = {gcj[1]!r}
""",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(scenario)])
    assert result.exit_code == 0, result.output
    assert "warning: plan.stores[1] (late): open_day 12 is after the horizon" in result.output
    assert "warning: plan.stores[2] (muxidi): lon/lat are" in result.output
    result = runner.invoke(app, ["validate", str(scenario), "--set", "horizon.days=30"])
    assert result.exit_code == 0 and "(late)" not in result.output
    metadata = run(load_scenario(scenario), city=tiny_city).metadata
    assert any(w.startswith("plan.stores[1] (late): open_day 12") for w in metadata["warnings"])
    assert any(w.startswith("plan.stores[2] (muxidi): lon/lat are") for w in metadata["warnings"])


def test_validate_bad_crs_is_one_line_exit_1(tmp_path, tiny_city_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(
        f'[city]\nbundle = "{tiny_city_path.as_posix()}"\n[[plan.stores]]\nid = "A"\nlon = 116.4\nlat = 39.9\n'
        'crs = "wgs 84"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(scenario)])
    assert_one_line_error(result, "bad.toml: plan.stores[0].crs: unknown coordinate system 'wgs 84'")


def test_comparison_plan_stores_file_crs(tmp_path, tiny_city, tiny_city_path):
    from simulator.experiments.compare import load_comparison

    gcj = [float(v) for v in wgs84_to_gcj02(116.37, 39.905)]
    (tmp_path / "candidates.csv").write_text(f"id,lon,lat\nc,{gcj[0]!r},{gcj[1]!r}\n", encoding="utf-8")
    (tmp_path / "base.toml").write_text(
        f'[city]\nbundle = "{tiny_city_path.as_posix()}"\n[[plan.stores]]\nid = "A"\nmall = "M1"\n', encoding="utf-8"
    )
    (tmp_path / "compare.toml").write_text(
        'base = "base.toml"\n[[plans]]\nname = "base"\nuse_base_plan = true\n'
        '[[plans]]\nname = "candidate"\nuse_base_plan = true\nstores_file = "candidates.csv"\nstores_file_crs = "gcj02"\n',
        encoding="utf-8",
    )
    spec = load_comparison(tmp_path / "compare.toml")
    candidate = spec.plans[1].scenario
    assert [(s.id, s.crs) for s in candidate.plan.stores] == [("A", "wgs84"), ("c", "gcj02")]
    assert np.allclose(place_stores(candidate, tiny_city).lonlat[1], (116.37, 39.905), atol=1e-8)


@pytest.mark.slow
def test_chinese_map_check_on_every_beijing_mall():
    """GCJ-02 and BD-09 copies of every mall are flagged; WGS84 points within 150 m of it are not."""
    from simulator.city import load_city
    from simulator.model.site_checks import chinese_map_warnings

    city = load_city("beijing")
    lon, lat = lonlat_of(city, city.mall_xy).T
    rng = np.random.default_rng(11)
    angle, radius = rng.uniform(0, 2 * np.pi, lon.size), rng.uniform(0, 150.0, lon.size)
    near_lon = lon + radius * np.cos(angle) / (111_320 * np.cos(np.radians(lat)))
    near_lat = lat + radius * np.sin(angle) / 110_950
    readings = {"gcj02": wgs84_to_gcj02(lon, lat), "bd09": wgs84_to_bd09(lon, lat), "wgs84": (near_lon, near_lat)}
    for system, (site_lon, site_lat) in readings.items():
        rows = [
            {"id": f"s{m}", "name": str(city.mall_names_en[m]), "lon": float(site_lon[m]), "lat": float(site_lat[m])}
            for m in range(lon.size)
        ]
        stores = parse_scenario({"plan": {"stores": rows}}).plan.stores
        warnings = chinese_map_warnings(stores, [s.name for s in stores], city, "plan.stores", "store")
        if system == "wgs84":
            assert warnings == []
        else:
            assert len(warnings) == lon.size and all(f'set crs = "{system}"' in w for w in warnings)


def test_rivals_file_crs(tmp_path, tiny_city, tiny_city_path):
    bd = [float(v) for v in wgs84_to_bd09(116.37, 39.905)]
    (tmp_path / "rivals.csv").write_text(f"id,brand,lon,lat\nr,R,{bd[0]!r},{bd[1]!r}\n", encoding="utf-8")
    data = tiny_scenario(tiny_city_path, [], rivals={"file": "rivals.csv", "file_crs": "bd09"})
    scenario = parse_scenario(data, "s.toml", base_dir=tmp_path)
    assert scenario.rivals.showrooms[0].crs == "bd09"
    assert np.allclose(place_rivals(scenario, tiny_city).lonlat[0], (116.37, 39.905), atol=1e-8)
    assert no_effect_warnings(parse_scenario({"rivals": {"file_crs": "bd09"}})) == [
        "rivals.file_crs: has no effect without rivals.file"
    ]

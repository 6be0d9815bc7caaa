"""The committed Beijing bundle ``geo/beijing.gpkg`` against its raw sources and the bundle format.

Reads the committed file with geopandas/pyogrio only (not ``simulator.city.bundle``);
the determinism test rebuilds it twice with ``geo/build_beijing.py``. Expected
values come from the raw files in ``geo/raw/beijing`` (read here with simple,
independent parsers) or from the issue (census total, the three known job
figures).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import re
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

PROJECT = Path(__file__).resolve().parent.parent
BUNDLE = PROJECT / "geo" / "beijing.gpkg"
RAW = PROJECT / "geo" / "raw" / "beijing"
METRIC = "EPSG:32650"

REQUIRED = {
    "districts": ["zone_id", "name", "name_en", "population"],
    "population_cells": ["cell_id", "zone_id", "population", "jobs"],
    "subway_stations": ["station_id", "name", "name_en", "lines"],
    "subway_lines": ["line_id", "name", "name_en", "is_loop", "stations", "distances_m"],
    "subway_links": ["from_station", "to_station", "line_id", "kind", "distance_m", "walk_seconds"],
    "malls": ["mall_id", "name", "name_en", "attractiveness", "position_accuracy_m"],
    "sources": ["layer", "source", "licence", "build_date", "crs_note"],
}
GEOMETRY_LAYERS = ("districts", "population_cells", "subway_stations", "subway_lines", "malls")
CENSUS_TOTAL = 21_893_095
KNOWN_JOBS = {"110105": 2_604_000, "110108": 2_397_000, "110106": 1_145_000}


@functools.cache
def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_beijing", PROJECT / "geo" / "build_beijing.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def _read_all(path: Path) -> dict[str, pd.DataFrame]:
    return {layer: pyogrio.read_dataframe(path, layer=layer) for layer in REQUIRED}


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its geometry as WKB bytes, so that equality is exact, vertex by vertex."""
    plain = pd.DataFrame(frame).copy()
    if "geometry" in plain.columns:
        plain["geometry"] = shapely.to_wkb(np.asarray(frame.geometry), hex=True)
    return plain


@pytest.fixture(scope="module")
def bundle() -> dict[str, pd.DataFrame]:
    return _read_all(BUNDLE)


@pytest.fixture(scope="module")
def raw_lines() -> dict[str, tuple[list[str], list[int], bool]]:
    """name -> (stations, distances, is_loop) parsed from the raw JSON5 station blocks with a regex.

    For a loop the first station's ``dist`` closes the loop and is listed last.
    """
    lines = {}
    for path in sorted((RAW / "subway_lines_mit").glob("*.json5")):
        text = path.read_text(encoding="utf-8")
        if "stations:" not in text:
            continue
        name = re.search(r'^\s*name:\s*"([^"]+)"', text, re.M).group(1)
        block = text[text.index("stations:") : text.index("train_routes:")]
        entries = re.findall(r'\{name:\s*"([^"]+)"(?:,\s*dist:\s*(\d+))?', block)
        is_loop = re.search(r"^\s*loop:\s*true", text, re.M) is not None
        stations = [e[0] for e in entries]
        distances = [int(e[1]) for e in entries[1:]]
        if is_loop:
            distances.append(int(entries[0][1]))
        lines[name] = (stations, distances, is_loop)
    return lines


def _haversine_m(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))


# --- file and format ----------------------------------------------------------------


def test_file_size_at_most_10_mb():
    assert BUNDLE.stat().st_size <= 10 * 1024 * 1024


def test_layers_columns_and_crs(bundle):
    listed = dict(pyogrio.list_layers(BUNDLE))
    for layer, columns in REQUIRED.items():
        assert layer in listed
        assert set(columns) <= set(bundle[layer].columns), layer
    for layer in GEOMETRY_LAYERS:
        assert bundle[layer].crs.to_epsg() == 4326, layer
    assert listed["subway_links"] is None and listed["sources"] is None
    assert listed["population_cells"] == "Polygon"
    assert bundle["districts"]["population"].dtype == np.int64
    assert bundle["population_cells"]["population"].dtype == np.int64
    assert bundle["population_cells"]["jobs"].dtype == np.float64
    assert bundle["subway_lines"]["is_loop"].dtype == bool


def test_all_geometries_valid_and_non_empty(bundle):
    for layer in GEOMETRY_LAYERS:
        geometry = bundle[layer].geometry
        assert geometry.is_valid.all(), layer
        assert not geometry.is_empty.any(), layer


def test_ids_are_unique(bundle):
    for layer, column in [
        ("districts", "zone_id"),
        ("population_cells", "cell_id"),
        ("subway_stations", "station_id"),
        ("subway_lines", "line_id"),
        ("malls", "mall_id"),
    ]:
        assert bundle[layer][column].is_unique, layer


def test_coordinates_are_rounded_to_a_millionth_of_a_degree(bundle):
    coords = shapely.get_coordinates(bundle["population_cells"].geometry.to_numpy()[:2000])
    assert np.allclose(coords * 1e6, np.round(coords * 1e6), atol=1e-3)


# --- districts ----------------------------------------------------------------------


def test_districts_carry_the_census(bundle):
    districts = bundle["districts"]
    census = pd.read_csv(RAW / "population_census2020_districts.csv", dtype={"adcode": str})
    assert len(districts) == 16
    assert int(districts["population"].sum()) == CENSUS_TOTAL
    merged = census.merge(districts, left_on="adcode", right_on="zone_id", validate="one_to_one")
    assert len(merged) == 16
    assert (merged["pop_2020_census"] == merged["population"]).all()
    assert (merged["name_zh"] == merged["name"]).all()
    assert (districts["name_en"].str.len() > 0).all()
    assert districts.set_index("zone_id").loc["110105", "name_en"] == "Chaoyang"


def test_district_polygons_are_the_tianditu_ones(bundle):
    raw = gpd.read_file(RAW / "districts_tianditu.geojson").set_crs(4326, allow_override=True)
    raw = raw.set_index(raw["adcode"].astype(str)).to_crs(METRIC)
    ours = bundle["districts"].set_index("zone_id").to_crs(METRIC)
    for zone_id, geometry in ours.geometry.items():
        other = raw.geometry[zone_id]
        assert geometry.symmetric_difference(other).area / other.area < 1e-6, zone_id


# --- population cells ---------------------------------------------------------------


def test_cells_sum_exactly_to_each_district(bundle):
    cells, districts = bundle["population_cells"], bundle["districts"]
    assert (cells["population"] >= 0).all()
    assert set(cells["zone_id"]) == set(districts["zone_id"])
    sums = cells.groupby("zone_id")["population"].sum()
    expected = districts.set_index("zone_id")["population"]
    assert (sums.loc[expected.index] == expected).all()
    assert int(cells["population"].sum()) == CENSUS_TOTAL
    assert cells["modelled"].all()


def test_cells_lie_in_their_own_district_and_are_not_slivers(bundle):
    cells = bundle["population_cells"].to_crs(METRIC)
    districts = bundle["districts"].set_index("zone_id").to_crs(METRIC)
    area = cells.area / 1e6
    assert area.min() >= 0.0099
    assert area.max() <= 1.001  # edges are straight in lon/lat once stored
    inner_point = cells.geometry.representative_point()
    own = districts.geometry.loc[cells["zone_id"]].to_numpy()
    assert shapely.covers(own, inner_point.to_numpy()).all()
    # The cells tile the districts (only slivers under 0.01 km2 are missing).
    coverage = area.groupby(cells["zone_id"]).sum() / (districts.area / 1e6)
    assert coverage.between(0.99, 1.001).all()


def test_population_is_denser_near_stations(bundle):
    cells = bundle["population_cells"]
    density = cells["population"] / cells["area_km2"]
    near = density[cells["dist_station_km"] < 1].median()
    far = density[cells["dist_station_km"] > 5].median()
    assert near > 3 * far


def test_jobs_are_non_negative_and_match_the_known_districts(bundle):
    cells, districts = bundle["population_cells"], bundle["districts"]
    assert np.isfinite(cells["jobs"]).all() and (cells["jobs"] >= 0).all()
    by_zone = cells.groupby("zone_id")["jobs"].sum()
    for zone_id, jobs in KNOWN_JOBS.items():
        assert by_zone[zone_id] == jobs
    district_jobs = districts.set_index("zone_id")["jobs"]
    assert np.allclose(by_zone.loc[district_jobs.index], district_jobs)
    # 东城 and 西城 have more jobs than residents.
    for zone_id in ("110101", "110102"):
        assert by_zone[zone_id] > districts.set_index("zone_id").loc[zone_id, "population"]


def test_jobs_are_more_concentrated_than_residents(bundle):
    cells = bundle["population_cells"]
    near = cells["dist_station_km"] < 1
    assert (
        cells.loc[near, "jobs"].sum() / cells["jobs"].sum()
        > cells.loc[near, "population"].sum() / cells["population"].sum()
    )


# --- stations, lines, links ---------------------------------------------------------


def test_28_lines_with_their_stations(bundle):
    lines, stations = bundle["subway_lines"], bundle["subway_stations"]
    assert len(lines) == 28
    station_ids = set(stations["station_id"])
    on_lines: dict[str, set[str]] = {}
    for line_id, sequence, distances, is_loop in zip(
        lines["line_id"], lines["stations"], lines["distances_m"], lines["is_loop"]
    ):
        members = sequence.split(";")
        assert set(members) <= station_ids, line_id
        assert len(distances.split(";")) == len(members) - (0 if is_loop else 1), line_id
        for member in members:
            on_lines.setdefault(member, set()).add(line_id)
    assert set(on_lines) == station_ids
    for station_id, listed in zip(stations["station_id"], stations["lines"]):
        assert set(listed.split(";")) == on_lines[station_id], station_id
    assert set(lines.loc[lines["is_loop"], "line_id"]) == {"L2", "L10"}


def test_lines_follow_the_raw_files(bundle, raw_lines):
    lines = bundle["subway_lines"].set_index("name")
    assert set(lines.index) == set(raw_lines)
    for name, (stations, distances, is_loop) in raw_lines.items():
        ours = lines.loc[name]
        ours_stations = ours["stations"].split(";")
        ours_distances = [float(d) for d in ours["distances_m"].split(";")]
        assert bool(ours["is_loop"]) == is_loop
        if name == "大兴机场线":  # the airport terminal lies outside Beijing and was dropped
            assert stations[0] == "大兴机场" and ours_stations == stations[1:]
            assert ours_distances == distances[1:]
        else:
            assert ours_stations == stations, name
            assert ours_distances == distances, name
        assert ours["length_m_official"] == pytest.approx(sum(ours_distances))


def test_line_1_runs_from_pingguoyuan_through_sihuidong(bundle):
    line1 = bundle["subway_lines"].set_index("line_id").loc["L1"]
    stations = line1["stations"].split(";")
    assert stations[0] == "苹果园"
    assert "四惠东" in stations
    assert line1["name"] == "1号线"
    assert not line1["is_loop"]


def test_every_hop_has_a_ride_link_with_the_official_distance(bundle):
    lines, links = bundle["subway_lines"], bundle["subway_links"]
    rides = links[links["kind"] == "ride"]
    ride_distance = {
        (a, b, line): d
        for a, b, line, d in zip(rides["from_station"], rides["to_station"], rides["line_id"], rides["distance_m"])
    }
    expected_rides = 0
    for line_id, sequence, distances, is_loop in zip(
        lines["line_id"], lines["stations"], lines["distances_m"], lines["is_loop"]
    ):
        members = sequence.split(";")
        hops = list(itertools.pairwise(members)) + ([(members[-1], members[0])] if is_loop else [])
        for (a, b), distance in zip(hops, distances.split(";")):
            assert ride_distance[(a, b, line_id)] == float(distance)
        expected_rides += len(hops)
    assert len(rides) == expected_rides
    assert (rides["walk_seconds"] == 0).all()
    # the loop-closing hop of line 2: 积水潭 -> 西直门, 1,899 m (raw line2.json5)
    assert ride_distance[("积水潭", "西直门", "L2")] == 1899.0


def test_transfers_between_all_lines_at_a_station(bundle):
    stations, links = bundle["subway_stations"], bundle["subway_links"]
    transfers = links[links["kind"] == "transfer"]
    assert (transfers["line_id"] == "").all()
    assert np.isfinite(transfers["walk_seconds"]).all() and (transfers["walk_seconds"] >= 0).all()
    assert (transfers["distance_m"] >= 0).all()
    own = transfers[transfers["from_station"] == transfers["to_station"]]
    pairs = set(zip(own["from_station"], own["from_line"], own["to_line"]))
    expected = {
        (station, a, b)
        for station, listed in zip(stations["station_id"], stations["lines"])
        for a in listed.split(";")
        for b in listed.split(";")
        if a != b
    }
    assert pairs == expected
    assert len(own) == len(expected)


def test_transfer_times_come_from_the_metadata(bundle):
    links = bundle["subway_links"]
    transfers = links[links["kind"] == "transfer"].set_index(["from_station", "to_station", "from_line", "to_line"])
    # metadata.json5: 西单 1号线 -> 4号线, 3.5 minutes, 170 m
    assert transfers.loc[("西单", "西单", "L1", "L4"), "walk_seconds"] == 210.0
    assert transfers.loc[("西单", "西单", "L1", "L4"), "distance_m"] == 170.0
    # 复兴门 1号线 -> 2号线: the all-day entry (3.5 min), not the off-peak one (1 min)
    assert transfers.loc[("复兴门", "复兴门", "L1", "L2"), "walk_seconds"] == 210.0
    # 花庄 lists only 1号线 -> 7号线 (1 min, 20 m): the reverse direction takes the same
    assert transfers.loc[("花庄", "花庄", "L7", "L1"), "walk_seconds"] == 60.0
    # out-of-station transfer between the two 木樨地 stations: 8 minutes, both directions
    assert transfers.loc[("木樨地(1号线)", "木樨地(16号线)", "L1", "L16"), "walk_seconds"] == 480.0
    assert transfers.loc[("木樨地(16号线)", "木樨地(1号线)", "L16", "L1"), "walk_seconds"] == 480.0


def test_same_named_stations_on_different_lines_stay_apart(bundle):
    stations = bundle["subway_stations"].set_index("station_id").to_crs(METRIC)
    for a, b in [("木樨地(1号线)", "木樨地(16号线)"), ("大钟寺(12号线)", "大钟寺(13号线)")]:
        assert stations.loc[a, "lines"] != stations.loc[b, "lines"]
        assert stations.geometry[a].distance(stations.geometry[b]) > 50
    # the map places 木樨地 of line 16 west of the one of line 1
    assert stations.geometry["木樨地(16号线)"].x < stations.geometry["木樨地(1号线)"].x


def test_stations_positions_are_labelled(bundle):
    stations = bundle["subway_stations"]
    assert set(stations["coord_source"]) == {"osm", "map_affine"}
    assert (stations["position_accuracy_m"] > 0).all()
    assert (stations["coord_source"] == "osm").sum() > 300
    # stations north of the OSM query box (40.1 N) can only come from the map fit
    north = stations[stations.geometry.y > 40.12]
    assert len(north) > 0 and (north["coord_source"] == "map_affine").all()
    # the line-file station count (425) minus the dropped airport terminal
    assert len(stations) == 424


def test_stations_and_malls_inside_the_districts(bundle):
    area = shapely.union_all(bundle["districts"].geometry.to_numpy())
    assert shapely.covers(area, bundle["subway_stations"].geometry.to_numpy()).all()
    assert shapely.covers(area, bundle["malls"].geometry.to_numpy()).all()
    assert "大兴机场" not in set(bundle["subway_stations"]["station_id"])
    airport_line = bundle["subway_lines"].set_index("line_id").loc["DAXING_AIRPORT", "stations"].split(";")
    assert airport_line == ["大兴新城", "草桥"]


def test_stations_near_their_counterpart_on_the_line_geometry(bundle):
    lines = bundle["subway_lines"].set_index("line_id")
    stations = bundle["subway_stations"].set_index("station_id")
    for line_id in ("L1", "L2"):
        coords = shapely.get_coordinates(lines.geometry[line_id])
        members = lines.loc[line_id, "stations"].split(";")
        expected = shapely.get_coordinates(stations.geometry.loc[members].to_numpy())
        if lines.loc[line_id, "is_loop"]:
            expected = np.vstack([expected, expected[:1]])
        assert np.allclose(coords, expected)


# --- malls --------------------------------------------------------------------------


def test_malls_sit_at_a_station(bundle):
    malls, stations = bundle["malls"], bundle["subway_stations"]
    raw = pd.read_csv(RAW / "malls_curated.csv")
    assert len(malls) == len(raw) == 34
    assert (malls["attractiveness"] > 0).all()
    assert (malls["position_accuracy_m"] == 1000).all()
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    for point in malls.geometry:
        assert _haversine_m(point.x, point.y, sx, sy).min() <= 1000
    assert set(malls["nearest_station"]) <= set(stations["station_id"])
    assert set(malls["zone_id"]) <= set(bundle["districts"]["zone_id"])
    by_class = malls.groupby("size_class")["attractiveness"].first()
    assert by_class["community"] < by_class["regional"] < by_class["super_regional"]
    assert malls.set_index("mall_id").loc["BJ-M11", "name"] == "合生汇"


# --- sources ------------------------------------------------------------------------


def test_sources_describe_every_data_layer(bundle):
    sources = bundle["sources"]
    assert set(sources["layer"]) == set(REQUIRED) - {"sources"}
    assert sources["build_date"].nunique() == 1
    assert sources["licence"].str.contains("OpenStreetMap").any()
    malls = sources.set_index("layer").loc["malls"]
    assert "nearest subway station" in malls["crs_note"] + malls["source"] + malls["method"]
    assert "MODELLED" in sources.set_index("layer").loc["population_cells", "method"]


# --- the build script -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=5_000_000),
    weights=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=40),
)
def test_largest_remainder_sums_exactly_and_stays_within_one_of_the_quota(total, weights):
    build_module = _load_build_module()
    weights = np.array(weights)
    if weights.sum() == 0:
        weights = weights + 1.0
    shares = build_module.largest_remainder(total, weights)
    assert shares.sum() == total
    quotas = total * weights / weights.sum()
    assert np.all(np.abs(shares - quotas) < 1.0 + 1e-9)


def test_station_name_normalisation():
    build_module = _load_build_module()
    normalise = build_module.normalise_station_name
    assert normalise("木樨地(1号线)") == "木樨地"
    assert normalise("军事博物馆（9号线）") == "军事博物馆"
    assert normalise("苹果园 (封闭改造中)") == "苹果园"
    assert normalise("北京南站") == normalise("北京南")
    assert normalise(" 苹果园 ") == "苹果园"


@pytest.mark.slow
def test_rebuild_is_deterministic_and_matches_the_committed_bundle(tmp_path):
    build_module = _load_build_module()
    first, second = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    build_module.build(first)
    build_module.build(second)
    layers_first, layers_second = _read_all(first), _read_all(second)
    committed = _read_all(BUNDLE)
    for layer in REQUIRED:
        pd.testing.assert_frame_equal(
            _plain(layers_first[layer]), _plain(layers_second[layer]), check_exact=True, obj=layer
        )
        pd.testing.assert_frame_equal(
            _plain(layers_first[layer]), _plain(committed[layer]), check_exact=True, obj=f"committed {layer}"
        )


def test_missing_or_inconsistent_raw_input_raises_a_one_line_city_error(tmp_path):
    from simulator.config.errors import CityError

    build_module = _load_build_module()
    raw = tmp_path / "raw"
    raw.mkdir()
    census = (RAW / "population_census2020_districts.csv").read_text(encoding="utf-8")
    with pytest.raises(CityError, match=r"^population_census2020_districts\.csv: raw input file missing"):
        build_module.build(tmp_path / "x.gpkg", raw_dir=raw)
    (raw / "population_census2020_districts.csv").write_text(census.replace("708829", "708828"), encoding="utf-8")
    with pytest.raises(CityError, match=r"column 'pop_2020_census' sums to 21893094") as caught:
        build_module.build(tmp_path / "x.gpkg", raw_dir=raw)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "x.gpkg").exists()


def test_only_terminals_outside_the_city_are_trimmed():
    from simulator.config.errors import CityError

    build_module = _load_build_module()
    line = build_module.RawLine(
        line_id="T",
        name="T线",
        name_en="Line T",
        color="#000000",
        is_loop=False,
        stations=("A", "B", "C", "D"),
        distances_m=(100.0, 200.0, 300.0),
        station_aliases={},
        source_file="t.json5",
    )
    trimmed, dropped = build_module.trim_lines_to_area([line], {"A": False, "B": True, "C": True, "D": False})
    assert trimmed[0].stations == ("B", "C") and trimmed[0].distances_m == (200.0,)
    assert sorted(dropped) == ["A", "D"]
    with pytest.raises(CityError, match="'C' lies outside the districts and is not a terminal"):
        build_module.trim_lines_to_area([line], {"A": True, "B": True, "C": False, "D": True})

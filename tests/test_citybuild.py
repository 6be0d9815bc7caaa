"""Building a city bundle from OpenStreetMap and a population layer (``footprint city build``).

Most tests use the real Helsinki fixture in ``tests/data/helsinki`` (see its ATTRIBUTION.md):
92 population cells of 250 m holding 71,724 residents (HSY, CC BY 4.0) and an
OpenStreetMap extract of the centre that overlaps the grid only in part and contains
broken multipolygons (rings of two points).
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from typer.testing import CliRunner

from simulator.city.build import (
    build_city_bundle,
    model_jobs,
    parse_other_tags,
    salvage_wkb,
)
from simulator.city.bundle import load_city
from simulator.city.validation import validate_bundle
from simulator.cli import app
from simulator.config.errors import CityError, FootprintError
from simulator.config.scenario import parse_scenario
from simulator.experiments.run import run

DATA = Path(__file__).resolve().parent / "data" / "helsinki"
PBF = DATA / "helsinki_center.osm.pbf"
GRID = DATA / "helsinki_population_grid_2020.gpkg"
BUILD_DATE = "2026-01-01"
GRID_CELLS, GRID_RESIDENTS = 92, 71_724  # as documented by the source (geodata SOURCES.md)
BUNDLE_LAYERS = (
    "districts",
    "population_cells",
    "subway_stations",
    "subway_lines",
    "subway_links",
    "malls",
    "street_sites",
    "sources",
)


def build(tmp_path: Path, name: str = "helsinki", population: Path = GRID, **options):
    """Build into ``tmp_path/<name>.gpkg`` with a fixed build date; returns (report, path)."""
    out = tmp_path / f"{name}.gpkg"
    report = build_city_bundle(
        name, options.pop("osm", PBF), population, out_path=out, build_date=BUILD_DATE, **options
    )
    return report, out


def write_layer(frame: gpd.GeoDataFrame, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided"
        pyogrio.write_dataframe(frame, path, driver="GPKG")
    return path


def empty_pbf(path: Path) -> Path:
    """A valid .osm.pbf with a header and no data, encoded by hand (protobuf wire format).

    File = [4-byte length][BlobHeader][Blob]; BlobHeader {1: type "OSMHeader", 3: datasize};
    Blob {1: raw HeaderBlock, 2: raw_size}; HeaderBlock {4: required_features...}.
    """

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def text(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def integer(number: int, value: int) -> bytes:
        return varint(number << 3) + varint(value)

    header_block = text(4, b"OsmSchema-V0.6") + text(4, b"DenseNodes")
    blob = text(1, header_block) + integer(2, len(header_block))
    blob_header = text(1, b"OSMHeader") + integer(3, len(blob))
    path.write_bytes(struct.pack(">I", len(blob_header)) + blob_header + blob)
    return path


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """The Helsinki bundle built once: (report, path)."""
    return build(tmp_path_factory.mktemp("helsinki"), population_licence="CC BY 4.0 (HSY)")


# --------------------------------------------------------------------------------------
# the Helsinki build
# --------------------------------------------------------------------------------------


def test_helsinki_bundle_is_valid_and_complete(helsinki):
    report, path = helsinki
    validate_bundle(path)
    assert {str(name) for name, _ in pyogrio.list_layers(path)} == set(BUNDLE_LAYERS)
    for layer in BUNDLE_LAYERS:
        if pyogrio.read_info(path, layer=layer)["geometry_type"] is not None:
            assert pyogrio.read_info(path, layer=layer)["crs"] == "EPSG:4326", layer
    city = load_city(path)
    assert city.name == "helsinki"
    assert city.crs == "EPSG:32635"  # UTM 35N: Helsinki lies at 24.9 E
    # every input cell is kept with its residents; zones hold exactly the cells' residents
    cells = pyogrio.read_dataframe(path, layer="population_cells")
    inhabited = cells[~cells["filled"]]
    assert len(inhabited) == GRID_CELLS
    assert inhabited["population"].sum() == GRID_RESIDENTS
    assert cells.loc[cells["filled"], "population"].eq(0).all()
    assert city.population_total == GRID_RESIDENTS
    assert city.cell_population.sum() == GRID_RESIDENTS
    assert cells["population"].dtype == np.int64 and cells["jobs"].dtype == np.float64
    assert report.population_kept == report.population_found == GRID_RESIDENTS
    # zones: a few squares of the automatic size, each the union of its cells
    districts = pyogrio.read_dataframe(path, layer="districts")
    assert 2 <= len(districts) <= 30
    per_zone = cells.groupby("zone_id")["population"].sum()
    assert (districts.set_index("zone_id")["population"] == per_zone.reindex(districts["zone_id"])).all()


def test_helsinki_report_counts_broken_geometry_and_what_was_dropped(helsinki):
    report, _ = helsinki
    areas = report.counts["OSM areas"]
    assert areas.found > 1000
    assert areas.repaired + areas.skipped >= 1  # the broken multipolygons
    assert areas.skipped >= 1  # a ring of two points cannot be repaired
    assert areas.kept == areas.found - areas.skipped
    shops = report.counts["shops"]
    assert shops.found > 400  # "about 500 shops"
    assert shops.found == shops.skipped + shops.outside + shops.dropped + shops.kept
    assert shops.outside > 0  # the extract reaches north of the population grid
    assert any("covers" in note for note in report.notes)  # the partial overlap is reported


def test_helsinki_malls_and_street_sites(helsinki):
    _, path = helsinki
    malls = pyogrio.read_dataframe(path, layer="malls")
    names = set(malls["name"])
    assert {"Stockmann", "Forum"} <= names  # a department store and a mall of the centre
    assert set(malls["kind"]) == {"mall", "department_store"}
    assert (malls["attractiveness"] > 0).all()
    with_area = malls["area_m2"].notna()
    expected = np.clip(malls.loc[with_area, "area_m2"] / malls.loc[with_area, "area_m2"].median(), 0.5, 10)
    np.testing.assert_allclose(malls.loc[with_area, "attractiveness"], expected, rtol=1e-4)  # area_m2 is rounded
    assert (malls.loc[~with_area, "attractiveness"] == 1.0).all()
    # the footprint area agrees with Stockmann's polygon read independently from the extract
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        polygons = pyogrio.read_dataframe(PBF, layer="multipolygons", where="name = 'Stockmann'", on_invalid="ignore")
    stockmann = polygons.to_crs("EPSG:32635").area.max()
    assert malls.loc[malls["name"] == "Stockmann", "area_m2"].iloc[0] == pytest.approx(stockmann, rel=0.01)

    sites = pyogrio.read_dataframe(path, layer="street_sites")
    assert len(sites) >= 3
    assert (sites["shops"] >= 10).all()
    order = np.argsort(-sites["shops"].to_numpy(), kind="stable")
    assert (np.diff(sites["attractiveness"].to_numpy()[order]) <= 0).all()  # more shops, more attractive
    assert sites["site_id"].is_unique and sites["name"].is_unique


def test_helsinki_transit_is_a_valid_network_or_absent(helsinki):
    _, path = helsinki
    city = load_city(path)
    stations = pyogrio.read_dataframe(path, layer="subway_stations")
    lines = pyogrio.read_dataframe(path, layer="subway_lines")
    # The metro (M1/M2) runs Rautatientori - Helsingin yliopisto in the extract; both stations are in the city.
    assert set(stations["name"]) == {"Rautatientori", "Helsingin yliopisto"}
    assert len(lines) == 1 and set(lines["name"].iloc[0].split("/")) == {"M1", "M2"}
    hop = float(lines["distances_m"].iloc[0])
    straight = shapely.distance(*gpd.GeoSeries(stations.geometry).to_crs("EPSG:32635"))
    assert straight <= hop <= 1.5 * straight  # along the track, not much longer than the straight line
    assert city.station_graph.nnz == 2


def test_jobs_follow_workplaces(helsinki):
    _, path = helsinki
    cells = pyogrio.read_dataframe(path, layer="population_cells")
    assert (cells["jobs"] == np.round(cells["jobs"])).all() and (cells["jobs"] >= 0).all()
    assert cells["jobs"].sum() == pytest.approx(0.5 * GRID_RESIDENTS, abs=1)
    malls = pyogrio.read_dataframe(path, layer="malls")
    stockmann = malls.loc[malls["name"] == "Stockmann", "geometry"].iloc[0]
    home = cells[cells.geometry.intersects(stockmann)].iloc[0]
    city_rate = cells["jobs"].sum() / cells["population"].sum()
    assert home["jobs"] / max(home["population"], 1) > 2 * city_rate  # the shopping core is a job centre


def test_scenario_runs_end_to_end_on_the_built_city(helsinki):
    _, path = helsinki
    scenario = parse_scenario(
        {
            "name": "helsinki_small",
            "seed": 7,
            "city": {"bundle": str(path)},
            "population": {"consumers": 2000},
            "plan": {
                "stores": [
                    {"id": "forum", "mall": "Forum"},
                    {"id": "esplanadi", "lon": 24.9450, "lat": 60.1685, "format": "street"},
                ]
            },
            "horizon": {"days": 30},
        },
        "helsinki_small.toml",
    )
    result = run(scenario)
    assert len(result.daily) == 30
    assert result.daily["sightings"].sum() > 0
    per_store = result.stores.groupby("store_id")["sightings"].sum()
    assert (per_store > 0).all()
    assert result.daily["share_aware"].iloc[-1] > 0
    assert set(result.plan["zone_id"]) <= set(load_city(path).zone_ids)


# --------------------------------------------------------------------------------------
# other inputs
# --------------------------------------------------------------------------------------


def test_population_in_another_crs_gives_the_same_bundle(tmp_path, helsinki):
    _, reference = helsinki
    finnish = write_layer(gpd.read_file(GRID).to_crs("EPSG:3067"), tmp_path / "grid_3067.gpkg")
    report, path = build(tmp_path, "helsinki", population=finnish, population_licence="CC BY 4.0 (HSY)")
    assert report.population_crs.startswith("EPSG:3067")
    for layer in BUNDLE_LAYERS:
        expected = pyogrio.read_dataframe(reference, layer=layer)
        got = pyogrio.read_dataframe(path, layer=layer)
        # the sources name the population file and its CRS: those two columns differ, as they should
        columns = [c for c in expected.columns if c not in ("geometry", "crs_note", "source")]
        pd.testing.assert_frame_equal(pd.DataFrame(got[columns]), pd.DataFrame(expected[columns]), obj=layer)
        if "geometry" in expected.columns and len(expected):
            gap = shapely.hausdorff_distance(got.geometry.to_numpy(), expected.geometry.to_numpy())
            assert gap.max() < 1e-6, layer  # degrees: about 0.1 m


def test_population_points_become_grid_cells(tmp_path):
    grid = gpd.read_file(GRID)
    points = grid.copy()
    points["geometry"] = grid.to_crs("EPSG:3067").centroid.to_crs("EPSG:4326")
    report, path = build(tmp_path, "from_points", population=write_layer(points, tmp_path / "points.gpkg"))
    cells = pyogrio.read_dataframe(path, layer="population_cells").to_crs("EPSG:32635")
    inhabited = cells[~cells["filled"]]
    assert len(inhabited) == GRID_CELLS and inhabited["population"].sum() == GRID_RESIDENTS
    assert np.median(inhabited.area) == pytest.approx(250.0**2, rel=0.01)  # spacing inferred: 250 m
    assert any("250 m grid cells" in note for note in report.notes)


def test_boundary_drops_and_counts_what_lies_outside_and_zones_follow_it(tmp_path):
    west = shapely.box(24.925, 60.158, 24.9405, 60.1712)
    east = shapely.box(24.9405, 60.158, 24.9555, 60.1712)
    boundary = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[west, east], crs="EPSG:4326")
    boundary_path = write_layer(boundary.to_crs("EPSG:3067"), tmp_path / "boundary.gpkg")
    grid = gpd.read_file(GRID)
    centres = grid.to_crs("EPSG:32635").centroid.to_crs("EPSG:4326")
    area = shapely.union_all([west, east])
    # no cell centre lies within a few metres of the boundary: the expected split is unambiguous
    assert (
        gpd.GeoSeries(centres)
        .to_crs("EPSG:32635")
        .distance(gpd.GeoSeries([area.boundary], crs="EPSG:4326").to_crs("EPSG:32635").iloc[0])
        > 5
    ).all()
    inside = centres.within(area).to_numpy()
    assert 0 < inside.sum() < GRID_CELLS

    report, path = build(tmp_path, "centre", boundary_path=boundary_path)
    assert report.counts["population"].kept == inside.sum()
    assert report.counts["population"].outside == GRID_CELLS - inside.sum()
    assert report.population_kept == grid.loc[inside, "population"].sum()
    districts = pyogrio.read_dataframe(path, layer="districts")
    assert sorted(districts["name"]) == ["East", "West"]
    assert districts["population"].sum() == grid.loc[inside, "population"].sum()
    assert report.counts["shops"].outside > 0
    # Helsingin yliopisto (60.1728 N) is cut off: one metro station cannot make a line, so no transit
    assert report.counts["stations"].kept == 0 and report.counts["lines"].kept == 0
    for layer, columns in (
        ("subway_stations", {"station_id", "name", "name_en", "lines"}),
        ("subway_lines", {"line_id", "name", "name_en", "is_loop", "stations", "distances_m"}),
        ("subway_links", {"from_station", "to_station", "line_id", "kind", "distance_m", "walk_seconds"}),
    ):
        frame = pyogrio.read_dataframe(path, layer=layer)
        assert len(frame) == 0 and columns <= set(frame.columns), layer
    city = load_city(path)
    assert city.station_ids.size == 0
    scenario = parse_scenario(
        {
            "name": "no_transit",
            "seed": 1,
            "city": {"bundle": str(path)},
            "population": {"consumers": 500},
            "plan": {"stores": [{"id": "a", "mall": "Stockmann"}]},
            "horizon": {"days": 10},
        },
        "no_transit.toml",
    )
    assert run(scenario).daily["sightings"].sum() > 0


def test_fractional_population_is_rounded_keeping_the_total(tmp_path):
    grid = gpd.read_file(GRID)
    grid["population"] = grid["population"] * 1.37
    _report, path = build(tmp_path, "rounded", population=write_layer(grid, tmp_path / "fractional.gpkg"))
    cells = pyogrio.read_dataframe(path, layer="population_cells")
    assert cells["population"].sum() == round(GRID_RESIDENTS * 1.37)
    assert (np.abs(cells.loc[~cells["filled"], "population"].to_numpy() - grid["population"].to_numpy()) < 1).all()


def osm_xml(path: Path, nodes: dict, ways: dict, relations: dict) -> Path:
    """Write an OpenStreetMap XML file (GDAL's OSM driver reads .osm as well as .osm.pbf)."""

    def tags(values: dict) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in values.items())

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (lon, lat, values) in nodes.items():
        lines.append(f'<node id="{node_id}" version="1" lon="{lon}" lat="{lat}">{tags(values)}</node>')
    for way_id, (refs, values) in ways.items():
        members = "".join(f'<nd ref="{ref}"/>' for ref in refs)
        lines.append(f'<way id="{way_id}" version="1">{members}{tags(values)}</way>')
    for relation_id, (refs, values) in relations.items():
        members = "".join(f'<member type="{kind}" ref="{ref}" role=""/>' for kind, ref in refs)
        lines.append(f'<relation id="{relation_id}" version="1">{members}{tags(values)}</relation>')
    path.write_text("\n".join([*lines, "</osm>"]), encoding="utf-8")
    return path


def test_transit_lines_from_route_relations(tmp_path):
    """A synthetic network over the Helsinki grid: two metro lines joined by a walk, an isolated train line.

    Metro A runs west-east along 60.160 N with stations 30 m off the track, listed out of order
    and served by two route relations (both directions); metro B runs north from 60.162 N; A3 and
    B1 are 262 m apart. The train line T (2 stations) touches neither. A train station next to
    metro A's track must not become a metro stop; a subway station far from any track and a bus
    station are dropped.
    """
    subway = {"railway": "station", "station": "subway", "public_transport": "station"}
    nodes = {
        11: (24.940, 60.1602, {**subway, "name": "A3"}),
        12: (24.915, 60.1602, {**subway, "name": "A1"}),
        13: (24.925, 60.1602, {**subway, "name": "A2"}),
        21: (24.9375, 60.1622, {**subway, "name": "B1"}),
        22: (24.9375, 60.1700, {**subway, "name": "B2"}),
        23: (24.9377, 60.1740, {**subway, "name": "B3"}),
        31: (24.950, 60.1700, {"railway": "station", "name": "T1"}),
        32: (24.955, 60.1720, {"railway": "station", "name": "T2"}),
        41: (24.920, 60.1700, {**subway, "name": "Lonely"}),
        42: (24.920, 60.1603, {"railway": "station", "name": "Train by A"}),
        43: (24.930, 60.1650, {"amenity": "bus_station", "public_transport": "station", "bus": "yes"}),
    }
    track_a = {100 + k: (lon, 60.160, {}) for k, lon in enumerate([24.910, 24.920, 24.930, 24.940, 24.945])}
    track_b = {200 + k: (24.9375, lat, {}) for k, lat in enumerate([60.162, 60.168, 60.175])}
    track_t = {300: (24.948, 60.169, {}), 301: (24.957, 60.173, {})}
    ways = {
        1000: (list(track_a), {"railway": "subway"}),
        2000: (list(track_b), {"railway": "subway"}),
        3000: (list(track_t), {"railway": "rail"}),
    }
    relations = {
        5001: ([("way", 1000)], {"type": "route", "route": "subway", "ref": "A", "colour": "#FF6319"}),
        5002: ([("way", 1000)], {"type": "route", "route": "subway", "ref": "A"}),
        5003: ([("way", 2000)], {"type": "route", "route": "subway", "ref": "B"}),
        5004: ([("way", 3000)], {"type": "route", "route": "train", "ref": "T"}),
    }
    extract = osm_xml(tmp_path / "network.osm", {**nodes, **track_a, **track_b, **track_t}, ways, relations)
    box = gpd.GeoDataFrame(geometry=[shapely.box(24.905, 60.154, 24.959, 60.177)], crs="EPSG:4326")
    report, path = build(tmp_path, "network", osm=extract, boundary_path=write_layer(box, tmp_path / "box.gpkg"))

    lines = pyogrio.read_dataframe(path, layer="subway_lines").set_index("name")
    stations = pyogrio.read_dataframe(path, layer="subway_stations").set_index("station_id")
    names = stations["name"].to_dict()
    assert sorted(lines.index) == ["A", "B"]
    assert [names[s] for s in lines.loc["A", "stations"].split(";")] == ["A1", "A2", "A3"]
    assert [names[s] for s in lines.loc["B", "stations"].split(";")] == ["B1", "B2", "B3"]
    assert lines.loc["A", "color"] == "#FF6319"
    # along the track: 0.010 and 0.015 degrees of longitude at 60.160 N (55.46 km per degree)
    np.testing.assert_allclose([float(d) for d in lines.loc["A", "distances_m"].split(";")], [555, 832], atol=3)
    assert set(names.values()) == {"A1", "A2", "A3", "B1", "B2", "B3"}
    links = pyogrio.read_dataframe(path, layer="subway_links")
    transfers = links[links["kind"] == "transfer"]
    assert {
        tuple(sorted((names[a], names[b]))) for a, b in zip(transfers["from_station"], transfers["to_station"])
    } == {("A3", "B1")}
    assert transfers["walk_seconds"].iloc[0] == pytest.approx(transfers["distance_m"].iloc[0] / 1.2, rel=1e-3)
    assert report.counts["stations"].found == 11 and report.counts["stations"].dropped == 5
    assert report.counts["lines"].found == 4 and report.counts["lines"].kept == 2
    assert any("largest connected network" in note for note in report.notes)
    city = load_city(path)
    assert city.platform_station.size == 6 and city.mall_ids.size == 0  # a city without malls is valid too


# --------------------------------------------------------------------------------------
# errors: one line, naming the file
# --------------------------------------------------------------------------------------


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_population_column(tmp_path):
    with pytest.raises(CityError) as error:
        build(tmp_path, population_column="asukkaat")
    assert_one_line(error, GRID.name, "'asukkaat' not found", "population")
    assert not (tmp_path / "helsinki.gpkg").exists()


def test_population_column_cannot_be_guessed(tmp_path):
    grid = gpd.read_file(GRID).rename(columns={"population": "count_2020"})
    with pytest.raises(CityError) as error:
        build(tmp_path, population=write_layer(grid, tmp_path / "unnamed.gpkg"))
    assert_one_line(error, "unnamed.gpkg", "no population column", "count_2020", "--population-column")
    grid = gpd.read_file(GRID)
    grid["pop2019"] = grid["population"] - 1
    with pytest.raises(CityError) as error:
        build(tmp_path, population=write_layer(grid, tmp_path / "two.gpkg"))
    assert_one_line(error, "two.gpkg", "ambiguous", "population", "pop2019")


def test_empty_extract(tmp_path):
    with pytest.raises(CityError) as error:
        build(tmp_path, osm=empty_pbf(tmp_path / "empty.osm.pbf"))
    assert_one_line(error, "empty.osm.pbf", "no features")
    assert not (tmp_path / "helsinki.gpkg").exists()


def test_extract_of_another_place(tmp_path):
    grid = gpd.read_file(GRID)
    grid["geometry"] = grid.geometry.translate(xoff=0.5)  # 28 km east: no OSM feature there
    with pytest.raises(CityError) as error:
        build(tmp_path, population=write_layer(grid, tmp_path / "elsewhere.gpkg"))
    assert_one_line(error, PBF.name, "elsewhere.gpkg", "none of the extract's features")


def test_population_layer_without_crs(tmp_path):
    grid = gpd.read_file(GRID).set_crs(None, allow_override=True)
    with pytest.raises(CityError) as error:
        build(tmp_path, population=write_layer(grid, tmp_path / "no_crs.gpkg"))
    assert_one_line(error, "no_crs.gpkg", "no CRS")


def test_existing_output_is_not_overwritten(tmp_path):
    target = tmp_path / "helsinki.gpkg"
    target.write_bytes(b"keep me")
    with pytest.raises(CityError) as error:
        build(tmp_path)
    assert_one_line(error, "file exists", "--overwrite")
    assert target.read_bytes() == b"keep me"


# --------------------------------------------------------------------------------------
# pieces
# --------------------------------------------------------------------------------------


def _wkb_polygon(rings: list[list[tuple[float, float]]]) -> bytes:
    body = struct.pack("<BII", 1, 3, len(rings))
    for ring in rings:
        body += struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", *point) for point in ring)
    return body


def test_salvage_drops_degenerate_rings_and_closes_open_ones():
    square_open = [(0, 0), (1, 0), (1, 1), (0, 1)]  # the closing point is missing
    two_points = [(5, 5), (6, 6)]
    multipolygon = struct.pack("<BII", 1, 6, 2) + _wkb_polygon([square_open]) + _wkb_polygon([two_points])
    with pytest.raises(shapely.errors.GEOSException):
        shapely.from_wkb(multipolygon)
    geometry, changed = salvage_wkb(multipolygon)
    assert changed
    assert geometry.equals(shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]))
    only_broken = struct.pack("<BII", 1, 6, 1) + _wkb_polygon([two_points])
    assert salvage_wkb(only_broken) == (None, True)
    assert salvage_wkb(b"\x01\x02") == (None, True)


def test_parse_other_tags():
    text = '"name"=>"Caf\\"e \\\\ Bar","shop"=>"bakery","addr:street"=>"Aleksanterinkatu"'
    assert parse_other_tags(text) == {"name": 'Caf"e \\ Bar', "shop": "bakery", "addr:street": "Aleksanterinkatu"}
    assert parse_other_tags(None) == {}


def test_model_jobs_rule():
    # weights 0.3 * residents share + 0.7 * workplaces share = [0.15, 0.5, 0.35] of 0.5 * 200 jobs
    jobs, _ = model_jobs(np.array([100, 100, 0]), np.array([0, 10, 10]), np.array([True, True, True]))
    np.testing.assert_array_equal(jobs, [15.0, 50.0, 35.0])
    # a cell the extract does not cover gets the covered cells' workplaces per resident
    jobs, note = model_jobs(np.array([100, 100]), np.array([10, 0]), np.array([True, False]))
    np.testing.assert_array_equal(jobs, [50.0, 50.0])
    assert "outside the extract" in note
    jobs, note = model_jobs(np.array([30, 10]), np.zeros(2), np.ones(2, dtype=bool))
    np.testing.assert_array_equal(jobs, [15.0, 5.0])
    assert "follow residents" in note


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_builds_a_bundle_and_prints_the_report(tmp_path):
    out = tmp_path / "hki.gpkg"
    arguments = [
        "city",
        "build",
        "--name",
        "hki",
        "--osm",
        str(PBF),
        "--population",
        str(GRID),
        "--out",
        str(out),
        "--build-date",
        BUILD_DATE,
    ]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    for fragment in ("found", "repaired", "skipped", "outside", "malls", "street sites", "71,724", "hki.gpkg"):
        assert fragment in result.output, fragment
    validate_bundle(out)
    again = runner.invoke(app, arguments)
    assert again.exit_code == 1 and "file exists" in again.output
    assert runner.invoke(app, [*arguments, "--overwrite"]).exit_code == 0


def test_cli_error_is_one_line_and_leaves_no_file(tmp_path):
    out = tmp_path / "bad.gpkg"
    result = runner.invoke(
        app,
        [
            "city",
            "build",
            "--name",
            "bad",
            "--osm",
            str(PBF),
            "--population",
            str(GRID),
            "--population-column",
            "asukkaat",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert GRID.name in lines[0] and "asukkaat" in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert issubclass(CityError, FootprintError)

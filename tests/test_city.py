"""City layer: loading, projection, transit graphs, look-ups, validation, maps."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from cityfixtures import (
    CELL_M,
    HEIGHT_M,
    LINE_PAIR_TRANSFER_SECONDS,
    LINES,
    MALLS,
    ORIGIN_UTM50N,
    STATIONS,
    TRANSFER_WALK_SECONDS,
    WIDTH_M,
    cell_population,
    tiny_city_frames,
    write_tiny_city,
)
from scipy.sparse.csgraph import dijkstra

import simulator.city.bundle as city_module
from simulator.city.bundle import BUNDLE_DIR, load_city
from simulator.city.frames import cell_frame, line_frame, mall_frame, station_frame, zone_frame
from simulator.city.names import normalise_name
from simulator.city.projection import utm_epsg
from simulator.city.transit_graphs import TRANSFER_METRES_PER_SECOND, shortest_ride_distance
from simulator.city.validation import validate_bundle
from simulator.config.errors import CityError, FootprintError, PlanError
from simulator.reports.city_map import MAP_WIDTH_PX, format_city_summary, render_city_map


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


# ---------------------------------------------------------------------------------------
# Tiny city: arrays and projection
# ---------------------------------------------------------------------------------------


def test_tiny_city_array_shapes(tiny_city):
    city = tiny_city
    n_cells = int(WIDTH_M // CELL_M) * int(HEIGHT_M // CELL_M)
    assert city.zone_ids.shape == city.zone_names.shape == city.zone_population.shape == (2,)
    assert city.cell_xy.shape == (n_cells, 2) and city.cell_xy.dtype == np.float64
    for array in (city.cell_ids, city.cell_population, city.cell_jobs, city.cell_zone, city.cell_half_size):
        assert array.shape == (n_cells,)
    assert city.cell_zone.dtype == np.int64
    assert city.station_xy.shape == (len(STATIONS), 2)
    assert city.line_ids.shape == city.line_names.shape == (len(LINES),)
    # 9 stations, the crossing station has a platform on each of the 2 lines
    assert city.platform_station.shape == city.platform_line.shape == (len(STATIONS) + 1,)
    assert city.platform_graph.shape == (10, 10)
    assert city.station_graph.shape == (len(STATIONS), len(STATIONS))
    assert city.mall_xy.shape == (len(MALLS), 2)
    assert city.site_xy.shape == (2, 2) and city.site_attractiveness.shape == (2,)


def test_tiny_city_is_projected_to_utm_50n(tiny_city):
    assert tiny_city.crs == "EPSG:32650"
    # the fixture was laid out in UTM 50N metres: the round trip must give them back
    origin = np.array(ORIGIN_UTM50N)
    expected = np.array([[s[2], s[3]] for s in STATIONS.values()]) + origin
    np.testing.assert_allclose(tiny_city.station_xy, expected, atol=0.01)
    np.testing.assert_allclose(tiny_city.bounds, [*origin, origin[0] + WIDTH_M, origin[1] + HEIGHT_M], atol=0.01)
    np.testing.assert_allclose(tiny_city.cell_half_size, CELL_M / 2, atol=0.01)


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(116.4, 39.9, 32650), (2.35, 48.86, 32631), (-0.13, 51.5, 32630), (-46.6, -23.5, 32723), (151.2, -33.9, 32756)],
)
def test_utm_epsg(lon, lat, epsg):
    assert utm_epsg(lon, lat) == epsg


def test_populations_are_preserved(tiny_city):
    grid = [
        cell_population(ix * CELL_M + CELL_M / 2, iy * CELL_M + CELL_M / 2)
        for ix in range(int(WIDTH_M // CELL_M))
        for iy in range(int(HEIGHT_M // CELL_M))
    ]
    assert tiny_city.cell_population.sum() == sum(grid)
    assert tiny_city.population_total == sum(grid)  # districts hold the sums of their cells
    frames = tiny_city_frames()
    np.testing.assert_array_equal(tiny_city.zone_population, frames["districts"]["population"].to_numpy())
    np.testing.assert_array_equal(tiny_city.cell_jobs, frames["population_cells"]["jobs"].to_numpy())
    # every cell's zone: west half is Z01
    west = tiny_city.cell_xy[:, 0] < ORIGIN_UTM50N[0] + WIDTH_M / 2
    assert list(tiny_city.zone_ids[tiny_city.cell_zone[west]]) == ["Z01"] * int(west.sum())
    assert set(tiny_city.zone_ids[tiny_city.cell_zone[~west]]) == {"Z02"}
    # population of each zone equals the cells that point to it
    per_zone = np.bincount(tiny_city.cell_zone, weights=tiny_city.cell_population)
    np.testing.assert_array_equal(per_zone, tiny_city.zone_population)


def test_official_distances_are_sensible(tiny_city):
    """Each ride edge is at least the straight line between its stations and not far more."""
    graph = tiny_city.station_graph.tocoo()
    straight = np.linalg.norm(tiny_city.station_xy[graph.row] - tiny_city.station_xy[graph.col], axis=1)
    assert graph.nnz == 2 * 8  # 8 hops, both directions
    assert np.all(graph.data >= straight) and np.all(graph.data <= 1.1 * straight)
    assert (tiny_city.station_graph != tiny_city.station_graph.T).nnz == 0


def test_contains(tiny_city):
    x0, y0 = ORIGIN_UTM50N
    points = np.array([[x0 + 5000, y0 + 4000], [x0 + 100, y0 + 100], [x0 - 1000, y0 + 4000], [x0 + 5000, y0 + 9000]])
    np.testing.assert_array_equal(tiny_city.contains(points), [True, True, False, False])
    assert tiny_city.contains(tiny_city.cell_xy).all()


# ---------------------------------------------------------------------------------------
# Transit graphs
# ---------------------------------------------------------------------------------------


def test_platform_graph_prices_transfers_in_ride_metres(tiny_city):
    city = tiny_city
    hub = city.station_index("S3")
    hub_platforms = np.flatnonzero(city.platform_station == hub)
    assert hub_platforms.size == 2
    assert set(city.platform_line[hub_platforms]) == {0, 1}
    p, q = hub_platforms
    transfer = TRANSFER_WALK_SECONDS * TRANSFER_METRES_PER_SECOND
    assert city.platform_graph[p, q] == pytest.approx(transfer)
    assert city.platform_graph[q, p] == pytest.approx(transfer)
    # S1 (line 1) to S9 (line 2): ride 2100 + 2050, change, ride 1580 + 1620
    start = int(np.flatnonzero(city.platform_station == city.station_index("S1"))[0])
    end = int(np.flatnonzero(city.platform_station == city.station_index("S9"))[0])
    distance = dijkstra(city.platform_graph, indices=start)[end]
    assert distance == pytest.approx(2100 + 2050 + transfer + 1580 + 1620)


def test_transfers_named_by_line_are_directed(tmp_path):
    city = load_city(write_tiny_city(tmp_path / "pairs.gpkg", line_pair_transfers=True))
    hub = city.station_index("中心")
    platform = {
        city.line_ids[line]: p
        for p, line in zip(
            np.flatnonzero(city.platform_station == hub), city.platform_line[city.platform_station == hub]
        )
    }
    for line_a, line_b, seconds in LINE_PAIR_TRANSFER_SECONDS:
        weight = city.platform_graph[platform[line_a], platform[line_b]]
        assert weight == pytest.approx(seconds * TRANSFER_METRES_PER_SECOND)


def test_transfer_naming_a_line_that_misses_the_station_is_rejected(tmp_path):
    frames = tiny_city_frames(line_pair_transfers=True)
    links = frames["subway_links"]
    links.loc[links["kind"] == "transfer", "to_station"] = "S2"  # S2 is on L1 only
    path = tmp_path / "wrong.gpkg"
    for layer, frame in frames.items():
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    with pytest.raises(CityError, match=r"layer 'subway_links': column 'to_line' .* does not serve station 'S2'"):
        validate_bundle(path)


def test_shortest_ride_distance(tiny_city):
    for _line_id, (_, _, _, members, distances) in LINES.items():
        for a, b, official in zip(members[:-1], members[1:], distances):
            assert shortest_ride_distance(tiny_city, a, b) == pytest.approx(official)
        along = sum(distances)
        assert shortest_ride_distance(tiny_city, members[0], members[-1]) <= along + 1e-9
    assert shortest_ride_distance(tiny_city, "西门", "北苑") == pytest.approx(2100 + 2050 + 1580 + 1620)


# ---------------------------------------------------------------------------------------
# Look-ups
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["S2", "木樨地", "木樨地站", "木樨地(1号线)", "木樨地（1号线）", "muxidi", "Muxidi Station"]
)
def test_station_index_normalises_names(tiny_city, query):
    assert tiny_city.station_index(query) == list(STATIONS).index("S2")


def test_station_index_unknown_gives_close_matches(tiny_city):
    with pytest.raises(PlanError, match="木樨地") as caught:
        tiny_city.station_index("木樨")
    assert "\n" not in str(caught.value) and "subway_stations" in str(caught.value)


def test_mall_index(tiny_city):
    assert tiny_city.mall_index("M2") == 1
    assert tiny_city.mall_index("central plaza") == 0
    assert tiny_city.mall_index("北桥商场") == 2
    with pytest.raises(PlanError, match="Muxidi Mall"):
        tiny_city.mall_index("Muxidi Mal")


def test_normalise_name():
    assert normalise_name(" 木樨地(1号线) ") == normalise_name("木樨地站") == "木樨地"
    assert normalise_name("Xizhimen Station") == "xizhimen"


# ---------------------------------------------------------------------------------------
# Summary and adapters
# ---------------------------------------------------------------------------------------


def test_summary_and_rows(tiny_city):
    summary = tiny_city.summary()
    assert (summary["districts"], summary["cells"], summary["stations"], summary["lines"]) == (2, 80, 9, 2)
    assert (summary["malls"], summary["street_sites"]) == (3, 2)
    assert summary["population_total"] == int(tiny_city.zone_population.sum())
    assert summary["crs"] == "EPSG:32650"
    lon_min, lat_min, lon_max, lat_max = summary["bounds_lonlat"]
    assert 116.3 < lon_min < lon_max < 116.5 and 39.8 < lat_min < lat_max < 40.0
    assert summary["extent_km"] == pytest.approx((10.0, 8.0))
    rows = format_city_summary(summary)
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in rows)
    assert dict(rows)["population (census)"] == f"{summary['population_total']:,}"


def test_frames_match_city_arrays(tiny_city):
    zones, cells = zone_frame(tiny_city), cell_frame(tiny_city)
    assert zones.crs.to_string() == cells.crs.to_string() == tiny_city.crs
    assert list(zones["zone_id"]) == list(tiny_city.zone_ids)
    assert list(cells["cell_id"]) == list(tiny_city.cell_ids)
    centroids = shapely.get_coordinates(cells.geometry.centroid.to_numpy())
    np.testing.assert_allclose(centroids, tiny_city.cell_xy, atol=1e-6)
    stations = station_frame(tiny_city)
    np.testing.assert_allclose(shapely.get_coordinates(stations.geometry.to_numpy()), tiny_city.station_xy)
    assert list(line_frame(tiny_city)["color"]) == [v[2] for v in LINES.values()]
    assert list(mall_frame(tiny_city)["mall_id"]) == list(tiny_city.mall_ids)


def test_load_by_name_from_bundle_folder(tmp_path, monkeypatch):
    write_tiny_city(tmp_path / "smallville.gpkg")
    monkeypatch.setattr(city_module, "BUNDLE_DIR", tmp_path)
    city = load_city("smallville")
    assert city.name == "smallville" and city.source == (tmp_path / "smallville.gpkg").resolve()
    assert load_city("smallville.gpkg").source == city.source
    assert city_module.available_bundles() == ["smallville"]
    with pytest.raises(CityError, match="smallville") as caught:
        load_city("atlantis")
    assert "atlantis" in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corruption", "layer", "fragments"),
    [
        ({"drop_layer": "malls"}, "malls", ["required layer is missing"]),
        ({"drop_layer": "subway_links"}, "subway_links", ["required layer is missing"]),
        ({"no_crs_layer": "districts"}, "districts", ["no CRS"]),
        ({"no_crs_layer": "subway_stations"}, "subway_stations", ["no CRS"]),
        ({"negative_population": True}, "population_cells", ["'population'", "negative", "c0005"]),
        ({"invalid_polygon": True}, "population_cells", ["invalid", "c0000", "Self-intersection"]),
        ({"disconnected": True}, "subway_links", ["not connected", "station 'S"]),
        ({"station_outside": True}, "subway_stations", ["outside", "'S5'"]),
        ({"drop_column": ("population_cells", "jobs")}, "population_cells", ["missing column", "'jobs'"]),
        ({"drop_column": ("subway_lines", "distances_m")}, "subway_lines", ["missing column", "'distances_m'"]),
    ],
)
def test_validation_errors(tmp_path, corruption, layer, fragments):
    path = write_tiny_city(tmp_path / "bad.gpkg", **corruption)
    with pytest.raises(CityError) as caught:
        validate_bundle(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bad.gpkg: layer '{layer}': ")
    for fragment in fragments:
        assert fragment in message
    with pytest.raises(CityError):  # load_city runs the same checks
        load_city(path)


def test_missing_and_non_geopackage_files(tmp_path):
    with pytest.raises(CityError, match="nowhere.gpkg: file not found"):
        load_city(tmp_path / "nowhere.gpkg")
    text = tmp_path / "notes.gpkg"
    text.write_text("not a database")
    with pytest.raises(CityError, match="notes.gpkg") as caught:
        validate_bundle(text)
    assert "\n" not in str(caught.value)
    assert issubclass(CityError, FootprintError)


def test_unknown_bundle_name_lists_available():
    with pytest.raises(CityError, match="unknown city bundle") as caught:
        load_city("no_such_city_anywhere")
    message = str(caught.value)
    assert "\n" not in message and "available" in message
    for name in city_module.available_bundles():
        assert name in message


def test_city_without_transit_loads(tmp_path):
    city = load_city(write_tiny_city(tmp_path / "walk.gpkg", no_transit=True))
    assert city.station_ids.size == 0 and city.line_ids.size == 0
    assert city.station_xy.shape == (0, 2)
    assert city.platform_graph.shape == (0, 0) and city.station_graph.shape == (0, 0)
    assert city.mall_ids.size == len(MALLS)
    assert city.population_total == load_city_total_from_fixture()
    with pytest.raises(PlanError, match="no station"):
        city.station_index("木樨地")
    validate_bundle(city.source)
    out = render_city_map(city, tmp_path / "walk.png")
    assert png_size(out)[0] == MAP_WIDTH_PX


def load_city_total_from_fixture() -> int:
    return int(tiny_city_frames()["districts"]["population"].sum())


def test_validate_good_bundle(tiny_city_path):
    assert validate_bundle(tiny_city_path) is None


# ---------------------------------------------------------------------------------------
# Map
# ---------------------------------------------------------------------------------------


def test_render_tiny_city_map(tiny_city, tmp_path):
    out = tmp_path / "maps" / "tiny.png"
    out.parent.mkdir()
    out.write_bytes(b"old")
    assert render_city_map(tiny_city, out) == out
    width, height = png_size(out)
    assert width == MAP_WIDTH_PX and height > 500
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.png"]  # no temporary left behind


# ---------------------------------------------------------------------------------------
# Beijing (skipped only when geo/beijing.gpkg has not been built)
# ---------------------------------------------------------------------------------------

BEIJING = BUNDLE_DIR / "beijing.gpkg"
BEIJING_CENSUS_2020 = 21_893_095  # 北京市第七次全国人口普查公报（第二号）


@pytest.fixture(scope="module")
def beijing():
    if not BEIJING.exists():
        pytest.skip("geo/beijing.gpkg is not built")
    started = time.perf_counter()
    city = load_city("beijing")
    return city, time.perf_counter() - started


def test_beijing_loads(beijing):
    city, seconds = beijing
    assert seconds < 10.0  # well under 5 s on an idle machine; margin for a shared CPU
    assert city.crs == "EPSG:32650"
    assert city.zone_ids.size == 16
    assert city.population_total == BEIJING_CENSUS_2020
    assert city.contains(city.cell_xy).mean() > 0.99
    # every station has a platform, i.e. is on a line
    assert np.isin(np.arange(city.station_ids.size), city.platform_station).all()


def test_beijing_ride_links_are_shortest_paths(beijing):
    city, _ = beijing
    links = pyogrio.read_dataframe(BEIJING, layer="subway_links", read_geometry=False)
    rides = links[links["kind"] == "ride"]
    position = {sid: i for i, sid in enumerate(city.station_ids)}
    a = rides["from_station"].map(position).to_numpy()
    b = rides["to_station"].map(position).to_numpy()
    official = rides["distance_m"].to_numpy(dtype=float)
    # where two lines join the same pair, the graph keeps the shorter official distance
    key = np.minimum(a, b) * city.station_ids.size + np.maximum(a, b)
    shortest_official = np.full(key.max() + 1, np.inf)
    np.minimum.at(shortest_official, key, official)
    sources, row = np.unique(a, return_inverse=True)
    distances = dijkstra(city.station_graph, indices=sources)
    np.testing.assert_allclose(distances[row, b], shortest_official[key], rtol=1e-9)


def test_beijing_line1_pingguoyuan_to_sihuidong(beijing):
    city, _ = beijing
    lines = line_frame(city)
    line1 = lines[lines["name"] == "1号线"].iloc[0]
    members = line1["stations"].split(";")
    hops = np.array([float(d) for d in line1["distances_m"].split(";")])
    start = members.index(city.station_ids[city.station_index("苹果园")])
    end = members.index(city.station_ids[city.station_index("四惠东")])
    along = hops[min(start, end) : max(start, end)].sum()
    assert along > 25_000  # the two ends of the old Line 1, about 30 km apart
    assert shortest_ride_distance(city, "苹果园", "四惠东") <= along + 1e-6


def test_beijing_map_renders(beijing, tmp_path):
    city, _ = beijing
    out = render_city_map(city, tmp_path / "beijing.png")
    assert out.stat().st_size > 50_000
    assert png_size(out)[0] == MAP_WIDTH_PX


def test_beijing_transfers_follow_the_links_table(beijing):
    """Each transfer row naming its lines becomes that platform-to-platform edge, priced in ride metres."""
    city, _ = beijing
    links = pyogrio.read_dataframe(BEIJING, layer="subway_links", read_geometry=False)
    transfers = links[(links["kind"] == "transfer") & links["from_line"].fillna("").ne("")]
    assert len(transfers) > 100
    platform = {
        (city.station_ids[s], city.line_ids[l]): p
        for p, (s, l) in enumerate(zip(city.platform_station, city.platform_line))
    }
    rows = [platform[(s, l)] for s, l in zip(transfers["from_station"], transfers["from_line"])]
    cols = [platform[(s, l)] for s, l in zip(transfers["to_station"], transfers["to_line"])]
    expected = transfers["walk_seconds"].to_numpy(dtype=float) * TRANSFER_METRES_PER_SECOND
    np.testing.assert_allclose(np.asarray(city.platform_graph[rows, cols]).ravel(), expected)


def test_beijing_station_names_with_brackets(beijing):
    city, _ = beijing
    muxidi_line1 = city.station_index("木樨地(1号线)")
    assert city.line_ids[city.platform_line[city.platform_station == muxidi_line1]].tolist() == ["L1"]
    assert city.station_index("北京西站") == city.station_index("北京西")
    with pytest.raises(PlanError, match="ambiguous"):  # two stations are called 木樨地
        city.station_index("木樨地")

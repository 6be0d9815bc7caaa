"""The interactive map of the reports: its data, and every kind of report.html in headless Chromium.

The browser tests open a run report, a comparison report (and a run report inside it) and a
sweep report from ``file:`` URLs in headless Chromium driven by Selenium with the system
``chromedriver``. They record every request the page makes (Chrome's performance log:
``Network.requestWillBeSent``) and every console message, and fail on a request that is not
``file:`` or ``data:``, on any console error, and on a blank map (the spread of the pixel
values of a screenshot of the map element). They skip only outside CI when Chromium,
chromedriver or Selenium is missing; ``.ci/run`` installs them.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from simulator.experiments.compare import compare
from simulator.experiments.run import run
from simulator.reports.compare_report import write_comparison
from simulator.reports.publish import write_run
from simulator.reports.sweep_report import run_sweep
from simulator.reports.webmap import MAP_ELEMENT_ID, map_data, map_section
from simulator.reports.webmap_geometry import QUANTUM, Quantiser, geojson_layer
from simulator.results import replication_means, store_totals

STORES = [
    {"id": "A", "name": "Alpha (中心广场)", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 40},
]
EXTRA_STORE = {"id": "C", "station": "东门", "format": "flagship"}
BEHAVIOUR = {"in_market_rate_per_year": 1.0, "booking_rate_per_day": 0.02}
MIN_PIXEL_STD = 12.0
"""Least standard deviation of the grey values of a drawn map (a blank one: about 5, see the control test)."""


def store_toml(store: dict) -> str:
    return "[[plan.stores]]\n" + "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in store.items()
    )


def write_scenario(folder: Path, city_path: Path, name: str = "tiny", stores: list[dict] | None = None) -> Path:
    """A scenario file on the tiny city: 3,000 consumers, 30 days, 2 replications, busy buyers."""
    path = folder / f"{name.replace(' ', '_')}.toml"
    behaviour = "".join(f"{key} = {value}\n" for key, value in BEHAVIOUR.items())
    path.write_text(
        f'name = "{name}"\nseed = 5\nreplications = 2\n[city]\nbundle = "{Path(city_path).as_posix()}"\n'
        f"[population]\nconsumers = 3000\n[behaviour]\n{behaviour}[horizon]\ndays = 30\n"
        f'[plan]\nname = "{name}"\n' + "".join(store_toml(s) for s in (STORES if stores is None else stores)),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def scenario_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scenarios")


@pytest.fixture(scope="module")
def tiny_run(scenario_folder, tiny_city_path, tiny_city):
    return run(write_scenario(scenario_folder, tiny_city_path), city=tiny_city)


# --------------------------------------------------------------------------- data (no browser)


def decode(path: list[int], origin: tuple[float, float]) -> np.ndarray:
    """The inverse of :meth:`Quantiser.path` (what static/webmap.js does in ``decodePath``)."""
    steps = np.asarray(path, dtype=np.int64).reshape(-1, 2)
    return np.cumsum(steps, axis=0) * QUANTUM + np.asarray(origin)


def test_integer_coding_round_trips_within_half_a_step():
    rng = np.random.default_rng(1)
    points = np.column_stack([116.0 + rng.random(50), 39.5 + rng.random(50)])
    quantiser = Quantiser((115.9, 39.4))
    decoded = decode(quantiser.path(points), quantiser.origin)
    assert np.abs(decoded - points).max() <= QUANTUM / 2 + 1e-12
    square = shapely.Polygon([(116.1, 39.9), (116.2, 39.9), (116.2, 40.0), (116.1, 40.0)])
    holed = shapely.Polygon(square.exterior.coords, [[(116.12, 39.92), (116.14, 39.92), (116.14, 39.94)]])
    other = shapely.Polygon([(116.3, 39.9), (116.3, 39.9), (116.4, 39.9), (116.4, 40.0)])  # a repeated vertex
    (one,), (two, three) = quantiser.polygons([holed, shapely.MultiPolygon([square, other])])
    assert [len(ring) for ring in one] == [8, 6]  # exterior and hole, closing vertices dropped
    np.testing.assert_allclose(decode(one[1], quantiser.origin), [(116.12, 39.92), (116.14, 39.92), (116.14, 39.94)])
    np.testing.assert_allclose(decode(two[0], quantiser.origin), np.asarray(square.exterior.coords)[:-1])
    np.testing.assert_allclose(decode(three[0], quantiser.origin), [(116.3, 39.9), (116.4, 39.9), (116.4, 40.0)])


def test_weekly_snapshots_end_with_the_zone_table(tiny_run):
    weekly = tiny_run.weekly
    assert sorted(weekly["day"].unique()) == [6, 13, 20, 27, 29]
    last = weekly[weekly["day"] == 29].set_index(["replication", "zone_id"]).sort_index()
    zones = tiny_run.zones.set_index(["replication", "zone_id"]).sort_index()
    np.testing.assert_allclose(last["mean_familiarity"], zones["mean_familiarity"], atol=1e-12)
    np.testing.assert_allclose(last["share_familiar"], zones["share_familiar"], atol=1e-12)
    first = weekly[weekly["day"] == 6].set_index(["replication", "zone_id"]).sort_index()
    assert (last["mean_familiarity"] > first["mean_familiarity"]).all()  # stores open on day 0: familiarity grows


def test_map_data_holds_the_run_values_quantised(tiny_run, tiny_city):
    data = map_data(tiny_city, {"tiny": tiny_run})
    (plan,) = data["plans"]
    zones = replication_means(tiny_run.zones, "zone_id").set_index("zone_id").loc[data["districts"]["ids"]]
    for key, column, decimals in (
        ("familiarity", "mean_familiarity", 3),
        ("bookings", "bookings_requested_per_1000", 2),
    ):
        quantised = plan["districts"][key]
        assert quantised["d"] == decimals
        np.testing.assert_allclose(np.asarray(quantised["v"]) / 10**decimals, zones[column], atol=0.5 / 10**decimals)
    totals = store_totals(tiny_run.stores, tiny_run.plan).set_index("store_id")
    for store in plan["stores"]:
        assert store["bookings"] == round(totals.loc[store["id"], "bookings_requested"] * tiny_run.consumer_weight)
    assert plan["stores"][0]["name"] == "Alpha (中心广场)"
    assert len(plan["weekly"]["familiarity"]) == 5 and plan["weekly"]["dates"][-1] == "2024-04-26"
    assert len(data["cells"]["shapes"]) == len(plan["cells"]["familiarity"]["v"]) == len(data["cells"]["district"])
    assert "ids" not in data["cells"]


def test_the_section_is_inline_and_script_safe(tiny_run, tiny_city, tiny_city_path):
    import geopandas as gpd

    area = gpd.GeoDataFrame(
        {"store_id": ["A"], "share": [0.5], "label": ["</script><b>x</b>"]},
        geometry=[shapely.Point(116.3, 39.9).buffer(0.01)],
        crs="EPSG:4326",
    )
    layer = geojson_layer(area, "Trade areas", tooltip=[("store_id", "Store"), ("label", "Label")], simplify_m=0)
    html = map_section(map_data(tiny_city, {"tiny": tiny_run}, [layer]))
    assert html.count("</script>") == 3  # the data, Leaflet, the map's code
    assert "<script src" not in html and "<link" not in html and "https://" not in _code_only(html)
    payload = re.search(r'id="webmap-data">(.*?)</script>', html, re.S).group(1)
    data = json.loads(payload)
    assert data["extra"][0]["geojson"]["features"][0]["properties"]["label"] == "</script><b>x</b>"


def _code_only(html: str) -> str:
    """The page without the data block and Leaflet's licence comment and attribution link."""
    html = re.sub(r'id="webmap-data">.*?</script>', "", html, flags=re.S)
    return re.sub(r"/\*.*?\*/", "", html, flags=re.S).replace("https://leafletjs.com", "")


# --------------------------------------------------------------------------- the browser


def _browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip (outside CI) / a failure (in CI) naming what is missing."""
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "the Python package selenium (pip install -e '.[dev]')"
    else:
        missing = "" if chromium and driver else "Chromium and chromedriver (apt-get install chromium chromium-driver)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but {missing} is missing")
        pytest.skip(f"no headless browser: {missing} not installed")
    return str(chromium), str(driver)


@pytest.fixture(scope="module")
def browser():
    chromium, chromedriver = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


class PageRecord:
    """Requests and console messages of one page, from Chrome's logs."""

    def __init__(self, driver) -> None:
        self.requests: list[str] = []
        self.console: list[dict[str, Any]] = []
        self.driver = driver

    def collect(self) -> PageRecord:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
        self.console += self.driver.get_log("browser")
        return self

    def check(self) -> None:
        foreign = [url[:120] for url in self.requests if not url.startswith(("file:", "data:"))]
        assert not foreign, f"requests that are not file: or data: {foreign}"
        errors = [e["message"][:300] for e in self.console if e["level"] == "SEVERE"]
        assert not errors, f"console errors: {errors}"


def open_page(driver, path: Path) -> PageRecord:
    driver.get_log("performance")  # drop what an earlier page left
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    return PageRecord(driver)


def pixel_std(png: bytes) -> float:
    """Standard deviation of the grey values (0-255) of a PNG screenshot."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std())


def map_screenshot(driver) -> bytes:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.ID, MAP_ELEMENT_ID)
    driver.execute_script("arguments[0].scrollIntoView()", element)
    deadline = time.monotonic() + 20
    while element.get_attribute("data-ready") != "1" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert element.get_attribute("data-ready") == "1", "the map never finished drawing"
    time.sleep(0.3)
    return element.screenshot_as_png


def exercise_map(driver) -> None:
    """Every measure, the week slider, the cell layer, a store's popup and a hover tooltip."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    metric = Select(driver.find_element(By.ID, "webmap-metric"))
    for option in [o.get_attribute("value") for o in metric.options]:
        metric.select_by_value(option)
    driver.find_element(By.ID, "webmap-layer-cells").click()
    slider = driver.find_element(By.ID, "webmap-week")
    driver.execute_script("arguments[0].value = 0; arguments[0].dispatchEvent(new Event('input'))", slider)
    assert "week 1 of" in driver.find_element(By.CLASS_NAME, "wm-week").text
    assert driver.find_element(By.ID, "webmap-weekly").is_selected()
    assert not driver.find_element(By.ID, "webmap-layer-cells").is_selected()  # weekly values are by district
    driver.find_element(By.ID, "webmap-layer-cells").click()
    assert not driver.find_element(By.ID, "webmap-weekly").is_selected()
    element = driver.find_element(By.ID, MAP_ELEMENT_ID)
    driver.execute_script("arguments[0].scrollIntoView()", element)
    store = driver.execute_script(
        "var out = null; footprintMap.eachLayer(function (l) {"
        " if (!out && l.getPopup && l.getPopup() && l.getLatLng) {"
        " var p = footprintMap.latLngToContainerPoint(l.getLatLng()); out = [p.x, p.y]; } }); return out;"
    )
    assert store, "no store markers on the map"
    click_at(driver, element, store)
    popup = wait_for_text(driver, "leaflet-popup-content")
    assert "Bookings requested" in popup and "Test drives" in popup, popup
    for layer in ("stores", "rivals", "stations", "lines", "cells"):
        driver.find_element(By.ID, f"webmap-layer-{layer}").click()
    driver.execute_script("arguments[0].scrollIntoView()", element)
    district = driver.execute_script(
        "var out = null; footprintMap.eachLayer(function (l) {"
        " if (!out && l.getCenter && l.getTooltip && l.wmIndex === 0) {"
        " var p = footprintMap.latLngToContainerPoint(l.getCenter()); out = [p.x, p.y]; } }); return out;"
    )
    ActionChains(driver).move_to_element_with_offset(element, *offset(element, district)).perform()
    tips = [t.text for t in driver.find_elements(By.CLASS_NAME, "leaflet-tooltip")]
    assert any("Residents" in t and "Mean familiarity" in t for t in tips), f"no district tooltip on hover: {tips}"


def wait_for_text(driver, css_class: str, seconds: float = 10.0) -> str:
    """The text of the first element of a class once it has some (a popup may still be panning into view)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + seconds
    text = ""
    while not text and time.monotonic() < deadline:
        found = driver.find_elements(By.CLASS_NAME, css_class)
        text = (found[0].get_attribute("textContent") or "") if found else ""
        time.sleep(0.1)
    return text


def offset(element, point: list[float]) -> tuple[int, int]:
    """Offset of a container point from the element's centre (Selenium's origin for element moves)."""
    size = element.size
    return int(point[0] - size["width"] / 2), int(point[1] - size["height"] / 2)


def click_at(driver, element, point: list[float]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element_with_offset(element, *offset(element, point)).click().perform()


def test_blank_map_control_is_caught(tmp_path, browser):
    blank = tmp_path / "blank.html"
    blank.write_text(
        '<!DOCTYPE html><html><body><div id="webmap" data-ready="1" style="height:600px;background:#f3f5f8;'
        'border:1px solid #c9d1db"></div></body></html>',
        encoding="utf-8",
    )
    open_page(browser, blank)
    assert pixel_std(map_screenshot(browser)) < MIN_PIXEL_STD


@pytest.fixture(scope="module")
def report_folders(tmp_path_factory, tiny_city_path, tiny_city, tiny_run):
    """A run folder, a comparison folder (with its run folders) and a sweep folder on the tiny city."""
    from simulator.city import cell_frame, zone_frame

    root = tmp_path_factory.mktemp("reports")
    folders = {
        "run": write_run(tiny_run, root / "run", zone_frame=zone_frame(tiny_city), cell_frame=cell_frame(tiny_city))
    }
    plans = [
        write_scenario(root, tiny_city_path, "two stores"),
        write_scenario(root, tiny_city_path, "three stores", STORES + [EXTRA_STORE]),
    ]
    # Run folders inside a comparison hold tables only unless asked for their reports.
    folders["compare"] = write_comparison(compare(plans, city=tiny_city), root / "compare", run_reports=True)
    folders["compare_run"] = next((folders["compare"] / "runs").iterdir())
    scenario_file = root / "tiny.toml"
    scenario_file.write_text(
        f'name = "tiny"\nseed = 11\n[city]\nbundle = "{Path(tiny_city_path).as_posix()}"\n[population]\nconsumers = 1000\n'
        '[horizon]\ndays = 10\n[[plan.stores]]\nid = "A"\nmall = "M1"\n',
        encoding="utf-8",
    )
    sweep_file = root / "sweep.toml"
    sweep_file.write_text(
        'scenario = "tiny.toml"\nseed = 3\nreplications = 1\nkpis = ["test_drives_scaled", "share_familiar"]\n'
        '[[parameters]]\nkey = "behaviour.hill_k"\nvalues = [2.0, 4.0]\n',
        encoding="utf-8",
    )
    from simulator.experiments.executors import ExecutorSpec
    from simulator.experiments.sweep import load_sweep

    folders["sweep"] = run_sweep(load_sweep(sweep_file), root / "sweep", spec=ExecutorSpec("serial")).folder
    return folders


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "compare", "compare_run"])
def test_report_map_draws_offline_without_errors(kind, report_folders, browser):
    page = open_page(browser, report_folders[kind] / "report.html")
    std = pixel_std(map_screenshot(browser))
    assert std >= MIN_PIXEL_STD, f"the map looks blank (grey-value standard deviation {std:.1f})"
    if kind == "compare":
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        plan = Select(browser.find_element(By.ID, "webmap-plan"))
        assert [o.text for o in plan.options] == ["two stores", "three stores"]
        plan.select_by_index(1)
    exercise_map(browser)
    page.collect().check()
    assert any(url.startswith("file:") for url in page.requests), "the performance log recorded no request at all"


@pytest.mark.slow
def test_an_extra_geojson_layer_gets_a_toggle_and_tooltips(tmp_path, tiny_run, tiny_city, browser):
    """The seam for trade areas: a GeoDataFrame passed as an extra layer is drawn, toggled and hovered."""
    import geopandas as gpd
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from simulator.reports.html import write_html_document

    centre = shapely.Point(float(tiny_run.plan["lon"].iloc[0]), float(tiny_run.plan["lat"].iloc[0]))
    areas = gpd.GeoDataFrame(
        {"store_id": ["A"], "share": [0.7]}, geometry=[centre.buffer(0.01)], crs="EPSG:4326"
    ).to_crs(tiny_city.crs)
    layer = geojson_layer(
        areas,
        "Trade areas (70 %)",
        tooltip=[("store_id", "Store"), ("share", "Share of bookings")],
        style={"color": "#7b3294", "weight": 2, "fillOpacity": 0.2},
    )
    page_path = write_html_document(
        "extra", [map_section(map_data(tiny_city, {"tiny": tiny_run}, [layer]))], tmp_path / "x.html"
    )
    page = open_page(browser, page_path)
    map_screenshot(browser)
    toggle = browser.find_element(By.ID, "webmap-layer-extra0")
    assert toggle.find_element(By.XPATH, "..").text.strip() == "Trade areas (70 %)" and not toggle.is_selected()
    for layer_id in ("stores", "rivals", "stations", "lines", "districts"):
        browser.find_element(By.ID, f"webmap-layer-{layer_id}").click()
    toggle.click()
    element = browser.find_element(By.ID, MAP_ELEMENT_ID)
    browser.execute_script("arguments[0].scrollIntoView()", element)
    point = browser.execute_script(
        "var p = footprintMap.latLngToContainerPoint([arguments[0], arguments[1]]); return [p.x, p.y + 15];",
        centre.y,
        centre.x,
    )
    ActionChains(browser).move_to_element_with_offset(element, *offset(element, point)).perform()
    tips = [t.text for t in browser.find_elements(By.CLASS_NAME, "leaflet-tooltip")]
    assert any("Store: A" in t and "Share of bookings: 0.70" in t for t in tips), tips
    page.collect().check()


@pytest.mark.slow
def test_the_run_report_draws_each_stores_trade_areas(report_folders, tiny_run, tiny_city, browser):
    """The run report's "Trade areas" layer: off at first, toggled on, a catchment cell hovered."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from simulator.city import cell_frame
    from simulator.results import trade_area_summary

    summary = trade_area_summary(
        tiny_run.trade_areas, tiny_run.plan, n_replications=tiny_run.n_replications, weight=tiny_run.consumer_weight
    )
    top = summary[summary["catchment_rank"] == 1].iloc[0]  # in every catchment of its store
    cells = cell_frame(tiny_city).to_crs("EPSG:4326").set_index("cell_id")
    centre = cells.geometry.loc[top["cell_id"]].centroid
    page = open_page(browser, report_folders["run"] / "report.html")
    map_screenshot(browser)
    toggle = browser.find_element(By.ID, "webmap-layer-extra0")
    assert toggle.find_element(By.XPATH, "..").text.strip() == "Trade areas (50/70/90 %)" and not toggle.is_selected()
    for layer_id in ("stores", "rivals", "stations", "lines", "districts"):
        browser.find_element(By.ID, f"webmap-layer-{layer_id}").click()
    toggle.click()
    element = browser.find_element(By.ID, MAP_ELEMENT_ID)
    browser.execute_script("arguments[0].scrollIntoView()", element)
    point = browser.execute_script(
        "var p = footprintMap.latLngToContainerPoint([arguments[0], arguments[1]]); return [p.x, p.y];",
        centre.y,
        centre.x,
    )
    ActionChains(browser).move_to_element_with_offset(element, *offset(element, point)).perform()
    tips = [t.text for t in browser.find_elements(By.CLASS_NAME, "leaflet-tooltip")]
    # the top cell of a store is in its 50 % catchment; another store's catchment may lie on top
    assert any("Store: " in t and "Catchment: " in t and "Bookings from these cells" in t for t in tips), tips
    page.collect().check()


@pytest.mark.slow
def test_sweep_report_opens_offline_without_errors(report_folders, browser):
    """A sweep's report has no map (its runs keep only KPIs, no zones or stores); it still must load cleanly."""
    from selenium.webdriver.common.by import By

    page = open_page(browser, report_folders["sweep"] / "report.html")
    assert browser.find_elements(By.TAG_NAME, "h1")
    assert not browser.find_elements(By.ID, MAP_ELEMENT_ID)
    page.collect().check()


def test_page_record_flags_foreign_requests_and_console_errors():
    record = PageRecord(driver=None)
    record.requests = ["file:///tmp/report.html", "data:image/png;base64,AAAA"]
    record.check()
    record.requests.append("https://tile.example.org/1/2/3.png")
    with pytest.raises(AssertionError, match="not file: or data:"):
        record.check()
    record.requests.pop()
    record.console = [{"level": "SEVERE", "message": "Uncaught TypeError"}]
    with pytest.raises(AssertionError, match="console errors"):
        record.check()

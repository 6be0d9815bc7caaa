"""Figures, map and the self-contained HTML report."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_cli import tiny_scenario_file
from test_results import synthetic_frames, synthetic_result

import simulator.reports.figures as figures_module
import simulator.reports.run_figures as run_figures_module
from simulator.reports.figures import display_label, format_number
from simulator.reports.market_data import funnel_totals, rival_bookings, zone_access
from simulator.reports.market_figures import intent_funnel_figure, save_market_figures
from simulator.reports.market_report import launch_sentence
from simulator.reports.publish import write_run
from simulator.reports.run_figures import familiarity_map, funnel_figure, save_figures, stores_figure
from simulator.reports.run_report import summary_rows, write_report_html
from simulator.results import RunResult, read_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MARKET_FIGURES = ("intent_funnel", "rival_share", "access", "launch_rush")


@pytest.fixture(scope="module")
def several() -> RunResult:
    return synthetic_result(n_replications=3, n_days=40)


@pytest.fixture(scope="module")
def single() -> RunResult:
    return synthetic_result(n_replications=1, n_days=40)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --------------------------------------------------------------------------- figures


@pytest.mark.parametrize("fixture_name", ["single", "several"])
def test_save_figures_for_one_and_several_replications(
    fixture_name: str, request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = request.getfixturevalue(fixture_name)
    zones, cells = synthetic_frames()
    if fixture_name == "single":  # the market figures of one replication are drawn by test_market_sections_*
        monkeypatch.setattr(run_figures_module, "save_market_figures", lambda *_args, **_kwargs: {})
    written = save_figures(result, tmp_path, zone_gdf=zones, cell_gdf=cells)
    market = MARKET_FIGURES if fixture_name == "several" else ()
    assert set(written) == {"funnel", "stores", "familiarity_map", *market}
    for key, path in written.items():
        assert path == tmp_path / "figures" / f"{key}.png"
        width, height = _png_size(path)
        assert width > 600 and height > 300
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(f"{key}.png" for key in written)


def test_map_is_skipped_without_geometry(tmp_path: Path, single: RunResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_figures_module, "save_market_figures", lambda *_args, **_kwargs: {})  # drawn elsewhere
    written = save_figures(single, tmp_path)
    assert set(written) == {"funnel", "stores"}
    assert not (tmp_path / "figures" / "familiarity_map.png").exists()


def _band_count(figure: Figure) -> int:
    return sum(len(axis.collections) for axis in figure.axes)


def test_funnel_draws_bands_only_with_several_replications(single: RunResult, several: RunResult) -> None:
    one = funnel_figure(single.daily)
    many = funnel_figure(several.daily)
    assert _band_count(one) == 0
    assert _band_count(many) >= 9
    titles = [axis.get_title() for axis in many.axes if axis.get_visible()]
    assert "Cumulative purchases" in titles and "Aware of the brand" in titles


def test_funnel_plots_rolling_mean_of_scaled_counts(several: RunResult) -> None:
    figure = funnel_figure(several.daily)
    axis = next(a for a in figure.axes if a.get_title() == "Purchases per day")
    line = axis.get_lines()[0]
    wide = several.daily.pivot_table(index="date", columns="replication", values="purchases_scaled")
    expected = wide.sort_index().rolling(7, min_periods=1).mean().mean(axis=1).to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    share_axis = next(a for a in figure.axes if a.get_title() == "Aware of the brand")
    expected_share = several.daily.groupby("date")["share_aware"].mean().to_numpy() * 100
    np.testing.assert_allclose(share_axis.get_lines()[0].get_ydata(), expected_share)


def test_stores_figure_bars_match_totals(several: RunResult) -> None:
    figure = stores_figure(several.stores, several.plan, consumer_weight=2.0)
    bookings_axis, utilisation_axis = figure.axes[:2]
    labels = [tick.get_text() for tick in bookings_axis.get_yticklabels()]
    assert "Flagship Haidian" in labels and "Xiaomi Auto Joy City" in labels
    per_replication = several.stores.groupby(["replication", "store_id"])[["test_drives"]].sum()
    expected = per_replication.groupby("store_id")["test_drives"].mean() * 2.0
    widths = sorted(patch.get_width() for patch in bookings_axis.patches[:3])
    np.testing.assert_allclose(widths, sorted(expected.to_numpy()))
    utilisation_widths = [patch.get_width() for patch in utilisation_axis.patches]
    assert all(0 <= w <= 100 for w in utilisation_widths) and len(utilisation_widths) == 3


def test_map_colours_cells_and_marks_stores(several: RunResult) -> None:
    zones, cells = synthetic_frames()
    figure = familiarity_map(zones, cells, several.zones, several.cells, several.plan)
    axis = figure.axes[0]
    texts = [t.get_text() for t in axis.texts]
    assert {"Dongcheng", "Xicheng", "Chaoyang", "Haidian"} <= set(texts)
    assert any(t.endswith(" km") for t in texts)  # scale bar
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert "mall store (1)" in legend and "no consumers" in legend
    colour_bar_axis = figure.axes[1]
    assert colour_bar_axis.get_ylabel() == "mean familiarity (0–1)"


def test_map_without_cells_uses_zones(single: RunResult) -> None:
    zones, _cells = synthetic_frames()
    figure = familiarity_map(zones, None, single.zones, None, single.plan)
    assert "by zone" in figure.axes[0].get_title()
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "no consumers" not in legend  # every zone has consumers


def test_labels_fall_back_when_chinese_cannot_be_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures_module, "cjk_font_family", lambda: None)
    assert display_label("小米汽车 国贸", "S2") == "S2"
    assert display_label("Chaoyang", "朝阳区", "Z3") == "Chaoyang"
    assert display_label("", None, "Z9") == "Z9"
    monkeypatch.setattr(figures_module, "cjk_font_family", lambda: "Noto Sans CJK SC")
    assert display_label("小米汽车 国贸", "S2") == "小米汽车 国贸"


# --------------------------------------------------------------------------- text and HTML


def test_format_number() -> None:
    assert format_number(1234567.4, "people") == "1,234,567"
    assert format_number(0.4567, "share") == "45.7 %"
    assert format_number(0.1234, "index") == "0.123"
    assert format_number(float("nan"), "people") == "–"


def test_summary_rows(several: RunResult, single: RunResult) -> None:
    rows = dict(summary_rows(several))
    purchases = several.daily.groupby("replication")["purchases_scaled"].sum().mean()
    se = several.daily.groupby("replication")["purchases_scaled"].sum().std(ddof=1) / np.sqrt(3)
    assert rows["Purchases"].startswith(f"{purchases:,.0f} ± {se:,.0f} (95 % CI ")
    assert rows["Share aware (end of horizon)"].endswith("%)")
    assert rows["Replications"] == "3"
    single_rows = dict(summary_rows(single))
    assert "CI" not in single_rows["Purchases"]
    # one replication: the within-run Poisson SE w * sqrt(n) of the simulated purchases
    bought = single.daily["purchases"].sum()
    assert single_rows["Purchases"] == f"{bought * 500:,.0f} ± {500 * np.sqrt(bought):,.0f}"
    assert re.fullmatch(r"\d+\.\d % ± [\d.]+ %", single_rows["Share familiar, F >= 0.5 (end of horizon)"])
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in summary_rows(single))


def _external_references(document: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", document, flags=re.IGNORECASE)


def test_report_html_is_self_contained(tmp_path: Path, several: RunResult) -> None:
    zones, cells = synthetic_frames()
    out = write_run(several, tmp_path / "run", zone_frame=zones, cell_frame=cells)
    document = (out / "report.html").read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert document.count("data:image/png;base64,") == 3 + len(MARKET_FIGURES)
    assert _external_references(document) == []
    assert "<script" not in document.lower() and "@import" not in document and "<link" not in document.lower()
    assert "&lt;test &amp; check&gt;" in document and "<test & check>" not in document  # escaped
    assert "<details>" in document and "Canonical scenario" in document
    assert several.metadata["scenario_hash"] in document
    assert "Flagship Haidian" in document and "小米汽车 国贸" in document  # store table
    assert "Haidian / 海淀区" in document  # zone table with names from the zone frame
    assert "pandas" in document and "simulate" in document  # versions and timings
    back = read_run(out)
    assert back.metadata == several.metadata


def test_report_html_without_figures(tmp_path: Path, single: RunResult) -> None:
    path = write_report_html(single, {}, tmp_path / "report.html")
    document = path.read_text(encoding="utf-8")
    assert "data:image/png" not in document
    assert "<table" in document
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_external_reference_detector_catches_links() -> None:
    assert _external_references('<img src="https://x.org/a.png">') != []
    assert _external_references("<a href='//cdn.example/x.css'>") != []
    assert _external_references('<img src="data:image/png;base64,AAAA">') == []


def test_funnel_marks_empty_count_panels(single: RunResult) -> None:
    daily = single.daily.copy()
    for column in ("purchases", "purchases_scaled", "cumulative_purchases", "cumulative_purchases_scaled"):
        daily[column] = 0
    figure = funnel_figure(daily)
    notes = {axis.get_title(): [t.get_text() for t in axis.texts] for axis in figure.axes}
    assert notes["Purchases per day"] == ["none in this run"]
    assert notes["Cumulative purchases"] == ["none in this run"]
    assert notes["Test drives per day"] == []


def test_displayed_interval_is_clipped_to_possible_range() -> None:
    rows = [
        {
            "replication": r,
            "seed": r,
            "day": 0,
            "purchases": value,
            "purchases_scaled": value * 10.0,
            "share_aware": share,
        }
        for r, (value, share) in enumerate([(0, 0.99), (3, 1.0)])
    ]
    result = RunResult(
        daily=pd.DataFrame(rows),
        stores=pd.DataFrame(),
        zones=pd.DataFrame(),
        cells=pd.DataFrame(),
        plan=pd.DataFrame(),
        metadata={"consumer_weight": 10.0},
    )
    summary = result.summary().set_index("kpi")
    assert summary.loc["purchases_scaled", "ci_low"] < 0  # the raw t interval is not clipped
    assert summary.loc["share_aware", "ci_high"] > 1
    rows_text = dict(summary_rows(result))
    # totals 0 and 30: mean 15, s = 21.21, t(0.975, 1) = 12.706 -> 15 +/- 190.6 = [-175.6, 205.6]
    assert rows_text["Purchases"] == "15 ± 15 (95 % CI 0 – 206)"
    assert rows_text["Share aware (end of horizon)"].endswith("– 100.0 %)")


def test_map_zooms_on_stores_that_cover_a_small_part_of_a_large_city() -> None:
    import geopandas as gpd
    import shapely

    squares = [
        shapely.box(x, y, x + 10_000, y + 10_000) for x in range(0, 100_000, 10_000) for y in range(0, 100_000, 10_000)
    ]
    zones = gpd.GeoDataFrame(
        {"zone_id": [f"Z{i:03d}" for i in range(len(squares))]}, geometry=squares, crs="EPSG:32650"
    )
    results = pd.DataFrame({"zone_id": zones["zone_id"], "mean_familiarity": np.linspace(0, 0.5, len(zones))})

    def plan(xs):
        return pd.DataFrame(
            {"store_id": [f"S{i}" for i in range(len(xs))], "format": "mall", "x": xs, "y": [50_000.0] * len(xs)}
        )

    central = familiarity_map(zones, None, results, None, plan([48_000.0, 52_000.0]))
    assert len(central.axes[0].child_axes) == 1
    spread = familiarity_map(zones, None, results, None, plan([5_000.0, 95_000.0]))
    assert len(spread.axes[0].child_axes) == 0


# --------------------------------------------------------------------------- market sections

RIVAL_EXTRA = """
[behaviour]
in_market_rate_per_year = 2.0
booking_rate_per_day = 0.3
trust_intercept = 0.0

[[rivals.showrooms]]
id = "R1"
brand = "Rival"
name = "Rival Centre"
lon = 116.37
lat = 39.92
attractiveness = 1.0
"""


@pytest.fixture(scope="module")
def seeded_run(tiny_city_path, tmp_path_factory) -> tuple[RunResult, Path]:
    """A small real run of the tiny city with one rival showroom: its tables, market figures and report."""
    import simulator
    from simulator.city import load_city, zone_frame

    folder = tmp_path_factory.mktemp("seeded")
    scenario = tiny_scenario_file(folder, tiny_city_path, extra=RIVAL_EXTRA)
    result = simulator.run(scenario, consumers=2_000, days=30)
    zones = zone_frame(load_city(tiny_city_path))
    out = write_run(result, folder / "run", zone_frame=zones, figures=False, report=False)
    (out / "figures").mkdir()
    figures = save_market_figures(result, out / "figures", zones)  # the run's other figures are tested above
    write_report_html(result, figures, out / "report.html", zone_frame=zones)
    return result, out


def _section(document: str, title: str) -> str:
    start = document.index(f"<h2>{title}</h2>")
    return document[start : document.index("</section>", start)]


def test_market_sections_carry_the_run_numbers(seeded_run: tuple[RunResult, Path]) -> None:
    result, out = seeded_run
    document = (out / "report.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(f"{k}.png" for k in MARKET_FIGURES)
    assert document.count("data:image/png;base64,") == len(MARKET_FIGURES)
    daily = result.daily
    intents = daily["test_drive_intents_scaled"].sum()
    assert intents > 0 and daily["bookings_to_rivals"].sum() > 0
    funnel = _section(document, "Where test-drive intent goes")
    assert f"Of {intents:,.0f} test-drive intents" in funnel
    for column in ("bookings_requested", "bookings_to_rivals", "online_orders", "purchases_direct"):
        assert f">{daily[f'{column}_scaled'].sum():,.0f}<" in funnel
    rivals = _section(document, "Rival share")
    assert "Rival Centre" in rivals and "own brand" in rivals
    assert f">{result.rivals['bookings_scaled'].sum():,.0f}<" in rivals
    access = _section(document, "Access by district")
    nearest_first = result.zones.sort_values("nearest_store_km")["zone_id"].map({"Z01": "West", "Z02": "East"})
    assert access.index(nearest_first.iloc[0]) < access.index(nearest_first.iloc[1])  # sorted by distance
    launch = _section(document, "The launch rush")
    weeks = daily.groupby(daily["day"] // 7)["bookings_requested_scaled"].sum()
    assert f"In the launch week {weeks.iloc[0]:,.0f} test-drive bookings" in launch
    assert f"against {weeks.iloc[1:4].mean():,.0f} in the mean later week (weeks 2 to 4)" in launch


def test_market_numbers_match_the_tables(several: RunResult) -> None:
    totals = funnel_totals(several.daily)
    expected = several.daily.groupby("replication")["test_drive_intents_scaled"].sum().mean()
    assert totals["test_drive_intents"] == pytest.approx(expected)
    parts = ("bookings_requested", "bookings_to_rivals", "intents_no_visit", "bookings_no_store")
    assert sum(totals[p] for p in parts) == pytest.approx(expected)
    figure = intent_funnel_figure(several.daily)
    widths = [patch.get_width() for patch in figure.axes[0].patches[:4]]
    np.testing.assert_allclose(widths, [totals[p] for p in parts])
    brands, showrooms = rival_bookings(several)
    assert brands["brand"].iloc[0] == "own brand" and set(brands["brand"][1:]) == {"Tesla", "NIO"}
    tesla = several.rivals[several.rivals["brand"] == "Tesla"].groupby("replication")["bookings_scaled"].sum().mean()
    assert brands.set_index("brand").loc["Tesla", "bookings"] == pytest.approx(tesla)
    assert brands["share"].sum() == pytest.approx(1.0)
    assert len(showrooms) == 3 + 3 and showrooms["bookings"].is_monotonic_decreasing
    zones, _cells = synthetic_frames()
    access = zone_access(several, zones)
    assert access["nearest_store_km"].is_monotonic_increasing and access["label"].iloc[0] == "Dongcheng"


def test_market_sections_without_rivals(tmp_path: Path) -> None:
    result = synthetic_result(n_replications=1, n_days=20, with_rivals=False)
    written = save_market_figures(result, tmp_path)
    assert set(written) == {"intent_funnel", "access", "launch_rush"}
    assert not (tmp_path / "rival_share.png").exists()
    document = write_report_html(result, written, tmp_path / "report.html").read_text(encoding="utf-8")
    rivals = _section(document, "Rival share")
    assert "no rival showrooms" in rivals and "<img" not in rivals and "<table" not in rivals
    assert "Where test-drive intent goes" in document


def test_older_runs_without_market_columns_still_render(tmp_path: Path) -> None:
    result = synthetic_result(n_replications=1, n_days=20, with_rivals=False)
    new_counts = ("test_drive_intents", "bookings_to_rivals", "intents_no_visit", "online_orders", "media_contacts")
    old_daily = result.daily.drop(columns=[*new_counts, *(f"{c}_scaled" for c in new_counts)])
    area_columns = ["brand_access", "rival_access", "nearest_store_km", "test_drive_intents", "bookings_to_rivals"]
    area_columns += ["test_drive_intents_per_1000", "bookings_to_rivals_per_1000"]
    old = RunResult(
        daily=old_daily,
        stores=result.stores,
        zones=result.zones.drop(columns=area_columns),
        cells=result.cells.drop(columns=area_columns),
        plan=result.plan,
        metadata=result.metadata,
    )
    written = save_market_figures(old, tmp_path)
    assert set(written) == {"launch_rush"}
    document = write_report_html(old, written, tmp_path / "report.html").read_text(encoding="utf-8")
    for title in ("Where test-drive intent goes", "Rival share", "Access by district"):
        assert f"<h2>{title}</h2>" not in document
    assert "<h2>The launch rush</h2>" in document and "<h2>Stores</h2>" in document


def test_launch_sentence_compares_the_first_week_with_later_weeks() -> None:
    days = np.arange(21)
    daily = pd.DataFrame({"replication": 0, "day": days, "bookings_requested_scaled": np.where(days < 7, 30.0, 10.0)})
    sentence = launch_sentence(daily)
    assert sentence.startswith("In the launch week 210 test-drive bookings")
    assert "against 70 in the mean later week (weeks 2 to 3), 3.0 times the mean later week." in sentence
    assert launch_sentence(daily[daily["day"] < 10]) == ""  # one complete week only
    # A run longer than the launch month compares with the weeks after it (here 5 and 6).
    days = np.arange(42)
    daily = pd.DataFrame({"replication": 0, "day": days, "bookings_requested_scaled": np.where(days < 28, 30.0, 5.0)})
    assert "against 35 in the mean later week (weeks 5 to 6), 6.0 times" in launch_sentence(daily)


def test_map_marks_rival_showrooms(several: RunResult) -> None:
    zones, _cells = synthetic_frames()
    figure = familiarity_map(zones, None, several.zones, None, several.plan, rivals=several.rivals)
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "rival showroom (3)" in legend and "mall store (1)" in legend


# --------------------------------------------------------------------------- cell raster


def _grid_cells(side: float = 1_000.0, x0: float = 440_500.0, y0: float = 4_410_250.0) -> tuple[np.ndarray, np.ndarray]:
    """A 3 x 4 grid with two squares missing, square (row 1, column 3) cut in two pieces; values 10 * row + column."""
    import shapely

    geoms, values = [], []
    for row in range(3):
        for column in range(4):
            if (row, column) in {(0, 0), (2, 1)}:
                continue
            left, bottom = x0 + column * side, y0 + row * side
            if (row, column) == (1, 3):
                geoms += [
                    shapely.box(left, bottom, left + 0.4 * side, bottom + side),
                    shapely.box(left + 0.4 * side, bottom, left + side, bottom + side),
                ]
                values += [100.0, np.nan]
                continue
            geoms.append(shapely.box(left, bottom, left + side, bottom + side))
            values.append(10.0 * row + column if (row, column) != (2, 3) else np.nan)
    return np.array(geoms, dtype=object), np.array(values)


def test_cell_raster_puts_each_value_at_its_grid_position() -> None:
    from simulator.reports.cell_raster import cell_raster

    geoms, values = _grid_cells()
    raster = cell_raster(geoms[::-1], values[::-1])  # order of the cells does not matter
    assert raster is not None
    assert raster.extent == pytest.approx((440_500.0, 444_500.0, 4_410_250.0, 4_413_250.0))
    assert raster.values.shape == (3, 4)  # row 0 is the southernmost
    for row in range(3):
        for column in range(4):
            value = raster.values[row, column]
            if (row, column) in {(0, 0), (2, 1), (1, 3)}:  # no square there, or cut in pieces
                assert np.isnan(value) and not raster.has_cell[row, column]
            elif (row, column) == (2, 3):  # a square without value
                assert np.isnan(value) and raster.has_cell[row, column]
            else:
                assert value == 10 * row + column and raster.has_cell[row, column]
    assert len(raster.pieces) == 2
    assert sorted(np.nan_to_num(raster.piece_values, nan=-1.0)) == [-1.0, 100.0]


def test_cell_raster_gives_up_on_cells_that_are_not_a_grid() -> None:
    import shapely

    from simulator.reports.cell_raster import cell_raster

    geoms, values = _grid_cells()
    rotated = np.array([shapely.affinity.rotate(g, 20, origin=(442_000.0, 4_411_000.0)) for g in geoms], dtype=object)
    assert cell_raster(rotated, values) is None
    shifted = geoms.copy()
    shifted[0] = shapely.affinity.translate(shifted[0], 300.0, 0.0)  # a square off the grid
    assert cell_raster(shifted, values) is None
    uneven = np.array([shapely.box(0, 0, 1_000, 1_000), shapely.box(1_000, 0, 4_000, 2_000)], dtype=object)
    assert cell_raster(uneven, np.array([1.0, 2.0])) is None


def test_map_draws_grid_cells_as_an_image_at_their_place(several: RunResult) -> None:
    from matplotlib.image import AxesImage

    zones, cells = synthetic_frames()
    figure = familiarity_map(zones, cells, several.zones, several.cells, several.plan)
    axis = figure.axes[0]
    images = [a for a in axis.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1
    xmin, ymin, xmax, ymax = cells.total_bounds
    np.testing.assert_allclose(images[0].get_extent(), [xmin, xmax, ymin, ymax])
    assert len(axis.collections) < 10  # no patch collection per cell


def test_report_html_shows_the_run_warnings_near_the_top(tmp_path: Path, single: RunResult) -> None:
    import dataclasses

    warning = "one simulated consumer stands for 55 people, more than the smallest daily test-drive capacity (20)"
    warned = dataclasses.replace(single, metadata={**single.metadata, "warnings": [warning]})
    html = write_report_html(warned, {}, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="warning"' in html and html.index(warning) < html.index("<h2>Run</h2>")
    plain = write_report_html(single, {}, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert 'class="warning"' not in plain

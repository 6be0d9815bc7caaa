"""The figures of a run: the funnel over time, the stores compared, the familiarity map.

Each figure is drawn from the run's tables alone (so ``footprint report FOLDER`` can
redraw it) as a :class:`matplotlib.figure.Figure` on the Agg canvas, with the toolkit of
:mod:`simulator.reports.figures` and :mod:`simulator.reports.maps`.
:func:`save_figures` writes them as ``figures/*.png`` of a run folder, :func:`start_figures`
the same files from worker processes while the caller writes the rest of the folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects, ticker
from matplotlib import dates as mdates
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.reports.cell_raster import CellPainter, cell_raster
from simulator.reports.derived import prime, replication_means_of, store_totals_of
from simulator.reports.figure_pool import FigureRendering
from simulator.reports.figures import (
    FORMAT_STYLES,
    LINE_COLOUR,
    NO_DATA_COLOUR,
    ROLLING_DAYS,
    FigureJob,
    display_label,
    fixed_grid_margins,
    font_kwargs,
    format_style,
    new_figure,
    save_figure_jobs,
    thousands_formatter,
    time_axis,
)
from simulator.reports.maps import (
    draw_outlines,
    draw_rivals,
    draw_stores,
    frame_map,
    metric_frames,
    rival_points,
    store_points,
    zoom_on_stores,
)
from simulator.reports.market_figures import market_figure_jobs, save_market_figures
from simulator.results import FIGURES_DIR, RunResult
from simulator.results.daily_noise import daily_band

MAP_COLOURMAP = "viridis"
"""Colour map of the familiarity map."""

MAX_ZONE_LABELS = 40
"""Zones are labelled on the map only when there are at most this many."""

FUNNEL_COLUMNS = 3
"""Panels per row of the funnel figure."""

FunnelLine = tuple[str, str | None, str]
"""One series of a funnel panel: daily column, legend label (or None) and line style."""

FunnelPanel = tuple[str, list[FunnelLine], str]
"""A funnel panel: title, series and kind (``share``, ``index``, ``rate`` or ``cumulative``)."""


# --------------------------------------------------------------------------- funnel


def _funnel_panels(columns: Iterable[str]) -> list[FunnelPanel]:
    """The funnel panels whose columns are present (``_scaled`` counts when there are some)."""
    present = set(columns)

    def scaled(column: str) -> str:
        return f"{column}_scaled" if f"{column}_scaled" in present else column

    panels: list[FunnelPanel] = [
        ("Aware of the brand", [("share_aware", None, "-")], "share"),
        ("Familiar (familiarity ≥ 0.5)", [("share_familiar", None, "-")], "share"),
        ("Effective frequency (3+ sightings in 28 days)", [("effective_frequency_28d", None, "-")], "share"),
        ("Mean trust", [("mean_trust", None, "-")], "index"),
        ("Test-drive bookings requested per day", [(scaled("bookings_requested"), None, "-")], "rate"),
        ("Test drives per day", [(scaled("test_drives"), None, "-")], "rate"),
        (
            "Bookings lost per day",
            [
                (scaled("bookings_lost"), "abandoned in queue", "-"),
                (scaled("bookings_no_store"), "no store open", "--"),
            ],
            "rate",
        ),
        ("Purchases per day", [(scaled("purchases"), None, "-")], "rate"),
        ("Cumulative purchases", [(scaled("cumulative_purchases"), None, "-")], "cumulative"),
    ]
    panels = [(title, [line for line in lines if line[0] in present], kind) for title, lines, kind in panels]
    return [panel for panel in panels if panel[1]]


def _draw_funnel_panel(axis: Any, frame: pd.DataFrame, panel: FunnelPanel, x_column: str, is_scaled: bool) -> None:
    """One panel: mean line and 95 % band (±1.96 SE) of each series, axes by kind."""
    title, lines, kind = panel
    rolling = ROLLING_DAYS if kind == "rate" else None
    if kind in ("rate", "cumulative") and not frame[[c for c, _l, _s in lines]].to_numpy().any():
        axis.set_ylim(0, 1)
        axis.text(
            0.5,
            0.5,
            "none in this run",
            transform=axis.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#666666",
        )
    factor = 100.0 if kind == "share" else 1.0
    for column, label, style in lines:
        x, mean, low, high, _n = daily_band(frame, column, x_column, rolling)
        colour = LINE_COLOUR if style == "-" else "#b03a2e"
        axis.plot(x, mean * factor, color=colour, linestyle=style, linewidth=1.6, label=label)
        if bool((high > low).any()):
            axis.fill_between(x, low.clip(lower=0) * factor, high * factor, color=colour, alpha=0.2, linewidth=0)
    axis.set_title(title, fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.set_ylim(bottom=0)
    axis.yaxis.set_major_locator(ticker.MaxNLocator(nbins=6, integer=kind in ("rate", "cumulative")))
    if kind == "share":
        axis.yaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    elif kind == "index":
        axis.set_ylabel("0 – 1", fontsize=8)
    else:
        axis.yaxis.set_major_formatter(thousands_formatter())
        axis.set_ylabel("people" if is_scaled else "simulated consumers", fontsize=8)
    if any(label for _c, label, _s in lines):
        axis.legend(fontsize=8, loc="best", framealpha=0.85)
    axis.tick_params(labelsize=8)


def funnel_figure(daily: pd.DataFrame) -> Figure:
    """Time series of the funnel, one panel per KPI.

    Panels: share aware, share familiar (F >= 0.5), effective frequency (3+ sightings in
    28 days), all in %; mean trust (0-1); test-drive bookings requested, test drives,
    bookings lost (and bookings finding no open store), purchases per day, scaled to the
    real population (``_scaled`` columns) as 7-day trailing rolling means; cumulative
    purchases. Each panel shows the mean over replications as a line and its 95 % band,
    ±1.96 SE (:func:`simulator.results.daily_noise.daily_band`: the spread over
    replications, or with one replication the rows' within-run ``_se``).

    Parameters
    ----------
    daily : pandas.DataFrame
        The ``daily`` table (columns of ``docs/architecture.md``). Panels whose column is
        missing are left out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x_column, is_date = time_axis(daily)
    frame = daily.copy()
    if is_date:
        frame["date"] = pd.to_datetime(frame["date"])
    panels = _funnel_panels(frame.columns)
    n_replications = int(frame["replication"].nunique()) if len(frame) else 0
    is_scaled = any(c.endswith("_scaled") for c in frame.columns)

    n_rows = max(1, math.ceil(len(panels) / FUNNEL_COLUMNS))
    figure = new_figure(13.0, 3.0 * n_rows + 0.8, constrained=False)
    axes = figure.subplots(n_rows, FUNNEL_COLUMNS, sharex=True, squeeze=False)
    fixed_grid_margins(figure, n_rows, FUNNEL_COLUMNS)
    for index, axis in enumerate(axes.flat):
        if index >= len(panels):
            axis.set_visible(False)
            continue
        _draw_funnel_panel(axis, frame, panels[index], x_column, is_scaled)
        if is_date:
            locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
            axis.xaxis.set_major_locator(locator)
            axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        elif index >= len(panels) - FUNNEL_COLUMNS:
            axis.set_xlabel("day")
    for axis in axes.flat:
        if axis.get_visible():
            axis.xaxis.set_tick_params(labelbottom=True)
    band_note = (
        f"line: mean of {n_replications} replications, band: ±1.96 SE over replications"
        if n_replications > 1
        else "band: ±1.96 within-run SE"
    )
    scale_note = "counts scaled to the real population" if is_scaled else "counts in simulated consumers"
    figure.suptitle(
        f"Funnel over time\n{scale_note}; daily counts are {ROLLING_DAYS}-day rolling means; {band_note}",
        fontsize=11,
    )
    return figure


# --------------------------------------------------------------------------- stores


def _store_labels(totals: pd.DataFrame) -> list[str]:
    return [
        display_label(name, store_id) for name, store_id in zip(totals["store_name"], totals["store_id"], strict=True)
    ]


def _draw_bookings(axis: Any, totals: pd.DataFrame, colours: list[str], consumer_weight: float) -> None:
    """Bars of bookings requested per store, split into test drives, bookings lost and the rest."""
    positions = np.arange(len(totals))
    requested = totals["bookings_requested"].to_numpy(float) * consumer_weight
    driven = totals["test_drives"].to_numpy(float) * consumer_weight
    lost = totals["bookings_lost"].to_numpy(float) * consumer_weight
    rest = np.clip(requested - driven - lost, 0.0, None)
    axis.barh(positions, driven, color=colours, edgecolor="black", linewidth=0.5)
    axis.barh(positions, lost, left=driven, color="white", edgecolor="#444444", hatch="////", linewidth=0.5)
    axis.barh(positions, rest, left=driven + lost, color=colours, alpha=0.3, edgecolor="black", linewidth=0.5)
    right_end = np.maximum(requested, driven + lost)
    x_max = float(right_end.max())
    for position, value, end in zip(positions, requested, right_end, strict=True):
        axis.text(end + 0.01 * x_max, position, f"{value:,.0f}", va="center", fontsize=8)
    axis.set_xlim(0, max(x_max * 1.15, 1.0))
    axis.set_yticks(positions, _store_labels(totals), fontsize=8, **font_kwargs())
    axis.xaxis.set_major_formatter(thousands_formatter())
    unit = "people" if consumer_weight != 1.0 else "simulated consumers"
    axis.set_xlabel(f"test-drive bookings requested over the horizon ({unit})", fontsize=9)
    axis.set_title("Bookings per store and what became of them", fontsize=10)
    axis.grid(True, axis="x", alpha=0.3)


def _draw_utilisation(axis: Any, totals: pd.DataFrame, colours: list[str]) -> None:
    """Bars of test-drive utilisation per store (mean over open days), with the 100 % line."""
    positions = np.arange(len(totals))
    utilisation = totals["utilisation"].to_numpy(float) * 100.0
    axis.barh(positions, utilisation, color=colours, edgecolor="black", linewidth=0.5)
    axis.axvline(100.0, color="#444444", linestyle="--", linewidth=1)
    for position, value in zip(positions, utilisation, strict=True):
        text = f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %"
        axis.text(value + 1.5, position, text, va="center", fontsize=8)
    axis.set_xlim(0, max(110.0, float(utilisation.max()) * 1.2))
    axis.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    axis.set_xlabel("test drives / capacity, mean over open days", fontsize=9)
    axis.set_title("Test-drive utilisation", fontsize=10)
    axis.grid(True, axis="x", alpha=0.3)


def _store_legend_handles(formats: Iterable[Any]) -> list[Patch]:
    """Legend of the store bars: one colour per format present, then lost and the rest."""
    order = {name: rank for rank, name in enumerate(FORMAT_STYLES)}
    formats_present = sorted({str(f) for f in formats}, key=lambda f: (order.get(f, len(order)), f))
    handles = [
        Patch(facecolor=format_style(f)[1], edgecolor="black", label=f"{f.replace('_', ' ')}: test drives")
        for f in formats_present
    ]
    handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="////", label="lost (abandoned in queue)"))
    handles.append(Patch(facecolor="#999999", alpha=0.3, edgecolor="black", label="still waiting / other"))
    return handles


def stores_figure(stores: pd.DataFrame, plan: pd.DataFrame, *, consumer_weight: float = 1.0) -> Figure:
    """Stores compared: bookings and their outcome, and test-drive utilisation.

    Left: one horizontal bar per store whose length is the total test-drive bookings
    requested over the horizon, split into test drives (solid, coloured by format),
    bookings lost (hatched) and the rest (pale: still waiting or otherwise open at the
    end). Right: utilisation, the mean over open days of test drives / capacity.
    Totals are means over replications, multiplied by ``consumer_weight``.

    Parameters
    ----------
    stores : pandas.DataFrame
        The ``stores`` table.
    plan : pandas.DataFrame
        The ``plan`` table (names, formats).
    consumer_weight : float
        People per simulated consumer (1 keeps simulated counts).

    Returns
    -------
    matplotlib.figure.Figure
    """
    totals = store_totals_of(stores, plan).sort_values("bookings_requested", ascending=True, kind="stable")
    n_stores = len(totals)
    figure = new_figure(12.0, max(3.0, 0.38 * n_stores + 1.8))
    axis_bookings, axis_utilisation = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [2.2, 1.0]})
    if n_stores == 0:
        axis_bookings.text(0.5, 0.5, "no stores", ha="center", va="center", transform=axis_bookings.transAxes)
        return figure
    colours = [format_style(f)[1] for f in totals["format"]]
    _draw_bookings(axis_bookings, totals, colours, consumer_weight)
    _draw_utilisation(axis_utilisation, totals, colours)
    for axis in (axis_bookings, axis_utilisation):
        axis.tick_params(axis="x", labelsize=8)
        axis.set_ylim(-0.6, n_stores - 0.4)
    handles = _store_legend_handles(totals["format"])
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- map


def _familiarity_areas(
    zones: Any, cells: Any, zone_results: pd.DataFrame, cell_results: pd.DataFrame | None
) -> tuple[Any, bool]:
    """Cells (when there are cell results) or zones, with their ``mean_familiarity`` (NaN: no consumers)."""
    if cells is not None and cell_results is not None and not cell_results.empty:
        key, areas, results, use_cells = "cell_id", cells, cell_results, True
    else:
        key, areas, results, use_cells = "zone_id", zones, zone_results, False
    means = replication_means_of(results, key) if "replication" in results.columns else results.copy()
    areas = areas.assign(**{key: areas[key].astype(str)})
    means = means.assign(**{key: means[key].astype(str)})
    return areas.merge(means[[key, "mean_familiarity"]], on=key, how="left"), use_cells


def _area_painter(areas: Any, use_cells: bool, colourmap: Colormap, norm: Normalize) -> Callable[[Any], None]:
    """A function drawing the areas' ``mean_familiarity`` on a map axis (the map and its zoom inset).

    Cells on a regular grid are drawn as one raster image of the whole squares plus the pieces
    cut at borders as one path collection (:mod:`simulator.reports.cell_raster`); zones, and
    cells that are not a regular grid, as polygons.
    Areas without a value (no consumers) are grey in both.
    """
    raster = cell_raster(areas.geometry.to_numpy(), areas["mean_familiarity"].to_numpy(float)) if use_cells else None
    if raster is not None:
        return CellPainter(raster, colourmap, norm, NO_DATA_COLOUR)
    has_data = areas["mean_familiarity"].notna()

    def draw_polygons(axis: Any) -> None:
        if has_data.any():
            areas[has_data].plot(
                ax=axis, column="mean_familiarity", cmap=colourmap, norm=norm, linewidth=0.0, edgecolor="none"
            )
        if (~has_data).any():
            areas[~has_data].plot(ax=axis, color=NO_DATA_COLOUR, linewidth=0.0)

    return draw_polygons


def _colour_scale_top(values: pd.Series, vmax: float | None) -> float:
    """Top of the colour scale: ``vmax``, else the data maximum rounded up to 0.05 (0.05 to 1)."""
    if vmax is not None:
        return vmax
    data_max = float(values.max()) if values.notna().any() else 1.0
    return min(1.0, max(0.05, math.ceil(data_max / 0.05) * 0.05))


def _draw_zone_labels(axis: Any, zones: Any) -> None:
    """Zone names (English when the fonts cannot draw Chinese, else the id) at a point inside each zone."""
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    points = zones.geometry.representative_point()
    for point, row in zip(points, zones.itertuples(index=False), strict=True):
        label = display_label(getattr(row, "name_en", None), getattr(row, "name", None), row.zone_id)
        axis.text(
            point.x,
            point.y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            color="#222222",
            path_effects=halo,
            zorder=5,
            **font_kwargs(),
        )


def familiarity_map(
    zone_gdf: Any,
    cell_gdf: Any,
    zone_results: pd.DataFrame,
    cell_results: pd.DataFrame | None,
    plan: pd.DataFrame,
    *,
    vmax: float | None = None,
    title: str | None = None,
    rivals: pd.DataFrame | None = None,
) -> Figure:
    """Choropleth of mean familiarity at the end of the horizon, with the stores and rivals.

    Cells are coloured when ``cell_gdf`` and ``cell_results`` are given, else zones;
    areas without consumers are grey. Cells on a regular axis-aligned grid in the map's
    CRS (as the shipped bundle's 1 km cells) are drawn as one raster image on that grid,
    the pieces of squares cut by the city's edge or a district border keeping their shape
    (:mod:`simulator.reports.cell_raster`); other cells (irregular polygons, a rotated
    grid) and zones are drawn as polygons. Zone outlines and labels (English name when there
    is one and the fonts cannot draw Chinese; else the zone id), stores as markers by
    format, rival showrooms (when ``rivals`` has rows) as grey crosses, a colour bar, a scale bar in km and a north arrow (north is up: the map is
    drawn in a projected CRS).

    Parameters
    ----------
    zone_gdf : geopandas.GeoDataFrame
        Zones with ``zone_id`` (and optionally ``name``, ``name_en``), any CRS.
    cell_gdf : geopandas.GeoDataFrame or None
        Cells with ``cell_id``, any CRS.
    zone_results, cell_results : pandas.DataFrame
        ``zones`` / ``cells`` tables (per replication or already averaged).
    plan : pandas.DataFrame
        The ``plan`` table (``lon``/``lat``, else ``x``/``y`` in the frames' CRS).
    vmax : float, optional
        Top of the colour scale (default: the data maximum rounded up to 0.05).
    title : str, optional
        Map title.
    rivals : pandas.DataFrame, optional
        The ``rivals`` table (``rival_id``, ``lon``, ``lat``); drawn when not empty.

    Returns
    -------
    matplotlib.figure.Figure
    """
    zones, cells = metric_frames(zone_gdf, cell_gdf)
    areas, use_cells = _familiarity_areas(zones, cells, zone_results, cell_results)
    norm = Normalize(vmin=0.0, vmax=_colour_scale_top(areas["mean_familiarity"], vmax))
    colourmap = colormaps[MAP_COLOURMAP]

    xmin, ymin, xmax, ymax = zones.total_bounds
    aspect = (ymax - ymin) / max(xmax - xmin, 1.0)
    width = 10.0
    figure = new_figure(width, min(max(width * aspect * 0.85 + 1.0, 5.0), 14.0))
    axis = figure.subplots()
    has_data = areas["mean_familiarity"].notna()
    draw_areas = _area_painter(areas, use_cells, colourmap, norm)
    draw_areas(axis)
    draw_outlines(axis, zones.geometry.to_numpy())
    if len(zones) <= MAX_ZONE_LABELS:
        _draw_zone_labels(axis, zones)

    stores = store_points(plan, zones.crs)
    handles: list[Any] = draw_stores(axis, stores)
    showrooms = rival_points(rivals if rivals is not None else pd.DataFrame(), zones.crs)
    handles += draw_rivals(axis, showrooms)
    if (~has_data).any():
        handles.append(Patch(facecolor=NO_DATA_COLOUR, edgecolor="none", label="no consumers"))
    if handles:
        axis.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)

    colour_bar = figure.colorbar(ScalarMappable(norm=norm, cmap=colourmap), ax=axis, shrink=0.7, pad=0.02)
    colour_bar.set_label("mean familiarity (0–1)", fontsize=9)
    colour_bar.ax.tick_params(labelsize=8)

    bounds = frame_map(axis, (xmin, ymin, xmax, ymax))
    level = "cell" if use_cells else "zone"
    axis.set_title(title or f"Mean familiarity by {level} at the end of the horizon", fontsize=11)
    zoom_on_stores(axis, areas, zones, stores, colourmap, norm, bounds, rivals=showrooms, draw_areas=draw_areas)
    return figure


# --------------------------------------------------------------------------- saving


def run_figure_jobs(
    result: RunResult, folder: str | os.PathLike[str], zone_gdf: Any = None, cell_gdf: Any = None
) -> list[FigureJob]:
    """The funnel, stores and (with ``zone_gdf``) familiarity-map figures as jobs writing into ``folder``."""
    folder = Path(folder)
    jobs = [
        FigureJob("funnel", partial(funnel_figure, result.daily), folder / "funnel.png", 4.0),
        FigureJob(
            "stores",
            partial(stores_figure, result.stores, result.plan, consumer_weight=result.consumer_weight),
            folder / "stores.png",
            1.5,
        ),
    ]
    if zone_gdf is not None:
        draw = partial(
            familiarity_map, zone_gdf, cell_gdf, result.zones, result.cells, result.plan, rivals=result.rivals
        )
        jobs.append(FigureJob("familiarity_map", draw, folder / "familiarity_map.png", 2.0))
    return jobs


def save_figures(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    zone_gdf: Any = None,
    cell_gdf: Any = None,
) -> dict[str, Path]:
    """Write the run's figures as PNG under ``<out_dir>/figures/`` (atomically), in this process.

    Parameters
    ----------
    result : RunResult
    out_dir : path-like
        Run folder (``figures/`` is created in it).
    zone_gdf, cell_gdf : geopandas.GeoDataFrame, optional
        Geometries for the map; ``familiarity_map.png`` is written only when
        ``zone_gdf`` is given.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"funnel": ..., "stores": ..., "familiarity_map": ...}`` (map only with geometry),
        plus the market figures the run's tables allow (:func:`save_market_figures`:
        ``intent_funnel``, ``rival_share``, ``access``, ``launch_rush``).
    """
    folder = Path(out_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = save_figure_jobs(run_figure_jobs(result, folder, zone_gdf, cell_gdf))
    written.update(save_market_figures(result, folder, zone_gdf))
    return written


def start_figures(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    zone_gdf: Any = None,
    cell_gdf: Any = None,
    *,
    workers: int | None = None,
) -> FigureRendering:
    """Start drawing the figures :func:`save_figures` writes, in worker processes; same files.

    ``workers`` as in :class:`~simulator.reports.figure_pool.FigureRendering`; its
    :meth:`~simulator.reports.figure_pool.FigureRendering.wait` returns what
    :func:`save_figures` returns.
    """
    folder = Path(out_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    jobs = run_figure_jobs(result, folder, zone_gdf, cell_gdf) + market_figure_jobs(result, folder, zone_gdf)
    prime(result)  # the workers inherit the derived tables instead of each computing them
    return FigureRendering(jobs, workers)

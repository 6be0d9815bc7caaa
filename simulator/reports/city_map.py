"""A static map of a city bundle and the rows of its text summary.

:func:`render_city_map` draws the districts, the modelled population surface,
the subway network and the candidate sites to a PNG (matplotlib's Agg canvas, no
pyplot state). :func:`format_city_summary` turns :meth:`City.summary` into label /
value rows for the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from matplotlib import colormaps, patheffects
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from simulator.city import City, cell_frame, line_frame, site_frame, zone_frame
from simulator.reports.figures import cjk_font_family, display_label, font_kwargs, new_figure, save_png
from simulator.reports.maps import Bounds, Corner, corner_cover, draw_north_arrow

__all__ = ["MAP_DPI", "MAP_WIDTH_PX", "format_city_summary", "render_city_map"]

MAP_WIDTH_PX = 1600
"""Width of the city map in pixels."""

MAP_DPI = 150
"""Resolution of the city map (dots per inch)."""

DENSITY_LABEL = "residents per km²"

DEFAULT_LINE_COLOURS = (
    "#c23a30",
    "#006098",
    "#008e9c",
    "#d5a7a1",
    "#a6217f",
    "#b58500",
    "#fbc600",
    "#0a9e49",
    "#8fc31f",
    "#d6abc1",
    "#00a0e9",
    "#ea5404",
    "#9b7ebc",
    "#f4b0c3",
    "#0ab2b0",
    "#6e2c90",
)
"""Subway line colours when the bundle gives none (Beijing's palette)."""

MALL_COLOUR = "#1f6fb4"
SITE_COLOUR = "#7b3294"


def render_city_map(city: City, out_png: str | os.PathLike[str]) -> Path:
    """Draw the city to a PNG about 1600 px wide (dpi 150) and return its path.

    Layers, bottom to top: population cells coloured by modelled density
    ``population / area`` (residents per km², log colour scale; empty cells
    grey), district outlines with names (Chinese when a CJK font is installed,
    otherwise ``name_en``), subway lines in their ``color`` (a default palette
    when the bundle has none), stations as dots, malls as diamonds whose area
    grows with attractiveness, street sites as triangles. Axes are UTM
    kilometres, north up; the legend and north arrow go to the corners that
    cover least of the city. When the stations gather in a core much smaller
    than the city (Beijing), a second panel on the right enlarges that core (a
    square around the median station holding 70 % of the stations) and the
    colour bar moves below both. The file is written atomically
    (:func:`simulator.reports.figures.save_png`); its folder is created if needed.
    """
    target = Path(out_png)
    target.parent.mkdir(parents=True, exist_ok=True)
    xmin, ymin, xmax, ymax = city.bounds
    pad = 0.03 * max(xmax - xmin, ymax - ymin)
    view = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
    layers = _Layers(city)
    core = _transit_core(city)
    figure, panels = _map_figure(view, core)
    axes = panels[0]
    _draw_map(axes, city, layers, view, label_min_share=0.01 if core else 0.0, scale=1.0)
    if core is not None:
        core_axes = panels[1]
        _draw_map(core_axes, city, layers, core, label_min_share=0.0, scale=1.3)
        core_axes.set_title(f"centre, {(core[2] - core[0]) / 1000:.0f} km across", fontsize=9)
        axes.indicate_inset(
            (core[0], core[1], core[2] - core[0], core[3] - core[1]), edgecolor="#222222", alpha=0.9, linewidth=1.0
        )
    _density_colour_bar(figure, panels, layers, below=core is not None)
    _kilometre_axes(panels, city)
    corners = _corners_by_emptiness(layers.area, view)
    legend_handles = _legend_handles(city)
    if legend_handles:
        axes.legend(handles=legend_handles, loc=corners.pop(0), fontsize=7, framealpha=0.9)
    arrow_corner = corners.pop(0)
    draw_north_arrow(
        axes,
        0.04 if "left" in arrow_corner else 0.96,
        0.96 if "upper" in arrow_corner else 0.13,
        length=0.08,
        linewidth=1.2,
    )
    _titles(figure, city)
    return save_png(figure, target, dpi=MAP_DPI)


def _map_figure(view: Bounds, core: Bounds | None) -> tuple[Figure, list[Axes]]:
    """The figure, about :data:`MAP_WIDTH_PX` wide, with one map panel, or two with a core panel."""
    width_in = MAP_WIDTH_PX / MAP_DPI
    map_aspect = (view[3] - view[1]) / (view[2] - view[0])
    if core is None:
        figure = new_figure(width_in, float(np.clip(width_in * 0.80 * map_aspect + 1.2, 5.0, 16.0)), dpi=MAP_DPI)
        return figure, [figure.add_subplot()]
    figure = new_figure(width_in, float(np.clip(width_in * 0.52 * map_aspect + 1.6, 5.0, 16.0)), dpi=MAP_DPI)
    axes, core_axes = figure.subplots(1, 2, width_ratios=[1.35, 1.0])
    return figure, [axes, core_axes]


def _density_colour_bar(figure: Figure, panels: list[Axes], layers: _Layers, *, below: bool) -> None:
    """The colour bar of population density, right of the map or below both panels."""
    colourbar = figure.colorbar(
        ScalarMappable(norm=layers.norm, cmap=layers.cmap),
        ax=panels,
        shrink=0.6,
        pad=0.01,
        location="bottom" if below else "right",
        aspect=30 if below else 20,
    )
    colourbar.set_label(DENSITY_LABEL, fontsize=8)
    colourbar.ax.tick_params(labelsize=7, which="both")
    plain = FuncFormatter(lambda value, _: f"{value:,.0f}")
    minor = FuncFormatter(lambda value, _: f"{value:,.0f}" if f"{value:.0e}"[0] in "25" else "")
    for axis in (colourbar.ax.xaxis, colourbar.ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(minor)


def _kilometre_axes(panels: list[Axes], city: City) -> None:
    """Axis ticks in km of the city's metric CRS (one decimal for cities under 20 km wide)."""
    width_m = city.bounds[2] - city.bounds[0]
    decimals = 0 if width_m >= 20_000 else 1
    km = FuncFormatter(lambda value, _: f"{value / 1000:.{decimals}f}")
    for panel in panels:
        panel.xaxis.set_major_formatter(km)
        panel.yaxis.set_major_formatter(km)
        panel.set_xlabel(f"easting, km ({city.crs})", fontsize=8)
        panel.set_ylabel(f"northing, km ({city.crs})", fontsize=8)
        panel.tick_params(labelsize=7)


def _titles(figure: Figure, city: City) -> None:
    """Title with the city's totals and a footnote on sources and fonts."""
    title_name = city.name.replace("_", " ").title()
    figure.suptitle(
        f"{title_name}: {city.population_total:,.0f} residents · {_count(city.station_ids.size, 'subway station')} "
        f"on {_count(city.line_ids.size, 'line')} · {_count(city.mall_ids.size, 'mall')}",
        fontsize=11,
    )
    notes = ["cell populations and jobs as described in the bundle's 'sources' layer"]
    if city.mall_ids.size:
        notes.append("mall positions approximate (see 'position_accuracy_m')")
    if cjk_font_family() is None:
        notes.append("district names in English (no CJK font installed)")
    engine = figure.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(h_pad=0.04)
    figure.supxlabel("; ".join(notes), fontsize=6, color="#555555", x=0.01, ha="left")


def _count(number: int, noun: str) -> str:
    """``1 line``, ``2 lines``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class _Layers:
    """Geometries and colours read once and drawn on both panels."""

    def __init__(self, city: City) -> None:
        self.zones = zone_frame(city)
        self.area = self.zones.geometry.union_all()
        self.cells = cell_frame(city)
        self.lines = line_frame(city) if city.line_ids.size else None
        self.sites = site_frame(city) if city.site_ids.size else None
        area_km2 = (2.0 * city.cell_half_size) ** 2 / 1e6
        with np.errstate(divide="ignore", invalid="ignore"):
            density = np.where(area_km2 > 0, city.cell_population / area_km2, 0.0)
        positive = density[density > 0]
        vmin = float(max(np.percentile(positive, 1), 1.0)) if positive.size else 1.0
        vmax = float(max(positive.max(), vmin * 10)) if positive.size else 10.0
        self.norm = mcolors.LogNorm(vmin=vmin, vmax=vmax, clip=True)
        self.cmap = colormaps["YlOrRd"].with_extremes(bad="#dcdcdc")
        self.cell_colours = self.cmap(self.norm(np.ma.masked_less_equal(density, 0)))
        self.line_colours: list[str] = []
        if self.lines is not None:
            given = self.lines["color"] if "color" in self.lines.columns else [None] * len(self.lines)
            self.line_colours = [
                colour
                if isinstance(colour, str) and mcolors.is_color_like(colour)
                else DEFAULT_LINE_COLOURS[i % len(DEFAULT_LINE_COLOURS)]
                for i, colour in enumerate(given)
            ]


def _transit_core(city: City) -> Bounds | None:
    """Square around the bulk of the stations when it is much smaller than the city, else None."""
    if city.station_ids.size < 10:
        return None
    xmin, ymin, xmax, ymax = city.bounds
    centre = np.median(city.station_xy, axis=0)
    reach = np.abs(city.station_xy - centre).max(axis=1)
    half = float(max(np.percentile(reach, 70), 2_000.0))
    if 2 * half > 0.45 * max(xmax - xmin, ymax - ymin):
        return None
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


def _corners_by_emptiness(area: Any, view: Bounds) -> list[Corner]:
    """Legend locations ordered by how little of the city a box of 40 % in that corner covers."""
    order: list[Corner] = ["lower right", "upper right", "lower left", "upper left"]  # tie-break
    covered = corner_cover(area, view, 0.4, order)
    return sorted(order, key=lambda name: (round(covered[name], 2), order.index(name)))


def _draw_map(axes: Axes, city: City, layers: _Layers, view: Bounds, label_min_share: float, scale: float) -> None:
    """One map panel showing ``view``: cells, districts with names, subway, malls and sites.

    Districts smaller than ``label_min_share`` of the city are not named; ``scale``
    enlarges lines and markers (for the core panel).
    """
    axes.set_facecolor("#eef2f5")
    x0, y0, x1, y1 = view
    cells = layers.cells
    visible = cells.geometry.intersects(shapely.box(x0, y0, x1, y1)).to_numpy()
    if visible.any():
        cells[visible].plot(ax=axes, color=layers.cell_colours[visible], edgecolor="none", linewidth=0, zorder=1)
    layers.zones.boundary.plot(ax=axes, color="#333333", linewidth=0.8, zorder=3)
    _draw_district_names(axes, city, layers, view, label_min_share)
    _draw_places(axes, city, layers, scale)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    axes.set_aspect("equal")
    axes.set_xlabel("")
    axes.set_ylabel("")


def _draw_district_names(axes: Axes, city: City, layers: _Layers, view: Bounds, min_share: float) -> None:
    """District names (Chinese when the fonts can draw it, else ``name_en``) inside ``view``."""
    x0, y0, x1, y1 = view
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    areas = layers.zones.geometry.area.to_numpy()
    share = areas / areas.sum()
    points = layers.zones.geometry.representative_point()
    for name, name_en, point, part in zip(city.zone_names, city.zone_names_en, points, share, strict=True):
        if part >= min_share and x0 <= point.x <= x1 and y0 <= point.y <= y1:
            axes.text(
                point.x,
                point.y,
                display_label(name, name_en),
                fontsize=7,
                ha="center",
                va="center",
                zorder=8,
                clip_on=True,
                path_effects=halo,
                color="#222222",
                **font_kwargs(),
            )


def _draw_places(axes: Axes, city: City, layers: _Layers, scale: float) -> None:
    """Subway lines and stations, malls (area by attractiveness) and street sites."""
    if layers.lines is not None:
        layers.lines.plot(ax=axes, color="white", linewidth=2.8 * scale, zorder=4)
        layers.lines.plot(ax=axes, color=layers.line_colours, linewidth=1.7 * scale, zorder=4)
        axes.scatter(
            city.station_xy[:, 0],
            city.station_xy[:, 1],
            s=5 * scale,
            facecolor="white",
            edgecolor="#333333",
            linewidth=0.4,
            zorder=5,
        )
    if city.mall_ids.size:
        largest = float(city.mall_attractiveness.max())
        axes.scatter(
            city.mall_xy[:, 0],
            city.mall_xy[:, 1],
            s=_mall_marker_size(city.mall_attractiveness, largest) * scale,
            marker="D",
            facecolor=MALL_COLOUR,
            edgecolor="white",
            linewidth=0.6,
            alpha=0.9,
            zorder=7,
        )
    if layers.sites is not None:
        axes.scatter(
            layers.sites.geometry.x,
            layers.sites.geometry.y,
            s=30 * scale,
            marker="^",
            facecolor=SITE_COLOUR,
            edgecolor="white",
            linewidth=0.5,
            zorder=7,
        )


def _mall_marker_size(attractiveness: np.ndarray, largest: float) -> np.ndarray:
    return 8.0 + 60.0 * attractiveness / largest


def _legend_handles(city: City) -> list[Line2D]:
    """Legend of the map: subway, stations, malls at three attractiveness levels, street sites."""
    handles: list[Line2D] = []
    if city.line_ids.size:
        handles += [
            Line2D([], [], color="#555555", linewidth=1.7, label=f"subway ({_count(city.line_ids.size, 'line')})"),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="none",
                markersize=3,
                markerfacecolor="white",
                markeredgecolor="#333333",
                markeredgewidth=0.5,
                label="station",
            ),
        ]
    if city.mall_ids.size:
        largest = float(city.mall_attractiveness.max())
        for value in sorted(set(np.quantile(city.mall_attractiveness, [0.0, 0.5, 1.0]).round(2))):
            size = float(_mall_marker_size(np.array([value]), largest)[0])
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="D",
                    linestyle="none",
                    markersize=np.sqrt(size),
                    markerfacecolor=MALL_COLOUR,
                    markeredgecolor="white",
                    label=f"mall, attractiveness {value:g}",
                )
            )
    if city.site_ids.size:
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                linestyle="none",
                markersize=6,
                markerfacecolor=SITE_COLOUR,
                markeredgecolor="white",
                label="street site",
            )
        )
    return handles


def format_city_summary(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Label / value rows of :meth:`City.summary` for printing."""
    lon_min, lat_min, lon_max, lat_max = summary["bounds_lonlat"]
    xmin, ymin, xmax, ymax = summary["bounds_m"]
    width_km, height_km = summary["extent_km"]
    return [
        ("city", str(summary["name"])),
        ("bundle", str(summary["source"])),
        ("metric CRS", str(summary["crs"])),
        ("districts", f"{summary['districts']:,}"),
        ("population (census)", f"{summary['population_total']:,}"),
        ("population cells", f"{summary['cells']:,}"),
        ("modelled cell population", f"{summary['cell_population_total']:,}"),
        ("modelled jobs", f"{summary['jobs_total']:,}"),
        ("subway stations", f"{summary['stations']:,}"),
        ("subway lines", f"{summary['lines']:,}"),
        ("platforms (station x line)", f"{summary['platforms']:,}"),
        ("malls", f"{summary['malls']:,}"),
        ("street sites", f"{summary['street_sites']:,}"),
        ("bounds (lon/lat)", f"{lon_min:.4f}, {lat_min:.4f} .. {lon_max:.4f}, {lat_max:.4f}"),
        ("bounds (m)", f"{xmin:,.0f}, {ymin:,.0f} .. {xmax:,.0f}, {ymax:,.0f}"),
        ("extent", f"{width_km:.1f} km x {height_km:.1f} km"),
    ]

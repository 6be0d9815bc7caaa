"""The map toolkit shared by the run, comparison and city maps.

Maps are drawn in a metric CRS with north up (:func:`metric_frames`, :func:`store_points`).
:func:`frame_map` frames one: padding, equal aspect, no ticks, a scale bar in km
(:func:`draw_scale_bar`) and a north arrow (:func:`draw_north_arrow`);
:func:`draw_outlines` draws district outlines as one line collection.
:func:`corner_cover` tells how much of the city each corner of a map covers, so that
legends and insets go where they hide least; :func:`draw_stores` draws stores as markers
by format, :func:`draw_rivals` the rival showrooms (:func:`rival_points`) as grey crosses,
and :func:`zoom_on_stores` adds an inset magnifying the stores when they
gather in a small part of a large city.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from simulator.config import ResultsError
from simulator.reports.figures import NO_DATA_COLOUR, format_style

Bounds = tuple[float, float, float, float]
"""A map extent ``(xmin, ymin, xmax, ymax)`` in metres."""

ZOOM_MARGIN_M = 6_000.0
"""Margin around the stores in the zoom inset, in metres."""

ZOOM_MAX_SHARE = 0.45
"""Zoom only when the stores (plus margin) span less than this share of the map."""

ZOOM_SIZE = 0.42
"""Side of the zoom inset, as a share of the map axes."""

Corner = Literal["upper left", "upper right", "lower left", "lower right"]
"""A corner of a map, named as matplotlib's legend locations."""

CORNERS: tuple[Corner, ...] = ("upper left", "upper right", "lower left", "lower right")
"""The four corners of a map."""

_HALO = patheffects.withStroke(linewidth=3, foreground="white")


def _scale_length_m(width_m: float) -> float:
    """A round scale-bar length (100 m to 1000 km) of at most a fifth of the map width."""
    target = width_m / 5.0
    candidates = [c * 1000.0 for c in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)]
    fitting = [c for c in candidates if c <= target]
    return fitting[-1] if fitting else candidates[0]


def draw_scale_bar(axis: Any, bounds: Bounds) -> None:
    """Draw a black-and-white scale bar labelled in km in the lower left of a metric map."""
    xmin, ymin, xmax, ymax = bounds
    width, height = xmax - xmin, ymax - ymin
    length = _scale_length_m(width)
    x0 = xmin + 0.04 * width
    y0 = ymin + 0.04 * height
    bar_height = 0.012 * height
    half = length / 2.0
    axis.add_patch(Rectangle((x0, y0), half, bar_height, facecolor="black", edgecolor="black", linewidth=0.8, zorder=6))
    axis.add_patch(
        Rectangle((x0 + half, y0), half, bar_height, facecolor="white", edgecolor="black", linewidth=0.8, zorder=6)
    )
    label = f"{length / 1000.0:g} km"
    text_y = y0 + 1.8 * bar_height
    axis.text(x0, text_y, "0", ha="center", va="bottom", fontsize=8, zorder=6, path_effects=[_HALO])
    axis.text(x0 + length, text_y, label, ha="center", va="bottom", fontsize=8, zorder=6, path_effects=[_HALO])


def draw_north_arrow(
    axis: Any, x: float = 0.96, y: float = 0.97, *, length: float = 0.10, linewidth: float = 1.5
) -> None:
    """Draw an arrow marked N pointing up to ``(x, y)`` (axes fraction), ``length`` long."""
    axis.annotate(
        "N",
        xy=(x, y),
        xytext=(x, y - length),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": linewidth},
        zorder=7,
    )


def metric_frames(zone_gdf: Any, cell_gdf: Any) -> tuple[Any, Any]:
    """Project the frames to a metric CRS (their own if projected, else the local UTM zone)."""
    if zone_gdf.crs is None:
        raise ResultsError("zone_gdf: has no CRS")
    if zone_gdf.crs.is_projected:
        metric = zone_gdf.crs
    else:
        metric = zone_gdf.estimate_utm_crs()
    zones = zone_gdf.to_crs(metric)
    cells = cell_gdf.to_crs(metric) if cell_gdf is not None else None
    return zones, cells


def store_points(plan: pd.DataFrame, crs: Any) -> pd.DataFrame:
    """Plan rows with ``map_x`` / ``map_y`` in ``crs`` (from lon/lat, else the plan's x/y)."""
    import geopandas as gpd

    if plan.empty:
        return plan.assign(map_x=[], map_y=[])
    if {"lon", "lat"} <= set(plan.columns) and plan[["lon", "lat"]].notna().all().all():
        points = gpd.GeoSeries(gpd.points_from_xy(plan["lon"], plan["lat"]), crs="EPSG:4326").to_crs(crs)
        return plan.assign(map_x=points.x.to_numpy(), map_y=points.y.to_numpy())
    return plan.assign(map_x=plan["x"].to_numpy(float), map_y=plan["y"].to_numpy(float))


def frame_map(axis: Any, extent: Bounds, padding: float = 0.03) -> Bounds:
    """Frame a map: the extent plus padding, equal aspect, no ticks, a scale bar and a north arrow.

    Returns the padded bounds ``(xmin, ymin, xmax, ymax)``.
    """
    xmin, ymin, xmax, ymax = extent
    pad_x, pad_y = padding * (xmax - xmin), padding * (ymax - ymin)
    bounds = (xmin - pad_x, ymin - pad_y, xmax + pad_x, ymax + pad_y)
    _set_view(axis, bounds)
    draw_scale_bar(axis, bounds)
    draw_north_arrow(axis)
    return bounds


def _set_view(axis: Any, bounds: Bounds) -> None:
    """Show exactly ``bounds`` at equal aspect, without ticks or axis labels."""
    axis.set_xlim(bounds[0], bounds[2])
    axis.set_ylim(bounds[1], bounds[3])
    axis.set_aspect("equal")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel("")
    axis.set_ylabel("")


def draw_outlines(axis: Any, geoms: Any, *, colour: str = "#333333", linewidth: float = 0.7, zorder: float = 2) -> None:
    """Draw the boundaries of polygons (e.g. district outlines) as one line collection.

    Unlike ``GeoSeries.boundary.plot`` this does not redraw the whole figure (geopandas
    calls ``draw_idle`` after plotting, which renders every artist drawn so far).
    """
    lines = shapely.get_parts(shapely.boundary(np.asarray(geoms, dtype=object)))
    lines = shapely.get_parts(lines)  # MultiLineString boundaries of polygons with holes
    segments = [shapely.get_coordinates(line) for line in lines if not line.is_empty]
    axis.add_collection(LineCollection(segments, colors=colour, linewidths=linewidth, zorder=zorder), autolim=False)


def corner_cover(area: Any, bounds: Bounds, share: float, corners: Sequence[Corner] = CORNERS) -> dict[Corner, float]:
    """Share of a corner box of the map that ``area`` covers, for each corner.

    Parameters
    ----------
    area : shapely geometry
        What should stay visible (typically the union of the city's districts).
    bounds : tuple of float
        Map extent ``(xmin, ymin, xmax, ymax)``.
    share : float
        Side of the corner box as a share of the map's width and height.
    corners : sequence of Corner
        Corners to measure (:data:`CORNERS`).

    Returns
    -------
    dict of str to float
        Covered share (0-1) of each corner's box, in the order of ``corners``.
    """
    xmin, ymin, xmax, ymax = bounds
    width, height = share * (xmax - xmin), share * (ymax - ymin)
    cover: dict[Corner, float] = {}
    for corner in corners:
        x0 = xmin if "left" in corner else xmax - width
        y0 = ymax - height if "upper" in corner else ymin
        box = shapely.box(x0, y0, x0 + width, y0 + height)
        cover[corner] = float(shapely.intersection(area, box).area) / (width * height)
    return cover


def draw_stores(axis: Any, stores: pd.DataFrame, *, size: float = 55, star_size: float = 140) -> list[Line2D]:
    """Draw stores (with ``map_x`` / ``map_y``, :func:`store_points`) as markers by format.

    Returns one legend handle per format, labelled with the number of its stores.
    """
    handles: list[Line2D] = []
    if stores.empty:
        return handles
    for store_format, group in stores.groupby(stores["format"].astype(str), sort=True):
        marker, colour = format_style(store_format)
        axis.scatter(
            group["map_x"],
            group["map_y"],
            marker=marker,
            s=star_size if marker == "*" else size,
            c=colour,
            edgecolors="black",
            linewidths=0.8,
            zorder=8,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="",
                markerfacecolor=colour,
                markeredgecolor="black",
                markersize=10 if marker == "*" else 7,
                label=f"{str(store_format).replace('_', ' ')} store ({len(group)})",
            )
        )
    return handles


RIVAL_MARKER = ("X", "#7f7f7f")
"""Marker and colour of rival showrooms on maps."""


def rival_points(rivals: pd.DataFrame, crs: Any) -> pd.DataFrame:
    """One row per rival showroom (the ``rivals`` table deduplicated by ``rival_id``) with ``map_x`` / ``map_y``.

    Empty when there are no rivals or they have no ``lon`` / ``lat``.
    """
    if rivals.empty or not {"rival_id", "lon", "lat"} <= set(rivals.columns):
        return pd.DataFrame(columns=["rival_id", "map_x", "map_y"])
    showrooms = rivals.drop_duplicates("rival_id").dropna(subset=["lon", "lat"]).reset_index(drop=True)
    return store_points(showrooms, crs)


def draw_rivals(axis: Any, rivals: pd.DataFrame, *, size: float = 45) -> list[Line2D]:
    """Draw rival showrooms (with ``map_x`` / ``map_y``, :func:`rival_points`) as grey crosses.

    Returns one legend handle (``rival showroom (n)``), or none without rivals.
    """
    if rivals.empty:
        return []
    marker, colour = RIVAL_MARKER
    axis.scatter(
        rivals["map_x"], rivals["map_y"], marker=marker, s=size, c=colour, edgecolors="white", linewidths=0.6, zorder=7
    )
    label = f"rival showroom ({len(rivals)})"
    return [
        Line2D(
            [],
            [],
            marker=marker,
            linestyle="",
            markerfacecolor=colour,
            markeredgecolor="white",
            markersize=8,
            label=label,
        )
    ]


def _zoom_view(stores: pd.DataFrame, bounds: Bounds) -> tuple[Bounds, float] | None:
    """Square view around the stores plus :data:`ZOOM_MARGIN_M` and its side, or None when too large."""
    xmin, ymin, xmax, ymax = bounds
    sx0, sx1 = stores["map_x"].min() - ZOOM_MARGIN_M, stores["map_x"].max() + ZOOM_MARGIN_M
    sy0, sy1 = stores["map_y"].min() - ZOOM_MARGIN_M, stores["map_y"].max() + ZOOM_MARGIN_M
    side = float(max(sx1 - sx0, sy1 - sy0))
    if side > ZOOM_MAX_SHARE * max(xmax - xmin, ymax - ymin):
        return None
    centre_x, centre_y = (sx0 + sx1) / 2, (sy0 + sy1) / 2
    return (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2), side


def zoom_on_stores(
    axis: Any,
    areas: Any,
    zones: Any,
    stores: pd.DataFrame,
    colourmap: str | Colormap,
    norm: Normalize,
    bounds: Bounds,
    column: str = "mean_familiarity",
    rivals: pd.DataFrame | None = None,
    draw_areas: Callable[[Any], None] | None = None,
) -> None:
    """An inset that magnifies the area around the stores, in the emptiest corner of the map.

    Drawn only when the stores (plus a margin) cover a small part of the city, as in Beijing,
    where eight central stores would otherwise sit in a few millimetres of a large map.
    ``areas`` are the map's choropleth areas with ``column`` (NaN: no data), ``zones`` the
    district outlines, ``stores`` the output of :func:`store_points`, ``rivals`` (optional)
    that of :func:`rival_points`. ``draw_areas`` (optional) draws the areas on the inset's
    axis instead of the polygons of ``areas`` (e.g. the map's cell raster).
    """
    if len(stores) == 0:
        return
    zoom = _zoom_view(stores, bounds)
    if zoom is None:
        return
    view, side = zoom
    cover = corner_cover(zones.geometry.union_all(), bounds, ZOOM_SIZE, CORNERS[:3])
    corner = min(cover, key=cover.__getitem__)
    x0 = 0.0 if "left" in corner else 1.0 - ZOOM_SIZE
    y0 = 1.0 - ZOOM_SIZE if "upper" in corner else 0.0
    inset = axis.inset_axes([x0, y0, ZOOM_SIZE, ZOOM_SIZE])
    if draw_areas is not None:
        draw_areas(inset)
    else:
        visible = areas[areas.intersects(shapely.box(*view))]
        visible_data = visible[column].notna()
        if visible_data.any():
            visible[visible_data].plot(ax=inset, column=column, cmap=colourmap, norm=norm, linewidth=0.0)
        if (~visible_data).any():
            visible[~visible_data].plot(ax=inset, color=NO_DATA_COLOUR, linewidth=0.0)
    draw_outlines(inset, zones.geometry.to_numpy())
    draw_stores(inset, stores, size=45, star_size=110)
    if rivals is not None:
        draw_rivals(inset, rivals, size=35)
    _set_view(inset, view)
    inset.set_facecolor("white")
    for spine in inset.spines.values():
        spine.set_edgecolor("#222222")
        spine.set_linewidth(1.2)
    inset.text(
        0.5,
        0.97,
        f"around the stores ({side / 1000:.0f} km across)",
        transform=inset.transAxes,
        ha="center",
        va="top",
        fontsize=8,
        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")],
        zorder=10,
    )
    axis.indicate_inset_zoom(inset, edgecolor="#222222", alpha=0.9)

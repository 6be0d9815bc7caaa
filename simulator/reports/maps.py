"""TODO docstring."""

from __future__ import annotations

from typing import Any

import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.patches import Rectangle

from simulator.reports.figures import (
    NO_DATA_COLOUR,
    format_style,
)


def _scale_length_m(width_m: float) -> float:
    target = width_m / 5.0
    candidates = [c * 1000.0 for c in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)]
    fitting = [c for c in candidates if c <= target]
    return fitting[-1] if fitting else candidates[0]


def draw_scale_bar(axis: Any, bounds: tuple[float, float, float, float]) -> None:
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
    kilometres = length / 1000.0
    label = f"{kilometres:g} km"
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    axis.text(x0, y0 + 1.8 * bar_height, "0", ha="center", va="bottom", fontsize=8, zorder=6, path_effects=halo)
    axis.text(
        x0 + length, y0 + 1.8 * bar_height, label, ha="center", va="bottom", fontsize=8, zorder=6, path_effects=halo
    )


def draw_north_arrow(axis: Any) -> None:
    axis.annotate(
        "N",
        xy=(0.96, 0.97),
        xytext=(0.96, 0.87),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.5},
        zorder=7,
    )


def metric_frames(zone_gdf: Any, cell_gdf: Any) -> tuple[Any, Any]:
    """Project the frames to a metric CRS (their own if projected, else the local UTM zone)."""
    if zone_gdf.crs is None:
        from simulator.config import ResultsError

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


def frame_map(
    axis: Any, extent: tuple[float, float, float, float], padding: float = 0.03
) -> tuple[float, float, float, float]:
    """Frame a map: the extent plus padding, equal aspect, no ticks, a scale bar and a north arrow.

    Returns the padded bounds ``(xmin, ymin, xmax, ymax)``.
    """
    xmin, ymin, xmax, ymax = extent
    pad_x, pad_y = padding * (xmax - xmin), padding * (ymax - ymin)
    bounds = (xmin - pad_x, ymin - pad_y, xmax + pad_x, ymax + pad_y)
    axis.set_xlim(bounds[0], bounds[2])
    axis.set_ylim(bounds[1], bounds[3])
    axis.set_aspect("equal")
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel("")
    axis.set_ylabel("")
    draw_scale_bar(axis, bounds)
    draw_north_arrow(axis)
    return bounds


def _zoom_on_stores(axis, areas, zones, stores, colourmap, norm, bounds) -> None:
    """An inset that magnifies the area around the stores, in the emptiest corner of the map.

    Drawn only when the stores (plus a margin) cover a small part of the city, as in Beijing,
    where eight central stores would otherwise sit in a few millimetres of a large map.
    """
    if len(stores) == 0:
        return
    xmin, ymin, xmax, ymax = bounds
    sx0, sx1 = stores["map_x"].min() - ZOOM_MARGIN_M, stores["map_x"].max() + ZOOM_MARGIN_M
    sy0, sy1 = stores["map_y"].min() - ZOOM_MARGIN_M, stores["map_y"].max() + ZOOM_MARGIN_M
    side = max(sx1 - sx0, sy1 - sy0)
    if side > ZOOM_MAX_SHARE * max(xmax - xmin, ymax - ymin):
        return
    centre_x, centre_y = (sx0 + sx1) / 2, (sy0 + sy1) / 2
    view = (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2)
    city = zones.geometry.union_all()
    width, height = xmax - xmin, ymax - ymin
    corners = {
        "upper left": (0.0, 1.0 - ZOOM_SIZE),
        "upper right": (1.0 - ZOOM_SIZE, 1.0 - ZOOM_SIZE),
        "lower left": (0.0, 0.0),
    }

    def overlap(corner: tuple[float, float]) -> float:
        x0, y0 = xmin + corner[0] * width, ymin + corner[1] * height
        return city.intersection(shapely.box(x0, y0, x0 + ZOOM_SIZE * width, y0 + ZOOM_SIZE * height)).area

    position = min(corners.values(), key=overlap)
    inset = axis.inset_axes([position[0], position[1], ZOOM_SIZE, ZOOM_SIZE])
    has_data = areas["mean_familiarity"].notna()
    clip = shapely.box(*view)
    visible = areas[areas.intersects(clip)]
    visible_data = visible["mean_familiarity"].notna()
    if visible_data.any():
        visible[visible_data].plot(ax=inset, column="mean_familiarity", cmap=colourmap, norm=norm, linewidth=0.0)
    if (~visible_data).any() and (~has_data).any():
        visible[~visible_data].plot(ax=inset, color=NO_DATA_COLOUR, linewidth=0.0)
    zones.boundary.plot(ax=inset, color="#333333", linewidth=0.7)
    for store_format, group in stores.groupby(stores["format"].astype(str), sort=True):
        marker, colour = format_style(store_format)
        inset.scatter(
            group["map_x"],
            group["map_y"],
            marker=marker,
            s=110 if marker == "*" else 45,
            c=colour,
            edgecolors="black",
            linewidths=0.8,
            zorder=8,
        )
    inset.set_xlim(view[0], view[2])
    inset.set_ylim(view[1], view[3])
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_xlabel("")
    inset.set_ylabel("")
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


ZOOM_MARGIN_M = 6_000.0


ZOOM_MAX_SHARE = 0.45  # zoom only when the stores span less than this share of the map


ZOOM_SIZE = 0.42  # side of the inset, as a share of the map axes

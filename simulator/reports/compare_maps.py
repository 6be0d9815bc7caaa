"""Maps of a comparison: per-zone differences to the baseline, one panel per plan.

Diverging colours centred on 0 (:data:`DIFFERENCE_COLOURMAP`), zones labelled with their
difference (grey italic when its paired interval includes 0), the plan's stores by format.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from simulator.experiments.compare import ComparisonResult
from simulator.reports.compare_text import signed
from simulator.reports.figures import (
    NO_DATA_COLOUR,
    display_label,
    font_kwargs,
    format_style,
    new_figure,
)
from simulator.reports.maps import frame_map, metric_frames, store_points

DIFFERENCE_COLOURMAP = "RdBu"
"""Diverging colour map of the difference maps: red below the baseline, blue above, white at 0."""


MIN_LABELLED_ZONE_SHARE = 0.012
"""Zones smaller than this share of the mapped area get no label on the difference maps (see the zone table)."""


def zone_difference_map(
    result: ComparisonResult,
    zone_gdf: Any,
    column: str,
    *,
    title: str,
    colour_label: str,
    factor: float = 1.0,
    value_format: str = "{:+.3f}",
) -> Figure:
    """Per-zone difference to the baseline, one panel per plan, diverging colours centred on 0.

    The colour scale is symmetric (``-m .. +m`` with ``m`` the largest absolute difference
    over all panels), so white is exactly 0 and the panels share one scale. Each zone is
    labelled with its difference; grey italic when its paired 95 % interval includes 0.
    The plan's stores are drawn by format; baseline stores the plan does not have as ``x``.
    Zones smaller than :data:`MIN_LABELLED_ZONE_SHARE` of the area are coloured but not
    labelled (in a city like Beijing the small central districts would hide the stores).

    Parameters
    ----------
    result : ComparisonResult
    zone_gdf : geopandas.GeoDataFrame
        Zones with ``zone_id`` (and ``name``, ``name_en``), any CRS.
    column : str
        A column of :data:`simulator.experiments.compare.ZONE_DIFFERENCE_COLUMNS`; the map shows
        ``<column>_difference``.
    title, colour_label : str
    factor : float
        Multiplier for display (e.g. 100 for shares in percentage points).
    value_format : str
        Format of the zone labels (after ``factor``).
    """
    zones, _cells = metric_frames(zone_gdf, None)
    zones = zones.assign(zone_id=zones["zone_id"].astype(str))
    plans = result.plan_names[1:]
    table = result.zones
    difference = f"{column}_difference"
    values = table.loc[table["plan"].isin(plans), difference].to_numpy(float) * factor
    extent = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    extent = extent if extent > 0 else 1.0
    norm = Normalize(vmin=-extent, vmax=extent)
    colourmap = colormaps[DIFFERENCE_COLOURMAP]
    n_columns = min(3, max(1, len(plans)))
    n_rows = max(1, math.ceil(len(plans) / n_columns))
    xmin, ymin, xmax, ymax = zones.total_bounds
    aspect = (ymax - ymin) / max(xmax - xmin, 1.0)
    panel_width = 13.0 / n_columns if n_columns > 1 else 8.0
    figure = new_figure(panel_width * n_columns + 0.8, min(max(panel_width * aspect * n_rows + 1.6, 4.5), 16.0))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    baseline_plan = result.runs[result.baseline].plan
    for index, axis in enumerate(axes.flat):
        if index >= len(plans):
            axis.set_visible(False)
            continue
        name = plans[index]
        rows = table[table["plan"] == name][["zone_id", difference, f"{difference}_ci_low", f"{difference}_ci_high"]]
        areas = zones.merge(rows, on="zone_id", how="left")
        has_data = areas[difference].notna()
        if has_data.any():
            shown = areas[has_data].assign(_value=areas.loc[has_data, difference] * factor)
            shown.plot(ax=axis, column="_value", cmap=colourmap, norm=norm, linewidth=0.0)
        if (~has_data).any():
            areas[~has_data].plot(ax=axis, color=NO_DATA_COLOUR, linewidth=0.0)
        zones.boundary.plot(ax=axis, color="#555555", linewidth=0.6)
        if len(zones) <= 40:
            _label_zones(axis, areas, difference, factor, value_format, 7.5 if len(zones) <= 20 else 6.5)
        _draw_stores(axis, result.runs[name].plan, baseline_plan, zones.crs)
        frame_map(axis, (xmin, ymin, xmax, ymax))
        axis.set_title(f"{name} − {result.baseline}", fontsize=10, **font_kwargs())
    colour_bar = figure.colorbar(
        ScalarMappable(norm=norm, cmap=colourmap), ax=axes.ravel().tolist(), shrink=0.75, pad=0.02
    )
    colour_bar.set_label(colour_label, fontsize=9)
    colour_bar.ax.tick_params(labelsize=8)
    formats = sorted({str(f) for n in plans for f in result.runs[n].plan["format"]} if plans else set())
    handles = _legend_handles(formats)
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    return figure


def _label_zones(axis: Any, areas: Any, difference: str, factor: float, value_format: str, size: float) -> None:
    """Each large enough zone's name and difference; grey italic when its interval includes 0."""
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    points = areas.geometry.representative_point()
    large = (areas.geometry.area >= MIN_LABELLED_ZONE_SHARE * float(areas.geometry.area.sum())).to_numpy()
    for point, row, is_large in zip(points, areas.itertuples(index=False), large):
        value = getattr(row, difference)
        if value is None or not np.isfinite(value) or not is_large:
            continue
        low, high = getattr(row, f"{difference}_ci_low"), getattr(row, f"{difference}_ci_high")
        significant = np.isfinite(low) and (low > 0 or high < 0)
        zone_name = display_label(getattr(row, "name_en", None), getattr(row, "name", None), row.zone_id)
        axis.text(
            point.x,
            point.y,
            f"{zone_name}\n{signed(value * factor, value_format)}",
            ha="center",
            va="center",
            fontsize=size,
            zorder=5,
            path_effects=halo,
            color="#111111" if significant else "#777777",
            style="normal" if significant else "italic",
            **font_kwargs(),
        )


def _draw_stores(axis: Any, plan: pd.DataFrame, baseline_plan: pd.DataFrame, crs: Any) -> None:
    """The plan's stores by format, and the baseline's stores the plan does not have as ``x``."""
    plan_stores = store_points(plan, crs)
    for store_format, group in (
        plan_stores.groupby(plan_stores["format"].astype(str), sort=True) if len(plan_stores) else []
    ):
        marker, colour = format_style(store_format)
        axis.scatter(
            group["map_x"],
            group["map_y"],
            marker=marker,
            s=110 if marker == "*" else 38,
            c=colour,
            edgecolors="black",
            linewidths=0.7,
            zorder=8,
        )
    dropped = baseline_plan[~baseline_plan["store_id"].astype(str).isin(set(plan["store_id"].astype(str)))]
    if len(dropped):
        points = store_points(dropped, crs)
        axis.scatter(points["map_x"], points["map_y"], marker="x", s=34, c="black", linewidths=1.2, zorder=8)


def _legend_handles(formats: list[str]) -> list[Any]:
    """Legend of the difference maps: a marker per store format, and the baseline's dropped stores."""
    handles: list[Any] = []
    for store_format in formats:
        marker, colour = format_style(store_format)
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="",
                markerfacecolor=colour,
                markeredgecolor="black",
                markersize=9 if marker == "*" else 6,
                label=f"{store_format.replace('_', ' ')} store of the plan",
            )
        )
    handles.append(
        Line2D([], [], marker="x", linestyle="", color="black", markersize=6, label="baseline store not in the plan")
    )
    return handles

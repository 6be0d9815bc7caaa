"""Figures, map and the self-contained HTML report of a run.

Everything here works offline and without a display: figures are built as
:class:`matplotlib.figure.Figure` objects rendered by the Agg canvas (pyplot and its global
state are never used), and ``report.html`` embeds them as base64 PNG with inline CSS and
no external scripts, fonts or links.

Public functions: :func:`funnel_figure`, :func:`stores_figure`, :func:`familiarity_map`,
:func:`save_figures`, :func:`write_report_html`, :func:`summary_rows`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects, ticker
from matplotlib import dates as mdates
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from simulator.reports.figures import (
    _LINE_COLOUR,
    FORMAT_STYLES,
    NO_DATA_COLOUR,
    ROLLING_DAYS,
    display_label,
    font_kwargs,
    format_number,
    format_style,
    new_figure,
    save_png,
    thousands_formatter,
    time_axis,
)
from simulator.reports.html import escape_html, html_table, image_tag, key_value_table, write_html_document
from simulator.reports.maps import (
    _zoom_on_stores,
    frame_map,
    metric_frames,
    store_points,
)
from simulator.results import FIGURES_DIR, RunResult, replication_means, store_totals

MAP_COLOURMAP = "viridis"
MAX_ZONE_LABELS = 40


# --------------------------------------------------------------------------- text helpers


# --------------------------------------------------------------------------- funnel


def _replication_band(
    daily: pd.DataFrame, column: str, x_column: str, rolling: int | None
) -> tuple[pd.Index, pd.Series, pd.Series, pd.Series, int]:
    """Mean, min and max over replications of one daily column (optionally a trailing rolling mean)."""
    wide = daily.pivot_table(index=x_column, columns="replication", values=column, aggfunc="mean").sort_index()
    if rolling:
        wide = wide.rolling(rolling, min_periods=1).mean()
    return wide.index, wide.mean(axis=1), wide.min(axis=1), wide.max(axis=1), wide.shape[1]


def funnel_figure(daily: pd.DataFrame) -> Figure:
    """Time series of the funnel, one panel per KPI.

    Panels: share aware, share familiar (F >= 0.5), effective frequency (3+ sightings in
    28 days), all in %; mean trust (0-1); test-drive bookings requested, test drives,
    bookings lost (and bookings finding no open store), purchases per day, scaled to the
    real population (``_scaled`` columns) as 7-day trailing rolling means; cumulative
    purchases. With several replications each panel shows the mean as a line and the
    min-max range over replications as a band.

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

    def scaled(column: str) -> str:
        return f"{column}_scaled" if f"{column}_scaled" in frame.columns else column

    # (title, [(column, legend label or None, linestyle)], kind) kind: share | index | rate | cumulative
    panels: list[tuple[str, list[tuple[str, str | None, str]], str]] = [
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
    panels = [
        (title, [series for series in lines if series[0] in frame.columns], kind) for title, lines, kind in panels
    ]
    panels = [panel for panel in panels if panel[1]]
    n_replications = int(frame["replication"].nunique()) if len(frame) else 0
    is_scaled = any(c.endswith("_scaled") for c in frame.columns)

    n_columns = 3
    n_rows = max(1, math.ceil(len(panels) / n_columns))
    figure = new_figure(13.0, 3.0 * n_rows + 0.8)
    axes = figure.subplots(n_rows, n_columns, sharex=True, squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= len(panels):
            axis.set_visible(False)
            continue
        title, lines, kind = panels[index]
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
        for column, label, style in lines:
            x, mean, low, high, n = _replication_band(frame, column, x_column, rolling)
            factor = 100.0 if kind == "share" else 1.0
            colour = _LINE_COLOUR if style == "-" else "#b03a2e"
            axis.plot(x, mean * factor, color=colour, linestyle=style, linewidth=1.6, label=label)
            if n > 1:
                axis.fill_between(x, low * factor, high * factor, color=colour, alpha=0.2, linewidth=0)
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
        if is_date:
            locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
            axis.xaxis.set_major_locator(locator)
            axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        elif index >= len(panels) - n_columns:
            axis.set_xlabel("day")
    for axis in axes.flat:
        if axis.get_visible():
            axis.xaxis.set_tick_params(labelbottom=True)
    band_note = (
        f"line: mean of {n_replications} replications, band: min–max over replications"
        if n_replications > 1
        else "one replication"
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
    totals = store_totals(stores, plan).sort_values("bookings_requested", ascending=True, kind="stable")
    n_stores = len(totals)
    figure = new_figure(12.0, max(3.0, 0.38 * n_stores + 1.8))
    axis_bookings, axis_utilisation = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [2.2, 1.0]})
    if n_stores == 0:
        axis_bookings.text(0.5, 0.5, "no stores", ha="center", va="center", transform=axis_bookings.transAxes)
        return figure
    positions = np.arange(n_stores)
    requested = totals["bookings_requested"].to_numpy(float) * consumer_weight
    driven = totals["test_drives"].to_numpy(float) * consumer_weight
    lost = totals["bookings_lost"].to_numpy(float) * consumer_weight
    rest = np.clip(requested - driven - lost, 0.0, None)
    colours = [format_style(f)[1] for f in totals["format"]]
    axis_bookings.barh(positions, driven, color=colours, edgecolor="black", linewidth=0.5)
    axis_bookings.barh(positions, lost, left=driven, color="white", edgecolor="#444444", hatch="////", linewidth=0.5)
    axis_bookings.barh(positions, rest, left=driven + lost, color=colours, alpha=0.3, edgecolor="black", linewidth=0.5)
    right_end = np.maximum(requested, driven + lost)
    x_max = float(right_end.max()) if n_stores else 1.0
    for position, value, end in zip(positions, requested, right_end, strict=True):
        axis_bookings.text(end + 0.01 * x_max, position, f"{value:,.0f}", va="center", fontsize=8)
    axis_bookings.set_xlim(0, max(x_max * 1.15, 1.0))
    axis_bookings.set_yticks(positions, _store_labels(totals), fontsize=8, **font_kwargs())
    axis_bookings.xaxis.set_major_formatter(thousands_formatter())
    unit = "people" if consumer_weight != 1.0 else "simulated consumers"
    axis_bookings.set_xlabel(f"test-drive bookings requested over the horizon ({unit})", fontsize=9)
    axis_bookings.set_title("Bookings per store and what became of them", fontsize=10)
    axis_bookings.grid(True, axis="x", alpha=0.3)

    utilisation = totals["utilisation"].to_numpy(float) * 100.0
    axis_utilisation.barh(positions, utilisation, color=colours, edgecolor="black", linewidth=0.5)
    axis_utilisation.axvline(100.0, color="#444444", linestyle="--", linewidth=1)
    for position, value in zip(positions, utilisation, strict=True):
        text = f"{value:.0f} %" if value >= 10 or value == 0 else f"{value:.1f} %"
        axis_utilisation.text(value + 1.5, position, text, va="center", fontsize=8)
    axis_utilisation.set_xlim(0, max(110.0, float(utilisation.max()) * 1.2 if n_stores else 110.0))
    axis_utilisation.xaxis.set_major_formatter(ticker.PercentFormatter(xmax=100, decimals=0))
    axis_utilisation.set_xlabel("test drives / capacity, mean over open days", fontsize=9)
    axis_utilisation.set_title("Test-drive utilisation", fontsize=10)
    axis_utilisation.grid(True, axis="x", alpha=0.3)
    for axis in (axis_bookings, axis_utilisation):
        axis.tick_params(axis="x", labelsize=8)
        axis.set_ylim(-0.6, n_stores - 0.4)

    order = {name: rank for rank, name in enumerate(FORMAT_STYLES)}
    formats_present = sorted({str(f) for f in totals["format"]}, key=lambda f: (order.get(f, len(order)), f))
    handles = [
        Patch(facecolor=format_style(f)[1], edgecolor="black", label=f"{f.replace('_', ' ')}: test drives")
        for f in formats_present
    ]
    handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="////", label="lost (abandoned in queue)"))
    handles.append(Patch(facecolor="#999999", alpha=0.3, edgecolor="black", label="still waiting / other"))
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- map


def familiarity_map(
    zone_gdf: Any,
    cell_gdf: Any,
    zone_results: pd.DataFrame,
    cell_results: pd.DataFrame | None,
    plan: pd.DataFrame,
    *,
    vmax: float | None = None,
    title: str | None = None,
) -> Figure:
    """Choropleth of mean familiarity at the end of the horizon, with the stores.

    Cells are coloured when ``cell_gdf`` and ``cell_results`` are given, else zones;
    areas without consumers are grey. Zone outlines and labels (English name when there
    is one and the fonts cannot draw Chinese; else the zone id), stores as markers by
    format, a colour bar, a scale bar in km and a north arrow (north is up: the map is
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

    Returns
    -------
    matplotlib.figure.Figure
    """
    zones, cells = metric_frames(zone_gdf, cell_gdf)
    use_cells = cells is not None and cell_results is not None and not cell_results.empty
    if use_cells:
        key, areas, results = "cell_id", cells, cell_results
    else:
        key, areas, results = "zone_id", zones, zone_results
    means = replication_means(results, key) if "replication" in results.columns else results.copy()
    areas = areas.assign(**{key: areas[key].astype(str)})
    means = means.assign(**{key: means[key].astype(str)})
    areas = areas.merge(means[[key, "mean_familiarity"]], on=key, how="left")
    values = areas["mean_familiarity"]
    data_max = float(values.max()) if values.notna().any() else 1.0
    top = vmax if vmax is not None else min(1.0, max(0.05, math.ceil(data_max / 0.05) * 0.05))
    norm = Normalize(vmin=0.0, vmax=top)
    colourmap = colormaps[MAP_COLOURMAP]

    xmin, ymin, xmax, ymax = zones.total_bounds
    aspect = (ymax - ymin) / max(xmax - xmin, 1.0)
    width = 10.0
    figure = new_figure(width, min(max(width * aspect * 0.85 + 1.0, 5.0), 14.0))
    axis = figure.subplots()
    has_data = areas["mean_familiarity"].notna()
    if has_data.any():
        areas[has_data].plot(
            ax=axis, column="mean_familiarity", cmap=colourmap, norm=norm, linewidth=0.0, edgecolor="none"
        )
    if (~has_data).any():
        areas[~has_data].plot(ax=axis, color=NO_DATA_COLOUR, linewidth=0.0)
    zones.boundary.plot(ax=axis, color="#333333", linewidth=0.7)

    if len(zones) <= MAX_ZONE_LABELS:
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

    stores = store_points(plan, zones.crs)
    handles: list[Any] = []
    for store_format, group in stores.groupby(stores["format"].astype(str), sort=True) if len(stores) else []:
        marker, colour = format_style(store_format)
        size = 140 if marker == "*" else 55
        axis.scatter(
            group["map_x"],
            group["map_y"],
            marker=marker,
            s=size,
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
                label=f"{store_format.replace('_', ' ')} store ({len(group)})",
            )
        )
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
    _zoom_on_stores(axis, areas, zones, stores, colourmap, norm, bounds)
    return figure


# --------------------------------------------------------------------------- saving


def save_figures(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    zone_gdf: Any = None,
    cell_gdf: Any = None,
) -> dict[str, Path]:
    """Write the run's figures as PNG under ``<out_dir>/figures/`` (atomically).

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
        ``{"funnel": ..., "stores": ..., "familiarity_map": ...}`` (map only with geometry).
    """
    folder = Path(out_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["funnel"] = save_png(funnel_figure(result.daily), folder / "funnel.png")
    written["stores"] = save_png(
        stores_figure(result.stores, result.plan, consumer_weight=result.consumer_weight), folder / "stores.png"
    )
    if zone_gdf is not None:
        figure = familiarity_map(zone_gdf, cell_gdf, result.zones, result.cells, result.plan)
        written["familiarity_map"] = save_png(figure, folder / "familiarity_map.png")
    return written


# --------------------------------------------------------------------------- terminal summary


def _clipped_interval(row: Mapping[str, Any]) -> tuple[float, float]:
    """The row's confidence interval clipped to the possible range (counts >= 0, shares in [0, 1])."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    low = max(low, 0.0)
    if row["unit"] in ("share", "index"):
        high = min(high, 1.0)
    return low, high


def _kpi_text(row: Mapping[str, Any], with_interval: bool) -> str:
    text = format_number(row["mean"], row["unit"])
    if with_interval and math.isfinite(row["ci_low"]):
        low, high = _clipped_interval(row)
        text += f" (95 % CI {format_number(low, row['unit'])} – {format_number(high, row['unit'])})"
    return text


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """Rows ``(label, formatted value)`` for a terminal table of the run's key results.

    Counts are people of the real population (thousands separators), shares in %, with
    the 95 % confidence interval over replications when there are several.
    """
    summary = result.summary()
    metadata = result.metadata
    rows: list[tuple[str, str]] = [
        ("Scenario", result.scenario_name),
        ("Replications", f"{result.n_replications:,}"),
    ]
    if metadata.get("consumers") is not None:
        rows.append(
            ("Consumers (1 represents)", f"{int(metadata['consumers']):,} ({result.consumer_weight:,.1f} people)")
        )
    with_interval = result.n_replications >= 2
    for row in summary.to_dict("records"):
        if row["unit"] == "consumers":
            continue
        rows.append((row["label"], _kpi_text(row, with_interval)))
    return rows


# --------------------------------------------------------------------------- HTML


_FIGURE_CAPTIONS = {
    "funnel": (
        "Funnel over time",
        "Awareness and familiarity build with store sightings; trust drives test-drive bookings and purchases. "
        "Daily counts are 7-day rolling means scaled to the real population.",
    ),
    "stores": (
        "Stores compared",
        "Bookings requested per store split into test drives, bookings lost in the queue and the rest; "
        "right: test drives as a share of capacity on open days.",
    ),
    "familiarity_map": (
        "Where the brand is familiar",
        "Mean familiarity (0–1) of the consumers living in each area at the end of the horizon, with the stores.",
    ),
}


def _horizon_text(metadata: Mapping[str, Any], daily: pd.DataFrame) -> str:
    days = metadata.get("horizon_days")
    if days is None and len(daily):
        days = int(daily["day"].max()) + 1
    start = metadata.get("start_date")
    if start is None and "date" in daily.columns and len(daily):
        start = pd.to_datetime(daily["date"]).min().date().isoformat()
    if start and days:
        end = dt.date.fromisoformat(str(start)[:10]) + dt.timedelta(days=int(days) - 1)
        return f"{int(days):,} days, {start} to {end.isoformat()}"
    return f"{days} days" if days else "–"


def _run_pairs(result: RunResult) -> list[tuple[str, Any]]:
    metadata = result.metadata
    seeds = metadata.get("replication_seeds") or []
    seeds_text = ", ".join(str(s) for s in seeds[:10]) + (" …" if len(seeds) > 10 else "")
    pairs: list[tuple[str, Any]] = [
        ("Scenario", result.scenario_name),
        ("Scenario hash", metadata.get("scenario_hash", "–")),
        ("City", metadata.get("city", "–")),
        ("Horizon", _horizon_text(metadata, result.daily)),
        ("Seed", metadata.get("seed", "–")),
        ("Replications", f"{result.n_replications} (seeds {seeds_text})" if seeds else result.n_replications),
    ]
    if metadata.get("consumers") is not None:
        pairs.append(("Simulated consumers", f"{int(metadata['consumers']):,}"))
    if metadata.get("population_total") is not None:
        pairs.append(("Population represented", f"{float(metadata['population_total']):,.0f}"))
    if metadata.get("consumer_weight") is not None:
        pairs.append(("People per simulated consumer", f"{float(metadata['consumer_weight']):,.2f}"))
    if metadata.get("created_utc"):
        pairs.append(("Created (UTC)", metadata["created_utc"]))
    if metadata.get("command"):
        pairs.append(("Command", metadata["command"]))
    return pairs


def _summary_table(result: RunResult, units: Sequence[str] = ("people", "share", "index")) -> str:
    summary = result.summary()
    summary = summary[summary["unit"].isin(list(units))]
    several = result.n_replications >= 2
    headers = ["Result", "Unit", "Mean" if several else "Value"]
    numeric = [False, False, True]
    if several:
        headers += ["95 % confidence interval", "Range over replications"]
        numeric += [True, True]
    unit_names = {"people": "people", "consumers": "simulated consumers", "share": "% of consumers", "index": "0–1"}
    rows = []
    for row in summary.to_dict("records"):
        cells = [row["label"], unit_names.get(row["unit"], row["unit"]), format_number(row["mean"], row["unit"])]
        if several:
            low, high = _clipped_interval(row)
            cells.append(f"{format_number(low, row['unit'])} – {format_number(high, row['unit'])}")
            cells.append(f"{format_number(row['min'], row['unit'])} – {format_number(row['max'], row['unit'])}")
        rows.append(cells)
    return html_table(headers, rows, numeric)


def _stores_table(result: RunResult) -> str:
    totals = store_totals(result.stores, result.plan).sort_values("bookings_requested", ascending=False, kind="stable")
    weight = result.consumer_weight
    headers = [
        "Store",
        "Id",
        "Format",
        "Capacity / day",
        "Open days",
        "Bookings requested",
        "Test drives",
        "Bookings lost",
        "Purchases",
        "Utilisation",
    ]
    numeric = [False, False, False, True, True, True, True, True, True, True]
    rows = []
    for row in totals.to_dict("records"):
        rows.append(
            [
                row["store_name"],
                row["store_id"],
                row["format"],
                format_number(row["capacity"], "count") if pd.notna(row["capacity"]) else "–",
                f"{row.get('open_days', 0):,.0f}",
                format_number(row.get("bookings_requested", 0) * weight, "people"),
                format_number(row.get("test_drives", 0) * weight, "people"),
                format_number(row.get("bookings_lost", 0) * weight, "people"),
                format_number(row.get("purchases", 0) * weight, "people"),
                format_number(row.get("utilisation", 0), "share"),
            ]
        )
    return html_table(headers, rows, numeric)


def _zones_table(result: RunResult, zone_frame: Any = None) -> str:
    means = replication_means(result.zones, "zone_id")
    if zone_frame is not None:
        names = pd.DataFrame(zone_frame.drop(columns=zone_frame.geometry.name))
        names = names[[c for c in ("zone_id", "name", "name_en") if c in names.columns]].copy()
        names["zone_id"] = names["zone_id"].astype(str)
        means = means.merge(names, on="zone_id", how="left")
    if "mean_familiarity" in means.columns:
        means = means.sort_values("mean_familiarity", ascending=False, kind="stable")
    headers = [
        "Zone",
        "Id",
        "Consumers",
        "Population",
        "Mean familiarity",
        "Familiar",
        "Aware",
        "Mean trust",
        "Bookings / 1,000",
        "Test drives / 1,000",
        "Purchases / 1,000",
    ]
    numeric = [False, False, True, True, True, True, True, True, True, True, True]
    rows = []
    for row in means.to_dict("records"):
        names_text = " / ".join(
            str(n) for n in (row.get("name_en"), row.get("name")) if isinstance(n, str) and n.strip()
        )
        rows.append(
            [
                names_text or row["zone_id"],
                row["zone_id"],
                format_number(row.get("consumers", math.nan), "count"),
                format_number(row.get("population_represented", math.nan), "count"),
                format_number(row.get("mean_familiarity", math.nan), "index"),
                format_number(row.get("share_familiar", math.nan), "share"),
                format_number(row.get("share_aware", math.nan), "share"),
                format_number(row.get("mean_trust", math.nan), "index"),
                f"{row.get('bookings_requested_per_1000', math.nan):,.2f}",
                f"{row.get('test_drives_per_1000', math.nan):,.2f}",
                f"{row.get('purchases_per_1000', math.nan):,.2f}",
            ]
        )
    return html_table(headers, rows, numeric)


def _figure_block(figures: Mapping[str, Path], key: str) -> str:
    if key not in figures:
        return ""
    title, caption = _FIGURE_CAPTIONS[key]
    return f"<figure>{image_tag(figures[key], title)}<figcaption>{escape_html(caption)}</figcaption></figure>"


def write_report_html(
    result: RunResult,
    figures: Mapping[str, str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
) -> Path:
    """Write one self-contained ``report.html`` (atomically).

    Contents: title, scenario name and description; the run (hash, seed, replications,
    consumers and weight, city, horizon); the key results (:meth:`RunResult.summary`);
    the figures embedded as base64 PNG; a per-store table; a per-zone table; the
    canonical scenario in a collapsible block; package versions and timings. CSS is
    inline, there are no scripts, external fonts or links, and all text is escaped.

    Parameters
    ----------
    result : RunResult
    figures : mapping of str to path
        PNG files by key (``funnel``, ``stores``, ``familiarity_map``), as returned by
        :func:`save_figures`; missing keys are skipped.
    out_path : path-like
        Target HTML file.
    zone_frame : geopandas.GeoDataFrame or pandas.DataFrame, optional
        Gives zone names (``name``, ``name_en``) to the zone table.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    figure_paths = {key: Path(value) for key, value in figures.items()}
    metadata = result.metadata
    name = result.scenario_name
    description = result.scenario_description
    scenario_json = json.dumps(metadata.get("scenario", {}), indent=2, sort_keys=True, ensure_ascii=False)
    versions = metadata.get("package_versions") or {}
    timings = metadata.get("timings") or {}
    sections = [
        f"<header><h1>Retail footprint simulation: {escape_html(name)}</h1>",
        f'<p class="description">{escape_html(description)}</p>' if description else "",
        "</header>",
        "<section><h2>Run</h2>",
        key_value_table(_run_pairs(result)),
        "</section>",
        "<section><h2>Key results at the end of the horizon</h2>",
        _summary_table(result),
        "<details><summary>Simulated counts (before scaling to the population)</summary>",
        _summary_table(result, units=("consumers",)),
        "</details>",
        '<p class="note">Counts are totals over the horizon; shares and trust are values on the last day. '
        "People = simulated consumers × people per consumer. Confidence intervals are Student-t intervals "
        "over replications, clipped to the possible range.</p></section>",
        "<section><h2>Funnel over time</h2>",
        _figure_block(figure_paths, "funnel"),
        "</section>",
        "<section><h2>Stores</h2>",
        _figure_block(figure_paths, "stores"),
        '<div class="scroll">',
        _stores_table(result),
        "</div>",
        '<p class="note">Totals over the horizon in people (mean over replications); utilisation is the mean '
        "over open days of test drives / capacity.</p></section>",
        "<section><h2>Zones</h2>",
        _figure_block(figure_paths, "familiarity_map"),
        '<div class="scroll">',
        _zones_table(result, zone_frame),
        "</div>",
        '<p class="note">End-of-horizon values by home zone, mean over replications; rates per 1,000 residents.</p>',
        "</section>",
        "<section><h2>Scenario</h2><details><summary>Canonical scenario (JSON)</summary>",
        f"<pre>{escape_html(scenario_json)}</pre></details></section>",
        "<section><h2>Reproducibility</h2>",
        html_table(["Package", "Version"], sorted(versions.items()), [False, False]),
        html_table(
            ["Stage", "Seconds"],
            [(stage, f"{float(seconds):,.2f}") for stage, seconds in timings.items()],
            [False, True],
        )
        if timings
        else "",
        "</section>",
    ]
    return write_html_document(f"{name} – footprint simulator report", sections, out_path)

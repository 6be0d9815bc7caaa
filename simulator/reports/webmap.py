"""The interactive map of a report: Leaflet (vendored) with the run's layers, inlined in the page.

:func:`run_map_section` (a run) and :func:`comparison_map_section` (a comparison, one
entry per plan) return an HTML ``<section>`` that holds everything it needs: the Leaflet
build vendored from npm in ``static/leaflet/`` (``static/refresh_leaflet.py`` refreshes
it; nothing is fetched when the page opens and there are no tiles), the map's code
``static/webmap.js`` and style ``static/webmap.css``, and the data as one JSON block.

Layers: districts and grid cells coloured by residents, mean familiarity, mean trust or
bookings per 1,000 residents (a control picks the measure, classes are septiles of the
values of all plans), each district's mean familiarity week by week (a slider over the
snapshots of ``weekly.parquet``), the plan's stores sized by bookings (area proportional)
with a popup of their results, rival showrooms, subway lines and stations, each plan's
trade areas (:func:`catchment_layers`, toggled off at first), and any
:class:`~simulator.reports.webmap_geometry.GeoJsonLayer` passed as ``extra_layers``.
Numbers are quantised (:func:`_quantised`), geometries simplified and coordinates
integer-coded (:mod:`simulator.reports.webmap_geometry`): about 1.2 MB for Beijing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.city import City, line_frame, station_frame
from simulator.config import FootprintError
from simulator.reports.derived import replication_means_of, store_totals_of
from simulator.reports.html import escape_html
from simulator.reports.webmap_geometry import QUANTUM, GeoJsonLayer, Quantiser, simplified_wgs84
from simulator.results import RunResult

__all__ = [
    "MAP_ELEMENT_ID",
    "catchment_layers",
    "comparison_map_section",
    "map_data",
    "map_section",
    "run_map_section",
]

STATIC = Path(__file__).resolve().parent / "static"
MAP_ELEMENT_ID = "webmap"
"""``id`` of the map's element in the page (the browser test screenshots it)."""

DISTRICT_SIMPLIFY_M = 60.0
CELL_SIMPLIFY_M = 25.0
LINE_SIMPLIFY_M = 25.0

# (key, label, column of zones/cells, decimals kept)
METRICS: tuple[tuple[str, str, str, int], ...] = (
    ("population", "Residents", "population", 0),
    ("familiarity", "Mean familiarity (0–1)", "mean_familiarity", 3),
    ("trust", "Mean trust (0–1)", "mean_trust", 3),
    ("bookings", "Bookings per 1,000 residents", "bookings_requested_per_1000", 2),
)
"""The measures the map colours districts and cells by."""


@cache
def _static_text(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _quantised(values: Any, decimals: int) -> dict[str, Any]:
    """``{"d": decimals, "v": [round(x * 10**d) or null]}``: the browser divides by ``10**d``."""
    array = np.asarray(values, dtype=np.float64)
    scaled = np.rint(array * 10.0**decimals)
    return {"d": decimals, "v": [None if not math.isfinite(v) else int(v) for v in scaled.tolist()]}


def _script_json(data: Mapping[str, Any]) -> str:
    """JSON safe inside ``<script type="application/json">`` (``</`` written as ``<\\/``)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


# --------------------------------------------------------------------------- the city


_BASES: dict[tuple[str, str], dict[str, Any]] = {}
_CELLS: dict[tuple[str, str], Any] = {}


def _city_cells(city: City) -> Any:
    """The city's cell frame, read once per process and bundle file (the map and the trade areas share it)."""
    from simulator.city import cell_frame

    key = (str(city.source), city.name)
    if key not in _CELLS:
        _CELLS.clear()
        _CELLS[key] = cell_frame(city)
    return _CELLS[key]


def _city_base(city: City) -> dict[str, Any]:
    """Geometry shared by all plans (:func:`_encode_city`), encoded once per process and bundle file."""
    key = (str(city.source), city.name)
    if key not in _BASES:
        _BASES.clear()
        _BASES[key] = _encode_city(city)
    return _BASES[key]


def _attribution(city: City) -> str:
    """Credits of the bundle's ``sources`` layer: OpenStreetMap's when any layer derives from it."""
    import pyogrio

    try:
        sources = pyogrio.read_dataframe(city.source, layer="sources", read_geometry=False)
        licences = " ".join(str(v) for v in sources.get("licence", []))
    except Exception:  # an older or foreign bundle without a readable sources layer
        licences = ""
    credits = ["© OpenStreetMap contributors (ODbL)"] if "OpenStreetMap" in licences else []
    return "; ".join([*credits, f"city data: {city.source.name}, layer 'sources'"])


def _encode_city(city: City) -> dict[str, Any]:
    """Districts, cells with residents, lines and stations in the map's integer coding."""
    from simulator.city import zone_frame

    zones = simplified_wgs84(zone_frame(city), DISTRICT_SIMPLIFY_M)
    west, south, east, north = zones.total_bounds
    quantiser = Quantiser((float(west), float(south)))
    cells = _city_cells(city)
    populated = np.flatnonzero(np.asarray(city.cell_population) > 0)
    cells = simplified_wgs84(cells.iloc[populated], CELL_SIMPLIFY_M)
    lines = simplified_wgs84(line_frame(city), LINE_SIMPLIFY_M)
    stations = station_frame(city).to_crs("EPSG:4326")
    colours = lines["color"].tolist() if "color" in lines.columns else [None] * len(lines)
    return {
        "quantum": QUANTUM,
        "attribution": _attribution(city),
        "origin": [float(west), float(south)],
        "bounds": [[float(south), float(west)], [float(north), float(east)]],
        "districts": {
            "ids": [str(z) for z in city.zone_ids],
            "names": [str(n) for n in city.zone_names],
            "names_en": [str(n) for n in city.zone_names_en],
            "shapes": quantiser.polygons(zones.geometry.to_numpy()),
            "population": _quantised(city.zone_population, 0),
        },
        "cells": {
            "ids": [str(c) for c in np.asarray(city.cell_ids)[populated]],
            "district": [int(z) for z in np.asarray(city.cell_zone)[populated]],
            "shapes": quantiser.polygons(cells.geometry.to_numpy()),
            "population": _quantised(np.asarray(city.cell_population)[populated], 0),
        },
        "lines": [
            {
                "name": str(row["name"]),
                "name_en": str(row["name_en"]),
                "color": colour if isinstance(colour, str) and colour.startswith("#") else "#5a6b7d",
                "paths": quantiser.lines(row["geometry"]),
            }
            for row, colour in zip(lines.to_dict("records"), colours)
        ],
        "stations": {
            "names": [str(n) for n in stations["name"]],
            "names_en": [str(n) for n in stations["name_en"]],
            "lines": [str(v) for v in stations["lines"]],
            "xy": [quantiser.point(p.x, p.y) for p in stations.geometry],
        },
    }


def _city_of(result: RunResult) -> City:
    """The run's city, from the bundle its scenario names (per-process cache)."""
    from simulator.config.scenario import resolve_bundle
    from simulator.experiments.cache import cached_city

    scenario = result.metadata.get("scenario") or {}
    if isinstance(scenario, str):
        try:
            scenario = json.loads(scenario)
        except ValueError:
            scenario = {}
    city = scenario.get("city") if isinstance(scenario, Mapping) else None
    bundle = (city.get("bundle") if isinstance(city, Mapping) else None) or result.metadata.get("city")
    if not bundle:
        raise FootprintError("metadata.json: scenario.city.bundle: missing, so the map has no city")
    return cached_city(resolve_bundle(str(bundle), None))


# --------------------------------------------------------------------------- one plan


def _plan_entry(name: str, result: RunResult, base: Mapping[str, Any]) -> dict[str, Any]:
    """One plan's values: districts, cells, weekly familiarity, stores and rivals."""
    zones = replication_means_of(result.zones, "zone_id").set_index("zone_id")
    cells = replication_means_of(result.cells, "cell_id").set_index("cell_id") if len(result.cells) else pd.DataFrame()
    entry: dict[str, Any] = {"name": name, "districts": {}, "cells": {}}
    for key, _label, column, decimals in METRICS[1:]:
        entry["districts"][key] = _quantised(_aligned(zones, column, base["districts"]["ids"]), decimals)
        entry["cells"][key] = _quantised(_aligned(cells, column, base["cells"]["ids"]), decimals)
    entry["weekly"] = _weekly(result, base["districts"]["ids"])
    entry["stores"] = _stores(result)
    entry["rivals"] = _rivals(result)
    return entry


def _aligned(table: pd.DataFrame, column: str, ids: Sequence[str]) -> np.ndarray:
    if column not in table.columns:
        return np.full(len(ids), np.nan)
    return table[column].reindex(list(ids)).to_numpy(dtype=np.float64)


def _weekly(result: RunResult, zone_ids: Sequence[str]) -> dict[str, Any]:
    """Mean familiarity by week (rows) and district (columns), mean over replications."""
    weekly = result.weekly
    if weekly is None or weekly.empty or "mean_familiarity" not in weekly.columns:
        return {"days": [], "dates": [], "familiarity": []}
    frame = weekly.assign(zone_id=weekly["zone_id"].astype(str))
    table = frame.pivot_table(index="day", columns="zone_id", values="mean_familiarity", aggfunc="mean")
    table = table.reindex(columns=list(zone_ids))
    days = [int(d) for d in table.index]
    start = result.metadata.get("start_date")
    dates = [(dt.date.fromisoformat(str(start)[:10]) + dt.timedelta(days=d)).isoformat() for d in days] if start else []
    return {
        "days": days,
        "dates": dates,
        "familiarity": [_quantised(row, 3)["v"] for row in table.to_numpy(dtype=np.float64)],
    }


def _stores(result: RunResult) -> list[dict[str, Any]]:
    """Each store with its position and totals over the horizon in people (mean over replications)."""
    if result.plan.empty:
        return []
    weight = result.consumer_weight
    totals = store_totals_of(result.stores, result.plan).set_index("store_id")
    stores = []
    for row in result.plan.to_dict("records"):
        total = totals.loc[row["store_id"]] if row["store_id"] in totals.index else pd.Series(dtype=float)

        def people(column: str, total: pd.Series = total) -> int | None:
            value = float(total.get(column, math.nan))
            return None if not math.isfinite(value) else round(value * weight)

        utilisation = float(total.get("utilisation", math.nan))
        stores.append(
            {
                "id": str(row["store_id"]),
                "name": str(row["store_name"]),
                "format": str(row["format"]),
                "lon": round(float(row["lon"]), 5),
                "lat": round(float(row["lat"]), 5),
                "open_day": int(row["open_day"]),
                "capacity": None if pd.isna(row["capacity"]) else float(row["capacity"]),
                "bookings": people("bookings_requested"),
                "test_drives": people("test_drives"),
                "bookings_lost": people("bookings_lost"),
                "purchases": people("purchases"),
                "utilisation": None if not math.isfinite(utilisation) else round(utilisation, 3),
            }
        )
    return stores


def _rivals(result: RunResult) -> list[dict[str, Any]]:
    """Rival showrooms with their mean bookings over replications (people)."""
    rivals = result.rivals
    if rivals is None or rivals.empty or not {"lon", "lat", "bookings_scaled"} <= set(rivals.columns):
        return []
    means: pd.DataFrame = rivals.groupby(["rival_id", "brand", "rival_name", "lon", "lat"], as_index=False, sort=False)[
        ["bookings_scaled"]
    ].mean()
    return [
        {
            "id": str(r["rival_id"]),
            "brand": str(r["brand"]),
            "name": str(r["rival_name"]),
            "lon": round(float(r["lon"]), 5),
            "lat": round(float(r["lat"]), 5),
            "bookings": round(float(r["bookings_scaled"])),
        }
        for r in means.to_dict("records")
    ]


# --------------------------------------------------------------------------- the section


def map_data(city: City, plans: Mapping[str, RunResult], extra_layers: Sequence[GeoJsonLayer] = ()) -> dict[str, Any]:
    """The map's JSON: the city's geometry, one entry per plan, the measures and the extra layers."""
    base = _city_base(city)
    return {
        **base,
        "cells": {key: value for key, value in base["cells"].items() if key != "ids"},
        "metrics": [{"key": key, "label": label} for key, label, _column, _decimals in METRICS],
        "plans": [_plan_entry(name, result, base) for name, result in plans.items()],
        "extra": [layer.to_json() for layer in extra_layers],
    }


def map_section(data: Mapping[str, Any], *, note: str = "") -> str:
    """The ``<section>`` of the interactive map: Leaflet, the map's code and style, and ``data``, all inline."""
    note_html = f'<p class="note">{escape_html(note)}</p>' if note else ""
    return "\n".join(
        [
            '<section class="webmap-section"><h2>Interactive map</h2>',
            f"<style>{_static_text('leaflet/leaflet.css')}\n{_static_text('webmap.css')}</style>",
            '<div class="webmap-controls" id="webmap-controls"></div>',
            f'<div class="webmap" id="{MAP_ELEMENT_ID}" role="application" aria-label="Interactive map"></div>',
            '<div class="webmap-legend" id="webmap-legend"></div>',
            '<p class="note webmap-help">Drag to pan, scroll or use + / − to zoom; hover for values, click a store '
            "for its results. Classes are septiles of the values of all plans. No background tiles: the page is "
            "self-contained and works offline. The figures below are the printable versions.</p>",
            note_html,
            f'<script type="application/json" id="webmap-data">{_script_json(data)}</script>',
            f"<script>{_static_text('leaflet/leaflet.js')}</script>",
            f"<script>{_static_text('webmap.js')}</script>",
            "</section>",
        ]
    )


CATCHMENT_STYLES: dict[int, dict[str, Any]] = {
    90: {"fillOpacity": 0.08, "weight": 1.0, "dashArray": "4 3"},
    70: {"fillOpacity": 0.14, "weight": 1.2, "dashArray": "6 2"},
    50: {"fillOpacity": 0.22, "weight": 1.6},
}
"""Style of each catchment ring on the map: the narrower, the denser."""

TRADE_AREA_NOTE = (
    "Trade areas: each store's 50, 70 and 90 % catchments, the fewest 1 km cells (highest booking density "
    "first) where that share of the store's bookings live (trade_area_summary.parquet)."
)


def catchment_layers(city: City, plans: Mapping[str, RunResult]) -> list[GeoJsonLayer]:
    """One toggleable map layer per plan: its stores' 50/70/90 % catchments (off when the page opens)."""
    from simulator.reports.webmap_geometry import geojson_layer
    from simulator.results import catchment_frame, trade_area_summary

    layers: list[GeoJsonLayer] = []
    cells = None
    for name, result in plans.items():
        if result.trade_areas is None or result.trade_areas.empty:
            continue
        cells = _city_cells(city) if cells is None else cells
        summary = trade_area_summary(
            result.trade_areas, result.plan, n_replications=result.n_replications, weight=result.consumer_weight
        )
        frame = catchment_frame(summary, cells)
        if frame.empty:
            continue
        frame["_style"] = [
            {"color": "#7b2cbf", "fillColor": "#9d4edd", **CATCHMENT_STYLES.get(int(p), {})}
            for p in frame["share_percent"]
        ]
        frame["share_label"] = [f"{int(p)} %" for p in frame["share_percent"]]
        frame["bookings_people"] = frame["bookings_requested_scaled"].round()
        label = "Trade areas (50/70/90 %)" if len(plans) == 1 else f"Trade areas: {name}"
        layers.append(
            geojson_layer(
                frame,
                label,
                tooltip=(
                    ("store_name", "Store"),
                    ("share_label", "Catchment"),
                    ("cells", "Cells"),
                    ("bookings_people", "Bookings from these cells (people)"),
                ),
                simplify_m=CELL_SIMPLIFY_M,
            )
        )
    return layers


def run_map_section(result: RunResult, extra_layers: Sequence[GeoJsonLayer] = ()) -> str:
    """The interactive map of a run (with its trade areas), or a one-line note when its city bundle cannot be loaded."""
    try:
        city = _city_of(result)
    except FootprintError as error:
        return f'<section><h2>Interactive map</h2><p class="note">No map: {escape_html(error)}</p></section>'
    plans = {result.scenario_name: result}
    layers = [*catchment_layers(city, plans), *extra_layers]
    return map_section(map_data(city, plans, layers), note=TRADE_AREA_NOTE if len(layers) > len(extra_layers) else "")


def comparison_map_section(city: City, runs: Mapping[str, RunResult], extra_layers: Sequence[GeoJsonLayer] = ()) -> str:
    """The interactive map of a comparison: a control picks the plan; colour classes are shared by all plans.

    Each plan's trade areas are a layer of their own (:func:`catchment_layers`).
    """
    layers = [*catchment_layers(city, runs), *extra_layers]
    return map_section(map_data(city, runs, layers), note=TRADE_AREA_NOTE if len(layers) > len(extra_layers) else "")

"""Writing the bundle: its layers in EPSG:4326, the ``sources`` table, validation before the rename into place.

Geometries computed in the metric CRS are stored in :data:`STORAGE_CRS` on a grid
of :data:`COORDINATE_GRID_DEG` degrees (about 0.1 m). :func:`write_bundle` writes
a temporary GeoPackage beside the output, checks it with
:func:`simulator.city.validation.validate_bundle` and only then renames it, so a
bundle that exists passed the same validation as Beijing's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from simulator.city.build.cells import CityCells
from simulator.city.build.features import polygonal_part
from simulator.city.build.inputs import BuildInputs
from simulator.city.build.jobs import Jobs
from simulator.city.build.population import PopulationLayer
from simulator.city.build.sites import ATTRACTIVENESS_RANGE, SITE_MIN_SHOPS, SITE_RADIUS_M
from simulator.city.build.stations import STATION_MERGE_M
from simulator.city.build.transit import STATION_SNAP_M, TRANSFER_RADIUS_M, WALK_METRES_PER_SECOND, Transit
from simulator.city.build.zones import Zones, zone_lookup
from simulator.city.projection import STORAGE_CRS, reproject, transformer
from simulator.city.validation import validate_bundle
from simulator.config import CityError
from simulator.config.atomic import atomic_path

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["COORDINATE_GRID_DEG", "OSM_LICENCE", "Layer", "bundle_layers", "sources_table", "write_bundle"]

#: Stored coordinates are rounded to this many degrees (about 0.1 m).
COORDINATE_GRID_DEG = 1e-6
OSM_LICENCE = "ODbL 1.0 (© OpenStreetMap contributors)"

#: (layer name, frame, geometry type to declare or None).
Layer = tuple[str, pd.DataFrame, str | None]


def bundle_layers(
    metric_crs: str,
    cells: CityCells,
    zones: Zones,
    jobs: Jobs,
    malls: pd.DataFrame,
    sites: pd.DataFrame,
    transit: Transit,
    sources: pd.DataFrame,
) -> list[Layer]:
    """The eight layers of the bundle, geometries in EPSG:4326, in the order they are written."""
    points = _PointLayers(metric_crs, zone_lookup(zones.geoms, zones.ids))
    return [
        ("districts", _districts(zones, metric_crs), "MultiPolygon"),
        ("population_cells", _cells(cells, zones, jobs, metric_crs), None),
        ("subway_stations", points.stations(transit.stations), "Point"),
        ("subway_lines", _lines(transit.lines, metric_crs), "LineString"),
        ("subway_links", transit.links.astype({"distance_m": np.float64, "walk_seconds": np.float64}), None),
        ("malls", points.malls(malls), "Point"),
        ("street_sites", points.sites(sites), "Point"),
        ("sources", sources, None),
    ]


class _PointLayers:
    """Point layers (x, y metric columns) with their geometry in storage and the zone of each point."""

    def __init__(self, metric_crs: str, lookup: Callable[[np.ndarray], list[str]]) -> None:
        self.metric_crs = metric_crs
        self.lookup = lookup

    def stations(self, stations: pd.DataFrame) -> gpd.GeoDataFrame:
        return self._frame(
            stations,
            {
                "station_id": pd.Series(stations["station_id"], dtype=object),
                "name": pd.Series(stations["name"], dtype=object),
                "name_en": pd.Series(stations["name_en"], dtype=object),
                "lines": pd.Series(stations["lines"] if len(stations) else [], dtype=object),
                "modes": pd.Series([";".join(sorted(m)) for m in stations["modes"]], dtype=object),
                "osm_ids": pd.Series(stations["osm_ids"], dtype=object),
            },
        )

    def malls(self, malls: pd.DataFrame) -> gpd.GeoDataFrame:
        return self._frame(
            malls,
            {
                "mall_id": pd.Series(malls["mall_id"], dtype=object),
                "name": pd.Series(malls["name"], dtype=object),
                "name_en": pd.Series(malls["name_en"], dtype=object),
                "attractiveness": malls["attractiveness"].to_numpy(dtype=np.float64),
                "position_accuracy_m": malls["position_accuracy_m"].to_numpy(dtype=np.float64),
                "kind": pd.Series(malls["kind"], dtype=object),
                "area_m2": np.round(malls["area_m2"].to_numpy(dtype=np.float64), 1),
            },
        )

    def sites(self, sites: pd.DataFrame) -> gpd.GeoDataFrame:
        return self._frame(
            sites,
            {
                "site_id": pd.Series(sites["site_id"], dtype=object),
                "name": pd.Series(sites["name"], dtype=object),
                "attractiveness": sites["attractiveness"].to_numpy(dtype=np.float64),
                "shops": sites["shops"].to_numpy(dtype=np.int64),
                "seed_osm": pd.Series(sites["seed_osm"], dtype=object),
            },
        )

    def _frame(self, frame: pd.DataFrame, columns: dict[str, Any]) -> gpd.GeoDataFrame:
        """``columns`` and a last ``zone_id`` column, with the points of ``frame`` as geometry."""
        import geopandas as gpd

        xy = frame[["x", "y"]].to_numpy(dtype=float)
        columns["zone_id"] = pd.Series(self.lookup(xy), dtype=object)
        geometry: Any = _to_storage(shapely.points(xy), self.metric_crs) if len(frame) else []
        return gpd.GeoDataFrame(columns, geometry=geometry, crs=STORAGE_CRS)


def _lines(lines: pd.DataFrame, metric_crs: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            "line_id": pd.Series(lines["line_id"], dtype=object),
            "name": pd.Series(lines["name"], dtype=object),
            "name_en": pd.Series(lines["name_en"], dtype=object),
            "is_loop": lines["is_loop"].to_numpy(dtype=bool),
            "stations": pd.Series(lines["stations"], dtype=object),
            "distances_m": pd.Series(lines["distances_m"], dtype=object),
            "mode": pd.Series(lines["mode"], dtype=object),
            "color": pd.Series(lines["color"], dtype=object),
            "n_stations": lines["n_stations"].to_numpy(dtype=np.int64),
            "osm_relations": pd.Series(lines["osm_relations"], dtype=object),
        },
        geometry=_to_storage(lines["geometry"].to_numpy(), metric_crs) if len(lines) else [],
        crs=STORAGE_CRS,
    )


def _districts(zones: Zones, metric_crs: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            "zone_id": pd.Series(zones.ids, dtype=object),
            "name": pd.Series(zones.names, dtype=object),
            "name_en": pd.Series(zones.names_en, dtype=object),
            "population": np.asarray(zones.population, dtype=np.int64),
            "jobs": np.asarray(zones.jobs, dtype=np.float64),
            "cells": np.asarray(zones.cells, dtype=np.int64),
            "area_km2": np.round(shapely.area(np.asarray(zones.geoms, dtype=object)) / 1e6, 4),
            "zone_rule": zones.rule,
        },
        geometry=_valid_polygons(_to_storage(zones.geoms, metric_crs)),
        crs=STORAGE_CRS,
    )


def _cells(cells: CityCells, zones: Zones, jobs: Jobs, metric_crs: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            "cell_id": pd.Series(cells.ids, dtype=object),
            "zone_id": pd.Series(zones.cell_zone, dtype=object),
            "population": cells.population.astype(np.int64),
            "jobs": jobs.per_cell.astype(np.float64),
            "area_km2": np.round(shapely.area(cells.geoms) / 1e6, 4),
            "workplaces": jobs.workplaces.astype(np.int64),
            "covered_by_extract": jobs.covered.astype(bool),
            "filled": cells.is_fill,
            "jobs_modelled": np.ones(len(cells.geoms), dtype=bool),
        },
        geometry=_valid_polygons(_to_storage(cells.geoms, metric_crs)),
        crs=STORAGE_CRS,
    )


def _to_storage(geoms: Any, metric_crs: str) -> np.ndarray:
    """Metric geometries in :data:`STORAGE_CRS`, rounded to :data:`COORDINATE_GRID_DEG`."""
    lonlat = reproject(np.asarray(geoms, dtype=object), transformer(metric_crs, STORAGE_CRS))
    return shapely.set_precision(lonlat, COORDINATE_GRID_DEG)


def _valid_polygons(geoms: np.ndarray) -> np.ndarray:
    """The geometries, an invalid one (after rounding) replaced by the polygonal part of its valid form."""
    return np.array(
        [polygonal_part(shapely.make_valid(g)) if not shapely.is_valid(g) else g for g in geoms], dtype=object
    )


#: Method of each layer drawn from the extract alone (in the ``sources`` table).
_OSM_METHODS: dict[str, str] = {
    "subway_stations": "railway=station|halt, public_transport=station, station=* nodes; same-name nodes within "
    f"{STATION_MERGE_M:.0f} m merged",
    "subway_lines": "route relations (subway, light_rail, train, tram, monorail); stops = stations within "
    f"{STATION_SNAP_M:.0f} m of the track in track order; distances along the track",
    "subway_links": "ride = along-track distance; transfer = straight walk between stations within "
    f"{TRANSFER_RADIUS_M:.0f} m at {WALK_METRES_PER_SECOND} m/s",
    "malls": "shop=mall|department_store; attractiveness = clip(area / median area, "
    f"{ATTRACTIVENESS_RANGE[0]}, {ATTRACTIVENESS_RANGE[1]}), 1 for a node without footprint; "
    "position = a point inside the footprint",
    "street_sites": f"densest-first clusters of shop=* within {SITE_RADIUS_M:.0f} m, at least {SITE_MIN_SHOPS} "
    "shops; attractiveness = clip(shops / median shops, 0.5, 10)",
}


def sources_table(inputs: BuildInputs, population: PopulationLayer, zone_rule: str, jobs_note: str) -> pd.DataFrame:
    """One row per layer: source, licence, build date, CRS note and method."""
    population_name = inputs.population_path.name
    population_text = inputs.population_source or population_name
    population_licence = inputs.population_licence or f"not stated: see the provider of {population_name}"
    osm_text = f"OpenStreetMap extract {inputs.osm_path.name}"
    crs_population = (
        f"population layer {population.crs_text}, reprojected; "
        if population.reprojected
        else f"population layer {population.crs_text}; "
    )
    built = f"built in {population.metric_crs} (UTM), stored in EPSG:4326 (1e-6 degree grid)"
    boundary = (
        f"; boundary {inputs.boundary_path.name}"
        if inputs.boundary_path
        else "; boundary: the population cells, gaps closed, holes filled"
    )
    rows = [
        (
            "districts",
            f"{population_text}{boundary}; names: OSM place nodes ({inputs.osm_path.name})",
            f"{population_licence}; names {OSM_LICENCE}",
            crs_population + built,
            zone_rule,
        ),
        (
            "population_cells",
            f"{population_text} (column '{population.column}'); jobs: {osm_text}",
            f"{population_licence}; jobs derived from {OSM_LICENCE}",
            crs_population + built,
            f"residents from the population layer; MODELLED jobs: {jobs_note}",
        ),
    ]
    for layer, method in _OSM_METHODS.items():
        crs_note = "attribute table (no geometry)" if layer == "subway_links" else built
        rows.append((layer, osm_text, OSM_LICENCE, crs_note, method))
    return pd.DataFrame(
        [
            {
                "layer": layer,
                "source": source,
                "licence": licence,
                "build_date": inputs.build_date,
                "crs_note": crs,
                "method": method,
            }
            for layer, source, licence, crs, method in rows
        ]
    )


def write_bundle(out: Path, layers: list[Layer], overwrite: bool) -> None:
    """Write the layers to a temporary GeoPackage beside ``out``, validate it, then rename it (atomically)."""
    import pyogrio

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temporary, warnings.catch_warnings():
        # GDAL notes that the temporary name does not end in .gpkg; the file is a GeoPackage.
        warnings.filterwarnings("ignore", message=".*non conformant file extension")
        for layer, frame, geometry_type in layers:
            options: dict[str, Any] = {"layer": layer, "driver": "GPKG"}
            if hasattr(frame, "geometry") and isinstance(frame, pd.DataFrame) and "geometry" in frame.columns:
                options["promote_to_multi"] = layer == "districts"
                if geometry_type:
                    options["geometry_type"] = geometry_type
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                pyogrio.write_dataframe(frame, temporary, **options)
        try:
            validate_bundle(temporary)
        except CityError as error:
            raise CityError(str(error).replace(temporary.name, out.name) + " (bundle not written)") from None
        if out.exists() and not overwrite:
            raise CityError(f"{out}: file exists (use --overwrite or another --out)")

"""Loading a city bundle: the :class:`City` of plain arrays in metres, found by name or path.

A city bundle is a GeoPackage whose layers are stored in EPSG:4326 (see
``docs/architecture.md``, "City bundle format"). :func:`load_city` reads it once,
checks every rule of the format (:mod:`simulator.city.validation`), projects
everything to the UTM zone of the districts' centroid
(:func:`simulator.city.projection.utm_epsg`), builds the transit graphs
(:mod:`simulator.city.transit_graphs`) and returns a frozen :class:`City` of numpy
arrays and sparse graphs. The simulation core sees only that object; the adapters
of :mod:`simulator.city.frames` read geometries again, lazily, for maps and GIS
output.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import Transformer

from simulator.city.names import lookup_index
from simulator.city.transit_graphs import transit_graphs
from simulator.city.validation import CheckedBundle, check_bundle
from simulator.config import CityError, bundle_dir

__all__ = ["BUNDLE_DIR", "City", "available_bundles", "load_city", "resolve_bundle"]

#: Folder of the bundles shipped with the project (``<project>/geo``, or its copy in a wheel).
BUNDLE_DIR: Path = bundle_dir()


# --------------------------------------------------------------------------------------
# The City
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class City:
    """A city as plain arrays in a metric (UTM) CRS; indices are array positions.

    Build it with :func:`load_city`. Shapes: Z zones, C cells, S stations,
    L lines, P platforms, M malls, K street sites. All coordinates are metres in
    ``crs``. ``zone_population`` is the census figure of each district;
    ``cell_population`` and ``cell_jobs`` are the modelled surface.
    ``cell_half_size`` is half the side of the square of equal area,
    ``sqrt(area) / 2``. The private ``_area`` holds the (prepared) union of the
    districts for :meth:`contains`.
    """

    name: str
    source: Path
    crs: str
    bounds: tuple[float, float, float, float]
    zone_ids: np.ndarray
    zone_names: np.ndarray
    zone_names_en: np.ndarray
    zone_population: np.ndarray
    cell_ids: np.ndarray
    cell_xy: np.ndarray
    cell_population: np.ndarray
    cell_jobs: np.ndarray
    cell_zone: np.ndarray
    cell_half_size: np.ndarray
    station_ids: np.ndarray
    station_names: np.ndarray
    station_names_en: np.ndarray
    station_xy: np.ndarray
    line_ids: np.ndarray
    line_names: np.ndarray
    platform_station: np.ndarray
    platform_line: np.ndarray
    platform_graph: sp.csr_matrix
    station_graph: sp.csr_matrix
    mall_ids: np.ndarray
    mall_names: np.ndarray
    mall_names_en: np.ndarray
    mall_xy: np.ndarray
    mall_attractiveness: np.ndarray
    site_ids: np.ndarray
    site_names: np.ndarray
    site_xy: np.ndarray
    site_attractiveness: np.ndarray
    _area: Any = field(default=None, repr=False, compare=False)

    # ---- look-ups ---------------------------------------------------------------

    def station_index(self, name_or_id: str) -> int:
        """Index of a station given its id, Chinese or English name.

        An exact id or name wins; otherwise names are compared after
        :func:`simulator.city.names.normalise_name` (so ``木樨地站``, ``木樨地(1号线)``
        and ``木樨地`` are the same station, unless the city has two stations of that
        name, as Beijing has 木樨地(1号线) and 木樨地(16号线): then the plain name is
        ambiguous and raises).

        Raises
        ------
        PlanError
            No station matches (the message lists close matches), or the name is
            ambiguous.
        """
        return lookup_index(
            query=name_or_id,
            ids=self.station_ids,
            names=(self.station_names, self.station_names_en),
            what="station",
            where=f"{self.source.name}: layer 'subway_stations'",
        )

    def mall_index(self, id_or_name: str) -> int:
        """Index of a mall given its id, Chinese or English name (normalised match).

        Raises
        ------
        PlanError
            No mall matches (the message lists close matches), or the name is
            ambiguous.
        """
        return lookup_index(
            query=id_or_name,
            ids=self.mall_ids,
            names=(self.mall_names, self.mall_names_en),
            what="mall",
            where=f"{self.source.name}: layer 'malls'",
        )

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of the points (n, 2) in metres that lie inside the districts."""
        points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.asarray(shapely.contains_xy(self._area, points[:, 0], points[:, 1]), dtype=bool)

    # ---- summaries --------------------------------------------------------------

    @property
    def population_total(self) -> float:
        """Census population of the city: the sum of the districts' populations."""
        return float(self.zone_population.sum())

    def summary(self) -> dict[str, Any]:
        """Counts, totals, bounds and CRS of the city, as plain Python values."""
        to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon_min, lat_min, lon_max, lat_max = to_lonlat.transform_bounds(*self.bounds)
        xmin, ymin, xmax, ymax = self.bounds
        return {
            "name": self.name,
            "source": str(self.source),
            "crs": self.crs,
            "districts": int(self.zone_ids.size),
            "cells": int(self.cell_ids.size),
            "stations": int(self.station_ids.size),
            "lines": int(self.line_ids.size),
            "platforms": int(self.platform_station.size),
            "malls": int(self.mall_ids.size),
            "street_sites": int(self.site_ids.size),
            "population_total": int(round(self.population_total)),
            "cell_population_total": int(round(float(self.cell_population.sum()))),
            "jobs_total": int(round(float(self.cell_jobs.sum()))),
            "bounds_lonlat": (lon_min, lat_min, lon_max, lat_max),
            "bounds_m": (xmin, ymin, xmax, ymax),
            "extent_km": ((xmax - xmin) / 1000.0, (ymax - ymin) / 1000.0),
        }


# --------------------------------------------------------------------------------------
# Finding and loading bundles
# --------------------------------------------------------------------------------------


def available_bundles() -> list[str]:
    """Names of the bundles shipped in :data:`BUNDLE_DIR` (``*.gpkg`` stems), sorted."""
    if not BUNDLE_DIR.is_dir():
        return []
    return sorted(p.stem for p in BUNDLE_DIR.glob("*.gpkg"))


def resolve_bundle(source: str | os.PathLike) -> Path:
    """Path of a bundle given its name (``"beijing"``) or a path to a ``.gpkg``.

    A string without a path separator and without the ``.gpkg`` suffix is a
    bundle name looked up in :data:`BUNDLE_DIR` (a bare ``name.gpkg`` that does
    not exist in the working folder is looked up there too); anything else is a
    path.

    Raises
    ------
    CityError
        Unknown bundle name (the message lists the available ones).
    """
    text = os.fspath(source)
    bare = isinstance(source, str) and "/" not in text and os.sep not in text
    if bare and text.lower().endswith(".gpkg") and not Path(text).exists() and (BUNDLE_DIR / text).is_file():
        return BUNDLE_DIR / text  # "beijing.gpkg" given as a name
    if not bare or text.lower().endswith(".gpkg"):
        return Path(text)
    candidate = BUNDLE_DIR / f"{text}.gpkg"
    if candidate.is_file():
        return candidate
    available = ", ".join(available_bundles()) or "none"
    raise CityError(f"{text}: unknown city bundle (available in geo/: {available}; or give a path to a .gpkg)")


def load_city(source: str | os.PathLike) -> City:
    """Load, validate and project a city bundle.

    Parameters
    ----------
    source
        A bundle name (``"beijing"`` loads ``<project>/geo/beijing.gpkg``) or a
        path to a GeoPackage in the bundle format.

    Returns
    -------
    City
        Arrays in the UTM zone of the districts' centroid (:mod:`simulator.city.projection`).

    Raises
    ------
    CityError
        Unknown name, unreadable file or any violated rule of the format.
    """
    path = resolve_bundle(source)
    bundle = check_bundle(path)
    return _build_city(bundle)


# --------------------------------------------------------------------------------------
# Building the City
# --------------------------------------------------------------------------------------


def _texts(series: pd.Series) -> np.ndarray:
    return np.asarray([str(v) for v in series], dtype=str) if len(series) else np.zeros(0, dtype=str)


def _build_city(checked: CheckedBundle) -> City:
    frames = checked.frames
    districts = frames["districts"]
    cells = frames["population_cells"]
    stations = frames["subway_stations"]
    lines = frames["subway_lines"]
    malls = frames["malls"]
    sites = frames.get("street_sites")
    if sites is None:  # an optional layer
        sites = pd.DataFrame({"site_id": [], "name": [], "attractiveness": []})

    zone_ids = _texts(districts["zone_id"])
    zone_position = {z: i for i, z in enumerate(zone_ids)}
    cell_xy = shapely.get_coordinates(shapely.centroid(checked.cell_geoms)).reshape(-1, 2)

    graphs = transit_graphs(
        len(stations),
        list(lines["line_id"]),
        checked.line_stations,
        checked.line_distances,
        checked.line_is_loop,
        frames["subway_links"],
        {s: i for i, s in enumerate(stations["station_id"])},
    )
    xmin, ymin, xmax, ymax = (float(v) for v in shapely.bounds(checked.area))

    return City(
        name=checked.path.stem,
        source=checked.path.resolve(),
        crs=checked.crs,
        bounds=(xmin, ymin, xmax, ymax),
        zone_ids=zone_ids,
        zone_names=_texts(districts["name"]),
        zone_names_en=_texts(districts["name_en"]),
        zone_population=districts["population"].to_numpy(dtype=np.float64),
        cell_ids=_texts(cells["cell_id"]),
        cell_xy=np.ascontiguousarray(cell_xy, dtype=np.float64),
        cell_population=cells["population"].to_numpy(dtype=np.float64),
        cell_jobs=cells["jobs"].to_numpy(dtype=np.float64),
        cell_zone=np.array([zone_position[z] for z in cells["zone_id"]], dtype=np.int64),
        cell_half_size=np.sqrt(shapely.area(checked.cell_geoms)) / 2.0,
        station_ids=_texts(stations["station_id"]),
        station_names=_texts(stations["name"]),
        station_names_en=_texts(stations["name_en"]),
        station_xy=np.ascontiguousarray(checked.station_xy, dtype=np.float64),
        line_ids=_texts(lines["line_id"]),
        line_names=_texts(lines["name"]),
        platform_station=graphs.platform_station,
        platform_line=graphs.platform_line,
        platform_graph=graphs.platform_graph,
        station_graph=graphs.station_graph,
        mall_ids=_texts(malls["mall_id"]),
        mall_names=_texts(malls["name"]),
        mall_names_en=_texts(malls["name_en"]),
        mall_xy=np.ascontiguousarray(checked.mall_xy, dtype=np.float64),
        mall_attractiveness=malls["attractiveness"].to_numpy(dtype=np.float64),
        site_ids=_texts(sites["site_id"]),
        site_names=_texts(sites["name"]),
        site_xy=np.ascontiguousarray(checked.site_xy, dtype=np.float64).reshape(-1, 2),
        site_attractiveness=sites["attractiveness"].to_numpy(dtype=np.float64),
        _area=checked.area,
    )

"""Place a scenario's stores on a city: positions in the city's metric CRS, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import Transformer

from simulator.config import PlanError
from simulator.config.coordinates import WGS84, sites_lonlat

FORMATS = ("mall", "street", "flagship", "popup", "delivery_centre")
NEVER_CLOSES = np.iinfo(np.int32).max


@dataclass(frozen=True)
class PlacedStores:
    """The stores of a plan as arrays (length J).

    Attributes
    ----------
    ids, names : numpy.ndarray of str
    format_code : numpy.ndarray of int8
        Index into ``FORMATS``.
    xy : numpy.ndarray, shape (J, 2)
        Position in the city's metric CRS.
    lonlat : numpy.ndarray, shape (J, 2)
        Position in WGS84.
    mall : numpy.ndarray of int32
        Index of the mall the store is in, -1 for a store outside malls.
    open_day, close_day : numpy.ndarray of int32
        Open on days ``open_day <= t < close_day``.
    capacity : numpy.ndarray of int32
        Test drives per day.
    attractiveness, visibility_radius_m : numpy.ndarray of float64
    """

    ids: np.ndarray
    names: np.ndarray
    format_code: np.ndarray
    xy: np.ndarray
    lonlat: np.ndarray
    mall: np.ndarray
    open_day: np.ndarray
    close_day: np.ndarray
    capacity: np.ndarray
    attractiveness: np.ndarray
    visibility_radius_m: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def open_on(self, day: int) -> np.ndarray:
        """Boolean mask of the stores open on ``day``."""
        return (self.open_day <= day) & (day < self.close_day)

    def change_days(self, horizon_days: int) -> list[int]:
        """Days (within the horizon) on which the set of open stores changes, with day 0."""
        days = {0} | {int(d) for d in self.open_day if 0 < d < horizon_days}
        days |= {int(d) for d in self.close_day if 0 < d < horizon_days}
        return sorted(days)

    def to_frame(self, city=None) -> pd.DataFrame:
        """One row per store (the run folder's ``plan.parquet``)."""
        frame = pd.DataFrame(
            {
                "store_id": self.ids,
                "store_name": self.names,
                "format": [FORMATS[c] for c in self.format_code],
                "lon": self.lonlat[:, 0],
                "lat": self.lonlat[:, 1],
                "x": self.xy[:, 0],
                "y": self.xy[:, 1],
                "mall_id": [str(city.mall_ids[m]) if (city is not None and m >= 0) else "" for m in self.mall],
                "open_day": self.open_day,
                "close_day": np.where(self.close_day == NEVER_CLOSES, -1, self.close_day),
                "capacity": self.capacity,
                "attractiveness": self.attractiveness,
                "visibility_radius_m": self.visibility_radius_m,
            }
        )
        if city is not None and len(self):
            frame["zone_id"] = city.zone_ids[zone_of_points(city, self.xy)]
        else:
            frame["zone_id"] = ""
        return frame


def zone_of_points(city, xy: np.ndarray) -> np.ndarray:
    """Zone index of points: the zone of the nearest population cell centroid."""
    from scipy.spatial import cKDTree

    _, nearest_cell = cKDTree(city.cell_xy).query(np.asarray(xy, dtype=np.float64))
    return np.asarray(city.cell_zone)[nearest_cell]


def site_positions(sites, city, where: str, section: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of sites (stores or rival showrooms) in the city's metric CRS, and their mall.

    A site given by ``mall`` sits at the mall (and is inside it), by ``station`` at the
    station, by ``lon``/``lat`` at that point (converted from the site's ``crs`` to WGS84
    by :func:`simulator.config.coordinates.sites_lonlat`). A site outside the city, or naming an
    unknown mall or station, raises :class:`PlanError` naming ``<where>: <section>[i] (id)``.

    Returns
    -------
    xy : numpy.ndarray, shape (n, 2)
    mall : numpy.ndarray of int32
        Index of the mall the site is in, -1 outside malls.
    """
    to_metric = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    xy = np.zeros((len(sites), 2))
    mall = np.full(len(sites), -1, dtype=np.int32)
    lonlat = sites_lonlat(sites)
    located = ~np.isnan(lonlat[:, 0])
    if located.any():
        x, y = to_metric.transform(lonlat[located, 0], lonlat[located, 1])
        xy[located] = np.column_stack([x, y])
    for position, site in enumerate(sites):
        key = f"{where}: {section}[{position}] ({site.id})"
        if site.mall is not None:
            try:
                m = city.mall_index(site.mall)
            except PlanError as error:
                raise PlanError(f"{key}: mall: {error}") from None
            mall[position] = m
            xy[position] = city.mall_xy[m]
        elif site.station is not None:
            try:
                s = city.station_index(site.station)
            except PlanError as error:
                raise PlanError(f"{key}: station: {error}") from None
            xy[position] = city.station_xy[s]
    if len(sites):
        inside = city.contains(xy)
        if not inside.all():
            bad = int(np.flatnonzero(~inside)[0])
            site = sites[bad]
            given = f"({site.lon}, {site.lat})"
            if site.crs != WGS84:
                given += f" in {site.crs}, WGS84 ({lonlat[bad, 0]:.6f}, {lonlat[bad, 1]:.6f}),"
            raise PlanError(
                f"{where}: {section}[{bad}] ({site.id}): position {given} is outside the city '{city.name}'"
            )
    return xy, mall


def lonlat_of(city, xy: np.ndarray) -> np.ndarray:
    """WGS84 longitude and latitude of points in the city's metric CRS, shape (n, 2)."""
    if len(xy) == 0:
        return np.zeros((0, 2))
    to_lonlat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def place_stores(scenario, city, source_name: str | None = None) -> PlacedStores:
    """Resolve every store of ``scenario.plan`` to a position on ``city`` (see :func:`site_positions`)."""
    where = source_name or scenario.source_name
    stores = scenario.plan.stores
    xy, mall = site_positions(stores, city, where, "plan.stores")
    return PlacedStores(
        ids=np.array([s.id for s in stores], dtype=object),
        names=np.array([s.name for s in stores], dtype=object),
        format_code=np.array([FORMATS.index(s.format) for s in stores], dtype=np.int8),
        xy=xy,
        lonlat=lonlat_of(city, xy),
        mall=mall,
        open_day=np.array([s.open_day for s in stores], dtype=np.int32),
        close_day=np.array([NEVER_CLOSES if s.close_day is None else s.close_day for s in stores], dtype=np.int32),
        capacity=np.array([s.capacity_per_day for s in stores], dtype=np.int32),
        attractiveness=np.array([s.attractiveness for s in stores], dtype=np.float64),
        visibility_radius_m=np.array([s.visibility_radius_m for s in stores], dtype=np.float64),
    )


@dataclass(frozen=True)
class PlacedRivals:
    """The rival showrooms of a scenario as arrays (length R).

    Attributes
    ----------
    ids, brands, names : numpy.ndarray of str
    xy, lonlat : numpy.ndarray, shape (R, 2)
        Position in the city's metric CRS and in WGS84.
    open_day, close_day : numpy.ndarray of int32
        Open on days ``open_day <= t < close_day``.
    attractiveness : numpy.ndarray of float64
    """

    ids: np.ndarray
    brands: np.ndarray
    names: np.ndarray
    xy: np.ndarray
    lonlat: np.ndarray
    open_day: np.ndarray
    close_day: np.ndarray
    attractiveness: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def open_on(self, day: int) -> np.ndarray:
        """Boolean mask of the showrooms open on ``day``."""
        return (self.open_day <= day) & (day < self.close_day)

    def change_days(self, horizon_days: int) -> list[int]:
        """Days (within the horizon, after day 0) on which a showroom opens or closes."""
        days = {int(d) for d in self.open_day if 0 < d < horizon_days}
        days |= {int(d) for d in self.close_day if 0 < d < horizon_days}
        return sorted(days)

    def to_frame(self, city=None) -> pd.DataFrame:
        """One row per showroom (brand, position, days, attractiveness, zone)."""
        frame = pd.DataFrame(
            {
                "rival_id": self.ids,
                "brand": self.brands,
                "rival_name": self.names,
                "lon": self.lonlat[:, 0],
                "lat": self.lonlat[:, 1],
                "open_day": self.open_day,
                "close_day": np.where(self.close_day == NEVER_CLOSES, -1, self.close_day),
                "attractiveness": self.attractiveness,
            }
        )
        frame["zone_id"] = city.zone_ids[zone_of_points(city, self.xy)] if (city is not None and len(self)) else ""
        return frame


def place_rivals(scenario, city, source_name: str | None = None) -> PlacedRivals:
    """Resolve every rival showroom of ``scenario.rivals`` to a position on ``city``."""
    where = source_name or scenario.source_name
    showrooms = scenario.rivals.showrooms
    xy, _ = site_positions(showrooms, city, where, "rivals.showrooms")
    return PlacedRivals(
        ids=np.array([r.id for r in showrooms], dtype=object),
        brands=np.array([r.brand for r in showrooms], dtype=object),
        names=np.array([r.display_name for r in showrooms], dtype=object),
        xy=xy,
        lonlat=lonlat_of(city, xy),
        open_day=np.array([r.open_day for r in showrooms], dtype=np.int32),
        close_day=np.array([NEVER_CLOSES if r.close_day is None else r.close_day for r in showrooms], dtype=np.int32),
        attractiveness=np.array([r.attractiveness for r in showrooms], dtype=np.float64),
    )

"""Coordinate systems of site positions: names, checks and conversion to WGS84.

A site's ``crs`` is ``wgs84`` (the default), ``gcj02`` (Amap/Gaode, Tencent: the Chinese
obfuscated system), ``bd09`` (Baidu) or an EPSG code such as ``EPSG:3857`` (pyproj).
:func:`normalise_crs` checks and spells a value the one way the schema stores it;
:func:`to_wgs84` converts arrays of positions; :func:`sites_lonlat` gives the WGS84
positions of the sites (stores or rival showrooms) that are placed by ``lon``/``lat``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from simulator.config.china_coordinates import bd09_to_wgs84, gcj02_to_wgs84

__all__ = [
    "CRS_CHOICES",
    "CRS_DESCRIPTION",
    "WGS84",
    "convertible",
    "crs_is_geographic",
    "normalise_crs",
    "sites_lonlat",
    "to_wgs84",
    "wgs84_problem",
]

WGS84 = "wgs84"
_NAMED = ("wgs84", "gcj02", "bd09")
_EPSG = re.compile(r"epsg:(\d{1,6})", re.IGNORECASE)
#: The kinds of EPSG coordinate systems a position may be given in (pyproj's ``CRS.type_name``).
_HORIZONTAL = ("Geographic 2D CRS", "Projected CRS")
_ALIASES = {"wgs-84": "wgs84", "gcj-02": "gcj02", "bd-09": "bd09", "epsg:4326": "wgs84"}

CRS_CHOICES = "`wgs84`, `gcj02`, `bd09` or `EPSG:<code>`"
CRS_DESCRIPTION = (
    "Coordinate system of `lon`/`lat`: `wgs84` (GPS, OpenStreetMap), `gcj02` (Amap/Gaode, "
    "Tencent and other maps published in China), `bd09` (Baidu), or an EPSG code such as "
    '`"EPSG:3857"` (then `lon`/`lat` are its x/y, e.g. metres); converted to WGS84 when the '
    "site is placed."
)


def normalise_crs(value: str) -> str:
    """The canonical spelling of a ``crs`` value: ``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``.

    Raises
    ------
    ValueError
        For anything else, or an EPSG code pyproj does not know (the message lists the choices).
    """
    text = value.strip().lower()
    text = _ALIASES.get(text, text)
    if text in _NAMED:
        return text
    match = _EPSG.fullmatch(text)
    if match is None:
        raise ValueError(
            f"unknown coordinate system {value!r}: use wgs84, gcj02, bd09 or an EPSG code like 'EPSG:3857'"
        )
    code = f"EPSG:{int(match.group(1))}"
    if code == "EPSG:4326":
        return WGS84
    kind = _crs_kind(code)
    if kind is None:
        raise ValueError(f"unknown EPSG code {value!r} (pyproj does not know it)")
    if kind not in _HORIZONTAL:
        raise ValueError(f"{code} is a {kind}: use a 2D geographic (degrees) or projected coordinate system")
    return code


@functools.lru_cache(maxsize=64)
def _crs_kind(code: str) -> str | None:
    """pyproj's kind of a CRS (``"Geographic 2D CRS"``, ``"Projected CRS"``, ...), or None for an unknown code."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return str(CRS.from_user_input(code).type_name)
    except CRSError:
        return None


def crs_is_geographic(crs: str) -> bool:
    """True when ``lon``/``lat`` in ``crs`` (a normalised value) are degrees."""
    return crs in _NAMED or _crs_kind(crs) == "Geographic 2D CRS"


@functools.lru_cache(maxsize=64)
def _transformer(code: str, inverse: bool = False) -> Any:
    from pyproj import Transformer

    source, target = ("EPSG:4326", code) if inverse else (code, "EPSG:4326")
    return Transformer.from_crs(source, target, always_xy=True)


def to_wgs84(lon: Any, lat: Any, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude and latitude (degrees) of positions given in ``crs`` (a normalised value).

    GCJ-02 and BD-09 by :mod:`simulator.config.china_coordinates`, EPSG codes by pyproj
    (axis order x, y: longitude first). Positions pyproj cannot convert come back as NaN
    or infinity.
    """
    lon_array = np.asarray(lon, dtype=np.float64)
    lat_array = np.asarray(lat, dtype=np.float64)
    if crs == WGS84:
        return lon_array.copy(), lat_array.copy()
    if crs == "gcj02":
        return gcj02_to_wgs84(lon_array, lat_array)
    if crs == "bd09":
        return bd09_to_wgs84(lon_array, lat_array)
    x, y = _transformer(crs).transform(lon_array, lat_array, errcheck=False)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def convertible(lon: Any, lat: Any, crs: str) -> np.ndarray:
    """Boolean mask of the positions in ``crs`` that convert to a WGS84 longitude and latitude.

    The WGS84 point must be finite and within [-180, 180] x [-90, 90]; for a projected
    crs it must also convert back to the position (to 1e-6 of its size): a projection
    may wrap a position far outside its domain onto a valid point (web Mercator x = 1e9
    "is" longitude -16.8).
    """
    lon_array = np.asarray(lon, dtype=np.float64)
    lat_array = np.asarray(lat, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        converted_lon, converted_lat = to_wgs84(lon_array, lat_array, crs)
        valid = (np.abs(converted_lon) <= 180.0) & (np.abs(converted_lat) <= 90.0)
        if not crs_is_geographic(crs) and valid.any():
            back_x, back_y = _transformer(crs, inverse=True).transform(converted_lon, converted_lat, errcheck=False)
            error = np.hypot(np.asarray(back_x) - lon_array, np.asarray(back_y) - lat_array)
            valid &= error <= 1e-6 * np.maximum(1.0, np.hypot(lon_array, lat_array))
    return np.asarray(valid)


def wgs84_problem(lon: float, lat: float, crs: str) -> tuple[str, str] | None:
    """What is wrong with one position in ``crs``, as ``(key, problem)``, or None when it converts to WGS84.

    Degrees (of ``wgs84``, ``gcj02``, ``bd09`` or a geographic EPSG code) must lie in
    [-180, 180] x [-90, 90]; any position must pass :func:`convertible`.
    """
    if crs_is_geographic(crs):
        if not -180.0 <= lon <= 180.0:
            return "lon", f"must be >= -180 and <= 180 (degrees in {crs}), got {lon:g}"
        if not -90.0 <= lat <= 90.0:
            return "lat", f"must be >= -90 and <= 90 (degrees in {crs}), got {lat:g}"
        if crs in _NAMED:
            return None
    if bool(convertible(lon, lat, crs)):
        return None
    return "lon", f"({lon:g}, {lat:g}) in {crs} is not a valid position (it converts to no WGS84 longitude/latitude)"


def sites_lonlat(sites: Sequence[Any]) -> np.ndarray:
    """WGS84 (lon, lat) of sites with ``lon``, ``lat`` and ``crs``, shape (n, 2); NaN for sites placed otherwise.

    Converts each coordinate system's sites in one vectorised call.
    """
    lonlat = np.full((len(sites), 2), np.nan)
    by_crs: dict[str, list[int]] = {}
    for position, site in enumerate(sites):
        if site.lon is not None and site.lat is not None:
            by_crs.setdefault(site.crs, []).append(position)
    for crs, positions in by_crs.items():
        lon = [sites[p].lon for p in positions]
        lat = [sites[p].lat for p in positions]
        converted_lon, converted_lat = to_wgs84(lon, lat, crs)
        lonlat[positions, 0], lonlat[positions, 1] = converted_lon, converted_lat
    return lonlat

"""The Chinese map coordinate systems GCJ-02 and BD-09, to and from WGS84 (pure numpy, vectorised).

Maps published in mainland China (Amap/Gaode, Tencent, Apple and Google inside China) give
GCJ-02 coordinates: WGS84 moved by a deterministic, position-dependent offset of a few
hundred metres. Baidu gives BD-09, a further transform of GCJ-02. The formulas are the
published ones (the Krasovsky-ellipsoid obfuscation of the reference implementations
``eviltransform`` and ``coordtransform``):

GCJ-02 from WGS84, with ``x = lon - 105``, ``y = lat - 35``, ``a = 6378245`` m and
``e² = 0.00669342162296594323``::

    dlat = -100 + 2x + 3y + 0.2y² + 0.1xy + 0.2√|x|
           + 2/3 (20 sin 6πx + 20 sin 2πx) + 2/3 (20 sin πy + 40 sin πy/3)
           + 2/3 (160 sin πy/12 + 320 sin πy/30)
    dlon = 300 + x + 2y + 0.1x² + 0.1xy + 0.1√|x|
           + 2/3 (20 sin 6πx + 20 sin 2πx) + 2/3 (20 sin πx + 40 sin πx/3)
           + 2/3 (150 sin πx/12 + 300 sin πx/30)
    m = 1 - e² sin²φ
    lat_gcj = lat + 180 dlat / (π a (1 - e²) / m^1.5)
    lon_gcj = lon + 180 dlon / (π a cos φ / √m)

Outside China (the published box: longitude 72.004 to 137.8347, latitude 0.8293 to
55.8271) GCJ-02 is WGS84. BD-09 from GCJ-02, with ``k = 3000 π / 180``::

    z = √(lon² + lat²) + 0.00002 sin(k lat)
    θ = atan2(lat, lon) + 0.000003 cos(k lon)
    lon_bd = z cos θ + 0.0065,  lat_bd = z sin θ + 0.006

Both forward transforms define the systems; their inverses have no closed form. The
inverses here start from the published approximate inverse and refine it by fixed-point
iteration, ``p ← p - (forward(p) - target)``, until ``forward(p)`` is within
:data:`TOLERANCE_DEG` of the target, so ``forward(inverse(q)) == q`` to that tolerance.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHINA_BOX",
    "TOLERANCE_DEG",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: Krasovsky 1940 ellipsoid: semi-major axis (m) and first eccentricity squared.
_A = 6378245.0
_EE = 0.00669342162296594323
#: The BD-09 rotation constant, 3000 π / 180.
_X_PI = np.pi * 3000.0 / 180.0
#: (lon min, lon max, lat min, lat max) outside which GCJ-02 equals WGS84.
CHINA_BOX = (72.004, 137.8347, 0.8293, 55.8271)
#: The inverses stop when the forward transform of the estimate is this close (degrees, ~0.1 mm).
TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 50

FloatArray = np.ndarray


def _arrays(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    lon_array, lat_array = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return lon_array.copy(), lat_array.copy()


def in_china(lon: object, lat: object) -> np.ndarray:
    """Boolean mask of the points inside :data:`CHINA_BOX` (where GCJ-02 differs from WGS84)."""
    lon_array, lat_array = _arrays(lon, lat)
    lon_min, lon_max, lat_min, lat_max = CHINA_BOX
    return (lon_array >= lon_min) & (lon_array <= lon_max) & (lat_array >= lat_min) & (lat_array <= lat_max)


def _delta_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    result = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    result += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return result


def _delta_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    result = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    result += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return result


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 minus WGS84 at WGS84 points inside China (degrees of longitude and latitude)."""
    d_lat = _delta_lat(lon - 105.0, lat - 35.0)
    d_lon = _delta_lon(lon - 105.0, lat - 35.0)
    radians = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radians) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(radians) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 of WGS84 points (degrees): the published forward transform; unchanged outside China."""
    lon_array, lat_array = _arrays(lon, lat)
    inside = in_china(lon_array, lat_array)
    d_lon, d_lat = _gcj_offset(lon_array[inside], lat_array[inside])
    lon_array[inside] += d_lon
    lat_array[inside] += d_lat
    return lon_array, lat_array


def _fixed_point_inverse(
    forward, target_lon: FloatArray, target_lat: FloatArray, lon: FloatArray, lat: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Refine ``(lon, lat)`` until ``forward(lon, lat)`` is within :data:`TOLERANCE_DEG` of the target."""
    for _ in range(_MAX_ITERATIONS):
        forward_lon, forward_lat = forward(lon, lat)
        error_lon, error_lat = forward_lon - target_lon, forward_lat - target_lat
        if error_lon.size == 0 or max(np.abs(error_lon).max(), np.abs(error_lat).max()) < TOLERANCE_DEG:
            break
        lon = lon - error_lon
        lat = lat - error_lat
    return lon, lat


def gcj02_to_wgs84(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """WGS84 of GCJ-02 points (degrees): the exact inverse of :func:`wgs84_to_gcj02` by fixed-point iteration.

    Starts from the one-step inverse ``w = g - offset(g)`` and iterates
    ``w ← w - (gcj(w) - g)``; the offset varies by about 1e-5 per degree, so each step
    gains about five digits.
    """
    lon_array, lat_array = _arrays(lon, lat)
    inside = in_china(lon_array, lat_array)
    target_lon, target_lat = lon_array[inside], lat_array[inside]
    d_lon, d_lat = _gcj_offset(target_lon, target_lat)
    wgs_lon, wgs_lat = _fixed_point_inverse(
        wgs84_to_gcj02, target_lon, target_lat, target_lon - d_lon, target_lat - d_lat
    )
    lon_array[inside], lat_array[inside] = wgs_lon, wgs_lat
    return lon_array, lat_array


def gcj02_to_bd09(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """BD-09 of GCJ-02 points (degrees): the published forward transform (applied everywhere, as Baidu does)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 of BD-09 points (degrees): the exact inverse of :func:`gcj02_to_bd09`.

    Starts from the published approximate inverse (``x = lon - 0.0065``,
    ``y = lat - 0.006``, ``z = √(x² + y²) - 0.00002 sin(k y)``,
    ``θ = atan2(y, x) - 0.000003 cos(k x)``) and refines it by fixed-point iteration.
    """
    target_lon, target_lat = _arrays(lon, lat)
    x, y = target_lon - 0.0065, target_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _fixed_point_inverse(gcj02_to_bd09, target_lon, target_lat, z * np.cos(theta), z * np.sin(theta))


def wgs84_to_bd09(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """BD-09 of WGS84 points: GCJ-02, then BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: object, lat: object) -> tuple[FloatArray, FloatArray]:
    """WGS84 of BD-09 points: GCJ-02 by :func:`bd09_to_gcj02`, then WGS84 by :func:`gcj02_to_wgs84`."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))

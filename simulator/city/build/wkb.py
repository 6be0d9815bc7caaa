"""WKB salvage: rebuild geometries GEOS refuses to read (a ring of two points, an unclosed ring).

OpenStreetMap extracts hold broken multipolygons that GDAL passes on as WKB that
GEOS cannot parse. :func:`salvage_wkb` reads such bytes itself and leaves out the
degenerate parts, so that the rest of the feature can still be used.
"""

from __future__ import annotations

import struct

import numpy as np
import shapely

__all__ = ["salvage_wkb"]


class _WkbError(ValueError):
    pass


def salvage_wkb(data: bytes) -> tuple[shapely.Geometry | None, bool]:
    """Rebuild a geometry GEOS refuses to read, without its degenerate parts.

    Rings are closed when they are not; a ring with fewer than 3 distinct points
    (an exterior ring takes its polygon with it), a line with fewer than 2
    distinct points and empty parts are left out. Z and M are dropped.

    Returns
    -------
    (geometry or None, changed)
        ``None`` when nothing usable is left (or the bytes are not WKB);
        ``changed`` tells whether anything was removed or closed.
    """
    reader = _WkbReader(bytes(data))
    try:
        geometry = reader.geometry()
    except (_WkbError, struct.error, IndexError, ValueError):
        return None, True
    if geometry is None or geometry.is_empty:
        return None, True
    return geometry, reader.changed


class _WkbReader:
    """Reads (E)WKB from ``offset`` on; ``changed`` is set when a part is dropped or a ring closed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0
        self.changed = False

    def geometry(self) -> shapely.Geometry | None:
        """The geometry starting at ``offset`` (None when nothing usable is left)."""
        order = "<" if self.data[self.offset] == 1 else ">"
        (code,) = struct.unpack_from(order + "I", self.data, self.offset + 1)
        self.offset += 5
        dims = 2
        if code & 0x80000000:  # EWKB Z flag
            dims += 1
        if code & 0x40000000:  # EWKB M flag
            dims += 1
        if code & 0x20000000:  # EWKB SRID
            self.offset += 4
        code &= 0x0FFFFFFF
        base, iso = code % 1000, code // 1000
        dims += {0: 0, 1: 1, 2: 1, 3: 2}.get(iso, 0)
        if base == 1:
            values = np.frombuffer(self.data, dtype=order + "f8", count=dims, offset=self.offset)
            self.offset += 8 * dims
            return None if np.isnan(values[:2]).any() else shapely.Point(values[:2])
        if base == 2:
            return self._line(self._coordinates(order, dims))
        if base == 3:
            return self._polygon([self._coordinates(order, dims) for _ in range(self._count(order))])
        if base in (4, 5, 6, 7):
            parts = [self.geometry() for _ in range(self._count(order))]
            kept = [p for p in parts if p is not None and not p.is_empty]
            if len(kept) < len(parts):
                self.changed = True
            if not kept:
                return None
            maker = {4: shapely.MultiPoint, 5: shapely.MultiLineString, 6: shapely.MultiPolygon}.get(base)
            return maker(kept) if maker else shapely.GeometryCollection(kept)
        raise _WkbError(f"unsupported WKB type {code}")

    def _count(self, order: str) -> int:
        (count,) = struct.unpack_from(order + "I", self.data, self.offset)
        self.offset += 4
        return int(count)

    def _coordinates(self, order: str, dims: int) -> np.ndarray:
        count = self._count(order)
        values = np.frombuffer(self.data, dtype=order + "f8", count=count * dims, offset=self.offset)
        self.offset += 8 * count * dims
        return values.reshape(count, dims)[:, :2].astype(float)

    def _line(self, xy: np.ndarray) -> shapely.LineString | None:
        if _distinct(xy) < 2 or not np.isfinite(xy).all():
            self.changed = True
            return None
        return shapely.LineString(xy)

    def _polygon(self, rings: list[np.ndarray]) -> shapely.Polygon | None:
        fixed: list[np.ndarray] = []
        for ring in rings:
            if len(ring) and not np.array_equal(ring[0], ring[-1]):
                ring = np.vstack([ring, ring[:1]])
                self.changed = True
            if _distinct(ring) < 3 or len(ring) < 4 or not np.isfinite(ring).all():
                self.changed = True
                if not fixed:
                    return None  # the exterior ring is unusable
                continue
            fixed.append(ring)
        if not fixed:
            return None
        return shapely.Polygon(fixed[0], fixed[1:])


def _distinct(xy: np.ndarray) -> int:
    finite = xy[np.isfinite(xy).all(axis=1)]
    return len(np.unique(finite, axis=0)) if len(finite) else 0

"""Reading a vector layer with pyogrio and repairing its geometries (salvaged WKB, made valid).

:func:`read_features` is the one reader of the builder's inputs (population layer,
boundary, the layers of an OpenStreetMap extract): unreadable WKB is rebuilt by
:func:`simulator.city.build.wkb.salvage_wkb`, invalid geometries are made valid,
and what has no usable geometry left is marked skipped, all counted in a
:class:`~simulator.city.build.report.LayerCount`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from simulator.city.build.report import LayerCount
from simulator.city.build.wkb import salvage_wkb
from simulator.config import CityError

__all__ = ["Features", "polygonal_part", "read_features"]


@dataclass
class Features:
    """Attributes and repaired geometries of one read layer (geometry None = skipped)."""

    frame: pd.DataFrame
    geoms: np.ndarray  # object array of shapely geometries or None
    crs: str | None
    count: LayerCount


def read_features(path: Path, layer: str | None, polygonal: bool = False) -> Features:
    """Read a layer with pyogrio, salvage unreadable WKB and make invalid geometries valid.

    With ``polygonal`` only the polygonal part of a repaired geometry is kept
    (a polygon that collapses to a line is skipped).
    """
    from pyogrio.raw import read as raw_read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's "Non closed ring detected" and friends
        try:
            meta, _, wkb, field_data = raw_read(path, layer=layer)
        except Exception as error:  # pyogrio raises several types for unreadable files
            where = f"layer '{layer}': " if layer else ""
            raise CityError(
                f"{path.name}: {where}cannot be read ({type(error).__name__}: {' '.join(str(error).split())})"
            ) from None
    rows = len(wkb) if wkb is not None else (len(field_data[0]) if len(field_data) else 0)
    frame = pd.DataFrame(
        {str(name): values for name, values in zip(meta["fields"], field_data)}, index=pd.RangeIndex(rows)
    )
    count = LayerCount(found=len(frame))
    if wkb is None:
        return Features(frame, np.full(len(frame), None, dtype=object), meta.get("crs"), count)
    geoms = np.asarray(shapely.from_wkb(wkb, on_invalid="ignore"), dtype=object).reshape(-1)
    status = np.zeros(len(geoms), dtype=np.int8)  # 0 ok, 1 repaired, 2 skipped
    for index in np.flatnonzero(pd.isna(geoms)):
        if wkb[index] is None:
            status[index] = 2
            continue
        geometry, _ = salvage_wkb(wkb[index])
        geoms[index] = geometry
        status[index] = 1 if geometry is not None else 2
    present = np.flatnonzero(status != 2)
    if len(present):
        invalid = present[~shapely.is_valid(np.asarray(geoms[present]))]
        if len(invalid):
            geoms[invalid] = shapely.make_valid(np.asarray(geoms[invalid]))
            status[invalid] = 1
        empty = present[shapely.is_empty(np.asarray(geoms[present]))]
        status[empty] = 2
        geoms[empty] = None
    if polygonal:
        for index in np.flatnonzero(status == 1):
            part = polygonal_part(geoms[index])
            geoms[index] = part
            if part is None:
                status[index] = 2
    count.repaired = int((status == 1).sum())
    count.skipped = int((status == 2).sum())
    frame["_status"] = status
    return Features(frame, geoms, meta.get("crs"), count)


def polygonal_part(geometry: shapely.Geometry | None) -> shapely.Geometry | None:
    """The (multi)polygon part of a geometry, or None."""
    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    if geometry.geom_type == "GeometryCollection":
        polygons: list[shapely.Polygon] = []
        for part in geometry.geoms:
            polygon = polygonal_part(part)
            if polygon is not None:
                polygons.extend(getattr(polygon, "geoms", [polygon]))
        if polygons:
            return shapely.MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]
    return None

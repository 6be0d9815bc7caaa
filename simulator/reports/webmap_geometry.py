"""Compact geometry and extra layers for the interactive map of :mod:`simulator.reports.webmap`.

The map's JSON carries coordinates as integers: longitude and latitude in units of
:data:`QUANTUM` degrees (about 11 m north-south and 8.5 m east-west at Beijing) counted
from an origin, each ring or path a flat list ``[x0, y0, dx1, dy1, ...]`` whose first pair
is the offset of the first vertex from the origin and whose next pairs are the steps from
the vertex before. Geometries are simplified first (``simplify_m`` metres, topology kept).
The browser undoes it in ``static/webmap.js`` (``decodePath``).

:class:`GeoJsonLayer` is the seam for extra layers (a trade-area table, for instance): any
GeoDataFrame becomes a layer with :func:`geojson_layer`, drawn with Leaflet's GeoJSON layer
in the order given, toggled in the layer list, with a hover tooltip of the chosen columns.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely

__all__ = ["QUANTUM", "GeoJsonLayer", "Quantiser", "geojson_layer"]

QUANTUM = 1e-4
"""Coordinate step of the map's JSON, in degrees."""


@dataclasses.dataclass(frozen=True)
class Quantiser:
    """Encodes EPSG:4326 geometries as integer steps of :data:`QUANTUM` degrees from ``origin``.

    Parameters
    ----------
    origin : tuple of float
        ``(lon, lat)`` of the south-west corner of everything the map draws.
    """

    origin: tuple[float, float]

    def path(self, coordinates: np.ndarray) -> list[int]:
        """``[x0, y0, dx1, dy1, ...]`` of an (n, 2) array of lon/lat; repeated vertices dropped.

        ``x_k = round((lon_k - lon_0) / QUANTUM)`` and likewise for latitude; the first
        pair is ``(x_0, y_0)``, the next ones the differences ``x_k - x_{k-1}``.
        """
        points = np.rint((np.asarray(coordinates)[:, :2] - np.asarray(self.origin)) / QUANTUM).astype(np.int64)
        if len(points) > 1:
            keep = np.concatenate([[True], np.any(np.diff(points, axis=0) != 0, axis=1)])
            points = points[keep]
        steps = np.vstack([points[:1], np.diff(points, axis=0)])
        return [int(v) for v in steps.ravel()]

    def polygons(self, geometries: Any) -> list[list[list[list[int]]]]:
        """Each (Multi)Polygon of ``geometries`` as its polygons, each a list of coded rings.

        Rings come exterior first, then holes, each without its closing vertex; the coding is
        that of :meth:`path`, done for all vertices at once.
        """
        geometries = np.asarray(geometries, dtype=object).ravel()
        parts, feature_of_part = shapely.get_parts(geometries, return_index=True)
        rings, part_of_ring = shapely.get_rings(parts, return_index=True)
        coordinates, ring_of_vertex = shapely.get_coordinates(rings, return_index=True)
        points = np.rint((coordinates - np.asarray(self.origin)) / QUANTUM).astype(np.int64)
        last_of_ring = np.r_[ring_of_vertex[1:] != ring_of_vertex[:-1], True]
        first_of_ring = np.r_[True, ring_of_vertex[1:] != ring_of_vertex[:-1]]
        repeated = np.r_[False, np.all(points[1:] == points[:-1], axis=1)] & ~first_of_ring
        keep = ~last_of_ring & ~repeated
        points, ring_of_vertex, first_of_ring = points[keep], ring_of_vertex[keep], first_of_ring[keep]
        steps = np.where(first_of_ring[:, None], points, points - np.roll(points, 1, axis=0))
        flat = steps.ravel().tolist()
        ends = np.searchsorted(ring_of_vertex, np.arange(len(rings)), side="right") * 2
        starts = np.r_[0, ends[:-1]]
        encoded: list[list[list[list[int]]]] = [[] for _ in range(len(geometries))]
        part_lists: list[list[list[int]]] = [[] for _ in range(len(parts))]
        for ring, (start, end) in enumerate(zip(starts.tolist(), ends.tolist())):
            part_lists[part_of_ring[ring]].append(flat[start:end])
        for part, feature in enumerate(feature_of_part.tolist()):
            encoded[feature].append(part_lists[part])
        return encoded

    def lines(self, geometry: Any) -> list[list[int]]:
        """Paths of a (Multi)LineString."""
        parts = getattr(geometry, "geoms", [geometry])
        return [self.path(np.asarray(line.coords)) for line in parts if not line.is_empty]

    def point(self, lon: float, lat: float) -> list[int]:
        """One point as ``[x, y]`` steps from the origin."""
        return self.path(np.array([[lon, lat]]))


def simplified_wgs84(frame: Any, simplify_m: float) -> Any:
    """``frame`` with its geometries simplified by ``simplify_m`` metres (in its metric CRS), then in EPSG:4326."""
    if simplify_m > 0 and frame.crs is not None and frame.crs.is_projected:
        frame = frame.set_geometry(shapely.simplify(frame.geometry.to_numpy(), simplify_m, preserve_topology=True))
    return frame.to_crs("EPSG:4326")


@dataclasses.dataclass(frozen=True)
class GeoJsonLayer:
    """An extra layer of the interactive map: GeoJSON features in EPSG:4326.

    Attributes
    ----------
    name : str
        Its label in the layer list.
    features : dict
        A GeoJSON ``FeatureCollection`` (coordinates in degrees).
    style : dict
        Leaflet path options for every feature (``color``, ``weight``, ``fillColor``,
        ``fillOpacity``, ``dashArray``, ...); a feature's ``properties["_style"]``, if any,
        is laid over them.
    tooltip : tuple of (str, str)
        ``(property, label)`` pairs shown on hover.
    visible : bool
        Shown when the page opens.
    """

    name: str
    features: Mapping[str, Any]
    style: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    tooltip: tuple[tuple[str, str], ...] = ()
    visible: bool = False

    def to_json(self) -> dict[str, Any]:
        """The layer as the map's JSON expects it."""
        return {
            "name": self.name,
            "geojson": self.features,
            "style": dict(self.style),
            "tooltip": [list(pair) for pair in self.tooltip],
            "visible": self.visible,
        }


def geojson_layer(
    frame: Any,
    name: str,
    *,
    properties: Sequence[str] = (),
    tooltip: Sequence[tuple[str, str]] = (),
    style: Mapping[str, Any] | None = None,
    simplify_m: float = 20.0,
    decimals: int = 5,
    visible: bool = False,
) -> GeoJsonLayer:
    """A :class:`GeoJsonLayer` from a GeoDataFrame in any CRS.

    Geometries are simplified by ``simplify_m`` metres when the CRS is metric and written
    with ``decimals`` decimals of a degree; ``properties`` (and the tooltip's properties)
    are kept, NaN as null. A column ``_style`` of dicts styles features one by one.
    """
    wgs84 = simplified_wgs84(frame, simplify_m)
    keep = list(dict.fromkeys([*properties, *(p for p, _ in tooltip)] + (["_style"] if "_style" in frame else [])))
    features: list[dict[str, Any]] = []
    geometries = shapely.to_geojson(shapely.set_precision(wgs84.geometry.to_numpy(), 10.0**-decimals))
    records = wgs84[keep].to_dict("records") if keep else [{} for _ in range(len(wgs84))]
    for geometry, record in zip(geometries, records):
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(str(geometry)),
                "properties": {key: _json_value(value) for key, value in record.items()},
            }
        )
    return GeoJsonLayer(
        name=name,
        features={"type": "FeatureCollection", "features": features},
        style=dict(style or {}),
        tooltip=tuple((str(p), str(label)) for p, label in tooltip),
        visible=visible,
    )


def _json_value(value: Any) -> Any:
    """A JSON-safe property value: NaN and None as null, numpy scalars as Python numbers."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

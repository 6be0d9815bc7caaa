"""The city area and its cells: the boundary, the population cells inside it and the cells that complete the grid.

The area is the ``--boundary`` polygons, or the population cells with gaps closed
and holes filled (:func:`default_boundary`). :func:`city_cells` keeps the population cells inside the boundary and adds
:func:`fill_cells` where the population grid has no cell, giving the
:class:`CityCells` of the bundle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from simulator.city.build.features import polygonal_part, read_features
from simulator.city.build.population import PopulationLayer
from simulator.city.build.report import LayerCount
from simulator.city.projection import reproject, transformer
from simulator.config import CityError

__all__ = ["CLOSE_GAP_CELLS", "Boundary", "CityCells", "city_cells", "default_boundary", "fill_cells", "read_boundary"]

#: The default boundary closes gaps between population cells narrower than this many cells.
CLOSE_GAP_CELLS = 3.0
#: Gap-filling pieces smaller than this share of a cell are left out (slivers).
FILL_MIN_SHARE = 0.1
#: Most grid squares examined when filling gaps (a guard against a country-sized area).
MAX_FILL_SQUARES = 2_000_000


@dataclass
class Boundary:
    """The ``--boundary`` polygons in the metric CRS, their attributes and their count."""

    geoms: np.ndarray
    frame: pd.DataFrame
    count: LayerCount


@dataclass
class CityCells:
    """The cells of the bundle in the metric CRS: population cells inside the city, then fill cells.

    ``area`` is the (prepared) city area; ``side`` the median cell side in metres;
    ``anchors`` (n, 2) a point inside each cell, which decides the zone it belongs
    to and whether the extract covers it; ``ids`` are ``c<feature index>`` for
    population cells and ``e<k>`` for fill cells (``is_fill``).
    """

    area: shapely.Geometry
    boundary: Boundary | None
    side: float
    geoms: np.ndarray
    population: np.ndarray
    ids: list[str]
    is_fill: np.ndarray
    anchors: np.ndarray
    notes: list[str]

    def inside(self, point: shapely.Geometry) -> bool:
        """Whether ``point`` (metric) lies inside the city area."""
        return bool(shapely.contains(self.area, point))


def city_cells(population: PopulationLayer, boundary_path: Path | None) -> CityCells:
    """The city area and its cells.

    A population cell is kept when a point inside it (its centroid for a convex
    cell) lies inside the area: the ``boundary_path`` polygons, or by default
    :func:`default_boundary`. :func:`fill_cells` adds cells without residents
    where the population layer has none inside the area. The population layer's
    count gets its ``outside`` and ``kept`` figures.

    Raises
    ------
    CityError
        No population cell lies inside the boundary.
    """
    input_geoms = population.geoms
    side = float(np.median(np.sqrt(shapely.area(input_geoms))))
    boundary = read_boundary(boundary_path, population.metric_crs) if boundary_path is not None else None
    area = shapely.union_all(boundary.geoms) if boundary is not None else default_boundary(input_geoms, side)
    shapely.prepare(area)
    anchors = shapely.get_coordinates(shapely.point_on_surface(input_geoms))
    in_boundary = shapely.contains_xy(area, anchors[:, 0], anchors[:, 1])
    population.count.outside = int((~in_boundary).sum())
    if not in_boundary.any():
        where = boundary_path.name if boundary_path is not None else "the default boundary"
        raise CityError(f"{where}: no population cell lies inside the boundary")
    population.count.kept = int(in_boundary.sum())
    fill = fill_cells(area, input_geoms[in_boundary], side)
    notes: list[str] = []
    if len(fill):
        notes.append(
            f"{len(fill)} cells without residents added where the population layer has none inside the "
            "city (squares, parks, water): shops, stations and jobs can lie there"
        )
    geoms = np.concatenate([input_geoms[in_boundary], fill])
    return CityCells(
        area=area,
        boundary=boundary,
        side=side,
        geoms=geoms,
        population=np.concatenate([population.population[in_boundary], np.zeros(len(fill), dtype=np.int64)]),
        ids=[f"c{i:05d}" for i in population.cell_index[in_boundary]] + [f"e{k:05d}" for k in range(len(fill))],
        is_fill=np.r_[np.zeros(int(in_boundary.sum()), dtype=bool), np.ones(len(fill), dtype=bool)],
        anchors=shapely.get_coordinates(shapely.point_on_surface(geoms)),
        notes=notes,
    )


def read_boundary(path: Path, metric_crs: str) -> Boundary:
    """Boundary polygons in the metric CRS and their attributes.

    Raises
    ------
    CityError
        Missing file, no CRS or no polygon.
    """
    if not path.exists():
        raise CityError(f"{path.name}: boundary file not found")
    features = read_features(path, None, polygonal=True)
    if not features.crs:
        raise CityError(f"{path.name}: boundary layer has no CRS (it is never assumed)")
    geoms = features.geoms
    polygonal = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms], dtype=bool)
    if not polygonal.any():
        raise CityError(f"{path.name}: boundary has no polygon")
    count = features.count
    count.skipped = int((~polygonal).sum())
    count.kept = int(polygonal.sum())
    metric = reproject(geoms[polygonal], transformer(features.crs, metric_crs))
    return Boundary(metric, features.frame[polygonal].reset_index(drop=True), count)


def default_boundary(cells: np.ndarray, cell_side: float) -> shapely.Geometry:
    """The city area when no boundary is given: the cells' union, gaps closed and holes filled.

    A morphological closing, ``union.buffer(d).buffer(-d)`` with mitred corners and
    ``d = CLOSE_GAP_CELLS * cell_side / 2``, fills gaps narrower than
    ``CLOSE_GAP_CELLS`` cells (a population grid lists only inhabited cells, so a
    station square or a park is a gap); then every hole is filled.
    """
    union = shapely.union_all(cells)
    distance = CLOSE_GAP_CELLS * cell_side / 2.0
    closed = shapely.buffer(shapely.buffer(union, distance, join_style="mitre"), -distance, join_style="mitre")
    closed = shapely.union_all([closed, union])
    polygons = [shapely.Polygon(p.exterior) for p in getattr(closed, "geoms", [closed]) if p.geom_type == "Polygon"]
    return shapely.union_all(polygons)


def _grid_frame(cells: np.ndarray) -> tuple[float, np.ndarray]:
    """Angle (radians, in [0, pi/2)) and a corner of the cells' grid, from the median-area cell."""
    areas = shapely.area(cells)
    typical = cells[int(np.argsort(areas)[len(areas) // 2])]
    corners = shapely.get_coordinates(shapely.oriented_envelope(typical))
    if len(corners) < 3:
        return 0.0, corners[0] if len(corners) else np.zeros(2)
    edge = corners[1] - corners[0]
    return float(math.atan2(edge[1], edge[0]) % (math.pi / 2)), corners[0]


def fill_cells(area: shapely.Geometry, cells: np.ndarray, cell_side: float) -> np.ndarray:
    """Cells without residents covering the part of ``area`` the population cells leave empty.

    The empty part is cut by a square grid of side ``cell_side`` with the
    orientation and origin of the population cells' own grid (taken from the
    median-area cell), so a regular grid is continued without slivers; pieces
    smaller than ``FILL_MIN_SHARE`` of a cell are left out.
    """
    empty = shapely.difference(area, shapely.union_all(cells))
    cell_area = cell_side**2
    if empty.is_empty or empty.area < FILL_MIN_SHARE * cell_area:
        return np.zeros(0, dtype=object)
    angle, origin = _grid_frame(cells)
    cos, sin = math.cos(angle), math.sin(angle)

    def rotate(geometry: Any, sign: float) -> Any:
        def apply(xy: np.ndarray) -> np.ndarray:
            dx, dy = xy[:, 0] - origin[0], xy[:, 1] - origin[1]
            return np.column_stack([origin[0] + cos * dx + sign * sin * dy, origin[1] - sign * sin * dx + cos * dy])

        return shapely.transform(geometry, apply)

    local = rotate(empty, 1.0)  # into the grid's frame (rotated by -angle)
    xmin, ymin, xmax, ymax = local.bounds
    columns = np.arange(math.floor((xmin - origin[0]) / cell_side), math.ceil((xmax - origin[0]) / cell_side))
    rows = np.arange(math.floor((ymin - origin[1]) / cell_side), math.ceil((ymax - origin[1]) / cell_side))
    ii, jj = np.meshgrid(columns, rows, indexing="xy")
    x0 = origin[0] + ii.ravel() * cell_side
    y0 = origin[1] + jj.ravel() * cell_side
    if x0.size > MAX_FILL_SQUARES:
        raise CityError(
            f"the city area spans {(xmax - xmin) / 1000:.0f} x {(ymax - ymin) / 1000:.0f} km at {cell_side:.0f} m "
            "cells: too large to fill; clip the population layer to the city or give a smaller --boundary"
        )
    squares = shapely.box(x0, y0, x0 + cell_side, y0 + cell_side)
    shapely.prepare(local)
    squares = squares[shapely.intersects(local, squares)]
    pieces = shapely.intersection(squares, local)
    pieces = np.array([polygonal_part(p) for p in pieces], dtype=object)
    pieces = pieces[[p is not None and p.area >= FILL_MIN_SHARE * cell_area for p in pieces]]
    if len(pieces) == 0:
        return np.zeros(0, dtype=object)
    return np.asarray(rotate(pieces, -1.0), dtype=object)

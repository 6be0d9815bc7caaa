"""Population cells drawn fast: whole grid squares as one raster image, clipped pieces as one path collection.

A city's cells are squares of a regular grid (1 km in the shipped Beijing bundle); at the
city's edge and along district borders a square is cut into pieces, one cell per piece
(Beijing: 15,049 whole squares and 2,881 pieces). Drawing them all as polygon patches
is slow (about 0.65 ms a cell with geopandas). :func:`cell_raster` finds the grid from
the whole squares (side, phase) and puts each one's value at its row and column of a
2-D array, drawn with ``imshow``; the pieces keep their exact shape in a single
:class:`matplotlib.collections.PathCollection` (no patch per cell).
When the cells are not mostly axis-aligned squares of one regular grid in the map's CRS
(irregular polygons, a rotated grid, cells of different sizes), :func:`cell_raster`
returns None and the caller draws the polygons.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from matplotlib.collections import PathCollection
from matplotlib.colors import Colormap, Normalize, to_rgba
from matplotlib.path import Path as MplPath

GRID_TOLERANCE = 0.01
"""Tolerance of the grid checks, as a share of the cell side."""

MIN_SQUARE_SHARE = 0.5
"""Rasterise only when at least this share of the cells are whole grid squares."""

MAX_RASTER_PIXELS = 25_000_000
"""Largest raster (rows x columns) drawn; a larger grid falls back to polygons."""


@dataclass(frozen=True)
class CellGrid:
    """The regular grid of a city's cells.

    Attributes
    ----------
    side : float
        Grid spacing in the map's units.
    x0, y0 : float
        Lower-left corner of the grid square at row 0, column 0.
    row, column : numpy.ndarray
        Grid position of each cell (meaningful for whole squares).
    is_square : numpy.ndarray
        Whether each cell is a whole grid square (else a piece, drawn as a polygon).
    """

    side: float
    x0: float
    y0: float
    row: np.ndarray
    column: np.ndarray
    is_square: np.ndarray


@dataclass(frozen=True)
class CellRaster:
    """Per-cell values: the whole squares on the grid, the pieces as polygons.

    Attributes
    ----------
    values : numpy.ndarray
        ``(rows, columns)`` floats, row 0 the southernmost; NaN where no whole square
        lies or the square has no value.
    has_cell : numpy.ndarray
        ``(rows, columns)`` booleans: a whole square lies here.
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the array's outer edges in the map's CRS
        (the order ``imshow`` takes).
    pieces : numpy.ndarray of shapely geometries
        Cells that are not whole squares.
    piece_values : numpy.ndarray
        Their values (NaN: no value).
    """

    values: np.ndarray
    has_cell: np.ndarray
    extent: tuple[float, float, float, float]
    pieces: np.ndarray
    piece_values: np.ndarray


def cell_grid(geoms: np.ndarray, tolerance: float = GRID_TOLERANCE) -> CellGrid | None:
    """The regular grid of the cells, from those that are whole axis-aligned squares.

    The side ``s`` is the median width of the cells' bounding boxes; a cell is a whole
    square when its bounding box is ``s`` wide and high and its area fills the box, within
    ``tolerance * s`` (and ``2 * tolerance`` of the area). The grid's lower-left corner
    ``(x0, y0)`` is the first square's, and square ``i`` with bounding-box centre
    ``(x̄_i, ȳ_i)`` lies at

    .. math:: c_i = \\lfloor (\\bar x_i - x_0) / s \\rfloor, \\quad r_i = \\lfloor (\\bar y_i - y_0) / s \\rfloor .

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        Cell polygons in a metric CRS.
    tolerance : float
        Share of the side allowed as misfit.

    Returns
    -------
    CellGrid or None
        None when fewer than :data:`MIN_SQUARE_SHARE` of the cells are whole squares, a
        square's centre is off the grid by more than the tolerance or two squares share
        a grid position.
    """
    if len(geoms) == 0 or shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        return None
    bounds = shapely.bounds(geoms)
    width, height = bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]
    side = float(np.median(width))
    slack = tolerance * side
    if not side > 0:
        return None
    square = (np.abs(width - side) <= slack) & (np.abs(height - side) <= slack)
    square &= shapely.area(geoms) >= (1.0 - 2.0 * tolerance) * width * height
    if square.sum() < MIN_SQUARE_SHARE * len(geoms):
        return None
    centre_x, centre_y = (bounds[:, 0] + bounds[:, 2]) / 2.0, (bounds[:, 1] + bounds[:, 3]) / 2.0
    first = int(np.flatnonzero(square)[0])
    x0, y0 = centre_x[first] - side / 2.0, centre_y[first] - side / 2.0
    column = np.floor((centre_x - x0) / side).astype(np.int64)
    row = np.floor((centre_y - y0) / side).astype(np.int64)
    off_x = np.abs(centre_x - x0 - (column + 0.5) * side)
    off_y = np.abs(centre_y - y0 - (row + 0.5) * side)
    if (off_x[square] > slack).any() or (off_y[square] > slack).any():
        return None
    rows, columns = row[square], column[square]
    span = int(columns.max() - columns.min()) + 1
    if len(np.unique((rows - rows.min()) * span + (columns - columns.min()))) != len(rows):
        return None
    return CellGrid(side, x0, y0, row, column, square)


def cell_raster(geoms: np.ndarray, values: np.ndarray, tolerance: float = GRID_TOLERANCE) -> CellRaster | None:
    """Per-cell values as a raster of the whole squares (:func:`cell_grid`) plus the pieces.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        Cell polygons in a metric CRS.
    values : numpy.ndarray
        One value per cell (NaN: no value, e.g. no consumers).
    tolerance : float
        Share of the side allowed as misfit.

    Returns
    -------
    CellRaster or None
        None when the cells are not a regular axis-aligned grid or the raster would exceed
        :data:`MAX_RASTER_PIXELS`: draw the polygons instead.
    """
    geoms = np.asarray(geoms, dtype=object)
    values = np.asarray(values, dtype=float)
    grid = cell_grid(geoms, tolerance)
    if grid is None:
        return None
    row, column = grid.row[grid.is_square], grid.column[grid.is_square]
    row_min, column_min = int(row.min()), int(column.min())
    shape = (int(row.max()) - row_min + 1, int(column.max()) - column_min + 1)
    if shape[0] * shape[1] > MAX_RASTER_PIXELS:
        return None
    array = np.full(shape, np.nan)
    array[row - row_min, column - column_min] = values[grid.is_square]
    has_cell = np.zeros(shape, dtype=bool)
    has_cell[row - row_min, column - column_min] = True
    xmin, ymin = grid.x0 + column_min * grid.side, grid.y0 + row_min * grid.side
    extent = (xmin, xmin + shape[1] * grid.side, ymin, ymin + shape[0] * grid.side)
    return CellRaster(array, has_cell, extent, geoms[~grid.is_square], values[~grid.is_square])


def value_colours(values: np.ndarray, colourmap: Colormap, norm: Normalize, no_data_colour: str) -> np.ndarray:
    """RGBA colours of values (``no_data_colour`` where NaN), shape ``values.shape + (4,)``."""
    rgba = np.asarray(colourmap(norm(np.ma.masked_invalid(values))), dtype=float)
    rgba[~np.isfinite(values)] = to_rgba(no_data_colour)
    return rgba


def polygon_path(geometry: Any) -> MplPath:
    """A matplotlib path of a (multi)polygon, holes included."""
    return polygon_paths(np.array([geometry], dtype=object))[0]


def polygon_paths(geometries: np.ndarray) -> list[MplPath]:
    """Matplotlib paths of (multi)polygons, holes included, all rings read in one pass.

    Each polygon part contributes its exterior ring, then its interior rings, each a
    ``MOVETO``, ``LINETO``... ``CLOSEPOLY`` run of its coordinates; parts that are not
    polygons, and empty ones, are left out (a geometry without any polygon gives a path
    of one ``MOVETO``, which draws nothing).
    """
    geometries = np.asarray(geometries, dtype=object)
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    polygons = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)
    parts, part_owner = parts[polygons], part_owner[polygons]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    vertices, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    ring_sizes = np.bincount(vertex_ring, minlength=len(rings))
    ring_stops = np.cumsum(ring_sizes)
    codes = np.full(len(vertices), MplPath.LINETO, dtype=np.uint8)
    non_empty = ring_sizes > 0
    codes[(ring_stops - ring_sizes)[non_empty]] = MplPath.MOVETO
    codes[ring_stops[non_empty] - 1] = MplPath.CLOSEPOLY
    vertex_owner = part_owner[ring_part[vertex_ring]]
    bounds = np.searchsorted(vertex_owner, np.arange(len(geometries) + 1))
    paths = []
    for start, stop in itertools.pairwise(bounds):
        if start == stop:
            paths.append(MplPath(np.zeros((1, 2)), [MplPath.MOVETO]))
        else:
            paths.append(MplPath(vertices[start:stop], codes[start:stop]))
    return paths


class CellPainter:
    """Draws a :class:`CellRaster` on map axes (the map and its zoom inset) with one colour scale.

    Whole squares are one image (one pixel per grid square, nearest neighbour, no
    smoothing), placed by ``raster.extent`` in the map's CRS; transparent where no square
    lies. Pieces are one path collection, without edges and without antialiasing (which
    would leave hairline seams between neighbouring pieces). Both lie below outlines and
    markers (z-order 1); cells without a value get ``no_data_colour``.
    """

    def __init__(self, raster: CellRaster, colourmap: Colormap, norm: Normalize, no_data_colour: str) -> None:
        self.raster = raster
        image = value_colours(raster.values, colourmap, norm, no_data_colour)
        image[~raster.has_cell] = (0.0, 0.0, 0.0, 0.0)
        self.image = image
        self.piece_paths = polygon_paths(raster.pieces)
        self.piece_colours = value_colours(raster.piece_values, colourmap, norm, no_data_colour)

    def __call__(self, axis: Any) -> None:
        """Draw the image and the pieces on ``axis``."""
        axis.imshow(
            self.image,
            origin="lower",
            extent=self.raster.extent,
            interpolation="nearest",
            resample=False,
            zorder=1,
            aspect="equal",
        )
        if self.piece_paths:
            pieces = PathCollection(
                self.piece_paths,
                facecolors=self.piece_colours,
                edgecolors="none",
                linewidths=0.0,
                antialiaseds=False,
                zorder=1,
            )
            axis.add_collection(pieces, autolim=False)

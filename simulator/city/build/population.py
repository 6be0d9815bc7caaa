"""The population layer: residents per cell, read from polygons or grid points in any CRS.

:func:`read_population` finds the layer and its population column
(:func:`guess_population_column`), repairs geometries, reprojects to the UTM zone
of the layer's centroid, turns points into grid squares and rounds fractional
counts by :func:`largest_remainder` (which keeps the total); the result is a
:class:`PopulationLayer`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.spatial import cKDTree

from simulator.city.build.features import polygonal_part, read_features
from simulator.city.build.report import LayerCount
from simulator.city.projection import STORAGE_CRS, reproject, transformer, utm_epsg
from simulator.config import CityError

__all__ = [
    "POPULATION_COLUMN_NAMES",
    "PopulationLayer",
    "guess_population_column",
    "largest_remainder",
    "normalise_column",
    "read_population",
]

#: Column names (after lower-casing and stripping accents) taken for the population
#: count when ``population_column`` is not given.
POPULATION_COLUMN_NAMES: tuple[str, ...] = (
    "population",
    "pop",
    "pop_total",
    "population_total",
    "total_population",
    "totpop",
    "pop_tot",
    "inhabitants",
    "residents",
    "asukkaita",
    "asukkaat",
    "asukasluku",
    "vaesto",
    "vakiluku",
    "einwohner",
    "befolkning",
    "invanare",
    "bevolking",
    "inwoners",
    "habitants",
    "poblacion",
    "popolazione",
    "populacao",
    "ludnosc",
)

#: Also taken: these stems followed by a year or a number (``pop2020``, ``population_2021``).
_POPULATION_COLUMN_PATTERN = re.compile(r"^(pop|population|inhabitants|residents|asukkaita|vaesto)_?\d{2,4}$")


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total``.

    Quotas ``q_i = total * w_i / sum(w)``; each gets ``floor(q_i)`` and the
    ``total - sum(floor(q))`` units left go to the largest fractional parts
    (ties: the earlier index first). ``geo/build_beijing.py`` uses it too.

    Raises
    ------
    ValueError
        Negative total, negative or non-finite weights, or all weights zero with total > 0.
    """
    weights = np.asarray(weights, dtype=float)
    if total < 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("largest_remainder: total and weights must be finite and non-negative")
    result = np.zeros(len(weights), dtype=np.int64)
    if total == 0:
        return result
    weight_sum = weights.sum()
    if weight_sum <= 0:
        raise ValueError("largest_remainder: all weights are zero")
    quotas = total * weights / weight_sum
    result = np.floor(quotas).astype(np.int64)
    left = int(total - result.sum())
    order = np.argsort(-(quotas - result), kind="stable")
    result[order[:left]] += 1
    return result


def normalise_column(name: str) -> str:
    """A column name in ASCII lower case with ``_`` between words (``Väestö 2020`` -> ``vaesto_2020``)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def guess_population_column(columns: list[str], numeric: set[str], source: str) -> str:
    """The population column among ``columns``: a known name (see :data:`POPULATION_COLUMN_NAMES`).

    Raises
    ------
    CityError
        None or several candidates (the message lists the columns).
    """
    candidates = [
        c
        for c in columns
        if c in numeric
        and (normalise_column(c) in POPULATION_COLUMN_NAMES or _POPULATION_COLUMN_PATTERN.match(normalise_column(c)))
    ]
    listed = ", ".join(columns) or "none"
    if not candidates:
        raise CityError(f"{source}: no population column found (columns: {listed}); give it with --population-column")
    if len(candidates) > 1:
        raise CityError(
            f"{source}: population column is ambiguous ({', '.join(candidates)}); choose one with --population-column"
        )
    return candidates[0]


@dataclass
class PopulationLayer:
    """The usable features of a population layer as cells in the metric CRS, with whole residents.

    ``cell_index`` is the input feature index of each cell, ``geoms`` its metric
    polygon (a grid square for a point), ``population`` its residents (int64).
    ``crs_text`` labels the layer's own CRS; ``metric_crs`` is the UTM zone of its
    centroid; ``total_found`` sums the usable values before rounding.
    """

    cell_index: np.ndarray
    geoms: np.ndarray
    population: np.ndarray
    column: str
    crs_text: str
    reprojected: bool
    metric_crs: str
    count: LayerCount
    notes: list[str]
    total_found: int


def read_population(path: Path, column: str | None, layer: str | None) -> PopulationLayer:
    """Read the population layer: its residents column, cells in the metric CRS and whole residents.

    Parameters
    ----------
    path
        Vector file of population polygons or points, in any CRS it declares.
    column
        Column of residents; guessed by :func:`guess_population_column` when None.
    layer
        Layer of a multi-layer file; None when the file has one geometry layer.

    Raises
    ------
    CityError
        Missing or unreadable file, unknown layer or column, no CRS, no usable
        feature, or points from which no grid spacing can be inferred.
    """
    source = path.name
    if not path.exists():
        raise CityError(f"{source}: population file not found")
    layer = _choose_layer(path, layer)
    features = read_features(path, layer)
    if not features.crs:
        raise CityError(
            f"{source}: layer '{layer}': population layer has no CRS (set one, e.g. "
            "ogr2ogr -a_srs EPSG:xxxx; it is never assumed)"
        )
    frame = features.frame
    column = _choose_column(frame, column, source)
    if len(frame) == 0:
        raise CityError(f"{source}: layer '{layer}': has no features")

    count = features.count
    notes: list[str] = []
    values = frame[column].to_numpy(dtype=float)
    bad_value = ~np.isfinite(values) | (values < 0)
    if bad_value.any():
        notes.append(
            f"population: {int(bad_value.sum())} features without a usable value (missing or negative) skipped"
        )
    usable = (frame["_status"].to_numpy() != 2) & ~bad_value
    count.skipped = int((~usable).sum())

    crs_text = features.crs
    geoms = features.geoms.copy()[usable]
    metric_crs = _metric_crs(geoms, crs_text, f"{source}: layer '{layer}'")
    polygons, keep = _cells(
        reproject(geoms, transformer(crs_text, metric_crs)), count, notes, f"{source}: layer '{layer}'"
    )
    return PopulationLayer(
        cell_index=np.flatnonzero(usable)[keep],
        geoms=polygons[keep],
        population=_whole_residents(values[usable][keep], notes),
        column=column,
        crs_text=_crs_label(crs_text),
        reprojected=_crs_label(crs_text) != STORAGE_CRS,
        metric_crs=metric_crs,
        count=count,
        notes=notes,
        total_found=int(round(float(values[np.isfinite(values) & (values >= 0)].sum()))),
    )


def _choose_layer(path: Path, layer: str | None) -> str:
    """``layer`` if the file has it, else the file's only geometry layer."""
    import pyogrio

    source = path.name
    try:
        layers = pyogrio.list_layers(path)
    except Exception as error:
        raise CityError(f"{source}: cannot be read as a vector layer ({type(error).__name__})") from None
    geometry_layers = [str(name) for name, kind in layers if kind is not None]
    if layer is None:
        if len(geometry_layers) != 1:
            raise CityError(
                f"{source}: {len(geometry_layers)} geometry layers ({', '.join(geometry_layers) or 'none'}); "
                "expected one"
            )
        return geometry_layers[0]
    if layer not in geometry_layers:
        raise CityError(f"{source}: layer {layer!r} not found (layers: {', '.join(geometry_layers) or 'none'})")
    return layer


def _choose_column(frame: pd.DataFrame, column: str | None, source: str) -> str:
    """``column`` if the frame has it and it is numeric, else the guessed population column."""
    columns = [c for c in frame.columns if c != "_status"]
    numeric = {
        c for c in columns if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    }
    if column is None:
        return guess_population_column(columns, numeric, source)
    if column not in columns:
        raise CityError(f"{source}: population column {column!r} not found (columns: {', '.join(columns) or 'none'})")
    if column not in numeric:
        raise CityError(f"{source}: population column {column!r} is not numeric ({frame[column].dtype})")
    return column


def _metric_crs(geoms: np.ndarray, crs_text: str, where: str) -> str:
    """The UTM zone (``EPSG:326xx``/``327xx``) of the centroid of the features' centroids."""
    geoms_lonlat = reproject(geoms, transformer(crs_text, STORAGE_CRS))
    if len(geoms_lonlat) == 0:
        raise CityError(f"{where}: no feature with a usable geometry and population")
    centre = shapely.centroid(shapely.GeometryCollection(list(shapely.centroid(geoms_lonlat))))
    return f"EPSG:{utm_epsg(centre.x, centre.y)}"


def _cells(metric: np.ndarray, count: LayerCount, notes: list[str], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Cell polygons of the metric features and the mask of those kept.

    A polygon is its own cell (the polygonal part of a repaired collection); a
    point is the centre of a square whose side is the median nearest-neighbour
    distance of the points; anything else is skipped.
    """
    kinds = shapely.get_type_id(metric)
    polygon_kinds = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
    point_kinds = (shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT)
    is_polygon = np.isin(kinds, polygon_kinds)
    is_point = np.isin(kinds, point_kinds)
    other = ~(is_polygon | is_point)
    polygons = metric.copy()
    for i in np.flatnonzero(other):  # a repaired polygon may come back as a collection
        part = polygonal_part(metric[i])
        if part is not None:
            polygons[i] = part
            is_polygon[i] = True
            other[i] = False
    if other.any():
        notes.append(f"population: {int(other.sum())} features that are neither polygons nor points skipped")
        count.skipped += int(other.sum())
    if is_point.any():
        centres = shapely.get_coordinates(shapely.centroid(metric[is_point]))
        if len(centres) < 2:
            raise CityError(f"{where}: one population point only: cannot infer the grid spacing")
        distance, _ = cKDTree(centres).query(centres, k=2)
        spacing = float(np.median(distance[:, 1]))
        if not spacing > 0:
            raise CityError(f"{where}: population points coincide: cannot infer the grid spacing")
        half = spacing / 2.0
        polygons[is_point] = shapely.box(
            centres[:, 0] - half, centres[:, 1] - half, centres[:, 0] + half, centres[:, 1] + half
        )
        notes.append(f"population: {int(is_point.sum())} points taken as centres of {spacing:.0f} m grid cells")
    return polygons, ~other


def _whole_residents(population: np.ndarray, notes: list[str]) -> np.ndarray:
    """Residents as int64; fractional counts rounded by largest remainder, keeping the rounded total."""
    if np.all(population == np.round(population)):
        return population.astype(np.int64)
    total = int(round(float(population.sum())))
    notes.append(f"population: fractional counts rounded by largest remainder (total {total:,} kept)")
    return largest_remainder(total, population) if total > 0 else np.zeros(len(population), np.int64)


def _crs_label(crs_text: str) -> str:
    """``EPSG:<code>`` of a CRS, else its name."""
    crs = CRS.from_user_input(crs_text)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name

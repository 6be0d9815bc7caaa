"""The city bundle format as data: required layers, their geometry types, id columns and column kinds.

Read by :mod:`simulator.city.validation` (and :mod:`simulator.city.transit_validation`),
which raise their one-line errors through :class:`ErrorReporter`, and by the
adapters of :mod:`simulator.city.frames`, which return the required columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from simulator.config import CityError

__all__ = ["ANY", "BLANK_ALLOWED", "BOOL", "LAYERS", "NUMBER", "OPTIONAL_LAYERS", "TEXT", "ErrorReporter", "LayerSpec"]

# Column kinds: text (a missing value is an error unless the column is in BLANK_ALLOWED),
# a number, a boolean (or 0/1), anything.
TEXT = "text"
NUMBER = "number"
BOOL = "bool"
ANY = "any"


class LayerSpec(NamedTuple):
    """Required shape of one layer."""

    geometry_types: tuple[str, ...] | None  # allowed geometry types; None for an attribute table
    id_column: str | None  # column of unique ids, if any
    columns: dict[str, str]  # required column -> kind (TEXT, NUMBER, BOOL or ANY)


#: Layer -> its rules, in the order layers are read and checked.
LAYERS: dict[str, LayerSpec] = {
    "districts": LayerSpec(
        ("Polygon", "MultiPolygon"),
        "zone_id",
        {"zone_id": TEXT, "name": TEXT, "name_en": TEXT, "population": NUMBER},
    ),
    "population_cells": LayerSpec(
        ("Polygon", "MultiPolygon"),
        "cell_id",
        {"cell_id": TEXT, "zone_id": TEXT, "population": NUMBER, "jobs": NUMBER},
    ),
    "subway_stations": LayerSpec(
        ("Point",),
        "station_id",
        {"station_id": TEXT, "name": TEXT, "name_en": TEXT, "lines": TEXT},
    ),
    "subway_lines": LayerSpec(
        ("LineString", "MultiLineString"),
        "line_id",
        {
            "line_id": TEXT,
            "name": TEXT,
            "name_en": TEXT,
            "is_loop": BOOL,
            "stations": TEXT,
            "distances_m": TEXT,
        },
    ),
    "subway_links": LayerSpec(
        None,
        None,
        {
            "from_station": TEXT,
            "to_station": TEXT,
            "line_id": TEXT,
            "kind": TEXT,
            "distance_m": NUMBER,
            "walk_seconds": NUMBER,
        },
    ),
    "malls": LayerSpec(
        ("Point",),
        "mall_id",
        {
            "mall_id": TEXT,
            "name": TEXT,
            "name_en": TEXT,
            "attractiveness": NUMBER,
            "position_accuracy_m": NUMBER,
        },
    ),
    "street_sites": LayerSpec(
        ("Point",),
        "site_id",
        {"site_id": TEXT, "name": TEXT, "attractiveness": NUMBER},
    ),
    "sources": LayerSpec(
        None,
        None,
        {"layer": ANY, "source": ANY, "licence": ANY, "build_date": ANY, "crs_note": ANY},
    ),
}

OPTIONAL_LAYERS = ("street_sites",)

#: Text columns where a missing value is tolerated (read as "").
BLANK_ALLOWED = {"name", "name_en", "line_id", "lines"}


class ErrorReporter:
    """Builds the one-line error messages of one bundle: ``<file>: layer '<layer>': <problem>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, layer: str | None, problem: str) -> CityError:
        """The error to raise for ``problem`` in ``layer`` (or in the file when ``layer`` is None)."""
        where = f"{self.path.name}: layer '{layer}': " if layer else f"{self.path.name}: "
        return CityError(" ".join((where + problem).split()))

"""City bundles: loading and validating a GeoPackage into plain arrays (``City``), and
building a bundle from an OpenStreetMap extract and a population layer.

Modules: ``bundle`` (the ``City`` and loading), ``validation`` with ``schema`` and
``transit_validation`` (the rules of the format), ``transit_graphs`` (platform and
station graphs), ``frames`` (GeoDataFrame adapters for maps), ``names`` (the one
name-matching rule), ``projection`` (CRS helpers), ``columns``; the subpackage
``build`` turns OpenStreetMap and a population layer into a bundle.

May import: ``simulator.config``.
"""

from __future__ import annotations

from simulator.city.bundle import City, available_bundles, load_city, resolve_bundle
from simulator.city.frames import cell_frame, line_frame, mall_frame, site_frame, station_frame, zone_frame
from simulator.city.names import normalise_name
from simulator.city.transit_graphs import shortest_ride_distance
from simulator.city.validation import validate_bundle

__all__ = [
    "City",
    "available_bundles",
    "cell_frame",
    "line_frame",
    "load_city",
    "mall_frame",
    "normalise_name",
    "resolve_bundle",
    "shortest_ride_distance",
    "site_frame",
    "station_frame",
    "validate_bundle",
    "zone_frame",
]

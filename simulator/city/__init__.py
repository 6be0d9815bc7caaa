"""City bundles: loading and validating a GeoPackage into plain arrays (``City``), and
building a bundle from an OpenStreetMap extract and a population layer.

May import: ``simulator.config``.
"""

from __future__ import annotations

from simulator.city.bundle import City, cell_frame, line_frame, load_city, site_frame, zone_frame

__all__ = ["City", "cell_frame", "line_frame", "load_city", "site_frame", "zone_frame"]

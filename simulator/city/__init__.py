"""City bundles: loading and validating a GeoPackage into plain arrays (``City``), and
building a bundle from an OpenStreetMap extract and a population layer.

May import: ``simulator.config``.
"""

"""Storage: run results as tables, run folders, metadata, atomic writes.

Storage never calls presentation. May import: ``simulator.config``.
"""

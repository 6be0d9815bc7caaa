"""Retail footprint simulator."""

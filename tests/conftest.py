"""Shared fixtures: the tiny synthetic city bundle and its loaded City."""

from __future__ import annotations

import pytest
from cityfixtures import write_tiny_city

from simulator.city.bundle import City, load_city


@pytest.fixture(scope="session")
def tiny_city_path(tmp_path_factory):
    """Path of the tiny synthetic bundle (see tests/cityfixtures.py), written once per session."""
    return write_tiny_city(tmp_path_factory.mktemp("tiny_city") / "tiny.gpkg")


@pytest.fixture(scope="session")
def tiny_city(tiny_city_path) -> City:
    """The tiny city, loaded."""
    return load_city(tiny_city_path)

"""Per-process caches of the city and of a replication's synthetic population.

A task of a comparison or a sweep carries only the bundle's name or path; the worker
process that runs it loads the city once (:func:`cached_city`) and, for the runs of one
replication of a comparison, builds the population once (:func:`cached_population`).
The process that starts the tasks puts its already loaded city in the cache for the time
of the tasks (:func:`city_in_cache`), so that tasks run in this process do not load it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from simulator.city import City, load_city
from simulator.config import Scenario
from simulator.model import Population, run_generators, synthesize_population

CITIES_KEPT = 4
"""Cities a process keeps at most (the oldest is dropped first)."""

_CITIES: dict[str, City] = {}
_POPULATIONS: dict[tuple[str, int, str], Population] = {}


def bundle_key(scenario: Scenario) -> str | Path:
    """The scenario's bundle as tasks carry it: a bundle name, or an absolute path."""
    bundle = scenario.resolved_bundle
    return Path(bundle).absolute() if isinstance(bundle, Path) else bundle


def cached_city(bundle: str | Path) -> City:
    """The city of ``bundle``, loaded once per process."""
    key = str(bundle)
    if key not in _CITIES:
        _CITIES[key] = load_city(bundle)
        while len(_CITIES) > CITIES_KEPT:
            del _CITIES[next(iter(_CITIES))]
    return _CITIES[key]


def cached_population(bundle: str | Path, city: City, scenario: Scenario, seed: int) -> Population:
    """The replication's population, kept until another one is asked for.

    The population is a function of the city, the population settings and the
    replication's seed only, so every plan of a comparison shares it; tasks come
    replication by replication, so one population per process is enough.
    """
    key = (str(bundle), int(seed), scenario.population.model_dump_json())
    if key not in _POPULATIONS:
        _POPULATIONS.clear()
        population_rng, _model_rng, _key = run_generators(seed)
        _POPULATIONS[key] = synthesize_population(city, scenario.population, population_rng)
    return _POPULATIONS[key]


@contextlib.contextmanager
def city_in_cache(bundle: str | Path, city: City) -> Iterator[None]:
    """Put an already loaded city in this process's cache for the ``with`` block.

    On leaving, the city and the kept population are dropped from this process's caches.
    """
    _CITIES[str(bundle)] = city
    try:
        yield
    finally:
        _CITIES.pop(str(bundle), None)
        _POPULATIONS.clear()

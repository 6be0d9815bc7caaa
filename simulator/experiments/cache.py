"""Per-process caches: cities, synthetic populations, placed plans and exposure rates.

A task of a comparison or a sweep carries only the bundle's name or path; the worker
process that runs it loads the city once (:func:`cached_city`). What a run builds before
its first day depends on few of the scenario's values, and runs of a comparison or a
sweep that change only behaviour, levers or a store's days and capacity share it:

======================  =========================================================  ======================
built                   depends only on                                            key
======================  =========================================================  ======================
population, followers   city, ``population`` settings, the replication's seed      :func:`population_key`
stores and rivals       city, ``plan.stores`` and ``rivals``                       :func:`plan_key`
exposure rates          the population, the stores' positions, formats and         :func:`exposure_key`
                        visibility, the sighting probabilities and weights
======================  =========================================================  ======================

:func:`prepared_run` returns all of them for a scenario and a seed, building only what is
missing. Every array of a cached structure is read-only (``flags.writeable = False``), so
a run cannot change what the next run reads (a write raises ``ValueError`` in numpy and
does not compile in numba). Each cache keeps a few entries and drops the least recently
used first, also when its arrays exceed a byte budget, so that a process's memory stays
flat however many runs it serves; :func:`clear_caches` empties them all.

The process that starts the tasks puts its already loaded city in the cache for the time
of the tasks (:func:`city_in_cache`), so that tasks run in this process do not load it
again; on leaving, everything built for those tasks is dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from simulator.city import City, load_city
from simulator.config import Scenario
from simulator.model import (
    Exposure,
    PlacedRivals,
    PlacedStores,
    Population,
    build_exposure,
    followers_of,
    place_rivals,
    place_stores,
    run_generators,
    synthesize_population,
)
from simulator.model.frozen import read_only

CITIES_KEPT = 4
"""Cities a process keeps at most (the least recently used is dropped first)."""
POPULATIONS_KEPT = 2
"""Populations a process keeps at most. Comparisons and sweeps run their tasks replication by
replication, so one population serves a run of tasks; the second spares a rebuild when a
worker of several processes gets the tasks of two replications interleaved."""
PLANS_KEPT = 16
"""Placed plans (stores and rivals) a process keeps at most (small: a few arrays per store)."""
EXPOSURES_KEPT = 4
"""Exposure structures a process keeps at most (one per plan and population; those of a
population no longer kept are dropped with it)."""
CACHE_BYTES = 1 << 30
"""Byte budget of the populations' and of the exposures' arrays, each: beyond it the least
recently used entries are dropped (the newest is always kept)."""

Value = TypeVar("Value")


class BoundedCache(Generic[Value]):
    """A least-recently-used mapping of at most ``max_entries`` values and about ``max_bytes``.

    Parameters
    ----------
    max_entries : int
        Entries kept at most.
    max_bytes : int, optional
        Beyond this many bytes of numpy arrays (:func:`array_bytes`) the least recently
        used entries are dropped, except the newest.
    """

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self.builds = 0
        """Values built so far (misses), for tests and diagnostics."""

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        """Bytes of the kept values' numpy arrays."""
        return sum(size for _value, size in self._entries.values())

    def get(self, key: Hashable, build: Callable[[], Value]) -> Value:
        """The value of ``key``, built by ``build()`` (and kept) when it is missing."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key][0]
        value = build()
        self.builds += 1
        self.put(key, value)
        return value

    def put(self, key: Hashable, value: Value) -> None:
        """Keep ``value`` under ``key`` as the newest entry; drop the oldest beyond the bounds."""
        self._entries[key] = (value, array_bytes(value))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and len(self._entries) > 1 and self.nbytes > self.max_bytes
        ):
            self._entries.popitem(last=False)

    def kept_keys(self) -> list[Hashable]:
        """The kept keys, least recently used first."""
        return list(self._entries)

    def pop(self, key: Hashable) -> None:
        """Drop ``key`` if it is kept."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def array_bytes(value: Any) -> int:
    """Bytes of the numpy arrays of a value: an array, a dataclass or tuple of them."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(array_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list)):
        return sum(array_bytes(item) for item in value)
    return 0


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """What a run builds before its first day, from the caches (all arrays read-only)."""

    population: Population
    stores: PlacedStores
    rivals: PlacedRivals
    exposure: Exposure
    followers: tuple[np.ndarray, np.ndarray, np.ndarray]
    """The population's contact graph transposed, for word of mouth (:func:`simulator.model.followers_of`)."""


_CITIES: BoundedCache[City] = BoundedCache(CITIES_KEPT)
_POPULATIONS: BoundedCache[Population] = BoundedCache(POPULATIONS_KEPT, CACHE_BYTES)
_FOLLOWERS: BoundedCache[tuple[np.ndarray, np.ndarray, np.ndarray]] = BoundedCache(POPULATIONS_KEPT, CACHE_BYTES)
_PLANS: BoundedCache[tuple[PlacedStores, PlacedRivals]] = BoundedCache(PLANS_KEPT)
_EXPOSURES: BoundedCache[Exposure] = BoundedCache(EXPOSURES_KEPT, CACHE_BYTES)


def bundle_key(scenario: Scenario) -> str | Path:
    """The scenario's bundle as tasks carry it: a bundle name, or an absolute path."""
    bundle = scenario.resolved_bundle
    return Path(bundle).absolute() if isinstance(bundle, Path) else bundle


def population_key(bundle: str | Path, scenario: Scenario, seed: int) -> tuple[str, int, str]:
    """What a population depends on: the city, the ``population`` settings and the seed."""
    return (str(bundle), int(seed), scenario.population.model_dump_json())


def plan_key(bundle: str | Path, scenario: Scenario) -> tuple[str, str, str]:
    """What the placed stores and rivals depend on: the city, ``plan.stores`` and ``rivals``."""
    stores = "[" + ",".join(store.model_dump_json() for store in scenario.plan.stores) + "]"
    return (str(bundle), stores, scenario.rivals.model_dump_json())


def exposure_inputs(scenario: Scenario) -> tuple[Hashable, ...]:
    """The scenario values that the exposure rates depend on, besides the population.

    :func:`simulator.model.build_exposure` reads each store's position (its mall, station
    or lon/lat), format and visibility radius, and the behaviour's sighting probabilities
    per format and sighting weights (the ``population`` settings it reads, the malls'
    visits, are part of the population's key). Not the stores' ids, names, opening and
    closing days, capacity or attractiveness, nor any other behaviour or lever: runs that
    change only those share the exposure.
    """
    behaviour = scenario.behaviour
    stores = tuple(
        (store.mall, store.station, store.lon, store.lat, store.format, float(store.visibility_radius_m))
        for store in scenario.plan.stores
    )
    sighting = (
        behaviour.sighting_probability.model_dump_json(),
        float(behaviour.sighting_weight_walk),
        float(behaviour.sighting_weight_vehicle),
        float(behaviour.sighting_weight_mall),
    )
    return (stores, sighting)


def exposure_key(bundle: str | Path, scenario: Scenario, seed: int) -> tuple[Hashable, ...]:
    """The exposure cache's key: the population's key and :func:`exposure_inputs`."""
    return (population_key(bundle, scenario, seed), exposure_inputs(scenario))


def cached_city(bundle: str | Path) -> City:
    """The city of ``bundle``, loaded once per process."""
    return _CITIES.get(str(bundle), lambda: load_city(bundle))


def cached_population(bundle: str | Path, city: City, scenario: Scenario, seed: int) -> Population:
    """The population of ``scenario`` for a replication ``seed`` (read-only arrays), built once.

    The population is a function of the city, the population settings and the
    replication's seed only (:func:`population_key`), so every plan of a comparison and
    every point of a sweep that leaves the population settings alone shares it.
    """

    def build() -> Population:
        population_rng, _model_rng, _key = run_generators(seed)
        return read_only(synthesize_population(city, scenario.population, population_rng))

    return _POPULATIONS.get(population_key(bundle, scenario, seed), build)


def cached_plan(bundle: str | Path, city: City, scenario: Scenario) -> tuple[PlacedStores, PlacedRivals]:
    """The scenario's placed stores and rivals (read-only arrays), placed once per plan."""
    return _PLANS.get(
        plan_key(bundle, scenario), lambda: read_only((place_stores(scenario, city), place_rivals(scenario, city)))
    )


def prepared_run(bundle: str | Path, city: City, scenario: Scenario, seed: int) -> PreparedRun:
    """Population, stores, rivals and exposure of a run, from the caches or built now.

    A placement is reused for the same ``plan.stores`` and ``rivals`` (:func:`plan_key`);
    the exposure whenever :func:`exposure_key` matches, whatever else changed (a sweep
    over capacities places the stores again but reuses their exposure).
    """
    population = cached_population(bundle, city, scenario, seed)
    _drop_orphans()
    stores, rivals = cached_plan(bundle, city, scenario)

    def build() -> Exposure:
        return read_only(build_exposure(city, population, stores, scenario.behaviour, scenario.population))

    exposure = _EXPOSURES.get(exposure_key(bundle, scenario, seed), build)
    followers = _FOLLOWERS.get(
        population_key(bundle, scenario, seed),
        lambda: read_only(followers_of(population.n, population.contact_indptr, population.contact_indices)),
    )
    return PreparedRun(population, stores, rivals, exposure, followers)


def _drop_orphans() -> None:
    """Drop the exposures and followers of populations no longer kept (they cannot be asked for again
    without building the population, and with it them, again)."""
    for key in _EXPOSURES.kept_keys():
        if isinstance(key, tuple) and key[0] not in _POPULATIONS:
            _EXPOSURES.pop(key)
    for key in _FOLLOWERS.kept_keys():
        if key not in _POPULATIONS:
            _FOLLOWERS.pop(key)


def cache_builds() -> dict[str, int]:
    """How many populations, plans and exposures this process has built (cache misses)."""
    return {"populations": _POPULATIONS.builds, "plans": _PLANS.builds, "exposures": _EXPOSURES.builds}


def clear_caches() -> None:
    """Drop every kept population, plan and exposure (not the cities)."""
    for cache in (_POPULATIONS, _FOLLOWERS, _PLANS, _EXPOSURES):
        cache.clear()


@contextlib.contextmanager
def city_in_cache(bundle: str | Path, city: City) -> Iterator[None]:
    """Put an already loaded city in this process's cache for the ``with`` block.

    On leaving, the city and everything built for the block's runs (populations, plans,
    exposures) are dropped from this process's caches.
    """
    _CITIES.put(str(bundle), city)
    try:
        yield
    finally:
        _CITIES.pop(str(bundle))
        clear_caches()

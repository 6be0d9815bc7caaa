"""Candidate sites: the bundle's malls, stations and street sites, a candidates file, and their filters.

:func:`build_candidates` turns an optimisation file's ``[candidates]`` table into
:class:`Candidates` (arrays, one row per site, in a fixed order: malls, stations, street
sites, then the file's rows) and checks them against the city and the budget; every
problem is a one-line :class:`~simulator.config.ScenarioError` naming the file and key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from simulator.city import City
from simulator.config import Scenario, ScenarioError, raise_problems
from simulator.config.problems import unknown_key_message
from simulator.config.stores_file import read_sites_file
from simulator.experiments.optimise.spec import Candidate, OptimisationFile
from simulator.model.plan import site_positions, zone_of_points

STATION_CATCHMENT_M = 1000.0
"""Radius within which residents and jobs rank the stations (``stations = N``); a judgement:
about a 12-minute walk."""


@dataclasses.dataclass(frozen=True)
class Candidates:
    """The candidate sites as arrays (length C) and the stores they would be.

    Attributes
    ----------
    ids, names, formats : numpy.ndarray of str
    xy : numpy.ndarray, shape (C, 2)
        Position in the city's metric CRS.
    zone : numpy.ndarray of int
        District index (into ``city.zone_ids``).
    cost : numpy.ndarray of float
        Opening cost plus the yearly cost pro rata over the horizon.
    stores : tuple of dict
        Each candidate as a ``plan.stores`` entry (``id``, position, format, ...).
    """

    ids: np.ndarray
    names: np.ndarray
    formats: np.ndarray
    xy: np.ndarray
    zone: np.ndarray
    cost: np.ndarray
    stores: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, candidate_id: str) -> int:
        return int(np.flatnonzero(self.ids == candidate_id)[0])


def _bundle_sites(settings: Any, city: City) -> list[dict[str, Any]]:
    """The bundle's candidate sites as store entries: malls, stations (all or the N busiest), street sites."""
    sites: list[dict[str, Any]] = []
    if settings.malls:
        for mall_id, name in zip(city.mall_ids, city.mall_names_en):
            sites.append({"id": f"mall:{mall_id}", "name": str(name) or str(mall_id), "mall": str(mall_id)})
    if settings.stations:
        order = np.arange(len(city.station_ids))
        if not isinstance(settings.stations, bool):
            order = _busiest_stations(city)[: settings.stations]
        for s in order:
            station_id = str(city.station_ids[s])
            name = str(city.station_names_en[s]) or str(city.station_names[s])
            sites.append({"id": f"station:{station_id}", "name": name, "station": station_id, "format": "street"})
    if settings.street_sites:
        lonlat = _lonlat(city, city.site_xy)
        for k, site_id in enumerate(city.site_ids):
            sites.append(
                {
                    "id": f"site:{site_id}",
                    "name": str(city.site_names[k]) or str(site_id),
                    "lon": float(lonlat[k, 0]),
                    "lat": float(lonlat[k, 1]),
                    "format": "street",
                }
            )
    return sites


def _busiest_stations(city: City) -> np.ndarray:
    """Stations by residents plus jobs within :data:`STATION_CATCHMENT_M`, most first (ties by position)."""
    from scipy.spatial import cKDTree

    weights = np.asarray(city.cell_population, dtype=np.float64) + np.asarray(city.cell_jobs, dtype=np.float64)
    near = cKDTree(city.cell_xy).query_ball_point(city.station_xy, STATION_CATCHMENT_M)
    totals = np.array([weights[cells].sum() if cells else 0.0 for cells in near])
    return np.lexsort((np.arange(len(totals)), -totals))


def _lonlat(city: City, xy: np.ndarray) -> np.ndarray:
    from simulator.model.plan import lonlat_of

    return lonlat_of(city, np.asarray(xy, dtype=np.float64).reshape(-1, 2))


def _file_sites(spec: OptimisationFile, folder: Path, source: str) -> tuple[list[dict[str, Any]], list[str]]:
    settings = spec.candidates
    if settings.file is None:
        return [], []
    rows, problems = read_sites_file(settings.file, folder, Candidate, settings.file_crs)
    sites = []
    for _label, row in rows:
        entry = {key: value for key, value in row.model_dump().items() if value is not None}
        sites.append(entry)
    return sites, [
        problem if problem.startswith(source) else f"{source}: candidates.file: {problem}" for problem in problems
    ]


def _zone_index(city: City, names: tuple[str, ...], source: str) -> list[int]:
    lookup: dict[str, int] = {}
    for z in range(len(city.zone_ids)):
        for text in (city.zone_ids[z], city.zone_names[z], city.zone_names_en[z]):
            lookup.setdefault(str(text), z)
            lookup.setdefault(str(text).lower(), z)
    zones = []
    for position, name in enumerate(names):
        found = lookup.get(name, lookup.get(name.lower()))
        if found is None:
            hint = unknown_key_message(name, [str(n) for n in city.zone_names_en], "district")
            raise ScenarioError(f"{source}: candidates.districts[{position}]: '{name}': {hint}")
        zones.append(found)
    return zones


def _check_ids(wanted: tuple[str, ...], known: list[str], source: str, key: str) -> None:
    for position, candidate_id in enumerate(wanted):
        if candidate_id not in known:
            hint = unknown_key_message(candidate_id, known, "candidate id")
            raise ScenarioError(f"{source}: candidates.{key}[{position}]: '{candidate_id}': {hint}")


def build_candidates(spec: OptimisationFile, base: Scenario, city: City, folder: Path, source: str) -> Candidates:
    """The candidate sites of ``spec`` on ``city``, filtered, placed and costed.

    Raises
    ------
    ScenarioError
        An unknown candidate id or district, a duplicate id (or one of a fixed store),
        a site outside the city, no candidate left, a store budget larger than the
        candidates, or a cost budget that no candidate fits.
    """
    settings = spec.candidates
    file_sites, problems = _file_sites(spec, folder, source)
    if problems:
        raise_problems(problems)
    sites = _bundle_sites(settings, city) + file_sites
    known = [str(site["id"]) for site in sites]
    _check_ids(settings.ids, known, source, "ids")
    _check_ids(settings.exclude, known, source, "exclude")
    fixed = {store.id for store in base.plan.stores}
    seen: set[str] = set()
    for site in sites:
        if site["id"] in seen or site["id"] in fixed:
            what = "a store of the base scenario" if site["id"] in fixed else "another candidate"
            raise ScenarioError(f"{source}: candidates: duplicate id '{site['id']}' (also {what})")
        seen.add(site["id"])
    stores = [Candidate.model_validate(site) for site in sites]
    xy, _mall = site_positions(stores, city, source, "candidates")
    zone = zone_of_points(city, xy) if len(stores) else np.zeros(0, dtype=int)
    keep = np.ones(len(stores), dtype=bool)
    if settings.ids:
        keep &= np.isin(np.array(known, dtype=object), list(settings.ids))
    if settings.exclude:
        keep &= ~np.isin(np.array(known, dtype=object), list(settings.exclude))
    if settings.districts:
        keep &= np.isin(zone, _zone_index(city, settings.districts, source))
    if settings.formats:
        keep &= np.isin(np.array([s.format for s in stores], dtype=object), list(settings.formats))
    chosen = np.flatnonzero(keep)
    if not len(chosen):
        raise ScenarioError(f"{source}: candidates: no candidate site is left after the filters")
    days = spec.days if spec.days is not None else base.horizon.days
    cost = np.array([_cost(stores[i], settings, days) for i in chosen], dtype=np.float64)
    entries = tuple(
        {key: value for key, value in stores[i].model_dump().items() if key not in ("opening_cost", "yearly_cost")}
        for i in chosen
    )
    candidates = Candidates(
        ids=np.array([stores[i].id for i in chosen], dtype=object),
        names=np.array([stores[i].name for i in chosen], dtype=object),
        formats=np.array([stores[i].format for i in chosen], dtype=object),
        xy=xy[chosen],
        zone=np.asarray(zone)[chosen],
        cost=cost,
        stores=entries,
    )
    check_budget(spec, candidates, source)
    return candidates


def _cost(candidate: Candidate, settings: Any, days: int) -> float:
    """Opening cost plus the yearly cost pro rata over ``days``; the file's defaults where the row gives none."""
    opening = settings.opening_cost if candidate.opening_cost is None else candidate.opening_cost
    yearly = settings.yearly_cost if candidate.yearly_cost is None else candidate.yearly_cost
    return float(opening) + float(yearly) * days / 365.0


def check_budget(spec: OptimisationFile, candidates: Candidates, source: str) -> None:
    """The budget must leave room for a candidate, and K must not exceed the candidates."""
    budget = spec.budget
    if budget.stores is not None and budget.stores > len(candidates):
        raise ScenarioError(
            f"{source}: budget.stores: {budget.stores} new stores asked for, but there are only "
            f"{len(candidates)} candidate sites"
        )
    if budget.total_cost is not None and not (candidates.cost <= budget.total_cost).any():
        raise ScenarioError(
            f"{source}: budget.total_cost: {budget.total_cost:g} is less than the cheapest candidate's cost "
            f"({candidates.cost.min():g}); no candidate fits the budget"
        )

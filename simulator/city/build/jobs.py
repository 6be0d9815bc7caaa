"""Modelled jobs per cell: a fixed number per resident, spread over the cells by residents and workplaces.

The jobs of a bundle built from OpenStreetMap are MODELLED (see :func:`model_jobs`):
the simulator uses them only as relative weights of workplaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from simulator.city.build.cells import CityCells
from simulator.city.build.osm import OsmExtract, features_inside
from simulator.city.build.population import largest_remainder
from simulator.city.build.report import LayerCount
from simulator.city.build.sites import NOT_SHOPS

__all__ = ["JOBS_ACTIVITY_SHARE", "JOBS_PER_RESIDENT", "Jobs", "cell_jobs", "model_jobs", "workplace_counts"]

#: Modelled jobs in the city = JOBS_PER_RESIDENT x residents. The simulator uses
#: jobs only as relative weights of workplaces, so the level matters little.
JOBS_PER_RESIDENT = 0.5

#: Weight of the workplace features in the jobs surface (the rest follows residents).
JOBS_ACTIVITY_SHARE = 0.7

#: ``amenity=*`` values that are workplaces (street furniture such as benches and
#: parking is not).
WORKPLACE_AMENITIES = frozenset(
    [
        "restaurant",
        "cafe",
        "bar",
        "pub",
        "fast_food",
        "food_court",
        "ice_cream",
        "biergarten",
        "nightclub",
        "bank",
        "bureau_de_change",
        "pharmacy",
        "doctors",
        "dentist",
        "clinic",
        "hospital",
        "veterinary",
        "school",
        "university",
        "college",
        "kindergarten",
        "childcare",
        "language_school",
        "music_school",
        "driving_school",
        "library",
        "theatre",
        "cinema",
        "arts_centre",
        "community_centre",
        "social_facility",
        "police",
        "fire_station",
        "townhall",
        "courthouse",
        "post_office",
        "marketplace",
        "place_of_worship",
        "fuel",
        "car_wash",
        "car_rental",
        "embassy",
        "conference_centre",
        "events_venue",
        "coworking_space",
        "casino",
    ]
)

WORKPLACE_TOURISM = frozenset(["hotel", "hostel", "guest_house", "motel", "museum", "gallery"])

WORKPLACE_BUILDINGS = frozenset(
    ["office", "commercial", "retail", "industrial", "warehouse", "hotel", "hospital", "school", "university"]
)


@dataclass
class Jobs:
    """Modelled jobs per cell (whole numbers as float64), the workplace features behind them and coverage."""

    per_cell: np.ndarray
    workplaces: np.ndarray  # workplace features per cell
    covered: np.ndarray  # whether the extract covers the cell
    note: str  # the rule used, for the report and the sources table
    count: LayerCount  # the workplace features


def cell_jobs(osm: OsmExtract, cells: CityCells, covered: np.ndarray) -> Jobs:
    """Workplace features per cell and the jobs modelled from them (:func:`model_jobs`)."""
    count = LayerCount()
    workplaces = workplace_counts(osm, cells.inside, cells.geoms, count)
    per_cell, note = model_jobs(cells.population, workplaces, covered)
    return Jobs(per_cell=per_cell, workplaces=workplaces, covered=covered, note=note, count=count)


def _is_workplace(tags: dict[str, str]) -> bool:
    """Shops, offices, crafts, healthcare, workplace amenities, hotels and museums, commercial buildings."""
    if tags.get("shop") and tags["shop"] not in NOT_SHOPS:
        return True
    if tags.get("office") and tags["office"] != "no":
        return True
    if tags.get("craft") or tags.get("healthcare"):
        return True
    return (
        tags.get("amenity") in WORKPLACE_AMENITIES
        or tags.get("tourism") in WORKPLACE_TOURISM
        or tags.get("building") in WORKPLACE_BUILDINGS
    )


def model_jobs(population: np.ndarray, activity: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, str]:
    """Modelled jobs per cell (whole numbers) and a note on the rule used.

    ``J = round(JOBS_PER_RESIDENT * sum(population))`` jobs are spread over the
    cells by largest remainder with weights

        w_c = (1 - s) * P_c / sum(P) + s * A_c / sum(A),   s = JOBS_ACTIVITY_SHARE

    where ``A_c`` counts the workplace features of the extract (shops, offices,
    crafts, healthcare, workplace amenities, hotels and museums, commercial
    buildings) in cell c. A cell the extract does not cover (``covered`` False)
    gets the covered cells' mean activity per resident:
    ``A_c = P_c * sum(A over covered) / sum(P over covered)``. Without any
    workplace feature the jobs follow the residents.
    """
    population = np.asarray(population, dtype=float)
    activity = np.asarray(activity, dtype=float).copy()
    covered = np.asarray(covered, dtype=bool)
    note = "jobs follow residents (no workplace feature found)"
    covered_population = population[covered].sum()
    if (~covered).any() and covered_population > 0 and activity[covered].sum() > 0:
        activity[~covered] = population[~covered] * activity[covered].sum() / covered_population
    total = int(round(JOBS_PER_RESIDENT * population.sum()))
    if population.sum() <= 0:
        return np.zeros(len(population)), "no residents: no jobs"
    weights = population / population.sum()
    if activity.sum() > 0:
        weights = (1.0 - JOBS_ACTIVITY_SHARE) * weights + JOBS_ACTIVITY_SHARE * activity / activity.sum()
        note = (
            f"jobs modelled: {JOBS_PER_RESIDENT:g} per resident, spread {1 - JOBS_ACTIVITY_SHARE:.0%} by "
            f"residents and {JOBS_ACTIVITY_SHARE:.0%} by workplace features of the extract"
        )
        if (~covered).any():
            note += f"; {int((~covered).sum())} cells outside the extract got the mean activity per resident"
    return largest_remainder(total, weights).astype(np.float64), note


def workplace_counts(
    osm: OsmExtract, inside: Callable[[shapely.Geometry], bool], cell_geoms: np.ndarray, count: LayerCount
) -> np.ndarray:
    """Number of workplace features (see :func:`_is_workplace`) in each cell, by a point inside each feature."""
    work_xy = [
        shapely.get_coordinates(point)[0]
        for _, _, point, _ in features_inside(
            osm, ("points", "areas"), _is_workplace, inside, count, count_repaired=False
        )
    ]
    count.note = "shops, offices, crafts, workplace amenities...: weights of the modelled jobs"
    activity = np.zeros(len(cell_geoms))
    if work_xy:
        tree = shapely.STRtree(cell_geoms)
        point_index, cell_hit = tree.query(shapely.points(np.asarray(work_xy)), predicate="intersects")
        first = pd.Series(cell_hit).groupby(point_index).min()  # a point on a shared edge counts once
        activity = np.bincount(first.to_numpy(), minlength=len(cell_geoms)).astype(float)
        count.kept = int(len(first))
        count.dropped = len(work_xy) - count.kept  # in a sliver of the area that no cell covers
    return activity

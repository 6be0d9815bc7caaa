"""The model: population synthesis, exposure rates, the daily kernels, random streams,
store placement and the Mesa model that steps them one day at a time.

Works on arrays only: geometry arrives as a ``City``. May import: ``simulator.city``,
``simulator.config``.
"""

from __future__ import annotations

from simulator.model.kernel_cache import use_versioned_kernel_cache

use_versioned_kernel_cache()  # before any kernel module compiles or loads its cache

from simulator.model.dynamics import followers_of
from simulator.model.exposure import Exposure, build_exposure
from simulator.model.footprint_model import WEEK_DAYS, FootprintModel
from simulator.model.plan import PlacedRivals, PlacedStores, place_rivals, place_stores
from simulator.model.population import Population, synthesize_population
from simulator.model.rng import replication_seeds, run_generators
from simulator.model.site_checks import scenario_warnings
from simulator.model.store_agent import STORE_DAY_COLUMNS

__all__ = [
    "STORE_DAY_COLUMNS",
    "WEEK_DAYS",
    "Exposure",
    "FootprintModel",
    "PlacedRivals",
    "PlacedStores",
    "Population",
    "build_exposure",
    "followers_of",
    "place_rivals",
    "place_stores",
    "replication_seeds",
    "run_generators",
    "scenario_warnings",
    "synthesize_population",
]

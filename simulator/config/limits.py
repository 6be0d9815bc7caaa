"""Documented maxima of the integers in scenario, comparison and sweep files.

Every integer a user can write has an upper bound, so that no value can overflow the
32-bit arrays of the kernel, allocate more than a machine has, or run for ever; a value
above its bound is a one-line error in ``footprint validate`` as in ``footprint run``. The
bounds are generous for real use (ten years of days, a million test drives a day) and are
listed in ``docs/scenario-reference.md`` (generated from the schema) and the README.
"""

from __future__ import annotations

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "MAX_CAPACITY_PER_DAY",
    "MAX_CONSUMERS",
    "MAX_CONTACTS_PER_CONSUMER",
    "MAX_DAY",
    "MAX_DAYS",
    "MAX_DESIGN_SAMPLES",
    "MAX_MALLS_IN_REPERTOIRE",
    "MAX_ORDERS",
    "MAX_REPLICATIONS",
    "MAX_RESAMPLES",
    "MAX_WORKERS",
]

INT32_MAX = 2**31 - 1
"""Largest value of the kernel's 32-bit integer arrays."""

INT64_MAX = 2**63 - 1
"""Largest integer any key accepts (seeds, counts): what a Parquet ``int64`` column holds."""

MAX_DAYS = 7_300
"""Longest horizon, days (``horizon.days``, ``--days``): twenty years (the Bass limiting-case test runs twelve)."""

MAX_DAY = 36_500
"""Largest day number (``open_day``, ``close_day``, lever days): a hundred years, so a
close day far beyond any horizon can still say "not in this study"."""

MAX_CONSUMERS = 100_000_000
"""Most simulated consumers (``population.consumers``); the machine's memory is checked too."""

MAX_REPLICATIONS = 10_000
"""Most replications of a scenario or comparison, and runs per sweep design point."""

MAX_CAPACITY_PER_DAY = 1_000_000
"""Most test-drive slots of one store per day."""

MAX_CONTACTS_PER_CONSUMER = 1_000
"""Most social contacts per consumer (each is an array entry per consumer)."""

MAX_MALLS_IN_REPERTOIRE = 1_000
"""Most malls in a consumer's repertoire."""

MAX_ORDERS = 10**12
"""Largest announced cumulative order count of a sales-record announcement."""

MAX_WORKERS = 1_024
"""Most local worker processes a file may ask for (``run.workers``); the command line caps
them at the machine's cores anyway."""

MAX_DESIGN_SAMPLES = 1_000_000
"""Most samples (lhs points, sobol base sample, morris trajectories) or grid values of a sweep design."""

MAX_RESAMPLES = 100_000
"""Most bootstrap resamples of a sweep's sensitivity analysis."""

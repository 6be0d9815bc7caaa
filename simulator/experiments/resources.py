"""What a run needs from the machine, checked before it starts: memory and disk space.

A population too large for the machine's memory is refused with a one-line error that
states the estimate, instead of dying in the middle of an allocation; an output folder
whose disk is too full is refused before the simulation, instead of after it.

The memory model (measured with ``footprint run`` on the test city, peak resident memory
at 2,000, 200,000, 1,000,000 and 3,000,000 consumers: 593, 631, 775 and 1,229 MB, i.e.
about 600 MB for the process and 180-230 bytes per consumer):

.. math:: M = w\\,(M_0 + n\\,(b_c + 8k)) + [w > 1]\\,M_0

with :math:`w` worker processes (each builds its own population), :math:`M_0` =
:data:`PROCESS_BYTES`, :math:`n` consumers, :math:`b_c` = :data:`BYTES_PER_CONSUMER` and
:math:`k` contacts per consumer (8 bytes each); the command's own process counts once more
when workers run beside it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from simulator.city import City
from simulator.config import Scenario, ScenarioError
from simulator.experiments.cache import bundle_key, cached_city
from simulator.experiments.options import resolve_consumers
from simulator.results import check_free_space, estimate_run_folder_bytes

__all__ = [
    "BYTES_PER_CONSUMER",
    "PROCESS_BYTES",
    "available_memory",
    "check_comparison_resources",
    "check_memory",
    "check_run_resources",
    "memory_estimate",
]

PROCESS_BYTES = 600_000_000
"""Memory of one process before its population: the libraries, the city, the figures."""

BYTES_PER_CONSUMER = 250
"""Memory per simulated consumer besides the contacts (arrays of the population and the
kernel, measured 180-230 bytes, with a margin)."""


def memory_estimate(scenario: Scenario, processes: int = 1) -> int:
    """Bytes of memory a run of ``scenario`` needs on ``processes`` worker processes (see the module)."""
    consumers = scenario.population.consumers
    count = consumers if isinstance(consumers, int) else 0
    per_process = PROCESS_BYTES + count * (BYTES_PER_CONSUMER + 8 * scenario.population.contacts_per_consumer)
    return int(processes * per_process + (PROCESS_BYTES if processes > 1 else 0))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (None when the system does not say).

    The smaller of ``MemAvailable`` in ``/proc/meminfo`` (or free physical pages where
    there is no ``/proc``) and what is left under a cgroup v2 memory limit.
    """
    figures: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                figures.append(int(line.split()[1]) * 1024)
    if not figures:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            figures.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            figures.append(max(int(limit) - used, 0))
    return min(figures) if figures else None


def check_memory(scenario: Scenario, processes: int = 1, *, available: int | None = None) -> None:
    """Refuse a population that does not fit in the machine's available memory.

    Raises
    ------
    ScenarioError
        One line naming the scenario file and ``population.consumers`` and stating the
        estimate (:func:`memory_estimate`) and the memory available.
    """
    free = available if available is not None else available_memory()
    needed = memory_estimate(scenario, processes)
    if free is None or needed <= free:
        return
    consumers = scenario.population.consumers
    on = f" on {processes} worker processes" if processes > 1 else ""
    advice = "use fewer consumers" + (" or fewer --jobs" if processes > 1 else "")
    raise ScenarioError(
        f"{scenario.source_name}: population.consumers: {consumers:,} consumers{on} need about "
        f"{needed / 1e9:,.1f} GB of memory, more than the {free / 1e9:,.1f} GB available on this machine ({advice})"
    )


def check_run_resources(
    scenario: Scenario, city: City, out: str | Path, *, processes: int = 1, folders: int = 1
) -> None:
    """Before a run or comparison: the memory (:func:`check_memory`) and the disk space of ``out``.

    ``folders`` run folders of ``scenario`` are written (one per plan of a comparison).

    Raises
    ------
    ScenarioError, ResultsError
        Not enough memory, or not enough free space for the output.
    """
    scenario = resolve_consumers(scenario, city.population_total)
    check_memory(scenario, processes)
    try:
        bundle_bytes = Path(city.source).stat().st_size
    except (OSError, TypeError):
        bundle_bytes = 0
    needed = folders * estimate_run_folder_bytes(
        days=scenario.horizon.days,
        replications=scenario.replications,
        stores=len(scenario.plan.stores),
        cells=len(city.cell_ids),
        zones=len(city.zone_ids),
        bundle_bytes=bundle_bytes,
    )
    check_free_space(out, needed, what="output")


def check_comparison_resources(scenarios: list[Scenario], out: str | Path, *, processes: int = 1) -> None:
    """Before a comparison: memory and disk space for its plans (one run folder each, and the tables).

    Raises
    ------
    ScenarioError, ResultsError
        Not enough memory for the largest plan, or not enough free space for the output.
    """
    if not scenarios:
        return
    largest = max(scenarios, key=lambda s: s.population.consumers if isinstance(s.population.consumers, int) else 0)
    check_run_resources(largest, cached_city(bundle_key(largest)), out, processes=processes, folders=len(scenarios) + 1)

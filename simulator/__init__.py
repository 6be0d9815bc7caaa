"""Retail footprint simulator: store sightings -> familiarity -> trust -> test drives -> purchases.

The public API (imported lazily, so that ``footprint --help`` stays fast):

- :func:`load_scenario`, :func:`apply_overrides`, :class:`Scenario` — scenario files;
- :func:`load_city`, :class:`City` — city bundles;
- :func:`run` — run a scenario's replications, returning a :class:`RunResult`;
- :func:`write_run`, :func:`read_run` — run folders;
- :func:`compare`, :func:`write_comparison` — plans side by side under common random numbers;
- :func:`load_sweep`, :func:`run_sweep` — batch parameter sweeps and sensitivity analysis;
- :class:`FootprintModel` — the Mesa model (one ``step()`` is one day);
- :class:`FootprintError` — the base of every error caused by bad input.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_scenario": "simulator.scenario",
    "apply_overrides": "simulator.scenario",
    "Scenario": "simulator.scenario",
    "load_city": "simulator.city",
    "City": "simulator.city",
    "run": "simulator.experiment",
    "RunResult": "simulator.results",
    "write_run": "simulator.results",
    "read_run": "simulator.results",
    "FootprintModel": "simulator.model",
    "FootprintError": "simulator.errors",
    "compare": "simulator.compare",
    "load_comparison": "simulator.compare",
    "write_comparison": "simulator.compare",
    "load_sweep": "simulator.sweep",
    "run_sweep": "simulator.sweep",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

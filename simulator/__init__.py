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
    "load_scenario": "simulator.config.scenario",
    "apply_overrides": "simulator.config.overrides",
    "Scenario": "simulator.config.scenario",
    "load_city": "simulator.city.bundle",
    "City": "simulator.city.bundle",
    "run": "simulator.experiments.run",
    "RunResult": "simulator.results.run_folder",
    "write_run": "simulator.reports.publish",
    "read_run": "simulator.results.run_folder",
    "FootprintModel": "simulator.model.footprint_model",
    "FootprintError": "simulator.config.errors",
    "compare": "simulator.experiments.compare",
    "load_comparison": "simulator.experiments.compare",
    "write_comparison": "simulator.reports.compare_report",
    "load_sweep": "simulator.experiments.sweep",
    "run_sweep": "simulator.reports.sweep_report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

"""Run options: the command line's changes to a scenario before it runs.

``--consumers``, ``--days``, ``--seed``, ``--replications`` and ``--set key=value`` mean the
same for ``footprint run``, ``compare`` and ``sweep``; :class:`RunOptions` holds them once
and :func:`prepare_scenario` applies them to a scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.config import Scenario, apply_overrides, load_scenario
from simulator.model.population import consumer_count


@dataclass(frozen=True)
class RunOptions:
    """Changes to a scenario before it runs.

    Attributes
    ----------
    consumers, days, seed, replications : int, optional
        Shorthands for the keys ``population.consumers``, ``horizon.days``, ``seed`` and
        ``replications``; ``consumers`` may also be ``"all"`` (one per resident) or the
        command line's text (``"5000"``), parsed as a ``--set`` value is.
    overrides : mapping
        Further changes by dotted key path (``{"behaviour.hill_k": 4}``), applied first.
    """

    consumers: int | str | None = None
    days: int | None = None
    seed: int | None = None
    replications: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def shorthands(self) -> dict[str, tuple[str, Any]]:
        """The shorthands that are set: ``{option: (key path, value)}``, e.g. ``{"--days": ("horizon.days", 90)}``."""
        given = {
            "--consumers": ("population.consumers", self.consumers),
            "--days": ("horizon.days", self.days),
            "--seed": ("seed", self.seed),
            "--replications": ("replications", self.replications),
        }
        return {option: pair for option, pair in given.items() if pair[1] is not None}

    def changes(self) -> dict[str, Any]:
        """All changes by key path: the overrides, then the shorthands that are set."""
        changes: dict[str, Any] = dict(self.overrides)
        shorthands = {
            "population.consumers": self.consumers,
            "horizon.days": self.days,
            "seed": self.seed,
            "replications": self.replications,
        }
        changes.update({key: value for key, value in shorthands.items() if value is not None})
        return changes


def prepare_scenario(scenario: Scenario | str | Path, options: RunOptions | None = None) -> Scenario:
    """Load a scenario (path or object) and apply the run options to it.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario, or the path of a scenario file.
    options : RunOptions, optional
        The changes to apply (none by default).

    Returns
    -------
    Scenario
        The scenario with the changes applied (validated again).

    Raises
    ------
    ScenarioError
        A bad change, named by where it came from: ``--set: <key path>: ...`` for an
        override, ``--days: horizon.days: ...`` for a shorthand.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    options = options or RunOptions()
    if options.overrides:
        scenario = apply_overrides(scenario, options.overrides)
    for option, (key_path, value) in options.shorthands().items():
        scenario = apply_overrides(scenario, {key_path: value}, source_name=option)
    return scenario


def resolve_consumers(scenario: Scenario, population_total: float) -> Scenario:
    """The scenario with ``population.consumers = "all"`` replaced by the city's residents.

    Once the city is known, ``"all"`` becomes :func:`simulator.model.population.consumer_count`
    (the population total, rounded to the nearest integer), so that metadata, reports and
    summaries show the number simulated; an integer setting is returned unchanged.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    population_total : float
        Residents of the scenario's city (``City.population_total``).

    Returns
    -------
    Scenario
        The same scenario object when nothing needs resolving, else a copy.
    """
    consumers = scenario.population.consumers
    if not isinstance(consumers, str):
        return scenario
    population = scenario.population.model_copy(update={"consumers": consumer_count(consumers, population_total)})
    return scenario.model_copy(update={"population": population})

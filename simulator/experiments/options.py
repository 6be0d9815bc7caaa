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


@dataclass(frozen=True)
class RunOptions:
    """Changes to a scenario before it runs.

    Attributes
    ----------
    consumers, days, seed, replications : int, optional
        Shorthands for the keys ``population.consumers``, ``horizon.days``, ``seed`` and
        ``replications``.
    overrides : mapping
        Further changes by dotted key path (``{"behaviour.hill_k": 4}``), applied first.
    """

    consumers: int | None = None
    days: int | None = None
    seed: int | None = None
    replications: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

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
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    changes = (options or RunOptions()).changes()
    if changes:
        scenario = apply_overrides(scenario, changes)
    return scenario

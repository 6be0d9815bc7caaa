"""Scenario files of an optimisation's plans: the base plan and the best plan, as TOML that ``footprint run`` reads.

The file holds the whole canonical scenario (every key, defaults resolved), so it runs
the same wherever it is copied: the plan's stores inline (those of the base scenario's
``plan.stores_file`` included), the rivals' showrooms inline, a city bundle given by path
made absolute.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomli_w

from simulator.config import Scenario, plain_value
from simulator.results import atomic_write_text


def _without_none(value: Any) -> Any:
    """TOML has no null: drop the keys whose value is None, at any depth."""
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value if item is not None]
    return value


def plan_scenario_data(
    base: Scenario, stores: Sequence[dict[str, Any]], name: str, seed: int, replications: int
) -> dict[str, Any]:
    """The base scenario's data with ``stores`` as its plan (a plain table, ready for TOML)."""
    data = plain_value(base.model_dump(mode="python"))
    data["name"] = name
    data["seed"] = int(seed)
    data["replications"] = int(replications)
    data["plan"] = {**data["plan"], "name": name, "stores": [dict(store) for store in stores], "stores_file": None}
    data["rivals"] = {**data["rivals"], "file": None, "file_crs": None}
    bundle = base.resolved_bundle
    if isinstance(bundle, Path):
        data["city"] = {**data["city"], "bundle": bundle.absolute().as_posix()}
    return _without_none(data)


def write_plan_scenario(path: Path, data: dict[str, Any], header: str) -> Path:
    """Write a plan's scenario as TOML (atomically), after a comment ``header``."""
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return atomic_write_text(path, comment + tomli_w.dumps(data))

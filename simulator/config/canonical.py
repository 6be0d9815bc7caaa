"""The canonical form of a scenario and its hash.

:func:`canonical_json` writes a scenario with every default filled in, keys sorted and
floats exact; :func:`parse_canonical_json` reads it back (e.g. from a run's
``metadata.json``); :func:`scenario_hash` identifies what is simulated.
"""

import hashlib
import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

from simulator.config.problems import raise_problems
from simulator.config.scenario import Scenario, parse_scenario
from simulator.config.values import kind_of

__all__ = [
    "canonical_json",
    "parse_canonical_json",
    "scenario_hash",
    "short_hash",
]


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(item) for item in value]
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(scenario: Scenario) -> str:
    """The scenario as canonical JSON: every default filled in, keys sorted, compact.

    Floats use Python's shortest round-trip representation (``repr``); infinity is
    written as the string ``"inf"``; dates as ``YYYY-MM-DD``; ``city.bundle`` and
    ``plan.stores_file`` as given in the file. The stores read from the stores file are
    included in ``plan.stores``. :func:`parse_canonical_json` reads it back.
    """
    payload = _canonical_value(scenario.model_dump(mode="python"))
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 (hex, 64 characters) of what is simulated: :func:`canonical_json` without ``[run]``.

    ``[run]`` says how to run (worker processes, which tables to keep), not what is
    simulated, so two scenarios that differ only there share a hash (and give the same
    simulated outcomes).
    """
    payload = json.loads(canonical_json(scenario))
    payload.pop("run", None)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short_hash(scenario: Scenario) -> str:
    """First 16 hex characters of :func:`scenario_hash`."""
    return scenario_hash(scenario)[:16]


def parse_canonical_json(text: str, source_name: str = "canonical JSON") -> Scenario:
    """Rebuild a scenario from :func:`canonical_json` output (e.g. from ``metadata.json``).

    The stores file is not read again: its stores are already in ``plan.stores``.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exception:
        raise_problems([f"{source_name}: invalid JSON: {getattr(exception, 'msg', 'nested too deeply')}"])
    except TypeError:
        raise_problems([f"{source_name}: expected JSON text, got {kind_of(text)}"])
    return parse_scenario(data, source_name, read_stores_file=False)

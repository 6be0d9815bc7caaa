"""Overrides at key paths: ``--set KEY=VALUE`` options and changed copies of a scenario.

A key path names a value of a scenario as in the reference document: names joined by
``.``, list items as ``[i]`` (``plan.stores[0].capacity_per_day``), and ``[*]`` for every
item of a list (``plan.stores[*].capacity_per_day``), as in sweep files
(:func:`expand_key_path`). :func:`apply_overrides` returns a re-validated copy with the
values replaced.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from simulator.config.problems import format_key_path, raise_problems, unknown_key_message
from simulator.config.scenario import Scenario, validate_scenario
from simulator.config.toml_files import parse_override_value
from simulator.config.values import kind_of, show_value

__all__ = [
    "apply_overrides",
    "expand_key_path",
    "parse_key_path",
    "parse_set_options",
    "plain_value",
    "value_at",
]

_KEY_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z0-9_-]+)|\[\s*(?P<index>\d+)\s*\])\s*(?P<dot>\.)?")


def parse_key_path(key_path: str) -> list[str | int]:
    """Split a key path into names and list indices: ``plan.stores[0].id`` -> ``["plan", "stores", 0, "id"]``.

    Raises
    ------
    ValueError
        For a path that is empty, ends with ``.``, starts with an index or is not made of
        names and ``[i]`` items.
    """
    tokens: list[str | int] = []
    position = 0
    expect_name = True
    while position < len(key_path):
        match = _KEY_TOKEN.match(key_path, position)
        if match is None or match.end() == position:
            raise ValueError("invalid key path (expected names joined by '.', list items as [i])")
        if match.group("name") is not None:
            if not expect_name:
                raise ValueError("invalid key path (a name must follow '.')")
            tokens.append(match.group("name"))
        else:
            if not tokens:
                raise ValueError("invalid key path (it must start with a name)")
            tokens.append(int(match.group("index")))
        expect_name = match.group("dot") is not None
        position = match.end()
    if not tokens or (expect_name and key_path.rstrip().endswith(".")):
        raise ValueError("invalid key path (empty or ending with '.')")
    return tokens


def value_at(data: Any, tokens: Sequence[str | int]) -> tuple[bool, Any]:
    """``(found, value)`` at ``tokens`` inside dumped scenario data."""
    current = data
    for token in tokens:
        in_table = isinstance(token, str) and isinstance(current, Mapping) and token in current
        in_list = isinstance(token, int) and isinstance(current, (list, tuple)) and token < len(current)
        if in_table or in_list:
            current = current[token]
        else:
            return False, None
    return True, current


def expand_key_path(data: Any, key_path: str) -> list[str]:
    """Expand every ``[*]`` of a key path over the items of the list it follows in ``data``.

    ``plan.stores[*].capacity_per_day`` with three stores gives
    ``plan.stores[0].capacity_per_day`` to ``plan.stores[2].capacity_per_day``; a key
    path without ``[*]`` is returned alone.

    Raises
    ------
    ValueError
        When the part before ``[*]`` is not a list of ``data``, or is an empty one.
    """
    head, star, rest = key_path.partition("[*]")
    if not star:
        return [key_path]
    found, container = value_at(data, parse_key_path(head))
    if not found or not isinstance(container, (list, tuple)):
        raise ValueError(f"'{head}' is not a list of the scenario, so [*] cannot follow it")
    if not container:
        raise ValueError(f"'{head}' is empty in the scenario: [*] matches nothing")
    return [target for i in range(len(container)) for target in expand_key_path(data, f"{head}[{i}]{rest}")]


def parse_set_options(options: Iterable[str], source_name: str = "--set") -> dict[str, str]:
    """Split ``KEY=VALUE`` options into a dict (later ones win). Values stay text.

    Raises
    ------
    ScenarioError
        For an option without ``=`` or with an empty key.
    """
    overrides: dict[str, str] = {}
    problems = []
    for option in options:
        key, separator, value = option.partition("=")
        key = key.strip()
        if not separator:
            problems.append(f"{source_name}: {show_value(option)}: expected KEY=VALUE (e.g. behaviour.hill_k=4)")
        elif not key:
            problems.append(f"{source_name}: {show_value(option)}: empty key before '='")
        else:
            overrides[key] = value.strip()
    if problems:
        raise_problems(problems)
    return overrides


def plain_value(value: Any) -> Any:
    """Deep copy of dumped model data with lists instead of tuples (so it can be edited)."""
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    return value


#: Key paths that ``--set`` may not change, and why.
_NOT_OVERRIDABLE: dict[tuple[str | int, ...], str] = {
    ("plan", "stores_file"): "cannot be overridden (the stores file is read when the scenario is loaded)",
    ("rivals", "file"): "cannot be overridden (the rivals file is read when the scenario is loaded)",
    ("plan", "stores_file_crs"): "cannot be overridden (the stores file is read when the scenario is loaded)",
    ("rivals", "file_crs"): "cannot be overridden (the rivals file is read when the scenario is loaded)",
}


def _set_path(data: dict[str, Any], tokens: list[str | int], value: Any) -> str | None:
    """Set ``value`` at ``tokens`` inside ``data``; return a problem text or None."""
    if tuple(tokens) in _NOT_OVERRIDABLE:
        return f"{format_key_path(tokens)}: {_NOT_OVERRIDABLE[tuple(tokens)]}"
    container: Any = data
    for depth, token in enumerate(tokens):
        here = format_key_path(tokens[: depth + 1])
        parent = format_key_path(tokens[:depth]) or "the scenario"
        last = depth == len(tokens) - 1
        if isinstance(token, str):
            if not isinstance(container, dict):
                return f"{here}: {parent} is {kind_of(container)}, not a table"
            if token not in container:
                return f"{here}: {unknown_key_message(token, container)}"
            if last:
                container[token] = value
                return None
            container = container[token]
        else:
            if not isinstance(container, list):
                return f"{here}: {parent} is {kind_of(container)}, not a list"
            if token < len(container):
                if last:
                    container[token] = value
                    return None
                container = container[token]
            elif token == len(container) and last:
                container.append(value)
                return None
            else:
                return f"{here}: index out of range ({parent} has {len(container)} items; [{len(container)}] appends)"
    return None


def apply_overrides(scenario: Scenario, overrides: Mapping[str, Any], source_name: str = "--set") -> Scenario:
    """Return a new scenario with values replaced at dotted key paths, re-validated.

    Parameters
    ----------
    scenario
        The scenario to change (it is not modified: it is frozen).
    overrides
        ``{"behaviour.hill_k": "4", "plan.stores[*].capacity_per_day": 30, ...}``. Text
        values are parsed as TOML values when possible (:func:`parse_override_value`);
        other values are used as they are. A table value replaces the whole table.
        An index equal to a list's length appends an item; ``[*]`` sets every item
        (:func:`expand_key_path`).
    source_name
        Name at the start of error messages.

    Notes
    -----
    Store defaults that depend on the format were resolved at load time, so changing a
    store's ``format`` does not change its capacity, attractiveness or visibility.
    ``plan.stores_file`` cannot be overridden.

    Raises
    ------
    ScenarioError
        Unknown key paths (with a "did you mean" hint) and invalid values.
    """
    data = plain_value(scenario.model_dump(mode="python"))
    problems = []
    for key_path, raw_value in overrides.items():
        try:
            paths = [parse_key_path(path) for path in expand_key_path(data, str(key_path))]
        except ValueError as exception:
            problems.append(f"{source_name}: {show_value(key_path)}: {exception}")
            continue
        value = parse_override_value(raw_value) if isinstance(raw_value, str) else raw_value
        for tokens in paths:
            problem = _set_path(data, tokens, value)
            if problem is not None:
                problems.append(f"{source_name}: {problem}")
                break
    if problems:
        raise_problems(problems)
    result = validate_scenario(data, source_name)
    result._base_dir = scenario._base_dir
    result._source_name = scenario._source_name
    return result

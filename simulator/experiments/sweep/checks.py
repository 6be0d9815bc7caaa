"""Cross-key checks of a sweep file: the design against its parameters (one problem per key path)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.config import (
    format_key_path,
    show_number,
)
from simulator.experiments.sweep.spec import ParameterSpec, SweepSpec


def where_in_file(source: str, path: Iterable[Any]) -> str:
    """``<file>: <key path>`` (the start of an error line)."""
    where = format_key_path(path)
    return f"{source}: {where}" if where else source


def parse_problem(source: str, path: Iterable[Any], message: str) -> str:
    """``<file>: <key path>: <message>`` (one error line)."""
    return f"{where_in_file(source, path)}: {message}"


Problem = tuple[tuple[Any, ...], str]
"""A problem of a sweep file: its key path and the message."""


def design_problems(spec: SweepSpec) -> list[Problem]:
    """Cross-key checks of the design and the parameters: (key path, problem)."""
    problems = _design_settings_problems(spec)
    seen: dict[str, int] = {}
    for index, parameter in enumerate(spec.parameters):
        here = ("parameters", index)
        if parameter.key in seen:
            problems.append(
                (here + ("key",), f"'{parameter.key}' is already varied by parameters[{seen[parameter.key]}]")
            )
        seen.setdefault(parameter.key, index)
        problems += [(here + path, message) for path, message in _parameter_problems(parameter, spec.design.kind)]
    if len(set(spec.kpis)) < len(spec.kpis):
        problems.append((("kpis",), "has repeated KPIs"))
    return problems


def _design_settings_problems(spec: SweepSpec) -> list[Problem]:
    """The ``[design]`` table's keys against its kind (and the number of parameters)."""
    problems: list[Problem] = []
    design = spec.design
    kind = design.kind
    given = design.model_fields_set
    if kind == "grid" and design.samples is not None:
        problems.append(
            (("design", "samples"), "not used by a grid (its size is the product of the parameters' values)")
        )
    if kind != "grid" and design.samples is None:
        what = {"lhs": "points", "sobol": "base sample N, a power of 2", "morris": "trajectories"}[kind]
        problems.append((("design", "samples"), f"required for a {kind} design ({what})"))
    if kind == "sobol" and design.samples is not None and design.samples & (design.samples - 1):
        problems.append(
            (
                ("design", "samples"),
                f"must be a power of 2 for Sobol' sampling (e.g. {1 << design.samples.bit_length()}), got {design.samples}",
            )
        )
    if "levels" in given and kind != "morris":
        problems.append((("design", "levels"), "applies to morris designs only"))
    if kind == "morris" and design.levels is not None and design.levels % 2:
        problems.append((("design", "levels"), f"must be even for a morris design, got {design.levels}"))
    if "second_order" in given and kind != "sobol":
        problems.append((("design", "second_order"), "applies to sobol designs only"))
    if kind == "sobol" and design.second_order and len(spec.parameters) < 2:
        problems.append((("design", "second_order"), "needs at least 2 parameters"))
    return problems


def _parameter_problems(parameter: ParameterSpec, kind: str) -> list[Problem]:
    """One parameter's keys against the design's kind (key paths inside the parameter)."""
    if parameter.values is not None:
        return _values_problems(parameter, parameter.values, kind)
    is_normal = parameter.distribution == "normal"
    problems = _normal_problems(parameter, kind) if is_normal else _range_problems(parameter, kind)
    if kind == "grid" and parameter.count is None and not is_normal:
        problems.append((("count",), "required for a grid range (how many values from low to high)"))
    if kind != "grid" and parameter.count is not None:
        problems.append((("count",), "applies to grids only"))
    return problems


def _values_problems(parameter: ParameterSpec, values: tuple[Any, ...], kind: str) -> list[Problem]:
    """A parameter given by its values: a grid only, values of one type, no repeats."""
    problems: list[Problem] = []
    if kind != "grid":
        problems.append((("values",), f"a {kind} design samples a range: give low and high (values are for grids)"))
    elif _has_range(parameter) or parameter.count is not None or parameter.distribution == "normal":
        problems.append((("values",), "give either values or low, high and count, not both"))
    kinds = {value_kind(v) for v in values}
    if len(kinds - {"integer", "number"}) and len(kinds) > 1:
        problems.append((("values",), f"mixes {' and '.join(sorted(kinds))} values"))
    if len(set(map(repr, values))) < len(values):
        problems.append((("values",), "has repeated values"))
    return problems


def _has_range(parameter: ParameterSpec) -> bool:
    return parameter.low is not None or parameter.high is not None


def _normal_problems(parameter: ParameterSpec, kind: str) -> list[Problem]:
    """A normal distribution: lhs and sobol designs only, mean and sd, no range."""
    problems: list[Problem] = []
    if kind in ("grid", "morris"):
        problems.append((("distribution",), f"normal is for lhs and sobol designs, not {kind} (give low and high)"))
    for name in ("mean", "sd"):
        if getattr(parameter, name) is None:
            problems.append(((name,), "required for a normal distribution"))
    if _has_range(parameter):
        where = "low" if parameter.low is not None else "high"
        problems.append(((where,), "not used by a normal distribution (give mean and sd)"))
    return problems


def _range_problems(parameter: ParameterSpec, kind: str) -> list[Problem]:
    """A uniform or loguniform range: low < high (low > 0 for loguniform), no mean or sd."""
    problems: list[Problem] = []
    for name in ("mean", "sd"):
        if getattr(parameter, name) is not None:
            problems.append(((name,), f"applies to normal distributions only (this one is {parameter.distribution})"))
    if parameter.low is None or parameter.high is None:
        missing = "low" if parameter.low is None else "high"
        hint = "give values, or low, high and count" if kind == "grid" else "give low and high"
        problems.append(((missing,), f"required ({hint})"))
    elif parameter.high <= parameter.low:
        problems.append((("high",), f"must be > low ({show_number(parameter.low)}), got {show_number(parameter.high)}"))
    elif parameter.distribution == "loguniform" and parameter.low <= 0:
        problems.append((("low",), f"must be > 0 for a loguniform distribution, got {show_number(parameter.low)}"))
    return problems


def value_kind(value: Any) -> str:
    """``boolean``, ``integer``, ``number`` or ``text``: the type of a parameter's value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "text"

"""From a sweep file to a :class:`Sweep`: the base scenario, and the parameters resolved against it.

Every parameter's key path is expanded (``[*]``), its value type inferred from the base
scenario, and its values (or extreme values) checked by applying them to the scenario,
so that a sweep fails at load time, not after hours of runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from simulator.config import (
    Scenario,
    ScenarioError,
    apply_overrides,
    expand_key_path,
    file_path_problem,
    kind_of,
    load_scenario,
    parse_key_path,
    problem_lines,
    raise_problems,
    read_toml_file,
    show_number,
    show_value,
    value_at,
)
from simulator.experiments.options import RunOptions, prepare_scenario
from simulator.experiments.sweep.checks import design_problems, parse_problem, value_kind, where_in_file
from simulator.experiments.sweep.spec import AVAILABLE_KPIS, KPI_LABELS, ParameterSpec, SweepSpec


@dataclass(frozen=True)
class Parameter:
    """A varied parameter, resolved against the base scenario.

    Attributes
    ----------
    key : str
        The key path as written (also the summary column name).
    label : str
        Display name.
    targets : tuple of str
        Key paths it sets (``[*]`` expanded); for a sweep without scenario, ``(key,)``.
    kind : {"integer", "number", "text", "boolean"}
        Type of the values.
    values : tuple, optional
        Grid values (explicit or spaced from low to high).
    distribution, low, high, mean, sd
        The sampling distribution (sampling designs).
    """

    key: str
    label: str
    targets: tuple[str, ...]
    kind: str
    values: tuple[Any, ...] | None
    distribution: str
    low: float | None
    high: float | None
    mean: float | None
    sd: float | None

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a uniform or loguniform parameter."""
        if self.low is None or self.high is None:
            raise ValueError(f"parameter {self.key}: a {self.distribution} distribution has no low and high")
        return self.low, self.high

    @property
    def grid(self) -> tuple[Any, ...]:
        """The values of a grid parameter."""
        if self.values is None:
            raise ValueError(f"parameter {self.key}: sampled from a distribution, it has no grid values")
        return self.values

    def from_unit(self, unit: np.ndarray) -> list[Any]:
        r"""Map points of [0, 1] to parameter values through the distribution's quantile function.

        uniform: :math:`x = a + u (b - a)`; loguniform: :math:`x = a (b / a)^u`;
        normal: :math:`x = \mu + \sigma \Phi^{-1}(u)`. Integer parameters are rounded.
        """
        unit = np.asarray(unit, dtype=np.float64)
        if self.distribution == "normal":
            from scipy import stats

            values = stats.norm.ppf(unit, loc=self.mean, scale=self.sd)
        else:
            low, high = self.bounds
            if self.distribution == "loguniform":
                values = np.exp(np.log(low) + unit * (np.log(high) - np.log(low)))
            else:
                values = low + unit * (high - low)
        if self.kind == "integer":
            return [int(v) for v in np.rint(values)]
        return [float(v) for v in values]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep, ready to plan and run.

    Attributes
    ----------
    spec : SweepSpec
        The sweep file as validated.
    source_name : str
        Name at the start of error messages (the file name).
    base : Scenario or None
        The base scenario with the sweep's and the command line's overrides applied
        (its ``seed`` is the root seed and ``replications`` the sweep's); None for a
        sweep of a plain function.
    root_seed : int
        Root of the run seeds.
    parameters : tuple of Parameter
        The varied parameters.
    """

    spec: SweepSpec
    source_name: str
    base: Scenario | None
    root_seed: int
    parameters: tuple[Parameter, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kpis(self) -> tuple[str, ...]:
        return tuple(self.spec.kpis)

    @property
    def replications(self) -> int:
        return self.spec.replications

    @property
    def design_seed(self) -> int:
        return self.spec.design.seed if self.spec.design.seed is not None else self.root_seed


def _expand_targets(data: Any, key_path: str) -> list[str]:
    """Expand ``[*]`` in a key path over the items of the list it follows in the base scenario."""
    try:
        return expand_key_path(data, key_path)
    except ValueError as error:
        raise ValueError(
            str(error)
            .replace("of the scenario", "of the base scenario")
            .replace("in the scenario", "in the base scenario")
        ) from None


def _grid_values(spec: ParameterSpec, kind: str) -> tuple[Any, ...]:
    if spec.values is not None:
        if kind == "number":  # ints given for a float key become floats; other types are left to validation
            return tuple(float(v) if value_kind(v) == "integer" else v for v in spec.values)
        return tuple(spec.values)
    assert spec.low is not None and spec.high is not None and spec.count is not None
    if spec.distribution == "loguniform":
        raw = np.geomspace(spec.low, spec.high, spec.count)
    else:
        raw = np.linspace(spec.low, spec.high, spec.count)
    if kind == "integer":
        return tuple(int(v) for v in np.rint(raw))
    return tuple(float(f"{v:.10g}") for v in raw)


def _resolve_parameters(spec: SweepSpec, base: Scenario | None, source: str) -> tuple[Parameter, ...]:
    """Expand targets, infer value types, build grid values; check every value against the base scenario."""
    data: Any = base.model_dump(mode="python") if base is not None else None
    problems: list[str] = []
    resolved: list[Parameter] = []
    for index, parameter in enumerate(spec.parameters):
        here = ("parameters", index)
        targets: list[str] = [parameter.key]
        base_value: Any = None
        if base is not None:
            try:
                targets = _expand_targets(data, parameter.key)
                found, base_value = value_at(data, parse_key_path(targets[0]))
            except ValueError as error:
                problems.append(parse_problem(source, here + ("key",), f"{parameter.key}: {error}"))
                continue
            if not found:
                # apply_overrides names the unknown key with a did-you-mean hint
                try:
                    apply_overrides(base, {targets[0]: base_value}, source_name=where_in_file(source, here + ("key",)))
                except ScenarioError as error:
                    problems.extend(getattr(error, "problems", [str(error)]))
                    continue
        kind = _parameter_kind(parameter, base_value)
        sampling = spec.design.kind != "grid"
        if kind in ("text", "boolean") and (sampling or parameter.values is None):
            problems.append(
                parse_problem(
                    source, here + ("key",), f"{parameter.key} takes {kind} values: list them in values (grid design)"
                )
            )
            continue
        values = _grid_values(parameter, kind) if not sampling else None
        if values is not None and len(set(map(repr, values))) < len(values):
            if parameter.values is not None:
                problem = parse_problem(source, here + ("values",), "has repeated values")
            else:
                problem = parse_problem(
                    source,
                    here + ("count",),
                    f"{parameter.count} values from {show_number(parameter.low)} to {show_number(parameter.high)} "
                    f"repeat after rounding to integers: {list(values)}",
                )
            problems.append(problem)
            continue
        resolved_parameter = Parameter(
            key=parameter.key,
            label=parameter.label or parameter.key,
            targets=tuple(targets),
            kind=kind,
            values=values,
            distribution=parameter.distribution,
            low=parameter.low,
            high=parameter.high,
            mean=parameter.mean,
            sd=parameter.sd,
        )
        resolved.append(resolved_parameter)
        if base is None:
            continue
        checked = values if values is not None else _extreme_values(resolved_parameter)
        for value in checked:
            try:
                apply_overrides(
                    base,
                    dict.fromkeys(targets, value),
                    source_name=f"{where_in_file(source, here)}: value {show_value(value)}",
                )
            except ScenarioError as error:
                problems.extend(getattr(error, "problems", [str(error)]))
    if problems:
        raise_problems(problems)
    return tuple(resolved)


def _extreme_values(parameter: Parameter) -> list[Any]:
    if parameter.distribution == "normal":
        return parameter.from_unit(np.array([0.5]))
    return parameter.from_unit(np.array([0.0, 1.0]))


def _parameter_kind(parameter: ParameterSpec, base_value: Any) -> str:
    if parameter.integer is not None:
        return "integer" if parameter.integer else "number"
    if base_value is not None:
        kind = value_kind(base_value)
        if kind == "integer" and parameter.values is not None and any(isinstance(v, float) for v in parameter.values):
            return "number"
        return kind
    if parameter.values is not None:
        kinds = {value_kind(v) for v in parameter.values}
        if kinds <= {"integer", "number"}:
            return "integer" if kinds == {"integer"} else "number"
        return kinds.pop()
    return "number"


def parse_sweep(
    data: Mapping[str, Any],
    source_name: str = "sweep",
    *,
    base_dir: str | Path | None = None,
    options: RunOptions | None = None,
    base: Scenario | None = None,
) -> Sweep:
    """Validate sweep data (the parsed TOML table) into a :class:`Sweep`.

    Parameters
    ----------
    data
        The sweep file's tables.
    source_name
        Name at the start of every error message (the file name); its stem is the
        default sweep ``name``.
    base_dir
        Folder against which ``scenario`` is resolved.
    options
        The command line's changes: ``consumers``, ``days`` and ``overrides``
        (``--consumers``, ``--days``, ``--set``) change the base scenario after the sweep
        file's ``overrides``; ``seed`` (``--seed``) is the root seed and wins over the
        file's ``seed``. A sweep's replications are set in the sweep file only.
    base
        A base scenario object to use instead of the file's ``scenario`` key.

    Raises
    ------
    ScenarioError
        One line: ``<file>: <key path>: <problem>`` for each problem, joined by ``"; "``.
    """
    options = options if options is not None else RunOptions()
    spec = _validated_spec(data, source_name)
    if options.replications is not None:
        raise_problems([f"{source_name}: --replications: a sweep sets its replications in the sweep file"])
    if base is None and spec.scenario is not None:
        path = Path(spec.scenario).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        problem = file_path_problem(path)
        if problem is not None:
            raise_problems([f"{source_name}: scenario: {problem}"])
        base = load_scenario(path)
    if base is None:
        return _sweep_without_scenario(spec, source_name, options)
    if spec.overrides:
        base = apply_overrides(base, spec.overrides, source_name=f"{source_name}: overrides")
    base = prepare_scenario(
        base, RunOptions(consumers=options.consumers, days=options.days, overrides=options.overrides)
    )
    seed = options.seed
    root_seed = seed if seed is not None else spec.seed if spec.seed is not None else base.seed
    base = apply_overrides(base, {"seed": int(root_seed), "replications": spec.replications}, source_name=source_name)
    unknown = [kpi for kpi in spec.kpis if kpi not in KPI_LABELS]
    if unknown:
        raise_problems(
            [
                f"{source_name}: kpis[{list(spec.kpis).index(kpi)}]: unknown KPI '{kpi}' ({_kpi_hint(kpi)})"
                for kpi in unknown
            ]
        )
    return Sweep(spec, source_name, base, int(root_seed), _resolve_parameters(spec, base, source_name))


def _validated_spec(data: Mapping[str, Any], source_name: str) -> SweepSpec:
    """The sweep file's tables validated, with the cross-key checks of the design."""
    if not isinstance(data, Mapping):
        raise_problems([f"{source_name}: the sweep must be a table, got {kind_of(data)}"])
    data = dict(data)
    data.setdefault("name", Path(source_name).stem or "sweep")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source_name, SweepSpec))
    except RecursionError:
        raise_problems([f"{source_name}: nested too deeply"])
    problems = [parse_problem(source_name, path, message) for path, message in design_problems(spec)]
    if problems:
        raise_problems(problems)
    return spec


def _sweep_without_scenario(spec: SweepSpec, source_name: str, options: RunOptions) -> Sweep:
    """A sweep of a plain function: no scenario to change, any parameter names."""
    given = [
        name for name, value in (("--consumers", options.consumers), ("--days", options.days)) if value is not None
    ]
    if given or options.overrides or spec.overrides:
        what = ", ".join(given + (["--set"] if options.overrides else []) + (["overrides"] if spec.overrides else []))
        raise_problems([f'{source_name}: {what}: this sweep has no base scenario to change (give scenario = "...")'])
    seed = options.seed
    root_seed = (
        seed if seed is not None else spec.seed if spec.seed is not None else Scenario.model_fields["seed"].default
    )
    return Sweep(spec, source_name, None, int(root_seed), _resolve_parameters(spec, None, source_name))


def _kpi_hint(kpi: str) -> str:
    import difflib

    matches = difflib.get_close_matches(kpi, AVAILABLE_KPIS, n=1, cutoff=0.6)
    if matches:
        return f"did you mean '{matches[0]}'?"
    return "expected one of: " + ", ".join(AVAILABLE_KPIS)


def load_sweep(
    path: str | Path,
    *,
    consumers: int | str | None = None,
    days: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Sweep:
    """Load and validate a sweep file (TOML) and its base scenario.

    ``consumers``, ``days``, ``seed`` and ``overrides`` are the command line's
    ``--consumers``, ``--days``, ``--seed`` and ``--set`` (see :func:`parse_sweep`).

    Raises
    ------
    ScenarioError
        One line naming the file, the key path and each problem.
    """
    return sweep_from_file(path, RunOptions(consumers=consumers, days=days, seed=seed, overrides=dict(overrides or {})))


def sweep_from_file(path: str | Path, options: RunOptions | None = None) -> Sweep:
    """:func:`load_sweep` with the command line's changes given as one :class:`RunOptions`."""
    path = Path(path)
    data = read_toml_file(path, "a sweep file")
    source_name = path.name or str(path)
    return parse_sweep(data, source_name, base_dir=path.parent.absolute(), options=options)

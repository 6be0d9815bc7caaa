"""Batch parameter sweeps: sweep files, designs, the run loop with resume, summary, sensitivity.

A sweep is many runs over a *design* of parameter values. The sweep file (TOML) names a
base scenario, the parameters to vary by dotted key path, the design (full ``grid``,
Latin hypercube ``lhs``, ``sobol`` with Saltelli's sampling, ``morris`` elementary
effects), the replications per design point and the KPIs to keep; see
``docs/sweeps.md``.

The engine is generic: :func:`run_sweep` takes an evaluation function
``evaluate(task: RunTask) -> {kpi: value}``. For a simulator sweep it is a
:class:`ScenarioEvaluator` (the base scenario with the point's values applied by
:func:`simulator.config.scenario.apply_overrides`, simulated for one seed); a test can pass any
picklable function (e.g. the Ishigami function) and goes through the same design,
execution, resume, summary and sensitivity code.

Sweep folder::

    sweep.json            the canonical sweep, base scenario and its hash, design points,
                          seeds and run ids; written first, checked on every restart
    runs/<run_id>.json        one file per finished run (atomic), run_id = p<point>-r<rep>
    runs/<run_id>.error.json  one file per failed run (retried on restart)
    summary.parquet       one row per run: point, replication, run_id, seed, parameters,
                          KPIs, status, error
    sensitivity.parquet   sensitivity indices per KPI and parameter with confidence intervals
    metadata.json         package versions, executor, timings, counts, analysis notes
    figures/*.png, report.html

Seeds: replication ``r`` of every point runs with ``replication_seeds(root_seed, R)[r]``
(common random numbers across points), which is also the seed of replication ``r`` of
``footprint run --seed <root_seed> --replications R`` of that point's scenario.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from simulator.config import (
    Boolean,
    FrozenModel,
    Integer,
    Number,
    ResultsError,
    Scenario,
    ScenarioError,
    Text,
    apply_overrides,
    canonical_json,
    format_key_path,
    kind_of,
    load_scenario,
    parse_key_path,
    problem_lines,
    raise_problems,
    read_toml_file,
    scenario_hash,
    show_number,
    show_value,
)
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.model import replication_seeds
from simulator.results import SUMMARY_KPIS as RUN_KPI_TABLE
from simulator.results import RunResult, package_versions, utc_now_iso, write_json, write_parquet

__all__ = [
    "AVAILABLE_KPIS",
    "DEFAULT_KPIS",
    "DESIGNS",
    "Design",
    "Parameter",
    "RunTask",
    "ScenarioEvaluator",
    "Sweep",
    "SweepResult",
    "SweepSpec",
    "analyse_sensitivity",
    "build_design",
    "load_sweep",
    "parse_sweep",
    "plan_tasks",
    "read_summary",
    "run_sweep",
    "run_sweep_file",
    "scenario_kpis",
]

SWEEP_SCHEMA_VERSION = 1
SWEEP_FILE = "sweep.json"
METADATA_FILE = "metadata.json"
RUNS_DIR = "runs"
SUMMARY_FILE = "summary.parquet"
SENSITIVITY_FILE = "sensitivity.parquet"
REPORT_FILE = "report.html"

DESIGNS: tuple[str, ...] = ("grid", "lhs", "sobol", "morris")
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "loguniform", "normal")

UTILISATION_KPI = "mean_store_utilisation"
KPI_LABELS: dict[str, tuple[str, str]] = {
    **{kpi: (label, unit) for kpi, label, unit, _how in RUN_KPI_TABLE},
    UTILISATION_KPI: ("Mean store utilisation (test drives / capacity on open days)", "share"),
}
"""Label and unit of each KPI a simulator sweep can keep (units as in ``report.format_number``)."""

AVAILABLE_KPIS: tuple[str, ...] = tuple(KPI_LABELS)
DEFAULT_KPIS: tuple[str, ...] = (
    "purchases_scaled",
    "test_drives_scaled",
    "bookings_lost_scaled",
    "share_familiar",
    "mean_trust",
)

# --------------------------------------------------------------------------------------
# Schema of the sweep file
# --------------------------------------------------------------------------------------


def _to_scalar(value: Any) -> Any:
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise ValueError(f"must be a finite number, got {show_value(value)}")
        return float(value)
    raise ValueError(f"must be a number, a string or a boolean, got {kind_of(value)} ({show_value(value)})")


Scalar = Annotated[Any, BeforeValidator(_to_scalar)]


class ParameterSpec(FrozenModel):
    """One varied parameter: a key path and its values (grid) or its range/distribution (sampling)."""

    key: Text = Field(
        min_length=1,
        description=(
            "Dotted key path of the scenario value to vary, as in `--set` (e.g. `behaviour.hill_k`); "
            "`[*]` varies every item of a list together (`plan.stores[*].capacity_per_day`). "
            "In a sweep without a scenario, any name."
        ),
    )
    label: Text | None = Field(
        None, min_length=1, description="Name shown in figures and the report (default: the key)."
    )
    values: tuple[Scalar, ...] | None = Field(
        None, min_length=1, description="Grid only: the values to run (numbers, strings or booleans)."
    )
    low: Number | None = Field(None, description="Lower bound of the range (uniform, loguniform).")
    high: Number | None = Field(None, description="Upper bound of the range (uniform, loguniform).")
    count: Integer | None = Field(
        None, ge=2, description="Grid only: number of evenly spaced values from low to high (geometric for loguniform)."
    )
    distribution: Literal["uniform", "loguniform", "normal"] = Field(
        "uniform",
        description=(
            "How a sampling design spreads the values: `uniform` or `loguniform` on [low, high], `normal` "
            "with mean and sd (lhs and sobol only)."
        ),
    )
    mean: Number | None = Field(None, description="Mean of a normal distribution.")
    sd: Number | None = Field(None, gt=0, description="Standard deviation of a normal distribution.")
    integer: Boolean | None = Field(
        None, description="Round values to integers (default: inferred from the scenario key's type)."
    )


class DesignSpec(FrozenModel):
    """The design: which points of the parameter space are run."""

    kind: Literal["grid", "lhs", "sobol", "morris"] = Field(
        "grid",
        description=(
            "`grid`: every combination of the parameters' values; `lhs`: Latin hypercube sample of `samples` "
            "points; `sobol`: Saltelli's scheme on a scrambled Sobol' sequence, samples x (D + 2) points "
            "(x (2D + 2) with second_order); `morris`: `samples` trajectories of D + 1 points."
        ),
    )
    samples: Integer | None = Field(
        None, ge=1, description="lhs: points; sobol: base sample N (a power of 2); morris: trajectories. Not for grid."
    )
    levels: Integer | None = Field(None, ge=2, description="morris only: grid levels (even; default 4).")
    second_order: Boolean | None = Field(None, description="sobol only: also second-order indices (default false).")
    seed: Integer | None = Field(
        None, ge=0, description="Seed of the design's sampling (default: the sweep's root seed)."
    )


class AnalysisSpec(FrozenModel):
    """How sensitivity indices are computed."""

    confidence_level: Number = Field(0.95, gt=0, lt=1, description="Level of the bootstrap confidence intervals.")
    resamples: Integer = Field(1000, ge=10, description="Bootstrap resamples for the confidence intervals.")


def _flatten_overrides(value: Any, prefix: str = "") -> Any:
    """``{"behaviour": {"hill_k": 4}}`` -> ``{"behaviour.hill_k": 4}`` (quoted dotted keys stay as they are)."""
    if not isinstance(value, Mapping):
        return value
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping) and item:
            flat.update(_flatten_overrides(item, path))
        else:
            flat[path] = item
    return flat


class SweepSpec(FrozenModel):
    """A sweep file: base scenario, parameters, design, replications and KPIs."""

    name: Text = Field("sweep", min_length=1, description="Sweep name (default: the file's stem).")
    description: Text = Field("", description="Free text shown in the report.")
    scenario: Text | None = Field(
        None,
        min_length=1,
        description="Base scenario file, relative to the sweep file (required by `footprint sweep`).",
    )
    seed: Integer | None = Field(
        None, ge=0, description="Root seed of the run seeds (default: the base scenario's seed)."
    )
    replications: Integer = Field(1, ge=1, description="Runs per design point, differing only in seed.")
    kpis: tuple[Text, ...] = Field(DEFAULT_KPIS, min_length=1, description="KPIs to keep from every run.")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description='Fixed changes to the base scenario by dotted key path, e.g. `"population.consumers" = 20000`.',
    )
    parameters: tuple[ParameterSpec, ...] = Field(min_length=1, description="The varied parameters.")
    design: DesignSpec = Field(default_factory=DesignSpec, description="The design.")
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec, description="Sensitivity analysis settings.")

    @model_validator(mode="before")
    @classmethod
    def _flat_overrides(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("overrides"), Mapping):
            data = {**data, "overrides": _flatten_overrides(data["overrides"])}
        return data


# --------------------------------------------------------------------------------------
# Resolved sweep: parameters with their targets and types
# --------------------------------------------------------------------------------------


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

    def from_unit(self, unit: np.ndarray) -> list[Any]:
        r"""Map points of [0, 1] to parameter values through the distribution's quantile function.

        uniform: :math:`x = a + u (b - a)`; loguniform: :math:`x = a (b / a)^u`;
        normal: :math:`x = \mu + \sigma \Phi^{-1}(u)`. Integer parameters are rounded.
        """
        unit = np.asarray(unit, dtype=np.float64)
        if self.distribution == "normal":
            from scipy import stats

            values = stats.norm.ppf(unit, loc=self.mean, scale=self.sd)
        elif self.distribution == "loguniform":
            values = np.exp(np.log(self.low) + unit * (np.log(self.high) - np.log(self.low)))
        else:
            values = self.low + unit * (self.high - self.low)
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


def _where(source: str, path: Iterable[Any]) -> str:
    """``<file>: <key path>`` (the start of an error line)."""
    where = format_key_path(path)
    return f"{source}: {where}" if where else source


def _parse_problem(source: str, path: Iterable[Any], message: str) -> str:
    return f"{_where(source, path)}: {message}"


def _design_problems(spec: SweepSpec) -> list[tuple[tuple[Any, ...], str]]:
    """Cross-key checks of the design and the parameters: (key path, problem)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    design = spec.design
    kind = design.kind
    sampling = kind != "grid"
    given = design.model_fields_set
    if kind == "grid" and design.samples is not None:
        problems.append(
            (("design", "samples"), "not used by a grid (its size is the product of the parameters' values)")
        )
    if sampling and design.samples is None:
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
    seen: dict[str, int] = {}
    for index, parameter in enumerate(spec.parameters):
        here = ("parameters", index)
        if parameter.key in seen:
            problems.append(
                (here + ("key",), f"'{parameter.key}' is already varied by parameters[{seen[parameter.key]}]")
            )
        seen.setdefault(parameter.key, index)
        has_range = parameter.low is not None or parameter.high is not None
        is_normal = parameter.distribution == "normal"
        if parameter.values is not None:
            if sampling:
                problems.append(
                    (here + ("values",), f"a {kind} design samples a range: give low and high (values are for grids)")
                )
            elif has_range or parameter.count is not None or is_normal:
                problems.append((here + ("values",), "give either values or low, high and count, not both"))
            kinds = {_value_kind(v) for v in parameter.values}
            if len(kinds - {"integer", "number"}) and len(kinds) > 1:
                problems.append((here + ("values",), f"mixes {' and '.join(sorted(kinds))} values"))
            if len(set(map(repr, parameter.values))) < len(parameter.values):
                problems.append((here + ("values",), "has repeated values"))
            continue
        if is_normal:
            if kind in ("grid", "morris"):
                problems.append(
                    (here + ("distribution",), f"normal is for lhs and sobol designs, not {kind} (give low and high)")
                )
            for name in ("mean", "sd"):
                if getattr(parameter, name) is None:
                    problems.append((here + (name,), "required for a normal distribution"))
            if has_range:
                problems.append(
                    (
                        here + ("low" if parameter.low is not None else "high",),
                        "not used by a normal distribution (give mean and sd)",
                    )
                )
        else:
            for name in ("mean", "sd"):
                if getattr(parameter, name) is not None:
                    problems.append(
                        (here + (name,), f"applies to normal distributions only (this one is {parameter.distribution})")
                    )
            if parameter.low is None or parameter.high is None:
                missing = "low" if parameter.low is None else "high"
                hint = "give values, or low, high and count" if kind == "grid" else "give low and high"
                problems.append((here + (missing,), f"required ({hint})"))
            elif parameter.high <= parameter.low:
                problems.append(
                    (
                        here + ("high",),
                        f"must be > low ({show_number(parameter.low)}), got {show_number(parameter.high)}",
                    )
                )
            elif parameter.distribution == "loguniform" and parameter.low <= 0:
                problems.append(
                    (here + ("low",), f"must be > 0 for a loguniform distribution, got {show_number(parameter.low)}")
                )
        if kind == "grid" and parameter.count is None and not is_normal:
            problems.append((here + ("count",), "required for a grid range (how many values from low to high)"))
        if sampling and parameter.count is not None:
            problems.append((here + ("count",), "applies to grids only"))
    if len(set(spec.kpis)) < len(spec.kpis):
        problems.append((("kpis",), "has repeated KPIs"))
    return problems


def _value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "text"


def _value_at(data: Any, tokens: Sequence[str | int]) -> tuple[bool, Any]:
    """(found, value) at ``tokens`` inside dumped scenario data."""
    current = data
    for token in tokens:
        in_table = isinstance(token, str) and isinstance(current, Mapping) and token in current
        in_list = isinstance(token, int) and isinstance(current, (list, tuple)) and token < len(current)
        if in_table or in_list:
            current = current[token]
        else:
            return False, None
    return True, current


def _expand_targets(data: Any, key_path: str) -> list[str]:
    """Expand ``[*]`` in a key path over the items of the list it follows in ``data``.

    Raises
    ------
    ValueError
        When the part before ``[*]`` is not a list.
    """
    head, star, rest = key_path.partition("[*]")
    if not star:
        return [key_path]
    try:
        tokens = parse_key_path(head)
    except ValueError as error:
        raise ValueError(str(error)) from None
    found, container = _value_at(data, tokens)
    if not found or not isinstance(container, (list, tuple)):
        raise ValueError(f"'{head}' is not a list of the base scenario, so [*] cannot follow it")
    if not container:
        raise ValueError(f"'{head}' is empty in the base scenario: [*] matches nothing")
    return [target for i in range(len(container)) for target in _expand_targets(data, f"{head}[{i}]{rest}")]


def _grid_values(spec: ParameterSpec, kind: str) -> tuple[Any, ...]:
    if spec.values is not None:
        if kind == "number":  # ints given for a float key become floats; other types are left to validation
            return tuple(float(v) if _value_kind(v) == "integer" else v for v in spec.values)
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
    data = base.model_dump(mode="python") if base is not None else None
    problems: list[str] = []
    resolved: list[Parameter] = []
    for index, parameter in enumerate(spec.parameters):
        here = ("parameters", index)
        targets: list[str] = [parameter.key]
        base_value: Any = None
        if data is not None:
            try:
                targets = _expand_targets(data, parameter.key)
                found, base_value = _value_at(data, parse_key_path(targets[0]))
            except ValueError as error:
                problems.append(_parse_problem(source, here + ("key",), f"{parameter.key}: {error}"))
                continue
            if not found:
                # apply_overrides names the unknown key with a did-you-mean hint
                try:
                    apply_overrides(base, {targets[0]: base_value}, source_name=_where(source, here + ("key",)))
                except ScenarioError as error:
                    problems.extend(getattr(error, "problems", [str(error)]))
                    continue
        kind = _parameter_kind(parameter, base_value)
        sampling = spec.design.kind != "grid"
        if kind in ("text", "boolean") and (sampling or parameter.values is None):
            problems.append(
                _parse_problem(
                    source, here + ("key",), f"{parameter.key} takes {kind} values: list them in values (grid design)"
                )
            )
            continue
        values = _grid_values(parameter, kind) if not sampling else None
        if values is not None and len(set(map(repr, values))) < len(values):
            if parameter.values is not None:
                problem = _parse_problem(source, here + ("values",), "has repeated values")
            else:
                problem = _parse_problem(
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
                    source_name=f"{_where(source, here)}: value {show_value(value)}",
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
        kind = _value_kind(base_value)
        if kind == "integer" and parameter.values is not None and any(isinstance(v, float) for v in parameter.values):
            return "number"
        return kind
    if parameter.values is not None:
        kinds = {_value_kind(v) for v in parameter.values}
        if kinds <= {"integer", "number"}:
            return "integer" if kinds == {"integer"} else "number"
        return kinds.pop()
    return "number"


def parse_sweep(
    data: Mapping[str, Any],
    source_name: str = "sweep",
    *,
    base_dir: str | Path | None = None,
    consumers: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
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
    consumers, days, overrides
        Command-line changes of the base scenario (``--consumers``, ``--days``,
        ``--set``), applied after the sweep file's ``overrides``.
    seed
        Root seed from the command line (``--seed``); wins over the file's ``seed``.
    base
        A base scenario object to use instead of the file's ``scenario`` key.

    Raises
    ------
    ScenarioError
        One line: ``<file>: <key path>: <problem>`` for each problem, joined by ``"; "``.
    """
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
    problems = [_parse_problem(source_name, path, message) for path, message in _design_problems(spec)]
    if problems:
        raise_problems(problems)
    if base is None and spec.scenario is not None:
        path = Path(spec.scenario).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise_problems([f"{source_name}: scenario: file not found ({path})"])
        base = load_scenario(path)
    if base is None:
        given = [name for name, value in (("--consumers", consumers), ("--days", days)) if value is not None]
        if given or overrides or spec.overrides:
            what = ", ".join(given + (["--set"] if overrides else []) + (["overrides"] if spec.overrides else []))
            raise_problems(
                [f'{source_name}: {what}: this sweep has no base scenario to change (give scenario = "...")']
            )
        root_seed = (
            seed if seed is not None else spec.seed if spec.seed is not None else Scenario.model_fields["seed"].default
        )
        return Sweep(spec, source_name, None, int(root_seed), _resolve_parameters(spec, None, source_name))
    if spec.overrides:
        base = apply_overrides(base, spec.overrides, source_name=f"{source_name}: overrides")
    from simulator.experiments.run import prepare_scenario

    base = prepare_scenario(base, consumers=consumers, days=days, overrides=overrides)
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


def _kpi_hint(kpi: str) -> str:
    import difflib

    matches = difflib.get_close_matches(kpi, AVAILABLE_KPIS, n=1, cutoff=0.6)
    if matches:
        return f"did you mean '{matches[0]}'?"
    return "expected one of: " + ", ".join(AVAILABLE_KPIS)


def load_sweep(
    path: str | Path,
    *,
    consumers: int | None = None,
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
    path = Path(path)
    data = read_toml_file(path, "a sweep file")
    source_name = path.name or str(path)
    return parse_sweep(
        data,
        source_name,
        base_dir=path.parent.absolute(),
        consumers=consumers,
        days=days,
        seed=seed,
        overrides=overrides,
    )


# --------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """The design points of a sweep.

    Attributes
    ----------
    kind : str
        ``grid``, ``lhs``, ``sobol`` or ``morris``.
    points : pandas.DataFrame
        One row per point (index = point number), one column per parameter key, in
        parameter units (integers rounded).
    unit : numpy.ndarray or None
        The sampling designs' points in the unit hypercube, shape (points, parameters),
        before the quantile transform (what SALib's analyses take).
    """

    kind: str
    points: pd.DataFrame
    unit: np.ndarray | None

    @property
    def size(self) -> int:
        return len(self.points)


def _unit_problem(parameters: Sequence[Parameter]) -> dict[str, Any]:
    return {"num_vars": len(parameters), "names": [p.key for p in parameters], "bounds": [[0.0, 1.0]] * len(parameters)}


def build_design(sweep: Sweep) -> Design:
    """The design points of ``sweep``.

    grid: the Cartesian product of the parameters' values (the last parameter varies
    fastest). lhs: ``scipy.stats.qmc.LatinHypercube``. sobol: ``SALib.sample.sobol``
    (Saltelli's scheme on a scrambled Sobol' sequence). morris: ``SALib.sample.morris``.
    Sampling designs draw in [0, 1]^D with the design seed and map each column through
    the parameter's quantile function (:meth:`Parameter.from_unit`).
    """
    parameters = sweep.parameters
    design = sweep.spec.design
    columns = [p.key for p in parameters]
    if design.kind == "grid":
        rows = list(itertools.product(*(p.values for p in parameters)))
        return Design("grid", pd.DataFrame(rows, columns=columns), None)
    samples = int(design.samples)
    problem = _unit_problem(parameters)
    seed = sweep.design_seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if design.kind == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(len(parameters), rng=np.random.Generator(np.random.PCG64(seed))).random(samples)
        elif design.kind == "sobol":
            from SALib.sample import sobol as sobol_sample

            unit = sobol_sample.sample(problem, samples, calc_second_order=bool(design.second_order), seed=seed)
        else:
            from SALib.sample import morris as morris_sample

            unit = morris_sample.sample(problem, samples, num_levels=design.levels or 4, seed=seed)
    unit = np.asarray(unit, dtype=np.float64)
    points = pd.DataFrame({p.key: p.from_unit(unit[:, j]) for j, p in enumerate(parameters)}, columns=columns)
    return Design(design.kind, points, unit)


# --------------------------------------------------------------------------------------
# Runs: tasks, evaluation of a scenario
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: a design point, a replication and its seed.

    ``values`` maps each parameter key to its value at the point.
    """

    run_id: str
    point: int
    replication: int
    seed: int
    values: Mapping[str, Any]


def run_id(point: int, replication: int) -> str:
    """Deterministic run id ``p<point, 5 digits>-r<replication, 3 digits>`` (resume finds runs by it)."""
    return f"p{point:05d}-r{replication:03d}"


def _plain_value(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def plan_tasks(sweep: Sweep, design: Design) -> list[RunTask]:
    """Every run of the sweep, ordered by point then replication.

    Replication ``r`` of every point uses ``replication_seeds(root_seed, R)[r]``
    (common random numbers across points).
    """
    seeds = replication_seeds(sweep.root_seed, sweep.replications)
    records = design.points.to_dict("records")
    return [
        RunTask(
            run_id(point, replication), point, replication, int(seed), {k: _plain_value(v) for k, v in values.items()}
        )
        for point, values in enumerate(records)
        for replication, seed in enumerate(seeds)
    ]


@functools.lru_cache(maxsize=4)
def _cached_city(bundle: str) -> Any:
    from simulator.city import load_city

    return load_city(bundle)


def scenario_kpis(scenario: Scenario, seed: int, city: Any, kpis: Sequence[str] = DEFAULT_KPIS) -> dict[str, float]:
    """Simulate one replication of ``scenario`` with ``seed`` and return its KPIs.

    The KPIs are those of :meth:`simulator.results.run_folder.RunResult.replication_kpis` (totals
    over the horizon for counts, last-day values for shares and means) and
    ``mean_store_utilisation``, the mean over stores with capacity of their utilisation
    on open days (:func:`simulator.results.run_folder.store_totals`).
    """
    from simulator.experiments.run import simulate_replication
    from simulator.results import DAILY_COUNT_COLUMNS, store_totals

    outcome = simulate_replication(scenario, seed, city)
    daily = outcome["daily"]
    daily.insert(0, "seed", seed)
    daily.insert(0, "replication", 0)
    for column in DAILY_COUNT_COLUMNS:
        daily[f"{column}_scaled"] = daily[column] * outcome["weight"]
    empty = pd.DataFrame()
    per_run = RunResult(daily=daily, stores=empty, zones=empty, cells=empty, plan=empty, metadata={}).replication_kpis()
    values = {name: float(per_run[name].iloc[0]) for name in per_run.columns}
    if UTILISATION_KPI in kpis:
        stores = outcome["stores"].assign(replication=0)
        totals = store_totals(stores, outcome["plan"]) if len(stores) else pd.DataFrame(columns=["capacity"])
        with_capacity = totals[pd.to_numeric(totals["capacity"], errors="coerce") > 0]
        values[UTILISATION_KPI] = float(with_capacity["utilisation"].mean()) if len(with_capacity) else math.nan
    return {name: values[name] for name in kpis}


@dataclass(frozen=True)
class ScenarioEvaluator:
    """Evaluation function of a simulator sweep (picklable, so it runs on any executor).

    Calling it with a :class:`RunTask` applies the task's values to the base scenario at
    every target key path (:func:`simulator.config.scenario.apply_overrides`), loads the city
    once per worker process and returns :func:`scenario_kpis` for the task's seed.
    """

    base: Scenario
    targets: tuple[tuple[str, tuple[str, ...]], ...]
    kpis: tuple[str, ...]

    def __call__(self, task: RunTask) -> dict[str, float]:
        changes = {path: task.values[key] for key, paths in self.targets for path in paths}
        scenario = apply_overrides(self.base, changes, source_name=f"run {task.run_id}")
        return scenario_kpis(scenario, task.seed, _cached_city(str(scenario.resolved_bundle)), self.kpis)


def _evaluator_name(evaluate: Callable) -> str:
    target = evaluate.func if isinstance(evaluate, functools.partial) else evaluate
    target = target if isinstance(target, type) or hasattr(target, "__qualname__") else type(target)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(target).__name__)}"


# --------------------------------------------------------------------------------------
# The sweep folder: manifest, resume, run files
# --------------------------------------------------------------------------------------


def _canonical(obj: Any) -> str:
    from simulator.results import to_jsonable

    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def build_manifest(sweep: Sweep, design: Design, tasks: Sequence[RunTask], evaluator: str) -> dict[str, Any]:
    """The content of ``sweep.json``: everything that determines the runs, and its fingerprint.

    ``fingerprint`` is the SHA-256 of the canonical JSON of the ``identity`` part:
    the sweep file's settings (without name and description), the base scenario's hash,
    the evaluator, the root seed, the replication seeds and the design points.
    """
    spec = sweep.spec.model_dump(mode="json", exclude={"name", "description", "scenario"})
    identity = {
        "sweep": spec,
        "base_scenario_hash": scenario_hash(sweep.base) if sweep.base is not None else None,
        "evaluator": evaluator,
        "root_seed": sweep.root_seed,
        "replication_seeds": replication_seeds(sweep.root_seed, sweep.replications),
        "parameters": [{"key": p.key, "targets": list(p.targets), "kind": p.kind} for p in sweep.parameters],
        "points": design.points.to_dict("split")["data"],
    }
    fingerprint = hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "footprint-sweep",
        "fingerprint": fingerprint,
        "name": sweep.name,
        "description": sweep.spec.description,
        "source": sweep.source_name,
        "scenario_file": sweep.spec.scenario,
        "identity": identity,
        "base_scenario": json.loads(canonical_json(sweep.base)) if sweep.base is not None else None,
        "design": {"kind": design.kind, "points": design.size, "unit": design.unit},
        "parameters": [
            {
                "key": p.key,
                "label": p.label,
                "targets": list(p.targets),
                "kind": p.kind,
                "values": list(p.values) if p.values is not None else None,
                "distribution": p.distribution,
                "low": p.low,
                "high": p.high,
                "mean": p.mean,
                "sd": p.sd,
            }
            for p in sweep.parameters
        ],
        "runs": [task.run_id for task in tasks],
    }


_IDENTITY_PARTS = {
    "sweep": "sweep settings (design, parameters, replications, KPIs, overrides or analysis)",
    "base_scenario_hash": "base scenario (the scenario file, --consumers, --days or --set)",
    "evaluator": "evaluation function",
    "root_seed": "root seed (--seed or seed)",
    "replication_seeds": "replication seeds",
    "parameters": "parameters",
    "points": "design points",
}


def _prepare_folder(folder: Path, manifest: Mapping[str, Any]) -> None:
    """Create the sweep folder and write ``sweep.json``, or check that it holds this sweep.

    Raises
    ------
    ResultsError
        The folder holds another sweep (different sweep file or overrides), or is not a
        sweep folder.
    """
    if folder.exists() and not folder.is_dir():
        raise ResultsError(f"{folder}: exists and is not a folder")
    sweep_path = folder / SWEEP_FILE
    if sweep_path.is_file():
        try:
            existing = json.loads(sweep_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ResultsError(f"{sweep_path}: cannot be read: {error}".splitlines()[0]) from None
        if existing.get("fingerprint") != manifest["fingerprint"]:
            old = existing.get("identity") or {}
            differing = [
                text
                for part, text in _IDENTITY_PARTS.items()
                if _canonical(old.get(part)) != _canonical(manifest["identity"].get(part))
            ] or ["the sweep definition"]
            raise ResultsError(
                f"{folder}: holds a different sweep (it differs in: {'; '.join(differing)}); "
                "results are never mixed: use another --out or remove the folder"
            )
    elif folder.is_dir() and any(p.name != RUNS_DIR for p in folder.iterdir()):
        raise ResultsError(f"{folder}: exists and is not a sweep folder (no {SWEEP_FILE}); use another --out")
    (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if not sweep_path.is_file():
        write_json(manifest, sweep_path)


def _run_path(runs: Path, rid: str) -> Path:
    return runs / f"{rid}.json"


def _error_path(runs: Path, rid: str) -> Path:
    return runs / f"{rid}.error.json"


def _clean_temporaries(runs: Path) -> None:
    """Remove temporary files left by a killed sweep (``.<name>.<random>.tmp``)."""
    for leftover in runs.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _finished(runs: Path) -> set[str]:
    return {p.name[: -len(".json")] for p in runs.glob("*.json") if not p.name.endswith(".error.json")}


def _write_run(runs: Path, task: RunTask, kpis: Mapping[str, float], seconds: float) -> None:
    record = {
        "run_id": task.run_id,
        "point": task.point,
        "replication": task.replication,
        "seed": task.seed,
        "parameters": dict(task.values),
        "kpis": dict(kpis),
        "seconds": seconds,
    }
    write_json(record, _run_path(runs, task.run_id))
    with contextlib.suppress(FileNotFoundError):
        _error_path(runs, task.run_id).unlink()


def _write_failure(runs: Path, task: RunTask, error: str, seconds: float) -> None:
    record = {
        "run_id": task.run_id,
        "point": task.point,
        "replication": task.replication,
        "seed": task.seed,
        "parameters": dict(task.values),
        "error": error,
        "seconds": seconds,
    }
    write_json(record, _error_path(runs, task.run_id))


def _checked_kpis(value: Any, kpis: Sequence[str]) -> dict[str, float]:
    """The evaluation's KPIs as floats; raises TypeError or ValueError for a bad or missing KPI."""
    if not isinstance(value, Mapping):
        raise TypeError(f"the evaluation returned {kind_of(value)}, expected a table of KPIs")
    missing = [k for k in kpis if k not in value]
    if missing:
        raise ValueError(f"the evaluation returned no value for KPI(s) {', '.join(missing)}")
    checked = {}
    for name in kpis:
        item = value[name]
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise TypeError(f"KPI {name}: expected a number, got {kind_of(item)} ({show_value(item)})")
        checked[name] = float(item)
    return checked


# --------------------------------------------------------------------------------------
# The run loop
# --------------------------------------------------------------------------------------

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(runs_done, runs_total)``; runs found finished at a restart count as done."""


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    folder : pathlib.Path
        The sweep folder.
    summary : pandas.DataFrame
        ``summary.parquet``: one row per run.
    sensitivity : pandas.DataFrame
        ``sensitivity.parquet``.
    runs_total, runs_reused, runs_executed, runs_failed : int
        Runs of the design; found finished at the start; run now; failed (recorded in
        ``runs/*.error.json``).
    notes : list of str
        Analysis notes (e.g. a KPI whose indices could not be computed).
    """

    folder: Path
    summary: pd.DataFrame
    sensitivity: pd.DataFrame
    runs_total: int
    runs_reused: int
    runs_executed: int
    runs_failed: int
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every run succeeded."""
        return self.runs_failed == 0

    def summary_rows(self, parameter_labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        """Rows ``(label, text)`` for a terminal table: runs, and the most influential parameter per KPI."""
        labels = dict(parameter_labels or {})
        rows = [
            (
                "Runs",
                f"{self.runs_total:,} ({self.runs_total - self.runs_failed:,} succeeded, {self.runs_failed:,} failed)",
            ),
            (
                "This time",
                f"{self.runs_executed:,} executed, {self.runs_reused:,} found finished, {self.wall_seconds:,.1f} s",
            ),
        ]
        primary = {"sobol": "ST", "grid": "ST", "rbd_fast": "S1", "morris": "mu_star"}
        for kpi, part in self.sensitivity.groupby("kpi", sort=False):
            method = str(part["method"].iloc[0])
            main = part[(part["index"] == primary.get(method, "S1")) & part["other_parameter"].isna()]
            if main.empty:
                continue
            best = main.loc[main["value"].idxmax()]
            name = labels.get(best["parameter"], best["parameter"])
            rows.append(
                (KPI_LABELS.get(kpi, (kpi, ""))[0], f"most sensitive to {name} ({best['index']} {best['value']:.3g})")
            )
        return rows


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    evaluate: Callable[[RunTask], Mapping[str, float]] | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
    report: bool = True,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and write its summary, sensitivity and report.

    Every run is written to ``runs/<run_id>.json`` as soon as it finishes (atomically),
    so results are never all held in memory and a sweep stopped at any point (even by
    SIGKILL) and started again with the same arguments runs only what is missing. Failed
    runs are recorded in ``runs/<run_id>.error.json`` and retried on the next start; they
    never stop the others. At the end ``summary.parquet`` is assembled from the run
    files, in run order, so it does not depend on interruptions or on the executor.

    Parameters
    ----------
    sweep : Sweep
        From :func:`load_sweep` or :func:`parse_sweep`.
    out : path-like
        The sweep folder.
    evaluate : callable, optional
        ``evaluate(task) -> {kpi: value}``, picklable for parallel executors. Default: a
        :class:`ScenarioEvaluator` of the sweep's base scenario.
    spec : ExecutorSpec
        Where runs execute (serial, local processes, Dask).
    progress : callable, optional
        ``progress(runs_done, runs_total)``.
    command : str, optional
        Command line, recorded in ``metadata.json``.
    report : bool
        Write ``figures/`` and ``report.html``.

    Raises
    ------
    ResultsError
        ``out`` holds a different sweep.
    ScenarioError
        A simulator sweep without base scenario.
    """
    started = time.perf_counter()
    if evaluate is None:
        if sweep.base is None:
            raise ScenarioError(f"{sweep.source_name}: scenario: required key is missing (the base scenario to sweep)")
        evaluate = ScenarioEvaluator(sweep.base, tuple((p.key, p.targets) for p in sweep.parameters), sweep.kpis)
    design = build_design(sweep)
    tasks = plan_tasks(sweep, design)
    manifest = build_manifest(sweep, design, tasks, _evaluator_name(evaluate))
    folder = Path(out)
    _prepare_folder(folder, manifest)
    runs = folder / RUNS_DIR
    _clean_temporaries(runs)
    finished = _finished(runs)
    pending = [task for task in tasks if task.run_id not in finished]
    total = len(tasks)
    done = total - len(pending)
    reused = done
    run_seconds = 0.0
    if progress is not None:
        progress(done, total)
    for outcome in execute(evaluate, pending, spec):
        task = pending[outcome.index]
        run_seconds += outcome.seconds
        error = outcome.error
        if error is None:
            try:
                _write_run(runs, task, _checked_kpis(outcome.value, sweep.kpis), outcome.seconds)
            except (TypeError, ValueError) as problem:
                error = f"{type(problem).__name__}: {problem}"
        if error is not None:
            _write_failure(runs, task, error, outcome.seconds)
        done += 1
        if progress is not None:
            progress(done, total)
    executed = len(pending)
    summary = _assemble_summary(sweep, tasks, runs)
    write_parquet(summary, folder / SUMMARY_FILE)
    sensitivity, notes = analyse_sensitivity(sweep, design, summary)
    write_parquet(sensitivity, folder / SENSITIVITY_FILE)
    failed = int((summary["status"] != "ok").sum())
    result = SweepResult(folder, summary, sensitivity, total, reused, executed, failed, notes)
    metadata = {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "name": sweep.name,
        "fingerprint": manifest["fingerprint"],
        "base_scenario_hash": manifest["identity"]["base_scenario_hash"],
        "root_seed": sweep.root_seed,
        "design": design.kind,
        "points": design.size,
        "replications": sweep.replications,
        "runs_total": total,
        "runs_reused": reused,
        "runs_executed": executed,
        "runs_failed": failed,
        "executor": spec.describe(),
        "command": command,
        "package_versions": {**package_versions(), **_extra_versions()},
        "created_utc": utc_now_iso(),
        "notes": notes,
        "timings": {"run_seconds_this_time": run_seconds},
    }
    if report:
        import simulator.reports.sweep_report as sweep_report

        figures = sweep_report.save_sweep_figures(folder, manifest, summary, sensitivity, KPI_LABELS)
        sweep_report.write_sweep_report(
            folder / REPORT_FILE, manifest, metadata, summary, sensitivity, figures, KPI_LABELS
        )
    result.wall_seconds = time.perf_counter() - started
    metadata["timings"]["wall_seconds_this_time"] = result.wall_seconds
    write_json(metadata, folder / METADATA_FILE)
    return result


def _extra_versions() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for name in ("SALib", "dask", "distributed"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def run_sweep_file(
    path: str | Path,
    out: str | Path | None = None,
    *,
    consumers: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    spec: ExecutorSpec = ExecutorSpec(),
    progress: ProgressCallback | None = None,
    command: str | None = None,
    results_root: str | Path = "results",
) -> SweepResult:
    """Load a sweep file and run it (what ``footprint sweep`` calls).

    ``out`` defaults to ``<results_root>/<sweep name>``: a fixed name, so that the same
    command finds and resumes an interrupted sweep.
    """
    sweep = load_sweep(path, consumers=consumers, days=days, seed=seed, overrides=overrides)
    target = Path(out) if out is not None else Path(results_root) / sweep.name
    return run_sweep(sweep, target, spec=spec, progress=progress, command=command)


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def _assemble_summary(sweep: Sweep, tasks: Sequence[RunTask], runs: Path) -> pd.DataFrame:
    """One row per run in run order, read from the run files."""
    rows = []
    for task in tasks:
        row: dict[str, Any] = {
            "point": task.point,
            "replication": task.replication,
            "run_id": task.run_id,
            "seed": task.seed,
        }
        row.update(task.values)
        ok_path = _run_path(runs, task.run_id)
        error_path = _error_path(runs, task.run_id)
        kpis: Mapping[str, Any] = {}
        if ok_path.is_file():
            record = _read_record(ok_path)
            kpis, status, error = record.get("kpis") or {}, "ok", None
        elif error_path.is_file():
            record = _read_record(error_path)
            status, error = "failed", str(record.get("error", "")).splitlines()[0] if record.get("error") else "failed"
        else:
            status, error = "missing", "no result was written"
        for name in sweep.kpis:
            value = kpis.get(name)
            row[name] = float(value) if value is not None else math.nan
        row["status"] = status
        row["error"] = error
        rows.append(row)
    columns = [
        "point",
        "replication",
        "run_id",
        "seed",
        *(p.key for p in sweep.parameters),
        *sweep.kpis,
        "status",
        "error",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["point"] = frame["point"].astype("int64")
    frame["replication"] = frame["replication"].astype("int64")
    frame["seed"] = frame["seed"].astype("int64")
    for parameter in sweep.parameters:
        if parameter.kind == "integer":
            frame[parameter.key] = frame[parameter.key].astype("int64")
        elif parameter.kind == "number":
            frame[parameter.key] = frame[parameter.key].astype("float64")
        elif parameter.kind == "boolean":
            frame[parameter.key] = frame[parameter.key].astype(bool)
    for name in sweep.kpis:
        frame[name] = frame[name].astype("float64")
    frame["error"] = frame["error"].astype(object)
    return frame


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{path}: cannot be read: {error}".splitlines()[0]) from None
    if not isinstance(record, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return record


def read_summary(folder: str | Path) -> pd.DataFrame:
    """Read ``summary.parquet`` of a sweep folder."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise ResultsError(f"{path}: missing (not a finished sweep folder?)")
    return pd.read_parquet(path)


# --------------------------------------------------------------------------------------
# Sensitivity
# --------------------------------------------------------------------------------------

SENSITIVITY_COLUMNS = [
    "kpi",
    "method",
    "index",
    "parameter",
    "other_parameter",
    "value",
    "conf",
    "ci_low",
    "ci_high",
    "confidence_level",
    "points",
]


def _point_means(summary: pd.DataFrame, kpi: str, n_points: int) -> np.ndarray:
    ok = summary[summary["status"] == "ok"]
    means = ok.groupby("point")[kpi].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=np.float64)


def analyse_sensitivity(sweep: Sweep, design: Design, summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sensitivity indices of every KPI to every parameter, with confidence intervals.

    The output of a point is the mean of the KPI over its successful replications.

    * sobol: first-order ``S1`` and total-order ``ST`` (and ``S2`` with second_order)
      by ``SALib.analyze.sobol`` (Saltelli 2010 / Jansen estimators), bootstrap intervals;
    * morris: ``mu``, ``mu_star`` (bootstrap interval) and ``sigma`` by
      ``SALib.analyze.morris``; elementary effects are per unit of the parameter's
      normalised range (0 = low, 1 = high), so they compare across parameters;
    * lhs: first-order ``S1`` by RBD-FAST (``SALib.analyze.rbd_fast``, harmonics from
      :func:`rbd_fast_harmonics`), bootstrap interval (conservative for small samples);
    * grid: the exact variance decomposition over the grid (each value equally likely):
      :math:`S_i = \\mathrm{Var}(E[Y|x_i]) / \\mathrm{Var}(Y)`,
      :math:`S_{Ti} = E[\\mathrm{Var}(Y|x_{\\sim i})] / \\mathrm{Var}(Y)`, with intervals
      from a bootstrap over replications (resampled jointly at every point, keeping the
      common random numbers) when there are at least 2.

    Returns
    -------
    sensitivity : pandas.DataFrame
        Columns :data:`SENSITIVITY_COLUMNS`; ``conf`` is the interval's half-width and
        ``ci_low``/``ci_high`` = value -/+ conf (NaN where the method gives none).
    notes : list of str
        KPIs skipped (failed points, constant output) and why.
    """
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    analysis = sweep.spec.analysis
    level = analysis.confidence_level
    n_points = design.size
    names = [p.key for p in sweep.parameters]
    problem = _unit_problem(sweep.parameters)
    for k, kpi in enumerate(sweep.kpis):
        y = _point_means(summary, kpi, n_points)
        missing = int(np.isnan(y).sum())
        if missing:
            notes.append(
                f"{kpi}: no sensitivity indices: {missing} of {n_points} design points have no value (failed runs)"
            )
            continue
        if float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max())):
            notes.append(f"{kpi}: no sensitivity indices: the KPI is constant over the design")
            continue
        analysis_seed = int(np.random.SeedSequence([sweep.root_seed, k]).generate_state(1)[0])

        def add(method: str, index: str, parameter: str, value: float, conf: float, other: str | None = None) -> None:
            value, conf = float(value), float(conf) if conf is not None else math.nan
            rows.append(
                {
                    "kpi": kpi,  # noqa: B023 - add() is called only inside this iteration
                    "method": method,
                    "index": index,
                    "parameter": parameter,
                    "other_parameter": other,
                    "value": value,
                    "conf": conf,
                    "ci_low": value - conf,
                    "ci_high": value + conf,
                    "confidence_level": level,
                    "points": n_points,
                }
            )

        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                if design.kind == "sobol":
                    from SALib.analyze import sobol

                    second = bool(sweep.spec.design.second_order)
                    result = sobol.analyze(
                        problem,
                        y,
                        calc_second_order=second,
                        num_resamples=analysis.resamples,
                        conf_level=level,
                        seed=analysis_seed,
                    )
                    for j, name in enumerate(names):
                        add("sobol", "S1", name, result["S1"][j], result["S1_conf"][j])
                        add("sobol", "ST", name, result["ST"][j], result["ST_conf"][j])
                    if second:
                        for a, b in itertools.combinations(range(len(names)), 2):
                            add("sobol", "S2", names[a], result["S2"][a, b], result["S2_conf"][a, b], names[b])
                elif design.kind == "morris":
                    from SALib.analyze import morris

                    result = morris.analyze(
                        problem,
                        design.unit,
                        y,
                        num_resamples=analysis.resamples,
                        conf_level=level,
                        num_levels=sweep.spec.design.levels or 4,
                        seed=analysis_seed,
                    )
                    for j, name in enumerate(names):
                        add("morris", "mu_star", name, result["mu_star"][j], result["mu_star_conf"][j])
                        add("morris", "mu", name, result["mu"][j], math.nan)
                        add("morris", "sigma", name, result["sigma"][j], math.nan)
                elif design.kind == "lhs":
                    from SALib.analyze import rbd_fast

                    result = rbd_fast.analyze(
                        problem,
                        design.unit,
                        y,
                        M=rbd_fast_harmonics(n_points),
                        num_resamples=analysis.resamples,
                        conf_level=level,
                        seed=analysis_seed,
                    )
                    for j, name in enumerate(names):
                        add("rbd_fast", "S1", name, result["S1"][j], result["S1_conf"][j])
                else:
                    for index, name, value, conf in _grid_indices(sweep, design, summary, kpi, analysis_seed):
                        add("grid", index, name, value, conf)
        except Exception as error:  # SALib's own checks (e.g. too few points for RBD-FAST)
            notes.append(f"{kpi}: no sensitivity indices: {type(error).__name__}: {error}".splitlines()[0])
    frame = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    frame["other_parameter"] = frame["other_parameter"].astype(object)
    return frame, notes


def rbd_fast_harmonics(points: int) -> int:
    """Harmonics M of RBD-FAST: SALib's 10 from 160 points, fewer for small samples (at least 2).

    ``M = min(10, max(2, points // 16))``: with few points, high harmonics add mostly noise
    (at 64 points, M = 4 halves the spread of the estimates against M = 10).
    """
    return min(10, max(2, points // 16))


def _grid_decomposition(y: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """First- and total-order indices of a full-factorial table ``y`` (C order, uniform weights)."""
    table = y.reshape(shape)
    variance = float(table.var())
    first, total = [], []
    for axis in range(len(shape)):
        others = tuple(a for a in range(len(shape)) if a != axis)
        main = table.mean(axis=others) if others else table
        first.append(float(main.var()) / variance if variance > 0 else math.nan)
        total.append(float(table.var(axis=axis).mean()) / variance if variance > 0 else math.nan)
    return np.array(first), np.array(total)


def _grid_indices(
    sweep: Sweep, design: Design, summary: pd.DataFrame, kpi: str, seed: int
) -> list[tuple[str, str, float, float]]:
    shape = tuple(len(p.values) for p in sweep.parameters)
    y = _point_means(summary, kpi, design.size)
    first, total = _grid_decomposition(y, shape)
    first_conf = np.full(len(shape), math.nan)
    total_conf = np.full(len(shape), math.nan)
    replications = sweep.replications
    if replications >= 2:
        ok = summary["status"] == "ok"
        wide = summary[ok].pivot_table(index="point", columns="replication", values=kpi, aggfunc="first")
        wide = wide.reindex(index=range(design.size), columns=range(replications)).to_numpy(dtype=np.float64)
        rng = np.random.Generator(np.random.PCG64(seed))
        draws_first, draws_total = [], []
        for _ in range(sweep.spec.analysis.resamples):
            chosen = rng.integers(0, replications, replications)
            resampled = np.nanmean(wide[:, chosen], axis=1)
            if np.isnan(resampled).any() or resampled.var() == 0:
                continue
            f, t = _grid_decomposition(resampled, shape)
            draws_first.append(f)
            draws_total.append(t)
        if len(draws_first) >= 10:
            from scipy import stats

            z = float(stats.norm.ppf(0.5 + sweep.spec.analysis.confidence_level / 2))
            first_conf = z * np.std(draws_first, axis=0, ddof=1)
            total_conf = z * np.std(draws_total, axis=0, ddof=1)
    rows = []
    for j, parameter in enumerate(sweep.parameters):
        rows.append(("S1", parameter.key, first[j], first_conf[j]))
        rows.append(("ST", parameter.key, total[j], total_conf[j]))
    return rows

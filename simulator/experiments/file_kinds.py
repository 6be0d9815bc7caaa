"""The kinds of input file (scenario, comparison, sweep, ...): how to recognise, check and describe each.

One registry serves two commands. ``footprint validate FILE`` reads the file's top-level
keys, decides its kind with :func:`detect_file_kind` and calls that kind's check;
``footprint schema --kind KIND`` prints :func:`file_json_schema`, the JSON Schema of the
kind's pydantic model with the numeric bounds ``validate`` enforces (editors use it for
completion; a JSON Schema validator rejects a value out of range as ``validate`` does).
A kind is a :class:`FileKind`: a name, the top-level keys that mark it, a check function,
its pydantic model and one line about it. Other modules add theirs with
:func:`register_file_kind` (calibration and optimisation files do), so that neither
command needs a change. A file whose keys mark no registered kind is a scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from simulator.config import FootprintError, Scenario, describe, model_json_schema, read_toml_file, scenario_hash
from simulator.experiments.calibrate.spec import CalibrationSpec
from simulator.experiments.compare.spec import ComparisonFile
from simulator.experiments.optimise.spec import OptimisationFile
from simulator.experiments.options import RunOptions, prepare_scenario, resolve_consumers
from simulator.experiments.sweep.spec import SweepSpec

__all__ = [
    "FILE_KINDS",
    "FileCheck",
    "FileKind",
    "check_file",
    "detect_file_kind",
    "file_json_schema",
    "file_kinds",
    "place_on_city",
    "register_file_kind",
    "scenario_facts",
]


@dataclass
class FileCheck:
    """What checking a file found: its kind, a text for people and facts for machines.

    Attributes
    ----------
    kind : str
        The file's kind (``"scenario"``, ``"comparison"``, ``"sweep"``, ...).
    name : str
        The name of the scenario, comparison or sweep it describes.
    text : str
        A description for the terminal (several lines).
    facts : dict
        The same as plain JSON values (``footprint validate --json``).
    warnings : list of str
        Settings that run but are probably not what was meant.
    """

    kind: str
    name: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


Checker = Callable[[Path, RunOptions, bool], FileCheck]
"""``check(path, options, with_city) -> FileCheck``; raises :class:`FootprintError` for bad input."""


@dataclass(frozen=True)
class FileKind:
    """A kind of input file.

    Attributes
    ----------
    name : str
        The kind (``"sweep"``).
    markers : frozenset of str
        Top-level keys that tell this kind from the kinds registered before it (any one
        of them marks it; see :func:`detect_file_kind`).
    check : callable
        ``check(path, options, with_city) -> FileCheck``.
    model : pydantic model class, optional
        The model that validates the file; it gives the kind's JSON Schema.
    description : str
        One line about the kind (the schema's description).
    """

    name: str
    markers: frozenset[str]
    check: Checker
    model: type[BaseModel] | None = None
    description: str = ""

    def json_schema(self) -> dict[str, Any]:
        """The kind's JSON Schema (draft 2020-12) with its numeric bounds, marked with the kind.

        Raises
        ------
        FootprintError
            The kind has no model.
        """
        if self.model is None:
            raise FootprintError(f"--kind {self.name}: this kind of file has no JSON Schema")
        schema = model_json_schema(self.model)
        schema.setdefault("description", self.description)
        return {**schema, "x-file-kind": self.name}


FILE_KINDS: dict[str, FileKind] = {}
"""Registered kinds of input file, by name, in registration order."""


def register_file_kind(kind: FileKind) -> FileKind:
    """Add a kind of file; registering a name again replaces it only with the same model.

    Raises
    ------
    ValueError
        ``kind.name`` is already registered with another model.
    """
    existing = FILE_KINDS.get(kind.name)
    if existing is not None and existing.model is not kind.model:
        model = existing.model.__name__ if existing.model is not None else "no model"
        raise ValueError(f"file kind {kind.name!r} is already registered with {model}")
    FILE_KINDS[kind.name] = kind
    return kind


def file_kinds() -> list[str]:
    """Names of the registered kinds, the scenario first."""
    return list(FILE_KINDS)


def file_json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a registered kind of file.

    Raises
    ------
    FootprintError
        ``kind`` is not registered (the message lists the kinds) or has no model.
    """
    if kind not in FILE_KINDS:
        raise FootprintError(f"--kind {kind}: unknown file kind; expected one of {', '.join(FILE_KINDS)}")
    return FILE_KINDS[kind].json_schema()


def detect_file_kind(data: Mapping[str, Any]) -> str:
    """The most recently registered kind any of whose marker keys the file has; ``"scenario"`` when none.

    Kinds registered later are the more specific ones: a calibration file names a
    ``scenario`` and its ``parameters`` as a sweep does, but only a calibration has
    ``observed`` targets; an optimisation names a ``base`` as a comparison does, but only
    an optimisation has ``candidates``. So each kind's markers are the keys that tell it
    from the kinds registered before it.

    Parameters
    ----------
    data : mapping
        The parsed file (its top-level table).
    """
    keys = set(data) if isinstance(data, Mapping) else set()
    for kind in reversed(FILE_KINDS.values()):
        if kind.markers & keys:
            return kind.name
    return "scenario"


def check_file(path: str | Path, options: RunOptions | None = None, *, with_city: bool = True) -> FileCheck:
    """Read a file, decide its kind and check it as that kind.

    Raises
    ------
    FootprintError
        One line naming the file, the key path and the problem.
    """
    path = Path(path)
    data = read_toml_file(path, "an input file")
    return FILE_KINDS[detect_file_kind(data)].check(path, options or RunOptions(), with_city)


def place_on_city(scenario: Scenario, source_name: str, city: Any) -> tuple[Scenario, list[str]]:
    """Place a scenario's stores and rivals on its city; the scenario with ``"all"`` consumers resolved and its warnings.

    With ``city=None`` nothing is placed and only the warnings that need no city are returned.
    """
    from simulator.experiments.resources import check_memory
    from simulator.model import place_stores, scenario_warnings
    from simulator.model.plan import place_rivals

    warnings: list[str] = []
    if city is not None:
        place_stores(scenario, city, source_name=source_name)
        place_rivals(scenario, city, source_name=source_name)
        scenario = resolve_consumers(scenario, city.population_total)
    try:
        check_memory(scenario)
    except FootprintError as error:
        warnings.append(f"{error}: footprint run would refuse it on this machine")
    return scenario, warnings + list(scenario_warnings(scenario, city))


def scenario_facts(scenario: Scenario) -> dict[str, Any]:
    """The main settings of a scenario as plain JSON values."""
    return {
        "name": scenario.name,
        "hash": scenario_hash(scenario),
        "city": scenario.city.bundle,
        "consumers": scenario.population.consumers,
        "days": scenario.horizon.days,
        "start_date": str(scenario.horizon.start_date),
        "seed": scenario.seed,
        "replications": scenario.replications,
        "stores": [store.id for store in scenario.plan.stores],
    }


def _load_city(scenario: Scenario, with_city: bool) -> Any:
    if not with_city:
        return None
    from simulator.city import load_city

    return load_city(scenario.resolved_bundle)


def _check_scenario(path: Path, options: RunOptions, with_city: bool) -> FileCheck:
    scenario = prepare_scenario(path, options)
    scenario, warnings = place_on_city(scenario, path.name, _load_city(scenario, with_city))
    return FileCheck("scenario", scenario.name, describe(scenario), scenario_facts(scenario), warnings)


def _check_comparison(path: Path, options: RunOptions, with_city: bool) -> FileCheck:
    from simulator.experiments.compare import comparison_from_files

    spec = comparison_from_files([path], options)
    city = _load_city(spec.baseline.scenario, with_city)
    warnings: list[str] = []
    for plan in spec.plans:
        _placed, plan_warnings = place_on_city(plan.scenario, f"{path.name}: plan '{plan.name}'", city)
        warnings += [f"plan '{plan.name}': {warning}" for warning in plan_warnings if warning not in warnings]
    lines = [
        f"Comparison '{spec.name}' of {len(spec.plans)} plans, baseline '{spec.baseline.name}': "
        f"{spec.replications} paired replications, root seed {spec.seed}, {spec.n_runs():,} runs",
        *[f"  plan '{plan.name}': {plan.n_stores} stores" for plan in spec.plans],
    ]
    facts = {
        "name": spec.name,
        "baseline": spec.baseline.name,
        "replications": spec.replications,
        "seed": spec.seed,
        "runs": spec.n_runs(),
        "hash": spec.comparison_hash(),
        "plans": [{"name": plan.name, "stores": plan.n_stores} for plan in spec.plans],
        "scenario": scenario_facts(spec.baseline.scenario),
    }
    return FileCheck("comparison", spec.name, "\n".join(lines), facts, warnings)


def _check_sweep(path: Path, options: RunOptions, with_city: bool) -> FileCheck:
    from simulator.experiments.sweep import sweep_from_file
    from simulator.experiments.sweep.design import build_design

    sweep = sweep_from_file(path, options)
    design = build_design(sweep)
    warnings: list[str] = []
    base = sweep.base
    if base is not None:
        _placed, warnings = place_on_city(base, path.name, _load_city(base, with_city))
    runs = design.size * sweep.replications
    lines = [
        f"Sweep '{sweep.name}': {design.kind} design of {design.size:,} points x {sweep.replications} "
        f"replications = {runs:,} runs, root seed {sweep.root_seed}",
        *[f"  parameter {parameter.key} ({parameter.kind})" for parameter in sweep.parameters],
        f"  KPIs: {', '.join(sweep.kpis)}",
    ]
    if base is not None:
        lines.append(f"  base scenario '{base.name}' on city '{base.city.bundle}'")
    facts = {
        "name": sweep.name,
        "design": design.kind,
        "points": design.size,
        "replications": sweep.replications,
        "runs": runs,
        "seed": sweep.root_seed,
        "parameters": [{"key": p.key, "kind": p.kind, "targets": list(p.targets)} for p in sweep.parameters],
        "kpis": list(sweep.kpis),
        "scenario": scenario_facts(base) if base is not None else None,
    }
    return FileCheck("sweep", sweep.name, "\n".join(lines), facts, warnings)


def _check_calibration(path: Path, options: RunOptions, with_city: bool) -> FileCheck:
    from simulator.experiments.calibrate import calibration_from_file

    calibration = calibration_from_file(path, options)
    base = calibration.base
    _placed, warnings = place_on_city(base, path.name, _load_city(base, with_city))
    method = calibration.spec.method
    lines = [
        f"Calibration '{calibration.name}': {len(calibration.parameters)} parameters against "
        f"{len(calibration.targets)} observed targets, root seed {calibration.root_seed}",
        *[f"  parameter {parameter.key} ({parameter.kind})" for parameter in calibration.parameters],
        f"  method: {method.model_dump(mode='json')}",
        f"  base scenario '{base.name}' on city '{base.city.bundle}'",
    ]
    facts = {
        "name": calibration.name,
        "seed": calibration.root_seed,
        "parameters": [parameter.key for parameter in calibration.parameters],
        "targets": len(calibration.targets),
        "method": method.model_dump(mode="json"),
        "scenario": scenario_facts(base),
    }
    return FileCheck("calibration", calibration.name, "\n".join(lines), facts, warnings)


def _check_optimisation(path: Path, options: RunOptions, with_city: bool) -> FileCheck:
    from simulator.experiments.optimise import load_optimisation

    optimisation = load_optimisation(path, options)
    base = optimisation.base
    _placed, warnings = place_on_city(base, path.name, _load_city(base, with_city))
    lines = [
        f"Optimisation '{optimisation.name}': up to {optimisation.store_budget} new stores from "
        f"{len(optimisation.candidates)} candidates, objective {optimisation.objective_label}, "
        f"{optimisation.replications} paired replications, root seed {optimisation.seed}",
        f"  base scenario '{base.name}' with {len(base.plan.stores)} fixed stores on city '{base.city.bundle}'",
    ]
    facts = {
        "name": optimisation.name,
        "candidates": len(optimisation.candidates),
        "store_budget": optimisation.store_budget,
        "objective": optimisation.kpi,
        "replications": optimisation.replications,
        "seed": optimisation.seed,
        "scenario": scenario_facts(base),
    }
    return FileCheck("optimisation", optimisation.name, "\n".join(lines), facts, warnings)


register_file_kind(
    FileKind(
        "scenario",
        frozenset(),
        _check_scenario,
        Scenario,
        "A scenario file: city, population, plan, behaviour, levers and horizon.",
    )
)
register_file_kind(
    FileKind(
        "comparison",
        frozenset({"base", "plans"}),
        _check_comparison,
        ComparisonFile,
        "A comparison file: a base scenario and the plans to put on it.",
    )
)
register_file_kind(
    FileKind(
        "sweep",
        frozenset({"scenario", "parameters", "design", "kpis", "overrides"}),
        _check_sweep,
        SweepSpec,
        "A sweep file: a base scenario, the parameters to vary, design and KPIs.",
    )
)
register_file_kind(
    FileKind(
        "calibration",
        frozenset({"observed", "method"}),
        _check_calibration,
        CalibrationSpec,
        "A calibration file: a base scenario, the parameters to fit with their priors, observed targets, method.",
    )
)
register_file_kind(
    FileKind(
        "optimisation",
        frozenset({"candidates", "budget", "objective", "constraints", "search"}),
        _check_optimisation,
        OptimisationFile,
        "An optimisation file: a base scenario, candidate sites, budget, objective and constraints.",
    )
)

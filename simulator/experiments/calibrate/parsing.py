"""From a calibration file to a :class:`Calibration`: base scenario, parameters and targets checked.

The parameters are resolved exactly as a sweep's (:mod:`simulator.experiments.sweep.parsing`:
``[*]`` expanded, value type inferred from the base scenario, an unknown key named with a
"did you mean" hint, the prior's extreme values applied to the scenario), and every
observed row is checked against the base scenario (KPI, store, district, period), so a
calibration fails at load time, not after hours of simulations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.config import (
    Scenario,
    apply_overrides,
    file_path_problem,
    kind_of,
    load_scenario,
    problem_lines,
    raise_problems,
    read_toml_file,
)
from simulator.experiments.cache import bundle_key, cached_city
from simulator.experiments.calibrate.spec import CalibrationSpec
from simulator.experiments.calibrate.targets import Target, read_observed, resolve_targets
from simulator.experiments.options import RunOptions, prepare_scenario
from simulator.experiments.sweep.checks import design_problems, parse_problem
from simulator.experiments.sweep.parsing import Parameter, _resolve_parameters
from simulator.experiments.sweep.spec import DesignSpec, SweepSpec


@dataclass(frozen=True)
class Calibration:
    """A validated calibration, ready to run.

    Attributes
    ----------
    spec : CalibrationSpec
        The calibration file as validated.
    source_name : str
        Name at the start of error messages.
    base : Scenario
        The base scenario with the file's overrides, the method's consumers and the
        command line's changes; one replication (the method sets the seeds).
    root_seed : int
        Root of the simulations' seeds.
    parameters : tuple of Parameter
        The calibrated parameters (as a sweep's, with their priors).
    targets : tuple of Target
        The observed targets.
    """

    spec: CalibrationSpec
    source_name: str
    base: Scenario
    root_seed: int
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def method_seed(self) -> int:
        return self.spec.method.seed if self.spec.method.seed is not None else self.root_seed


def _relative(path_text: str, base_dir: Path | None) -> Path:
    path = Path(path_text).expanduser()
    return Path(base_dir) / path if not path.is_absolute() and base_dir is not None else path


def parse_calibration(
    data: Mapping[str, Any],
    source_name: str = "calibration",
    *,
    base_dir: str | Path | None = None,
    options: RunOptions | None = None,
) -> Calibration:
    """Validate calibration data (the parsed TOML table) into a :class:`Calibration`.

    ``options`` are the command line's ``--consumers``, ``--days``, ``--seed`` and ``--set``:
    ``--consumers`` wins over ``method.consumers``, the others change the base scenario after
    the file's ``overrides``.

    Raises
    ------
    ScenarioError
        One line: ``<file>: <key path>: <problem>`` for each problem, joined by ``"; "``.
    """
    options = options if options is not None else RunOptions()
    spec = _validated_spec(data, source_name)
    folder = Path(base_dir) if base_dir is not None else None
    scenario_path = _relative(spec.scenario, folder)
    problem = file_path_problem(scenario_path)
    if problem is not None:
        raise_problems([f"{source_name}: scenario: {problem}"])
    base = load_scenario(scenario_path)
    if spec.overrides:
        base = apply_overrides(base, spec.overrides, source_name=f"{source_name}: overrides")
    consumers = options.consumers if options.consumers is not None else spec.method.consumers
    base = prepare_scenario(base, RunOptions(consumers=consumers, days=options.days, overrides=options.overrides))
    seed = options.seed if options.seed is not None else spec.seed if spec.seed is not None else base.seed
    base = apply_overrides(base, {"seed": int(seed), "replications": 1}, source_name=source_name)
    sweep_like = SweepSpec(
        name=spec.name,
        parameters=spec.parameters,
        design=DesignSpec(kind="lhs", samples=spec.method.simulations),
    )
    problems = [parse_problem(source_name, path, message) for path, message in design_problems(sweep_like)]
    if problems:
        raise_problems(problems)
    parameters = _resolve_parameters(sweep_like, base, source_name)
    city = cached_city(bundle_key(base))
    zones: dict[str, str] = {}
    for zone_id, name, name_en in zip(city.zone_ids, city.zone_names, city.zone_names_en, strict=True):
        for alias in (str(zone_id), str(name), str(name_en), str(name_en).lower()):
            zones.setdefault(alias, str(zone_id))
    observed = _relative(spec.observed, folder)
    frame = read_observed(observed, source_name)
    targets = resolve_targets(frame, base, zones, f"{source_name}: observed {observed.name}")
    return Calibration(spec, source_name, base, int(seed), parameters, targets)


def _validated_spec(data: Mapping[str, Any], source_name: str) -> CalibrationSpec:
    if not isinstance(data, Mapping):
        raise_problems([f"{source_name}: the calibration must be a table, got {kind_of(data)}"])
    data = dict(data)
    data.setdefault("name", Path(source_name).stem or "calibration")
    try:
        return CalibrationSpec.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source_name, CalibrationSpec))
    except RecursionError:
        raise_problems([f"{source_name}: nested too deeply"])


def calibration_from_file(path: str | Path, options: RunOptions | None = None) -> Calibration:
    """Load and validate a calibration file (TOML), its base scenario and its observed data."""
    path = Path(path)
    data = read_toml_file(path, "a calibration file")
    return parse_calibration(data, path.name or str(path), base_dir=path.parent.absolute(), options=options)

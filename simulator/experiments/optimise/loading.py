"""Reading an optimisation file: its schema, its base scenario with the run options, its candidates."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.city import City
from simulator.config import (
    Scenario,
    apply_overrides,
    file_path_problem,
    parse_scenario,
    problem_lines,
    raise_problems,
    read_toml_file,
)
from simulator.experiments.cache import bundle_key, cached_city
from simulator.experiments.optimise.candidates import Candidates, build_candidates
from simulator.experiments.optimise.spec import OBJECTIVES, OptimisationFile
from simulator.experiments.options import RunOptions, resolve_consumers
from simulator.model import replication_seeds


@dataclasses.dataclass(frozen=True)
class Optimisation:
    """A validated optimisation: the file, its base scenario (run options applied) and its candidates."""

    spec: OptimisationFile
    name: str
    source: str
    base: Scenario
    candidates: Candidates
    seed: int
    replications: int

    @property
    def seeds(self) -> list[int]:
        """Replication seeds, the same for every plan (common random numbers)."""
        return replication_seeds(self.seed, self.replications)

    @property
    def kpi(self) -> str:
        return OBJECTIVES[self.spec.objective.kpi][0]

    @property
    def sign(self) -> float:
        return OBJECTIVES[self.spec.objective.kpi][1]

    @property
    def objective_label(self) -> str:
        return OBJECTIVES[self.spec.objective.kpi][2]

    @property
    def store_budget(self) -> int:
        """K: the store budget, or every candidate when only a cost budget is given."""
        return self.spec.budget.stores if self.spec.budget.stores is not None else len(self.candidates)


def load_optimisation(path: str | Path, options: RunOptions | None = None, city: City | None = None) -> Optimisation:
    """Read and check an optimisation file; ``options`` (the command line's) override its values.

    Raises
    ------
    ScenarioError
        One line naming the file, the key and the problem.
    """
    path = Path(path)
    source = path.name or str(path)
    problem = file_path_problem(path)
    if problem is not None:
        raise_problems([f"{path}: optimisation file {problem}"])
    data: dict[str, Any] = dict(read_toml_file(path, "an optimisation file"))
    data.setdefault("name", path.stem or "optimisation")
    try:
        spec = OptimisationFile.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source, OptimisationFile))
    folder = path.parent.absolute()
    base_path = Path(spec.base).expanduser()
    if not base_path.is_absolute():
        base_path = folder / base_path
    problem = file_path_problem(base_path)
    if problem is not None:
        raise_problems([f"{source}: base: scenario {problem}"])
    base = parse_scenario(read_toml_file(base_path), base_path.name, base_dir=base_path.parent.absolute())
    options = options or RunOptions()
    changes: dict[str, Any] = dict(options.overrides)
    consumers = options.consumers if options.consumers is not None else spec.consumers
    for key, value in (("population.consumers", consumers), ("horizon.days", options.days or spec.days)):
        if value is not None:
            changes[key] = value
    if changes:
        base = apply_overrides(base, changes, source_name=source)
    seed = options.seed if options.seed is not None else (spec.seed if spec.seed is not None else base.seed)
    replications = options.replications if options.replications is not None else spec.replications
    city = city if city is not None else cached_city(bundle_key(base))
    base = resolve_consumers(base, city.population_total)
    days_spec = spec.model_copy(update={"days": base.horizon.days})
    candidates = build_candidates(days_spec, base, city, folder, source)
    return Optimisation(days_spec, spec.name, source, base, candidates, int(seed), int(replications))

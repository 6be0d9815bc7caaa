"""The scenario: its top-level model, and loading and validating scenario files.

A scenario is a TOML file that says *what* is simulated (city, population, plan of
stores, behaviour parameters, levers, horizon) and, in ``[run]``, a little of *how*.
It loads into a frozen pydantic model, :class:`Scenario`, in which every default is
filled in, so the object is self-contained: stores read from ``plan.stores_file`` are
merged into ``plan.stores`` and per-format store defaults are resolved.

Every default is declared once, in the schema: in the ``Field`` of each model (this
module and the ``schema_*`` modules), or, for values that depend on a store's format, in
:data:`simulator.config.formats.FORMAT_DEFAULTS`. The reference document
``docs/scenario-reference.md`` is generated from these models by
:func:`simulator.config.reference.reference_markdown`, so it cannot drift from the code.

Every problem in a scenario raises :class:`simulator.config.errors.ScenarioError` with a
one-line message ``<file>: <key path>: <problem>``; several problems are joined with
``"; "`` on the same line.
"""

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from simulator.config.limits import INT64_MAX, MAX_DAYS, MAX_REPLICATIONS, MAX_WORKERS
from simulator.config.problems import LocatedError, problem_lines, raise_problems
from simulator.config.schema_base import FrozenModel, SchemaExtra
from simulator.config.schema_behaviour import Behaviour
from simulator.config.schema_levers import Levers
from simulator.config.schema_market import Launch, Rivals
from simulator.config.schema_plan import Plan
from simulator.config.schema_population import PopulationSettings
from simulator.config.stores_file import merge_rivals_file, merge_stores_file
from simulator.config.toml_files import read_toml_file
from simulator.config.values import Boolean, Day, Integer, Text, kind_of

__all__ = [
    "CitySettings",
    "Horizon",
    "RunSettings",
    "Scenario",
    "is_bundle_name",
    "load_scenario",
    "parse_scenario",
    "resolve_bundle",
    "validate_scenario",
]


class CitySettings(FrozenModel):
    """The city bundle the scenario runs on."""

    bundle: Text = Field(
        default="beijing",
        min_length=1,
        description=(
            "City bundle: a bundle name shipped under `geo/` (e.g. `beijing`) or a path to "
            "a GeoPackage; a relative path is resolved against the scenario file's folder."
        ),
    )


class Horizon(FrozenModel):
    """Simulated period."""

    days: Integer = Field(default=365, ge=1, le=MAX_DAYS, description="Number of simulated days.")
    start_date: Day = Field(
        default=date(2024, 3, 28), description="Calendar date of day 0 (sets weekdays and weekends)."
    )

    @model_validator(mode="after")
    def _ends_in_the_calendar(self) -> "Horizon":
        """The last simulated day, ``start_date + days - 1``, must be a date (at most 9999-12-31)."""
        longest = date.max.toordinal() - self.start_date.toordinal() + 1
        if self.days > longest:
            raise LocatedError(
                ("days",), f"must be <= {longest} (from {self.start_date.isoformat()} to {date.max}), got {self.days}"
            )
        return self


class RunSettings(FrozenModel):
    """How to run (does not change what is simulated)."""

    workers: Integer = Field(
        default=1,
        ge=1,
        le=MAX_WORKERS,
        description=(
            "Local worker processes for the replications (the results are the same as with one); "
            "more than the machine's cores are capped at the cores, with a warning."
        ),
    )
    keep_store_days: Boolean = Field(default=True, description="Write the per-store, per-day table (stores.parquet).")


class Scenario(FrozenModel):
    """A complete, validated scenario: city, population, plan, behaviour, levers, horizon, seed."""

    name: Text = Field(
        default="scenario",
        min_length=1,
        description="Scenario name.",
        json_schema_extra=SchemaExtra(default_text="the scenario file's stem"),
    )
    description: Text = Field(default="", description="Free text shown in reports.")
    seed: Integer = Field(
        default=20240328, ge=0, le=INT64_MAX, description="Root seed; replication seeds are spawned from it."
    )
    replications: Integer = Field(
        default=1, ge=1, le=MAX_REPLICATIONS, description="Number of runs that differ only in seed."
    )
    city: CitySettings = Field(default_factory=CitySettings, description="City bundle.")
    population: PopulationSettings = Field(default_factory=PopulationSettings, description="Synthetic population.")
    plan: Plan = Field(default_factory=Plan, description="Store plan.")
    behaviour: Behaviour = Field(default_factory=Behaviour, description="Behaviour parameters.")
    levers: Levers = Field(default_factory=Levers, description="Reasons to believe.")
    rivals: Rivals = Field(default_factory=Rivals, description="Competitors' showrooms.")
    launch: Launch = Field(default_factory=Launch, description="Pent-up demand at the launch.")
    horizon: Horizon = Field(default_factory=Horizon, description="Simulated period.")
    run: RunSettings = Field(default_factory=RunSettings, description="How to run.")

    _base_dir: Path | None = PrivateAttr(None)
    _source_name: str | None = PrivateAttr(None)

    @property
    def source_name(self) -> str:
        """The file the scenario was read from, as error messages name it (else its name)."""
        return self._source_name or self.name

    @property
    def base_dir(self) -> Path | None:
        """Folder of the scenario file it was loaded from (None if parsed from data)."""
        return self._base_dir

    @property
    def resolved_bundle(self) -> str | Path:
        """The city bundle to load: a bundle name (``str``) or a path (``Path``).

        A relative path is resolved against the scenario file's folder.
        """
        return resolve_bundle(self.city.bundle, self._base_dir)


# --------------------------------------------------------------------------------------
# Bundle names and paths
# --------------------------------------------------------------------------------------

_BUNDLE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def is_bundle_name(bundle: str) -> bool:
    """True when ``bundle`` is a bare name (letters, digits, ``_``, ``-``), not a path."""
    return _BUNDLE_NAME.fullmatch(bundle) is not None


def resolve_bundle(bundle: str, base_dir: Path | None) -> str | Path:
    """Resolve ``city.bundle``: a name stays a ``str``; a path becomes a ``Path``.

    Parameters
    ----------
    bundle
        The ``city.bundle`` string as written in the scenario.
    base_dir
        Folder of the scenario file; relative paths are joined to it. ``None`` leaves a
        relative path relative to the working directory.
    """
    if is_bundle_name(bundle):
        return bundle
    path = Path(bundle).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def validate_scenario(data: Any, source_name: str, problems_before: list[str] | None = None) -> Scenario:
    """Validate data into a :class:`Scenario`, or raise every problem (with ``problems_before``) at once.

    Raises
    ------
    ScenarioError
        One line per problem, ``<source>: <key path>: <problem>``, joined by ``"; "``.
    """
    problems = list(problems_before or [])
    scenario = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exception:
        problems.extend(problem_lines(exception, source_name, Scenario))
    except RecursionError:
        problems.append(f"{source_name}: nested too deeply")
    if problems:
        raise_problems(problems)
    assert scenario is not None
    return scenario


def parse_scenario(
    data: Mapping[str, Any],
    source_name: str = "scenario",
    *,
    base_dir: str | Path | None = None,
    read_stores_file: bool = True,
) -> Scenario:
    """Validate scenario data (the parsed TOML table) into a :class:`Scenario`.

    Parameters
    ----------
    data
        The scenario as nested tables, lists and values.
    source_name
        Name used at the start of every error message (usually the file name); its stem
        is the default scenario ``name``.
    base_dir
        Folder against which ``plan.stores_file`` and a relative ``city.bundle`` are
        resolved (default: the working directory).
    read_stores_file
        Read ``plan.stores_file`` and ``rivals.file`` and append their sites. Pass False for
        data whose sites are already merged (canonical JSON).

    Raises
    ------
    ScenarioError
        For every problem, one line ``<source>: <key path>: <problem>``, joined by ``"; "``.
    """
    if not isinstance(data, Mapping):
        raise_problems([f"{source_name}: the scenario must be a table, got {kind_of(data)}"])
    data = dict(data)
    if "name" not in data:
        data["name"] = Path(source_name).stem or "scenario"
    folder = Path(base_dir) if base_dir is not None else None
    problems: list[str] = []
    if read_stores_file:
        data, problems = merge_stores_file(data, source_name, folder)
        data, rival_problems = merge_rivals_file(data, source_name, folder)
        problems += rival_problems
    scenario = validate_scenario(data, source_name, problems)
    scenario._base_dir = folder
    scenario._source_name = source_name
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario TOML file.

    ``plan.stores_file`` and a relative ``city.bundle`` are resolved against the file's
    folder; the stores file is read now, so the returned scenario is self-contained.

    Raises
    ------
    ScenarioError
        One line naming the file, the key path and each problem.
    """
    path = Path(path)
    data = read_toml_file(path, "a scenario file")
    source_name = path.name or str(path)
    return parse_scenario(data, source_name, base_dir=path.parent.absolute())

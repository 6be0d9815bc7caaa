"""Scenario files and the other file kinds: typed values, one-line errors, TOML, key paths,
the schema, the canonical hash and the generated key reference.

May import: nothing else of ``simulator`` (this is the bottom layer).
"""

from __future__ import annotations

from simulator.config.canonical import canonical_json, parse_canonical_json, scenario_hash, short_hash
from simulator.config.errors import CityError, FootprintError, PlanError, ResultsError, ScenarioError
from simulator.config.formats import FORMAT_DEFAULTS, FORMATS
from simulator.config.overrides import (
    apply_overrides,
    expand_key_path,
    parse_key_path,
    parse_set_options,
    plain_value,
    value_at,
)
from simulator.config.problems import LocatedError, format_key_path, problem_lines, raise_problems
from simulator.config.reference import (
    describe,
    model_json_schema,
    reference_markdown,
    scenario_json_schema,
    write_reference,
)
from simulator.config.resources import bundle_dir, default_scenario_path
from simulator.config.scenario import Scenario, load_scenario, parse_scenario
from simulator.config.schema_base import FrozenModel
from simulator.config.schema_behaviour import Behaviour
from simulator.config.schema_levers import Levers
from simulator.config.schema_plan import Store
from simulator.config.schema_population import PopulationSettings
from simulator.config.stores_file import read_stores_file
from simulator.config.toml_files import file_path_problem, read_toml_file
from simulator.config.values import Boolean, Integer, Number, Text, kind_of, show_number, show_value

__all__ = [
    "FORMATS",
    "FORMAT_DEFAULTS",
    "Behaviour",
    "Boolean",
    "CityError",
    "FootprintError",
    "FrozenModel",
    "Integer",
    "Levers",
    "LocatedError",
    "Number",
    "PlanError",
    "PopulationSettings",
    "ResultsError",
    "Scenario",
    "ScenarioError",
    "Store",
    "Text",
    "apply_overrides",
    "bundle_dir",
    "canonical_json",
    "default_scenario_path",
    "describe",
    "expand_key_path",
    "file_path_problem",
    "format_key_path",
    "kind_of",
    "load_scenario",
    "model_json_schema",
    "parse_canonical_json",
    "parse_key_path",
    "parse_scenario",
    "parse_set_options",
    "plain_value",
    "problem_lines",
    "raise_problems",
    "read_stores_file",
    "read_toml_file",
    "reference_markdown",
    "scenario_hash",
    "scenario_json_schema",
    "short_hash",
    "show_number",
    "show_value",
    "value_at",
    "write_reference",
]

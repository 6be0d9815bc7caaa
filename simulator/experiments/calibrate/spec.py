"""The calibration file's schema: base scenario, parameters with priors, observed data, method.

:class:`CalibrationSpec` validates a calibration file's tables (unknown keys are rejected
with a "did you mean" hint). Parameters are the sweep files' :class:`ParameterSpec` (a
dotted key path, ``[*]`` included, with a ``uniform``, ``loguniform`` or ``normal``
prior); the cross-key checks are the sweep's (:mod:`simulator.experiments.sweep.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.config import FrozenModel, Integer, Number, Text
from simulator.config.limits import MAX_DESIGN_SAMPLES, MAX_REPLICATIONS
from simulator.config.reference import _standard_bounds
from simulator.experiments.sweep.spec import ParameterSpec, _flatten_overrides

CALIBRATION_SCHEMA_VERSION = 1

CALIBRATION_FILE = "calibration.json"
METADATA_FILE = "metadata.json"
SIMULATIONS_DIR = "simulations"
SIMULATIONS_TABLE = "simulations.parquet"
POSTERIOR_FILE = "posterior.parquet"
INTERVALS_FILE = "intervals.parquet"
FIT_FILE = "fit.parquet"
CALIBRATED_SCENARIO_FILE = "calibrated.toml"
REPORT_FILE = "report.html"
SUMMARY_WORKBOOK = "summary.xlsx"

METHODS: tuple[str, ...] = ("emulator",)

DEFAULT_RELATIVE_ERROR = 0.1
"""Standard error of an observed value given without one, as a share of the value (a judgement)."""


class MethodSpec(FrozenModel):
    """How the parameters are inferred, and the budget of simulations."""

    kind: Literal["emulator"] = Field(
        default="emulator",
        description=(
            "`emulator`: waves of simulations; a Gaussian-process emulator of each target (scikit-learn) "
            "rules out implausible parameters between waves (history matching) and its posterior is sampled "
            "by MCMC (emcee). See docs/calibration.md."
        ),
    )
    simulations: Integer = Field(
        default=120,
        ge=8,
        le=MAX_DESIGN_SAMPLES,
        description="Budget: simulations over all waves (points x replications).",
    )
    waves: Integer = Field(
        default=3, ge=1, le=10, description="Waves (generations) of simulations; the first is half the budget."
    )
    replications: Integer = Field(
        default=1, ge=1, le=MAX_REPLICATIONS, description="Simulations per parameter point, each with its own seed."
    )
    consumers: Integer | None = Field(
        default=None, ge=100, description="Consumers per simulation (default: the base scenario's)."
    )
    checks: Integer = Field(
        default=10, ge=0, le=1000, description="Simulations at posterior draws after the fit, for the fit plot's bands."
    )
    posterior_samples: Integer = Field(default=2000, ge=100, le=100_000, description="Size of the posterior sample.")
    implausibility: Number = Field(
        default=3.0,
        gt=0,
        description="History matching's cut-off: points whose implausibility exceeds it are ruled out.",
    )
    seed: Integer | None = Field(
        default=None, ge=0, description="Seed of the designs and the MCMC (default: the calibration's root seed)."
    )


class CalibrationSpec(FrozenModel):
    """A calibration file: base scenario, parameters with priors, observed targets, method."""

    name: Text = Field(default="calibration", min_length=1, description="Calibration name (default: the file's stem).")
    description: Text = Field(default="", description="Free text shown in the report.")
    scenario: Text = Field(min_length=1, description="Base scenario file, relative to the calibration file.")
    observed: Text = Field(
        min_length=1,
        description=(
            "Observed targets, a CSV or Parquet file relative to the calibration file: columns `kpi`, `period`, "
            "`value` and optionally `se`, `store_id`, `district`, `label` (docs/calibration.md)."
        ),
    )
    seed: Integer | None = Field(default=None, ge=0, description="Root seed (default: the base scenario's seed).")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description='Fixed changes to the base scenario by dotted key path, e.g. `"horizon.days" = 120`.',
    )
    parameters: tuple[ParameterSpec, ...] = Field(
        min_length=1, description="The parameters to calibrate: key path and prior (`low`/`high` or `mean`/`sd`)."
    )
    method: MethodSpec = Field(default_factory=MethodSpec, description="Method, budget and replications.")

    @model_validator(mode="before")
    @classmethod
    def _flat_overrides(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("overrides"), Mapping):
            data = {**data, "overrides": _flatten_overrides(data["overrides"])}
        return data


def calibration_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a calibration file, generated as the scenario's is."""
    schema = _standard_bounds(CalibrationSpec.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}

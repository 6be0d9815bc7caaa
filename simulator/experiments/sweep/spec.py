"""The sweep file's schema: parameters, design, analysis; the sweep folder's file names and the KPIs.

:class:`SweepSpec` validates a sweep file's tables (unknown keys are rejected with a hint);
the cross-key checks are in :mod:`simulator.experiments.sweep.checks`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from simulator.config import (
    Boolean,
    FrozenModel,
    Integer,
    Number,
    Text,
    kind_of,
    show_value,
)
from simulator.config.limits import MAX_DESIGN_SAMPLES, MAX_REPLICATIONS, MAX_RESAMPLES
from simulator.results import SUMMARY_KPIS as RUN_KPI_TABLE

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
        default=None, min_length=1, description="Name shown in figures and the report (default: the key)."
    )
    values: tuple[Scalar, ...] | None = Field(
        default=None, min_length=1, description="Grid only: the values to run (numbers, strings or booleans)."
    )
    low: Number | None = Field(default=None, description="Lower bound of the range (uniform, loguniform).")
    high: Number | None = Field(default=None, description="Upper bound of the range (uniform, loguniform).")
    count: Integer | None = Field(
        default=None,
        ge=2,
        le=MAX_DESIGN_SAMPLES,
        description="Grid only: number of evenly spaced values from low to high (geometric for loguniform).",
    )
    distribution: Literal["uniform", "loguniform", "normal"] = Field(
        default="uniform",
        description=(
            "How a sampling design spreads the values: `uniform` or `loguniform` on [low, high], `normal` "
            "with mean and sd (lhs and sobol only)."
        ),
    )
    mean: Number | None = Field(default=None, description="Mean of a normal distribution.")
    sd: Number | None = Field(default=None, gt=0, description="Standard deviation of a normal distribution.")
    integer: Boolean | None = Field(
        default=None, description="Round values to integers (default: inferred from the scenario key's type)."
    )


class DesignSpec(FrozenModel):
    """The design: which points of the parameter space are run."""

    kind: Literal["grid", "lhs", "sobol", "morris"] = Field(
        default="grid",
        description=(
            "`grid`: every combination of the parameters' values; `lhs`: Latin hypercube sample of `samples` "
            "points; `sobol`: Saltelli's scheme on a scrambled Sobol' sequence, samples x (D + 2) points "
            "(x (2D + 2) with second_order); `morris`: `samples` trajectories of D + 1 points."
        ),
    )
    samples: Integer | None = Field(
        default=None,
        ge=1,
        le=MAX_DESIGN_SAMPLES,
        description="lhs: points; sobol: base sample N (a power of 2); morris: trajectories. Not for grid.",
    )
    levels: Integer | None = Field(
        default=None, ge=2, le=1000, description="morris only: grid levels (even; default 4)."
    )
    second_order: Boolean | None = Field(
        default=None, description="sobol only: also second-order indices (default false)."
    )
    seed: Integer | None = Field(
        default=None, ge=0, description="Seed of the design's sampling (default: the sweep's root seed)."
    )


class AnalysisSpec(FrozenModel):
    """How sensitivity indices are computed."""

    confidence_level: Number = Field(
        default=0.95, gt=0, lt=1, description="Level of the bootstrap confidence intervals."
    )
    resamples: Integer = Field(
        default=1000, ge=10, le=MAX_RESAMPLES, description="Bootstrap resamples for the confidence intervals."
    )


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

    name: Text = Field(default="sweep", min_length=1, description="Sweep name (default: the file's stem).")
    description: Text = Field(default="", description="Free text shown in the report.")
    scenario: Text | None = Field(
        default=None,
        min_length=1,
        description="Base scenario file, relative to the sweep file (required by `footprint sweep`).",
    )
    seed: Integer | None = Field(
        default=None, ge=0, description="Root seed of the run seeds (default: the base scenario's seed)."
    )
    replications: Integer = Field(
        default=1, ge=1, le=MAX_REPLICATIONS, description="Runs per design point, differing only in seed."
    )
    kpis: tuple[Text, ...] = Field(default=DEFAULT_KPIS, min_length=1, description="KPIs to keep from every run.")
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

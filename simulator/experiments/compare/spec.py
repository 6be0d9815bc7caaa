"""The comparison file (a base scenario and its plans) and the validated comparison.

:class:`ComparisonPlan` and :class:`ComparisonFile` are the schema of a comparison file;
:class:`PlanSpec` and :class:`ComparisonSpec` are what a comparison runs: every plan as a full
scenario, the root seed and the replications shared by every plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from simulator.config import (
    Boolean,
    FrozenModel,
    Integer,
    LocatedError,
    Scenario,
    Store,
    Text,
    scenario_hash,
)
from simulator.config.coordinates import normalise_crs
from simulator.config.limits import MAX_REPLICATIONS
from simulator.model import replication_seeds

AGREEMENT_EXEMPT_KEYS = ("name", "description", "plan", "levers", "replications", "run")
"""Top-level scenario keys in which the plans of a comparison may differ."""


class ComparisonPlan(FrozenModel):
    """One plan of a comparison file: a name, its stores and optional lever changes."""

    name: Text = Field(min_length=1, description="Plan name, unique in the comparison (its slug names the run folder).")
    description: Text = Field(default="", description="Free text shown in reports.")
    use_base_plan: Boolean = Field(default=False, description="Start from the base scenario's stores.")
    stores: tuple[Store, ...] | None = Field(
        default=None,
        description="Stores (like `plan.stores` of a scenario), after the base plan's when `use_base_plan`.",
    )
    stores_file: Text | None = Field(
        default=None,
        min_length=1,
        description="CSV or GeoJSON file of further stores, relative to the comparison file; after the inline ones.",
    )
    stores_file_crs: Text | None = Field(
        default=None,
        description="Coordinate system of the `stores_file` rows that give no `crs` (like `plan.stores_file_crs`).",
    )
    levers: dict[str, Any] | None = Field(
        default=None,
        description="Lever settings merged into the base scenario's `levers` (tables are merged key by key).",
    )

    @field_validator("stores_file_crs")
    @classmethod
    def _file_crs(cls, value: str | None) -> str | None:
        return None if value is None else normalise_crs(value)

    @model_validator(mode="after")
    def _has_stores(self) -> ComparisonPlan:
        if not self.use_base_plan and self.stores is None and self.stores_file is None:
            raise ValueError(
                f"plan '{self.name}' has no stores: give use_base_plan = true, stores (may be []) or stores_file"
            )
        return self


class ComparisonFile(FrozenModel):
    """A comparison file: a base scenario and the plans to put on it (the first is the baseline)."""

    name: Text = Field(default="comparison", min_length=1, description="Comparison name (default: the file's stem).")
    description: Text = Field(default="", description="Free text shown in reports.")
    base: Text = Field(min_length=1, description="Base scenario file, relative to the comparison file.")
    seed: Integer | None = Field(default=None, ge=0, description="Root seed (default: the base scenario's).")
    replications: Integer | None = Field(
        default=None, ge=1, le=MAX_REPLICATIONS, description="Replications (default: the base scenario's)."
    )
    plans: tuple[ComparisonPlan, ...] = Field(description="The plans; the first one is the baseline.")

    @field_validator("plans")
    @classmethod
    def _at_least_two_unique(cls, plans: tuple[ComparisonPlan, ...]) -> tuple[ComparisonPlan, ...]:
        if len(plans) < 2:
            raise ValueError(f"a comparison needs at least 2 plans, got {len(plans)}")
        seen: dict[str, int] = {}
        for position, entry in enumerate(plans):
            slug = plan_slug(entry.name)
            if slug in seen:
                raise LocatedError(
                    (position, "name"),
                    f"plan name '{entry.name}' gives the same folder name '{slug}' as plans[{seen[slug]}]",
                )
            seen[slug] = position
        return plans


def plan_slug(name: str) -> str:
    """Folder-safe name of a plan: lower case, runs of other characters replaced by ``-``."""
    slug = re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-_")
    return slug or "plan"


@dataclasses.dataclass(frozen=True)
class PlanSpec:
    """One plan of a comparison: its display name, folder slug, full scenario and origin."""

    name: str
    slug: str
    scenario: Scenario
    source: str

    @property
    def n_stores(self) -> int:
        return len(self.scenario.plan.stores)


@dataclasses.dataclass(frozen=True)
class ComparisonSpec:
    """A validated comparison: plans (the first is the baseline), root seed and replications."""

    name: str
    description: str
    plans: tuple[PlanSpec, ...]
    seed: int
    replications: int
    sources: tuple[str, ...]
    mode: str  # "comparison_file" or "scenario_files"

    @property
    def baseline(self) -> PlanSpec:
        return self.plans[0]

    @property
    def seeds(self) -> list[int]:
        """Replication seeds shared by every plan (common random numbers)."""
        return replication_seeds(self.seed, self.replications)

    def n_runs(self, marginal: bool = False) -> int:
        """Number of runs (plan x replication, plus the marginal variants)."""
        runs = len(self.plans) * self.replications
        if marginal:
            runs += self.replications * sum(plan.n_stores + 1 for plan in self.plans if plan.n_stores > 0)
        return runs

    def comparison_hash(self) -> str:
        """SHA-256 of the plans' scenario hashes, in order (hex)."""
        payload = json.dumps([[plan.name, scenario_hash(plan.scenario)] for plan in self.plans])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def is_comparison_data(data: Mapping[str, Any]) -> bool:
    """True for the parsed TOML of a comparison file (it has ``base`` or ``plans``)."""
    return "base" in data or "plans" in data

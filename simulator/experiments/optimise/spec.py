"""The optimisation file's schema: base scenario, candidate sites, budget, objective, constraints, search.

:class:`OptimisationFile` validates an optimisation file's tables (unknown keys are
rejected with a "did you mean" hint, like scenario and sweep files);
:func:`optimisation_json_schema` gives its JSON Schema the way ``footprint schema`` gives
the scenario's. The cross-checks that need the city (candidate ids, districts, the
budget against the candidates) are in :mod:`simulator.experiments.optimise.candidates`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from simulator.config import Boolean, FrozenModel, Integer, Number, Store, Text
from simulator.config.coordinates import normalise_crs
from simulator.config.limits import MAX_REPLICATIONS
from simulator.config.reference import _standard_bounds

OPTIMISE_SCHEMA_VERSION = 1

OBJECTIVES: dict[str, tuple[str, float, str]] = {
    "bookings": ("bookings_requested_scaled", 1.0, "Test-drive bookings at the brand's stores (people, horizon total)"),
    "test_drives": ("test_drives_scaled", 1.0, "Test drives (people, horizon total)"),
    "purchases": ("purchases_scaled", 1.0, "Purchases (people, horizon total)"),
    "bookings_won_from_rivals": (
        "bookings_to_rivals_scaled",
        -1.0,
        "Bookings won from rivals (people: fewer bookings lost to rival showrooms)",
    ),
    "share_familiar": ("share_familiar", 1.0, "Share familiar, F >= 0.5, at the end of the horizon"),
}
"""Objective name -> (the KPI column it reads, its sign, its label). The objective is
``sign * KPI``, maximised; ``bookings_won_from_rivals`` is minus the bookings lost to rivals,
so its gain over the base plan is the bookings the new stores win back from rivals."""


class Candidate(Store):
    """A candidate site of a candidates file: a store (as in ``plan.stores``) with its costs."""

    opening_cost: Number | None = Field(
        default=None, ge=0, description="One-off cost of opening the site (default: `candidates.opening_cost`)."
    )
    yearly_cost: Number | None = Field(
        default=None,
        ge=0,
        description="Cost per year open, pro rata over the horizon (default: `candidates.yearly_cost`).",
    )


class CandidateSettings(FrozenModel):
    """Where the candidate sites come from, and the filters that keep some of them."""

    malls: Boolean = Field(
        default=False, description="Every mall of the city bundle (format `mall`, id `mall:<mall id>`)."
    )
    stations: Boolean | Integer = Field(
        default=False,
        description=(
            "Street sites at subway stations (id `station:<station id>`): `true` for every station, a number N "
            "for the N stations with the most residents and jobs within 1 km."
        ),
    )
    street_sites: Boolean = Field(
        default=False, description="Every street site of the bundle's `street_sites` layer (id `site:<site id>`)."
    )
    file: Text | None = Field(
        default=None,
        min_length=1,
        description=(
            "CSV or GeoJSON of further candidates (the columns of `plan.stores`, plus `opening_cost` and "
            "`yearly_cost`), relative to the optimisation file."
        ),
    )
    file_crs: Text | None = Field(default=None, description="Coordinate system of the file's rows that give none.")
    districts: tuple[Text, ...] = Field(
        default=(), description="Keep only candidates in these districts (zone ids or names); empty: all."
    )
    formats: tuple[Text, ...] = Field(
        default=(), description="Keep only candidates of these store formats; empty: all."
    )
    ids: tuple[Text, ...] = Field(default=(), description="Keep only these candidate ids; empty: all.")
    exclude: tuple[Text, ...] = Field(default=(), description="Candidate ids to leave out.")
    opening_cost: Number = Field(default=0.0, ge=0, description="Opening cost of a candidate that gives none.")
    yearly_cost: Number = Field(default=0.0, ge=0, description="Yearly cost of a candidate that gives none.")

    @field_validator("file_crs")
    @classmethod
    def _file_crs(cls, value: str | None) -> str | None:
        return None if value is None else normalise_crs(value)

    @field_validator("stations")
    @classmethod
    def _stations(cls, value: bool | int) -> bool | int:
        if not isinstance(value, bool) and value < 1:
            raise ValueError(f"must be true, false or a number of stations >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _some_source(self) -> CandidateSettings:
        if not (self.malls or self.stations or self.street_sites or self.file):
            raise ValueError("no candidate sites: set malls, stations or street_sites to true, or give a file")
        return self


class Budget(FrozenModel):
    """How much may be opened: a number of new stores and/or a total cost."""

    stores: Integer | None = Field(default=None, ge=1, description="New stores K, at most.")
    total_cost: Number | None = Field(
        default=None, gt=0, description="Total cost of the new stores (opening + yearly pro rata), at most."
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.stores is None and self.total_cost is None:
            raise ValueError("no budget: give stores (the number of new stores) and/or total_cost")
        return self


class Objective(FrozenModel):
    """What the new stores should raise."""

    kpi: Text = Field(
        default="bookings",
        description="One of " + ", ".join(f"`{name}`" for name in OBJECTIVES) + " (scaled to the real population).",
    )

    @field_validator("kpi")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in OBJECTIVES:
            from simulator.config.problems import unknown_key_message

            message = unknown_key_message(value, OBJECTIVES, "objective").replace("unknown objective", "")
            raise ValueError(f"'{value}' is not an objective KPI{message or ''}; choose one of {', '.join(OBJECTIVES)}")
        return value


class Constraints(FrozenModel):
    """Rules every plan must keep."""

    min_distance_m: Number = Field(
        default=0.0, ge=0, description="A new store at least this far from every other store of the plan, metres."
    )
    max_per_district: Integer | None = Field(
        default=None, ge=1, description="At most this many of the brand's stores per district (fixed ones count)."
    )


class Search(FrozenModel):
    """How hard to search."""

    shortlist: Integer | None = Field(
        default=None,
        ge=1,
        le=500,
        description="Candidates kept after the surrogate screening (default: max(2K, K + 8), K the store budget).",
    )
    swap_alternatives: Integer = Field(
        default=3, ge=0, le=50, description="Unchosen shortlisted candidates tried in place of each chosen store."
    )
    swap_passes: Integer = Field(default=1, ge=0, le=10, description="Interchange passes at most (0: no swaps).")
    confidence: Number = Field(default=0.95, gt=0.5, lt=1.0, description="Level of the paired intervals.")
    surrogate_consumers: Integer = Field(
        default=50_000, ge=100, description="Consumers of the population the surrogate screens on (at most the run's)."
    )


class OptimisationFile(FrozenModel):
    """An optimisation file: where to open the next stores, against the simulated funnel."""

    name: Text = Field(default="optimisation", min_length=1, description="Name (default: the file's stem).")
    description: Text = Field(default="", description="Free text shown in reports.")
    base: Text = Field(
        min_length=1, description="Base scenario file (relative to this file); its stores stay open (may be none)."
    )
    seed: Integer | None = Field(default=None, ge=0, description="Root seed (default: the base scenario's).")
    replications: Integer = Field(
        default=4, ge=1, le=MAX_REPLICATIONS, description="Replications per plan, the same seeds for every plan."
    )
    consumers: Integer | None = Field(
        default=None, ge=100, description="Simulated consumers per simulation (default: the base scenario's)."
    )
    days: Integer | None = Field(default=None, ge=1, description="Days simulated (default: the base scenario's).")
    candidates: CandidateSettings = Field(description="The candidate sites.")
    budget: Budget = Field(description="The budget.")
    objective: Objective = Field(default_factory=Objective, description="The objective.")
    constraints: Constraints = Field(default_factory=Constraints, description="Constraints.")
    search: Search = Field(default_factory=Search, description="Search settings.")


SearchKind = Literal["greedy", "swap"]


def optimisation_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an optimisation file, as generated by pydantic."""
    schema = _standard_bounds(OptimisationFile.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}

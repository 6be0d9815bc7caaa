"""Scenario files: schema, loading, validation, overrides, canonical hash, reference docs.

A scenario is a TOML file that says *what* is simulated (city, population, plan of
stores, behaviour parameters, levers, horizon) and, in ``[run]``, a little of *how*.
It loads into a frozen pydantic model, :class:`Scenario`, in which every default is
filled in, so the object is self-contained: stores read from ``plan.stores_file`` are
merged into ``plan.stores`` and per-format store defaults are resolved.

Every default is declared once, here: in the ``Field`` of each model, or, for values
that depend on a store's format, in :data:`FORMAT_DEFAULTS`. The reference document
``docs/scenario-reference.md`` is generated from these models by
:func:`reference_markdown`, so it cannot drift from the code.

Every problem in a scenario raises :class:`simulator.config.errors.ScenarioError` with a
one-line message ``<file>: <key path>: <problem>``; several problems are joined with
``"; "`` on the same line.
"""

import csv
import difflib
import hashlib
import io
import json
import math
import numbers
import re
import reprlib
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.config.errors import ScenarioError

__all__ = [
    "FORMATS",
    "FORMAT_DEFAULTS",
    "MAX_PROBLEMS_SHOWN",
    "REFERENCE_PATH",
    "Announcement",
    "Behaviour",
    "BrandPromiseLever",
    "CitySettings",
    "ExpertBrandLever",
    "FormatDefaults",
    "FounderEndorsementLever",
    "Horizon",
    "LeverEvent",
    "Levers",
    "ModeShares",
    "OfflineFootprintLever",
    "OffsetLever",
    "Plan",
    "Population",
    "RunSettings",
    "SalesAnnouncementsLever",
    "Scenario",
    "SightingProbabilities",
    "SightingProbability",
    "Store",
    "StoreFormat",
    "SupplyChainLever",
    "TestimonialsLever",
    "apply_overrides",
    "canonical_json",
    "describe",
    "is_bundle_name",
    "load_scenario",
    "parse_canonical_json",
    "parse_override_value",
    "parse_scenario",
    "parse_set_options",
    "reference_markdown",
    "resolve_bundle",
    "scenario_hash",
    "scenario_json_schema",
    "short_hash",
    "write_reference",
]

#: At most this many problems are spelt out in one error message; the rest are counted.
MAX_PROBLEMS_SHOWN = 8

# --------------------------------------------------------------------------------------
# Per-format defaults: the one table
# --------------------------------------------------------------------------------------

StoreFormat = Literal["mall", "street", "flagship", "popup", "delivery_centre"]
FORMATS: tuple[str, ...] = typing.get_args(StoreFormat)


class FormatDefaults(NamedTuple):
    """Defaults that depend on a store's format.

    The first three fill a store's own keys; the last three fill
    ``behaviour.sighting_probability.<format>``.
    """

    capacity_per_day: int
    attractiveness: float
    visibility_radius_m: float
    walk: float
    vehicle: float
    mall_visit: float


#: Per-format defaults (store keys and sighting probabilities), declared once.
FORMAT_DEFAULTS: Mapping[str, FormatDefaults] = MappingProxyType(
    {
        "mall": FormatDefaults(60, 1.0, 50.0, walk=0.15, vehicle=0.0, mall_visit=0.9),
        "street": FormatDefaults(40, 0.8, 150.0, walk=0.5, vehicle=0.3, mall_visit=0.0),
        "flagship": FormatDefaults(100, 2.0, 300.0, walk=0.8, vehicle=0.5, mall_visit=0.9),
        "popup": FormatDefaults(20, 0.5, 80.0, walk=0.4, vehicle=0.2, mall_visit=0.8),
        "delivery_centre": FormatDefaults(0, 0.5, 100.0, walk=0.3, vehicle=0.3, mall_visit=0.0),
    }
)

_STORE_FORMAT_KEYS = ("capacity_per_day", "attractiveness", "visibility_radius_m")
_SIGHTING_KEYS = ("walk", "vehicle", "mall_visit")

# --------------------------------------------------------------------------------------
# Value types: TOML already gives typed values, so no silent coercion from text or bool
# --------------------------------------------------------------------------------------

_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlevel = 2
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 4


def show_value(value: Any) -> str:
    """Short one-line rendering of a user value for an error message."""
    try:
        text = _SHOW.repr(value)
    except Exception:  # a user object whose repr fails must not crash the error report
        text = f"<{type(value).__name__}>"
    return text.replace("\n", "\\n").replace("\r", "\\r")


def show_number(value: Any) -> str:
    """Like :func:`show_value`, but an integral float is shown without ``.0`` (``-5``, not ``-5.0``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return show_value(value)


def kind_of(value: Any) -> str:
    """Name of a value's type as a TOML user would say it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (date, datetime)):
        return "a date"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _to_integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {kind_of(value)} ({show_value(value)})")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise ValueError(f"must be an integer, got {show_value(value)}")


def _to_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"must be a number, got {kind_of(value)} ({show_value(value)})")
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        raise ValueError(f"must be a number, got {show_value(value)} (out of range)") from None


_INFINITY_WORDS = {"inf", "+inf", "infinity", "+infinity"}


def _to_number_or_infinity(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _INFINITY_WORDS:
        return math.inf
    return _to_number(value)


def _to_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {kind_of(value)} ({show_value(value)})")
    return value


def _to_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {show_value(value)}")
    return value


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date()
        raise ValueError(f"must be a date without a time of day, got {show_value(value)}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be a date (YYYY-MM-DD), got {show_value(value)}")


Integer = Annotated[int, BeforeValidator(_to_integer)]
Number = Annotated[float, BeforeValidator(_to_number)]
NumberOrInfinity = Annotated[float, BeforeValidator(_to_number_or_infinity)]
Text = Annotated[str, BeforeValidator(_to_text)]
Boolean = Annotated[bool, BeforeValidator(_to_bool)]
Day = Annotated[date, BeforeValidator(_to_date)]


class LocatedError(ValueError):
    """A validator error that points below the validated object (e.g. ``[3].id``)."""

    def __init__(self, loc_suffix: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc_suffix = loc_suffix


class _SchemaExtra:
    """``json_schema_extra`` for fields whose default is resolved by a validator.

    Keeps the text shown in the reference docs (``default_text``, ``constraint``) and
    writes it into the JSON Schema as ``x-default`` / ``x-constraint``.
    """

    def __init__(self, default_text: str | None = None, constraint: str | None = None) -> None:
        self.default_text = default_text
        self.constraint = constraint

    def __call__(self, schema: dict[str, Any]) -> None:
        if self.default_text is not None:
            schema.pop("default", None)
            schema["x-default"] = self.default_text
        if self.constraint is not None:
            schema["x-constraint"] = self.constraint


class FrozenModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------


class CitySettings(FrozenModel):
    """The city bundle the scenario runs on."""

    bundle: Text = Field(
        "beijing",
        min_length=1,
        description=(
            "City bundle: a bundle name shipped under `geo/` (e.g. `beijing`) or a path to "
            "a GeoPackage; a relative path is resolved against the scenario file's folder."
        ),
    )


class ModeShares(FrozenModel):
    """Shares of commute modes among commuters; they must sum to 1."""

    subway: Number = Field(0.35, ge=0, description="Share of commuters who ride the subway.")
    bus: Number = Field(0.15, ge=0, description="Share of commuters who take the bus.")
    car: Number = Field(0.30, ge=0, description="Share of commuters who drive (car or taxi).")
    active: Number = Field(0.20, ge=0, description="Share of commuters who walk or cycle.")

    SUM_TOLERANCE: ClassVar[float] = 1e-6

    @model_validator(mode="after")
    def _sum_to_one(self) -> "ModeShares":
        total = self.subway + self.bus + self.car + self.active
        if abs(total - 1.0) > self.SUM_TOLERANCE:
            raise ValueError(f"subway + bus + car + active must sum to 1 (within 1e-6), got {total:.6g}")
        return self


class Population(FrozenModel):
    """Synthetic population: how many consumers, how they commute, shop and talk."""

    consumers: Integer = Field(
        20000,
        ge=100,
        description=(
            "Number of simulated consumers; each stands for population / consumers people (the consumer weight)."
        ),
    )
    commuter_share: Number = Field(0.6, ge=0, le=1, description="Share of consumers who commute to a workplace.")
    mean_commute_km: Number = Field(
        13.0, gt=0, description="Target mean one-way commute distance, km (Beijing: 13 km)."
    )
    mode_shares: ModeShares = Field(default_factory=ModeShares, description="Commute mode shares.")
    mall_visits_per_week: Number = Field(0.8, ge=0, description="Mean mall visits per consumer per week.")
    weekend_share_of_mall_visits: Number = Field(
        0.6, ge=0, le=1, description="Share of mall visits that fall on Saturday or Sunday."
    )
    malls_in_repertoire: Integer = Field(
        3, ge=1, description="Number of malls each consumer visits (chosen by Huff over nearby malls)."
    )
    mall_choice_lambda: Number = Field(
        2.0, gt=0, description="Huff distance exponent for choosing malls: weight = attractiveness / distance^lambda."
    )
    local_mall_attractiveness: Number = Field(
        2.5,
        ge=0,
        description=(
            "Attractiveness of the unlisted local malls every consumer can visit instead (the outside "
            "option of the mall choice; 0 = only the bundle's malls exist)."
        ),
    )
    local_mall_distance_km: Number = Field(
        4.5, gt=0, description="Distance to the unlisted local malls, km (Beijing's mean shopping trip: 4.5 km)."
    )
    contacts_per_consumer: Integer = Field(
        6, ge=0, description="Social contacts per consumer (word-of-mouth network degree)."
    )
    random_contact_share: Number = Field(
        0.1,
        ge=0,
        le=1,
        description="Share of contacts drawn at random city-wide (small-world rewiring); the rest are nearby.",
    )
    mixing: Literal["network", "full"] = Field(
        "network",
        description=(
            "Word-of-mouth mixing: `network` uses the contact network; `full` mixes everyone "
            "with everyone (the Bass limiting case)."
        ),
    )


class Store(FrozenModel):
    """One store of the plan. Give exactly one position: `mall`, `station`, or `lon` and `lat`.

    Keys left out take the defaults of the store's format (see the per-format table).
    """

    id: Text = Field(min_length=1, description="Store identifier, unique within the plan.")
    name: Text = Field(
        None,
        min_length=1,
        description="Display name.",
        json_schema_extra=_SchemaExtra(default_text="the id"),
    )
    mall: Text | None = Field(
        None, min_length=1, description="Position: a mall id or name of the city bundle (the store is inside it)."
    )
    station: Text | None = Field(
        None, min_length=1, description="Position: a subway station name or id (the store is next to it)."
    )
    lon: Number | None = Field(
        None, ge=-180, le=180, description="Position: longitude, WGS84 degrees (give with `lat`)."
    )
    lat: Number | None = Field(None, ge=-90, le=90, description="Position: latitude, WGS84 degrees (give with `lon`).")
    format: StoreFormat = Field(
        None,
        description="Store format; it sets the defaults of capacity, attractiveness and visibility.",
        json_schema_extra=_SchemaExtra(default_text="`mall` for a store given by `mall`, else `street`"),
    )
    open_day: Integer = Field(0, ge=0, description="First day the store is open (0 = the first simulated day).")
    close_day: Integer | None = Field(
        None,
        description="First day the store is closed again; not set = never closes.",
        json_schema_extra=_SchemaExtra(constraint="> open_day"),
    )
    capacity_per_day: Integer = Field(
        None,
        description="Test-drive slots per day.",
        json_schema_extra=_SchemaExtra(default_text="by format", constraint="> 0 (>= 0 for delivery_centre)"),
    )
    attractiveness: Number = Field(
        None,
        gt=0,
        description="Huff attractiveness A in the store choice P = A / d^lambda / sum(A / d^lambda).",
        json_schema_extra=_SchemaExtra(default_text="by format"),
    )
    visibility_radius_m: Number = Field(
        None,
        gt=0,
        description="Distance within which a passer-by can see the store, metres.",
        json_schema_extra=_SchemaExtra(default_text="by format"),
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("name") is None and isinstance(data.get("id"), str):
            data["name"] = data["id"]
        if data.get("format") is None:
            data["format"] = "mall" if data.get("mall") is not None else "street"
        store_format = data["format"]
        if isinstance(store_format, str) and store_format in FORMAT_DEFAULTS:
            defaults = FORMAT_DEFAULTS[store_format]
            for key in _STORE_FORMAT_KEYS:
                if data.get(key) is None:
                    data[key] = getattr(defaults, key)
        return data

    @field_validator("capacity_per_day")
    @classmethod
    def _capacity(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("format") == "delivery_centre":
            if value < 0:
                raise ValueError(f"must be >= 0, got {value}")
        elif value <= 0:
            raise ValueError(f"must be > 0, got {value}")
        return value

    @model_validator(mode="after")
    def _position_and_days(self) -> "Store":
        if (self.lon is None) != (self.lat is None):
            missing = "lat" if self.lat is None else "lon"
            given = "lon" if missing == "lat" else "lat"
            raise LocatedError((missing,), f"store '{self.id}': required when {given} is given")
        given = [
            label
            for label, present in (
                ("mall", self.mall is not None),
                ("station", self.station is not None),
                ("lon/lat", self.lon is not None),
            )
            if present
        ]
        if len(given) != 1:
            what = "no position" if not given else f"{len(given)} positions ({', '.join(given)})"
            raise ValueError(f"store '{self.id}' has {what}: give exactly one of mall, station, or lon and lat")
        if self.close_day is not None and self.close_day <= self.open_day:
            raise LocatedError(("close_day",), f"must be > open_day ({self.open_day}), got {self.close_day}")
        return self

    @property
    def position_kind(self) -> Literal["mall", "station", "lonlat"]:
        """Which position key the store uses: ``"mall"``, ``"station"`` or ``"lonlat"``."""
        if self.mall is not None:
            return "mall"
        if self.station is not None:
            return "station"
        return "lonlat"

    def is_open_on(self, day: int) -> bool:
        """True when the store is open on ``day``: ``open_day <= day < close_day``."""
        return self.open_day <= day and (self.close_day is None or day < self.close_day)


class Plan(FrozenModel):
    """The brand's stores and their timing. Stores may be inline and/or in `stores_file`."""

    name: Text = Field("plan", min_length=1, description="Plan name (used in comparisons and outputs).")
    stores: tuple[Store, ...] = Field(
        (),
        description=(
            "Stores, in the order the model indexes them; those read from `stores_file` follow the inline ones."
        ),
    )
    stores_file: Text | None = Field(
        None,
        min_length=1,
        description=(
            "CSV or GeoJSON file of further stores, relative to the scenario file: CSV columns "
            "and GeoJSON properties are named like the store keys; GeoJSON Point geometries "
            "give lon/lat. Read once at load time; errors name the CSV row (its line number, "
            "the header being row 1) or the GeoJSON feature."
        ),
    )

    @field_validator("stores")
    @classmethod
    def _unique_ids(cls, stores: tuple[Store, ...]) -> tuple[Store, ...]:
        first_position: dict[str, int] = {}
        duplicates: list[tuple[int, int, str]] = []
        for position, store in enumerate(stores):
            if store.id in first_position:
                duplicates.append((position, first_position[store.id], store.id))
            else:
                first_position[store.id] = position
        if duplicates:
            position, first, store_id = duplicates[0]
            more = f" (and {len(duplicates) - 1} more duplicates)" if len(duplicates) > 1 else ""
            raise LocatedError((position, "id"), f"duplicate store id '{store_id}' (also plan.stores[{first}]){more}")
        return stores


class SightingProbability(FrozenModel):
    """Probability of noticing a store of one format, per opportunity."""

    walk: Number = Field(
        None,
        ge=0,
        le=1,
        description="Per pass on foot within the store's visibility radius.",
        json_schema_extra=_SchemaExtra(default_text="by format"),
    )
    vehicle: Number = Field(
        None,
        ge=0,
        le=1,
        description="Per pass by car or bus within the visibility radius.",
        json_schema_extra=_SchemaExtra(default_text="by format"),
    )
    mall_visit: Number = Field(
        None,
        ge=0,
        le=1,
        description="Per visit to the mall the store is in.",
        json_schema_extra=_SchemaExtra(default_text="by format"),
    )


def _sighting_default(store_format: str) -> SightingProbability:
    defaults = FORMAT_DEFAULTS[store_format]
    return SightingProbability(**{key: getattr(defaults, key) for key in _SIGHTING_KEYS})


class SightingProbabilities(FrozenModel):
    """Sighting probabilities per store format; keys left out take the format's defaults."""

    mall: SightingProbability = Field(default_factory=lambda: _sighting_default("mall"), description="Mall stores.")
    street: SightingProbability = Field(
        default_factory=lambda: _sighting_default("street"), description="Street stores."
    )
    flagship: SightingProbability = Field(
        default_factory=lambda: _sighting_default("flagship"), description="Flagship stores."
    )
    popup: SightingProbability = Field(default_factory=lambda: _sighting_default("popup"), description="Pop-up stores.")
    delivery_centre: SightingProbability = Field(
        default_factory=lambda: _sighting_default("delivery_centre"), description="Delivery centres."
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for store_format in FORMATS:
            table = data.get(store_format)
            if isinstance(table, Mapping):
                table = dict(table)
                defaults = FORMAT_DEFAULTS[store_format]
                for key in _SIGHTING_KEYS:
                    if table.get(key) is None:
                        table[key] = getattr(defaults, key)
                data[store_format] = table
        return data

    def for_format(self, store_format: str) -> SightingProbability:
        """The probabilities of one format (``"mall"``, ``"street"``, ...)."""
        return getattr(self, store_format)


class Behaviour(FrozenModel):
    """Consumer behaviour: exposure, familiarity, trust, market entry, booking, conversion."""

    adstock_half_life_days: Number = Field(
        28.0, gt=0, description="Half-life H of the exposure stock, days: E <- 0.5^(1/H) * E + sum(w * n)."
    )
    hill_k: Number = Field(
        3.0, gt=0, description="Hill half-saturation K, in sightings: familiarity F = E^s / (E^s + K^s)."
    )
    hill_s: Number = Field(2.0, gt=0, description="Hill shape s (dimensionless).")
    wearout_half_life_days: Number = Field(7.0, gt=0, description="Half-life of the wear-out stock, days.")
    wearout_weight: Number = Field(
        0.0, ge=0, le=1, description="Weight of the wear-out stock subtracted from the exposure stock (0 = off)."
    )
    sighting_weight_walk: Number = Field(1.0, ge=0, description="Exposure weight w of one sighting on foot.")
    sighting_weight_vehicle: Number = Field(
        0.4, ge=0, description="Exposure weight w of one sighting from a car or bus."
    )
    sighting_weight_mall: Number = Field(
        1.0, ge=0, description="Exposure weight w of one sighting inside a visited mall."
    )
    sighting_probability: SightingProbabilities = Field(
        default_factory=SightingProbabilities, description="Probability of noticing a store, per format."
    )
    trust_intercept: Number = Field(-2.8, description="Trust intercept b0, log-odds.")
    trust_heterogeneity_sd: Number = Field(
        0.5, ge=0, description="Standard deviation of the individual trust offset u_i, log-odds."
    )
    in_market_rate_per_year: Number = Field(
        0.04, ge=0, description="Rate at which a consumer starts a car-shopping spell, per year."
    )
    in_market_duration_days: Number = Field(90.0, gt=0, description="Mean length of a car-shopping spell, days.")
    booking_rate_per_day: Number = Field(
        0.003,
        ge=0,
        description="Daily hazard of deciding (booking or ordering), per unit trust, for an in-market consumer, 1/day.",
    )
    test_drive_share: Number = Field(
        0.8, ge=0, le=1, description="Share of decisions that go through a test drive; the rest order directly."
    )
    huff_lambda: Number = Field(1.5, gt=0, description="Huff distance exponent for choosing a store for a test drive.")
    huff_min_distance_km: Number = Field(
        0.5, gt=0, description="Distances below this are raised to it in the Huff formula, km."
    )
    queue_patience_days: Integer = Field(
        7, ge=0, description="Days a waiting booking stays in a store's queue before it is lost."
    )
    conversion: Number = Field(0.3, ge=0, le=1, description="P(purchase | test drive) for a consumer with trust 0.5.")
    conversion_trust_slope: Number = Field(
        2.0,
        ge=0,
        description="Slope of the conversion in trust, log-odds per unit trust: logit P = logit(conversion) + slope * (T - 0.5).",
    )


class LeverEvent(FrozenModel):
    """A dated change of a lever: a decaying `shock` or a lasting `step`."""

    kind: Literal["shock", "step"] = Field(
        description=(
            "`shock`: size * 0.5^((t - day) / half_life_days) for t >= day (a launch event, or "
            "with a negative size a PR crisis whose half-life is the recovery); `step`: size "
            "from day until end_day."
        )
    )
    day: Integer = Field(ge=0, description="Day the event happens.")
    size: Number = Field(description="Effect on trust at the event day, log-odds.")
    half_life_days: NumberOrInfinity | None = Field(
        None,
        gt=0,
        description="Half-life of a shock's effect, days (shock only, required for it).",
    )
    end_day: Integer | None = Field(
        None,
        description="First day a step no longer applies; not set = lasts to the end (step only).",
        json_schema_extra=_SchemaExtra(constraint="> day"),
    )

    @model_validator(mode="after")
    def _kind_keys(self) -> "LeverEvent":
        if self.kind == "shock":
            if self.half_life_days is None:
                raise LocatedError(("half_life_days",), "required for a shock")
            if self.end_day is not None:
                raise LocatedError(("end_day",), "applies to steps only (a shock decays instead)")
        else:
            if self.half_life_days is not None:
                raise LocatedError(("half_life_days",), "applies to shocks only")
            if self.end_day is not None and self.end_day <= self.day:
                raise LocatedError(("end_day",), f"must be > day ({self.day}), got {self.end_day}")
        return self

    def effect(self, day: int) -> float:
        """The event's contribution to trust on ``day``, log-odds.

        Shock: ``size * 0.5 ** ((day - self.day) / half_life_days)`` for ``day >= self.day``;
        step: ``size`` for ``self.day <= day < end_day``; 0 otherwise.
        """
        if day < self.day:
            return 0.0
        if self.kind == "shock":
            assert self.half_life_days is not None
            return self.size * 0.5 ** ((day - self.day) / self.half_life_days)
        if self.end_day is not None and day >= self.end_day:
            return 0.0
        return self.size


_EVENTS_DESCRIPTION = "Dated shocks and steps added to the lever's effect on trust."


class OffsetLever(FrozenModel):
    """A reason to believe that shifts everyone's trust by a constant offset, plus events."""

    enabled: Boolean = Field(True, description="Whether the lever acts at all.")
    offset: Number = Field(0.0, description="Shift of trust, log-odds, from start_day until end_day.")
    start_day: Integer = Field(0, ge=0, description="First day the offset applies.")
    end_day: Integer | None = Field(
        None,
        description="First day the offset no longer applies; not set = to the end.",
        json_schema_extra=_SchemaExtra(constraint="> start_day"),
    )
    events: tuple[LeverEvent, ...] = Field((), description=_EVENTS_DESCRIPTION)

    @model_validator(mode="after")
    def _days(self) -> "OffsetLever":
        if self.end_day is not None and self.end_day <= self.start_day:
            raise LocatedError(("end_day",), f"must be > start_day ({self.start_day}), got {self.end_day}")
        return self

    def effect(self, day: int) -> float:
        """The lever's shift of trust on ``day``, log-odds: offset (if active) plus events; 0 if disabled."""
        if not self.enabled:
            return 0.0
        active = self.start_day <= day and (self.end_day is None or day < self.end_day)
        return (self.offset if active else 0.0) + sum(event.effect(day) for event in self.events)


class ExpertBrandLever(OffsetLever):
    """An expert brand (the maker's reputation in a neighbouring field): a quality signal."""

    offset: Number = Field(0.3, description="Shift of trust, log-odds, from start_day until end_day.")


class FounderEndorsementLever(OffsetLever):
    """A famous founder's endorsement (negative after a scandal)."""

    offset: Number = Field(0.25, description="Shift of trust, log-odds, from start_day until end_day.")


class BrandPromiseLever(OffsetLever):
    """Brand promises such as warranty and after-sales service: a quality signal."""

    offset: Number = Field(0.3, description="Shift of trust, log-odds, from start_day until end_day.")


class SupplyChainLever(OffsetLever):
    """Reputable suppliers and the maker's own factory: a quality signal."""

    offset: Number = Field(0.2, description="Shift of trust, log-odds, from start_day until end_day.")


class Announcement(FrozenModel):
    """One public sales-record announcement."""

    day: Integer = Field(ge=0, description="Day of the announcement.")
    cumulative_orders: Integer = Field(ge=0, description="Orders announced as made so far.")


class SalesAnnouncementsLever(FrozenModel):
    """Social proof from announced sales: effect = max_effect * (1 - exp(-orders / orders_scale)).

    ``orders`` is the cumulative orders of the latest announcement on or before the day
    (0 before the first).
    """

    enabled: Boolean = Field(True, description="Whether the lever acts at all.")
    max_effect: Number = Field(0.18, description="Largest shift of trust, log-odds, reached for very large orders.")
    orders_scale: Number = Field(
        50000.0, gt=0, description="Announced orders at which the effect reaches 1 - 1/e of max_effect."
    )
    announcements: tuple[Announcement, ...] = Field(
        (), description="Announcements, days strictly increasing, orders non-decreasing."
    )
    events: tuple[LeverEvent, ...] = Field((), description=_EVENTS_DESCRIPTION)

    @model_validator(mode="after")
    def _ordered(self) -> "SalesAnnouncementsLever":
        for position in range(1, len(self.announcements)):
            previous, current = self.announcements[position - 1], self.announcements[position]
            if current.day <= previous.day:
                raise LocatedError(
                    ("announcements", position, "day"),
                    f"must be > the previous announcement's day ({previous.day}), got {current.day}",
                )
            if current.cumulative_orders < previous.cumulative_orders:
                raise LocatedError(
                    ("announcements", position, "cumulative_orders"),
                    f"must be >= the previous announcement's orders ({previous.cumulative_orders}), "
                    f"got {current.cumulative_orders}",
                )
        return self

    def announced_orders(self, day: int) -> int:
        """Cumulative orders of the latest announcement on or before ``day`` (0 before the first)."""
        orders = 0
        for announcement in self.announcements:
            if announcement.day > day:
                break
            orders = announcement.cumulative_orders
        return orders

    def effect(self, day: int) -> float:
        """Shift of trust on ``day``, log-odds: max_effect * (1 - exp(-orders / orders_scale)) plus events."""
        if not self.enabled:
            return 0.0
        social_proof = self.max_effect * (1.0 - math.exp(-self.announced_orders(day) / self.orders_scale))
        return social_proof + sum(event.effect(day) for event in self.events)


class OfflineFootprintLever(FrozenModel):
    """The store footprint itself. It acts through sightings and familiarity, not as an offset:
    its term in trust is weight * F_i, where F_i is the consumer's familiarity."""

    enabled: Boolean = Field(True, description="Whether familiarity enters trust at all.")
    weight: Number = Field(1.0, description="bF: shift of trust per unit familiarity, log-odds.")


class TestimonialsLever(FrozenModel):
    """Customer testimonials and word of mouth from contacts who test-drove or bought."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    enabled: Boolean = Field(True, description="Whether word of mouth acts at all.")
    weight: Number = Field(0.5, description="bW: shift of trust per unit word of mouth, log-odds.")
    referral_rate_per_year: Number = Field(
        0.38, ge=0, description="q of the Bass model: imitation rate per year in a fully mixed population."
    )
    source_half_life_days: NumberOrInfinity = Field(
        180.0,
        gt=0,
        allow_inf_nan=True,
        description="How long a source keeps talking: half-life of its testimonials, days (`inf` = forever).",
    )
    test_drive_weight: Number = Field(
        0.5, ge=0, le=1, description="How much a test-driver counts as a source relative to a buyer."
    )

    @field_validator("source_half_life_days")
    @classmethod
    def _not_nan(cls, value: float) -> float:
        if math.isnan(value):
            raise ValueError("must be > 0 or inf, got nan")
        return value


class Levers(FrozenModel):
    """The seven reasons to believe. Unknown lever names are rejected."""

    OFFSET_LEVERS: ClassVar[tuple[str, ...]] = (
        "expert_brand",
        "founder_endorsement",
        "brand_promise",
        "supply_chain",
    )

    expert_brand: ExpertBrandLever = Field(default_factory=ExpertBrandLever, description="Expert brand.")
    founder_endorsement: FounderEndorsementLever = Field(
        default_factory=FounderEndorsementLever, description="Founder's endorsement."
    )
    brand_promise: BrandPromiseLever = Field(default_factory=BrandPromiseLever, description="Brand promises.")
    supply_chain: SupplyChainLever = Field(default_factory=SupplyChainLever, description="Supply chain.")
    sales_announcements: SalesAnnouncementsLever = Field(
        default_factory=SalesAnnouncementsLever, description="Sales-record announcements."
    )
    offline_footprint: OfflineFootprintLever = Field(
        default_factory=OfflineFootprintLever, description="Offline footprint (works through exposure)."
    )
    testimonials: TestimonialsLever = Field(
        default_factory=TestimonialsLever, description="Testimonials and word of mouth."
    )

    def offset_levers(self) -> dict[str, OffsetLever]:
        """The four offset levers by name."""
        return {name: getattr(self, name) for name in self.OFFSET_LEVERS}

    def trust_shift(self, day: int) -> float:
        """Sum of the offset levers' and the sales announcements' effects on ``day``, log-odds.

        Excludes the offline footprint and testimonials, which act per consumer.
        """
        return sum(lever.effect(day) for lever in self.offset_levers().values()) + self.sales_announcements.effect(day)


class Horizon(FrozenModel):
    """Simulated period."""

    days: Integer = Field(365, ge=1, description="Number of simulated days.")
    start_date: Day = Field(date(2024, 3, 28), description="Calendar date of day 0 (sets weekdays and weekends).")


class RunSettings(FrozenModel):
    """How to run (does not change what is simulated)."""

    workers: Integer = Field(
        1, ge=1, description="Local worker processes for the replications (the results are the same as with one)."
    )
    keep_store_days: Boolean = Field(True, description="Write the per-store, per-day table (stores.parquet).")


class Scenario(FrozenModel):
    """A complete, validated scenario: city, population, plan, behaviour, levers, horizon, seed."""

    name: Text = Field(
        "scenario",
        min_length=1,
        description="Scenario name.",
        json_schema_extra=_SchemaExtra(default_text="the scenario file's stem"),
    )
    description: Text = Field("", description="Free text shown in reports.")
    seed: Integer = Field(20240328, ge=0, description="Root seed; replication seeds are spawned from it.")
    replications: Integer = Field(1, ge=1, description="Number of runs that differ only in seed.")
    city: CitySettings = Field(default_factory=CitySettings, description="City bundle.")
    population: Population = Field(default_factory=Population, description="Synthetic population.")
    plan: Plan = Field(default_factory=Plan, description="Store plan.")
    behaviour: Behaviour = Field(default_factory=Behaviour, description="Behaviour parameters.")
    levers: Levers = Field(default_factory=Levers, description="Reasons to believe.")
    horizon: Horizon = Field(default_factory=Horizon, description="Simulated period.")
    run: RunSettings = Field(default_factory=RunSettings, description="How to run.")

    _base_dir: Path | None = PrivateAttr(None)

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
# Error reports
# --------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_key_path(loc: Iterable[Any]) -> str:
    """``("plan", "stores", 3, "id")`` -> ``plan.stores[3].id``."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _BARE_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return text


def unwrap_annotation(annotation: Any) -> tuple[Any, bool, bool]:
    """Return (inner type, is a list, is optional) of a field annotation."""
    is_list = optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            optional = True
            if len(arguments) != 1:
                return annotation, is_list, optional
            annotation = arguments[0]
        elif origin in (tuple, list) and not is_list:
            is_list = True
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, is_list, optional


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by walking ``loc`` down from ``root`` (None if not a model)."""
    current: Any = root
    pending_list = False
    for part in loc:
        if pending_list:
            if not isinstance(part, int):
                return None
            pending_list = False
            continue
        if not is_model(current) or not isinstance(part, str) or part not in current.model_fields:
            return None
        inner, is_list, _ = unwrap_annotation(current.model_fields[part].annotation)
        current, pending_list = inner, is_list
    return current if is_model(current) and not pending_list else None


def _unknown_key_message(key: Any, allowed: Iterable[str], what: str = "key") -> str:
    allowed = list(allowed)
    matches = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if matches:
        return f"unknown {what} (did you mean '{matches[0]}'?)"
    if allowed and len(allowed) <= 8:
        return f"unknown {what} (expected one of: {', '.join(allowed)})"
    return f"unknown {what}"


def _error_message(error: Mapping[str, Any], root: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location, problem text)."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    value = error.get("input")
    if kind == "value_error" and isinstance(context.get("error"), Exception):
        exception = context["error"]
        if isinstance(exception, LocatedError):
            loc = loc + exception.loc_suffix
        return loc, str(exception)
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        return loc, _unknown_key_message(loc[-1] if loc else "", allowed)
    if kind == "missing":
        return loc, "required key is missing"
    bounds = {
        "greater_than": (">", "gt"),
        "greater_than_equal": (">=", "ge"),
        "less_than": ("<", "lt"),
        "less_than_equal": ("<=", "le"),
    }
    if kind in bounds:
        symbol, name = bounds[kind]
        return loc, f"must be {symbol} {show_number(context.get(name))}, got {show_number(value)}"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "literal_error":
        expected = context.get("expected", "")
        choices = re.findall(r"'([^']*)'", str(expected))
        hint = ""
        if isinstance(value, str):
            matches = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            if matches:
                hint = f" (did you mean '{matches[0]}'?)"
        return loc, f"must be one of {', '.join(repr(c) for c in choices)}, got {show_value(value)}{hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a table, got {kind_of(value)} ({show_value(value)})"
    if kind in ("tuple_type", "list_type", "iterable_type"):
        return loc, f"must be a list, got {kind_of(value)} ({show_value(value)})"
    if kind == "finite_number":
        return loc, f"must be a finite number, got {show_value(value)}"
    if kind == "invalid_key":
        return loc, f"keys must be strings, got {show_value(value)}"
    message = str(error.get("msg", "invalid value"))
    return loc, (message[:1].lower() + message[1:]).replace("\n", " ")


def problem_lines(exception: ValidationError, source: str, root: type[BaseModel], prefix: str = "") -> list[str]:
    problems = []
    for error in exception.errors(include_url=False):
        loc, message = _error_message(error, root)
        path = format_key_path(loc)
        where = f"{prefix}{path}: " if path else prefix
        problems.append(f"{source}: {where}{message}")
    return problems


def raise_problems(problems: list[str]) -> typing.NoReturn:
    unique = list(dict.fromkeys(problems))
    shown = unique[:MAX_PROBLEMS_SHOWN]
    message = "; ".join(shown)
    if len(unique) > len(shown):
        message += f" (and {len(unique) - len(shown)} more)"
    error = ScenarioError(message)
    error.problems = unique  # type: ignore[attr-defined]
    raise error


# --------------------------------------------------------------------------------------
# Stores files
# --------------------------------------------------------------------------------------


def _store_text_columns() -> frozenset[str]:
    text_columns = set()
    for name, field in Store.model_fields.items():
        inner, _, _ = unwrap_annotation(field.annotation)
        if inner is str or typing.get_origin(inner) is Literal:
            text_columns.add(name)
    return frozenset(text_columns)


_STORE_TEXT_COLUMNS = _store_text_columns()


def read_store_rows(path: Path, label: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Read a CSV or GeoJSON stores file into (row label, raw store dict) pairs and problems."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        return [], [f"{label}: unsupported stores file type '{path.suffix}' (use .csv or .geojson)"]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], [f"{label}: stores file not found ({path})"]
    except (OSError, ValueError) as exception:
        return [], [f"{label}: cannot read the stores file ({type(exception).__name__}: {show_value(str(exception))})"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exception:
        return [], [f"{label}: {not_utf8_message(raw, exception)}"]
    if suffix == ".csv":
        return _csv_store_rows(text, label)
    return _geojson_store_rows(text, label)


def not_utf8_message(raw: bytes, exception: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, exception.start) + 1
    column = exception.start - (raw.rfind(b"\n", 0, exception.start) + 1) + 1
    return f"not UTF-8 text (first bad byte at line {line}, column {column})"


def _csv_store_rows(text: str, label: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return [], [f"{label}: empty file (expected a header row)"]
        header = [column.strip() for column in header]
        problems = []
        for column_number, column in enumerate(header, start=1):
            if column not in Store.model_fields:
                problems.append(
                    f"{label}: column {column_number} '{column}': "
                    + _unknown_key_message(column, Store.model_fields, "column")
                )
        repeated = sorted({column for column in header if header.count(column) > 1})
        if repeated:
            problems.append(f"{label}: column '{repeated[0]}' appears more than once")
        if problems:
            return [], problems
        rows = []
        for cells in reader:
            row_label = f"row {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                problems.append(f"{label}: {row_label}: {len(cells)} cells but the header has {len(header)}")
                continue
            store: dict[str, Any] = {}
            for column, cell in zip(header, cells):
                cell = cell.strip()
                if cell == "":
                    continue
                store[column] = cell if column in _STORE_TEXT_COLUMNS else parse_override_value(cell)
            rows.append((row_label, store))
        return rows, problems
    except csv.Error as exception:
        return [], [f"{label}: invalid CSV: {exception}"]


def _geojson_store_rows(text: str, label: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exception:
        where = (
            f" at line {exception.lineno}, column {exception.colno}"
            if isinstance(exception, json.JSONDecodeError)
            else ""
        )
        return [], [f"{label}: invalid GeoJSON{where}: {getattr(exception, 'msg', 'nested too deeply')}"]
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        return [], [f"{label}: must be a GeoJSON FeatureCollection"]
    features = document.get("features")
    if not isinstance(features, list):
        return [], [f"{label}: features: must be a list"]
    rows, problems = [], []
    for position, feature in enumerate(features):
        row_label = f"features[{position}]"
        if not isinstance(feature, dict):
            problems.append(f"{label}: {row_label}: must be a GeoJSON Feature")
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            problems.append(f"{label}: {row_label}.properties: must be an object")
            continue
        store = dict(properties)
        geometry = feature.get("geometry")
        if geometry is not None:
            coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                kind = geometry.get("type") if isinstance(geometry, dict) else None
                problems.append(f"{label}: {row_label}.geometry: must be a Point, got {show_value(kind)}")
                continue
            if not isinstance(coordinates, list) or len(coordinates) < 2:
                problems.append(f"{label}: {row_label}.geometry.coordinates: must be [lon, lat]")
                continue
            if "lon" in store or "lat" in store:
                problems.append(f"{label}: {row_label}: lon/lat given both as properties and as the Point geometry")
                continue
            store["lon"], store["lat"] = coordinates[0], coordinates[1]
        rows.append((row_label, store))
    return rows, problems


def read_stores_file(stores_file: str, base_dir: Path | None) -> tuple[list[tuple[str, Store]], list[str]]:
    """Read and validate the stores of a CSV or GeoJSON stores file.

    A relative path is resolved against ``base_dir`` (the scenario or comparison file's
    folder). Returns ``(row label, Store)`` pairs and one-line problems naming the file,
    the row and the column.
    """
    path = Path(stores_file).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    rows, problems = read_store_rows(path, stores_file)
    stores = []
    for row_label, row in rows:
        try:
            stores.append((row_label, Store.model_validate(row)))
        except ValidationError as exception:
            problems.extend(problem_lines(exception, stores_file, Store, prefix=f"{row_label}: "))
        except RecursionError:
            problems.append(f"{stores_file}: {row_label}: nested too deeply")
    return stores, problems


def _merge_stores_file(
    data: dict[str, Any], source_name: str, base_dir: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """Read ``plan.stores_file`` and append its validated stores to ``plan.stores``."""
    plan = data.get("plan")
    if not isinstance(plan, Mapping):
        return data, []
    stores_file = plan.get("stores_file")
    if not isinstance(stores_file, str) or not stores_file.strip():
        return data, []
    label = stores_file
    validated, problems = read_stores_file(stores_file, base_dir)

    inline = plan.get("stores", [])
    seen: dict[str, str] = {}
    if isinstance(inline, list):
        for position, store in enumerate(inline):
            if isinstance(store, Mapping) and isinstance(store.get("id"), str):
                seen.setdefault(store["id"], f"plan.stores[{position}] in {source_name}")
    file_stores = []
    for row_label, store in validated:
        if store.id in seen:
            problems.append(f"{label}: {row_label}: id: duplicate store id '{store.id}' (also {seen[store.id]})")
            continue
        seen[store.id] = f"{label} {row_label}"
        file_stores.append(store.model_dump())
    if isinstance(inline, list):
        data = dict(data)
        data["plan"] = {**plan, "stores": list(inline) + file_stores}
    return data, problems


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def _validate(data: Any, source_name: str, problems_before: list[str] | None = None) -> Scenario:
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
        Read ``plan.stores_file`` and append its stores. Pass False for data whose stores
        are already merged (canonical JSON).

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
        data, problems = _merge_stores_file(data, source_name, folder)
    scenario = _validate(data, source_name, problems)
    scenario._base_dir = folder
    return scenario


def toml_error_message(exception: tomllib.TOMLDecodeError) -> str:
    text = str(exception)
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", text, flags=re.DOTALL)
    if match:
        problem = match.group(1)
        return f"invalid TOML at line {match.group(2)}, column {match.group(3)}: {problem[:1].lower() + problem[1:]}"
    match = re.fullmatch(r"(.*) \(at end of document\)", text, flags=re.DOTALL)
    if match:
        problem = match.group(1)
        return f"invalid TOML at end of document: {problem[:1].lower() + problem[1:]}"
    return f"invalid TOML: {text}"


def read_toml_file(path: Path, what: str = "a TOML file") -> dict[str, Any]:
    """Read a TOML file into a table; every problem is a one-line :class:`ScenarioError`.

    Used for scenario, comparison and sweep files alike: missing file, a folder, unreadable
    bytes, text that is not UTF-8, invalid TOML (with line and column).
    """
    source_name = path.name or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise_problems([f"{source_name}: file not found ({path})"])
    except IsADirectoryError:
        raise_problems([f"{source_name}: is a folder, not {what} ({path})"])
    except (OSError, ValueError) as exception:
        raise_problems(
            [f"{source_name}: cannot read the file ({type(exception).__name__}: {show_value(str(exception))})"]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exception:
        raise_problems([f"{source_name}: {not_utf8_message(raw, exception)}"])
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exception:
        raise_problems([f"{source_name}: {toml_error_message(exception)}"])
    except RecursionError:
        raise_problems([f"{source_name}: invalid TOML: nested too deeply"])


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


def parse_canonical_json(text: str, source_name: str = "canonical JSON") -> Scenario:
    """Rebuild a scenario from :func:`canonical_json` output (e.g. from ``metadata.json``).

    The stores file is not read again: its stores are already in ``plan.stores``.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exception:
        raise_problems([f"{source_name}: invalid JSON: {getattr(exception, 'msg', 'nested too deeply')}"])
    except TypeError:
        raise_problems([f"{source_name}: expected JSON text, got {kind_of(text)}"])
    return parse_scenario(data, source_name, read_stores_file=False)


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------

_KEY_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z0-9_-]+)|\[\s*(?P<index>\d+)\s*\])\s*(?P<dot>\.)?")


def parse_key_path(key_path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 0
    expect_name = True
    while position < len(key_path):
        match = _KEY_TOKEN.match(key_path, position)
        if match is None or match.end() == position:
            raise ValueError("invalid key path (expected names joined by '.', list items as [i])")
        if match.group("name") is not None:
            if not expect_name:
                raise ValueError("invalid key path (a name must follow '.')")
            tokens.append(match.group("name"))
        else:
            if not tokens:
                raise ValueError("invalid key path (it must start with a name)")
            tokens.append(int(match.group("index")))
        expect_name = match.group("dot") is not None
        position = match.end()
    if not tokens or (expect_name and key_path.rstrip().endswith(".")):
        raise ValueError("invalid key path (empty or ending with '.')")
    return tokens


def parse_override_value(text: str) -> Any:
    """Parse an override value as a TOML value when possible, else keep the text.

    ``"4"`` -> 4, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"[1, 2]"`` -> [1, 2],
    ``"2024-04-01"`` -> date, ``"inf"`` -> inf, ``"{walk = 0.2}"`` -> dict, ``"abc"`` -> "abc".
    """
    try:
        parsed = tomllib.loads(f"value = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    if set(parsed) != {"value"}:
        return text
    return parsed["value"]


def parse_set_options(options: Iterable[str], source_name: str = "--set") -> dict[str, str]:
    """Split ``KEY=VALUE`` options into a dict (later ones win). Values stay text.

    Raises
    ------
    ScenarioError
        For an option without ``=`` or with an empty key.
    """
    overrides: dict[str, str] = {}
    problems = []
    for option in options:
        key, separator, value = option.partition("=")
        key = key.strip()
        if not separator:
            problems.append(f"{source_name}: {show_value(option)}: expected KEY=VALUE (e.g. behaviour.hill_k=4)")
        elif not key:
            problems.append(f"{source_name}: {show_value(option)}: empty key before '='")
        else:
            overrides[key] = value.strip()
    if problems:
        raise_problems(problems)
    return overrides


def plain_value(value: Any) -> Any:
    """Deep copy of dumped model data with lists instead of tuples (so it can be edited)."""
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    return value


_NOT_OVERRIDABLE = {
    ("plan", "stores_file"): "cannot be overridden (the stores file is read when the scenario is loaded)"
}


def _set_path(data: dict[str, Any], tokens: list[str | int], value: Any) -> str | None:
    """Set ``value`` at ``tokens`` inside ``data``; return a problem text or None."""
    if tuple(tokens) in _NOT_OVERRIDABLE:
        return f"{format_key_path(tokens)}: {_NOT_OVERRIDABLE[tuple(tokens)]}"
    container: Any = data
    for depth, token in enumerate(tokens):
        here = format_key_path(tokens[: depth + 1])
        parent = format_key_path(tokens[:depth]) or "the scenario"
        last = depth == len(tokens) - 1
        if isinstance(token, str):
            if not isinstance(container, dict):
                return f"{here}: {parent} is {kind_of(container)}, not a table"
            if token not in container:
                return f"{here}: {_unknown_key_message(token, container)}"
            if last:
                container[token] = value
                return None
            container = container[token]
        else:
            if not isinstance(container, list):
                return f"{here}: {parent} is {kind_of(container)}, not a list"
            if token < len(container):
                if last:
                    container[token] = value
                    return None
                container = container[token]
            elif token == len(container) and last:
                container.append(value)
                return None
            else:
                return f"{here}: index out of range ({parent} has {len(container)} items; [{len(container)}] appends)"
    return None


def apply_overrides(scenario: Scenario, overrides: Mapping[str, Any], source_name: str = "--set") -> Scenario:
    """Return a new scenario with values replaced at dotted key paths, re-validated.

    Parameters
    ----------
    scenario
        The scenario to change (it is not modified: it is frozen).
    overrides
        ``{"behaviour.hill_k": "4", "plan.stores[0].capacity_per_day": 30, ...}``. Text
        values are parsed as TOML values when possible (:func:`parse_override_value`);
        other values are used as they are. A table value replaces the whole table.
        An index equal to a list's length appends an item.
    source_name
        Name at the start of error messages.

    Notes
    -----
    Store defaults that depend on the format were resolved at load time, so changing a
    store's ``format`` does not change its capacity, attractiveness or visibility.
    ``plan.stores_file`` cannot be overridden.

    Raises
    ------
    ScenarioError
        Unknown key paths (with a "did you mean" hint) and invalid values.
    """
    data = plain_value(scenario.model_dump(mode="python"))
    problems = []
    for key_path, raw_value in overrides.items():
        try:
            tokens = parse_key_path(str(key_path))
        except ValueError as exception:
            problems.append(f"{source_name}: {show_value(key_path)}: {exception}")
            continue
        value = parse_override_value(raw_value) if isinstance(raw_value, str) else raw_value
        problem = _set_path(data, tokens, value)
        if problem is not None:
            problems.append(f"{source_name}: {problem}")
    if problems:
        raise_problems(problems)
    result = _validate(data, source_name)
    result._base_dir = scenario._base_dir
    return result


# --------------------------------------------------------------------------------------
# Canonical form and hash
# --------------------------------------------------------------------------------------


def _canonical_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(item) for item in value]
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def canonical_json(scenario: Scenario) -> str:
    """The scenario as canonical JSON: every default filled in, keys sorted, compact.

    Floats use Python's shortest round-trip representation (``repr``); infinity is
    written as the string ``"inf"``; dates as ``YYYY-MM-DD``; ``city.bundle`` and
    ``plan.stores_file`` as given in the file. The stores read from the stores file are
    included in ``plan.stores``. :func:`parse_canonical_json` reads it back.
    """
    payload = _canonical_value(scenario.model_dump(mode="python"))
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 (hex, 64 characters) of what is simulated: :func:`canonical_json` without ``[run]``.

    ``[run]`` says how to run (worker processes, which tables to keep), not what is
    simulated, so two scenarios that differ only there share a hash (and give the same
    simulated outcomes).
    """
    payload = json.loads(canonical_json(scenario))
    payload.pop("run", None)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def short_hash(scenario: Scenario) -> str:
    """First 16 hex characters of :func:`scenario_hash`."""
    return scenario_hash(scenario)[:16]


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario, as generated by pydantic.

    Defaults resolved by validators appear as ``x-default`` and constraints that a
    validator checks as ``x-constraint``.
    """
    schema = _standard_bounds(Scenario.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


_JSON_SCHEMA_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _standard_bounds(schema: Any) -> Any:
    """Rename the raw ``gt``/``ge``/``lt``/``le`` keys pydantic leaves on optional numbers."""
    if isinstance(schema, dict):
        numeric = schema.get("type") in ("number", "integer")
        return {
            (_JSON_SCHEMA_BOUNDS.get(key, key) if numeric else key): _standard_bounds(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_standard_bounds(item) for item in schema]
    return schema


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def describe(scenario: Scenario) -> str:
    """A 4-line human summary: name and city, population, plan, horizon and replications."""
    by_format: dict[str, int] = {}
    for store in scenario.plan.stores:
        by_format[store.format] = by_format.get(store.format, 0) + 1
    formats = ", ".join(f"{count} {store_format}" for store_format, count in sorted(by_format.items()))
    population = scenario.population
    horizon = scenario.horizon
    last_day = horizon.start_date.toordinal() + horizon.days - 1
    stores = len(scenario.plan.stores)
    return "\n".join(
        [
            f"Scenario '{scenario.name}' on city '{scenario.city.bundle}' (hash {short_hash(scenario)})",
            f"Population: {population.consumers:,} consumers, {population.commuter_share:.0%} commuters, "
            f"{population.mixing} word of mouth",
            f"Plan '{scenario.plan.name}': {stores} store{'s' if stores != 1 else ''}"
            + (f" ({formats})" if formats else ""),
            f"Horizon: {horizon.days} days from {horizon.start_date.isoformat()} to "
            f"{date.fromordinal(last_day).isoformat()}; {scenario.replications} replication"
            f"{'s' if scenario.replications != 1 else ''}, seed {scenario.seed}",
        ]
    )


# --------------------------------------------------------------------------------------
# Reference documentation (generated from the schema)
# --------------------------------------------------------------------------------------

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenario-reference.md"


def _type_text(annotation: Any) -> str:
    inner, is_list, _optional = unwrap_annotation(annotation)
    if is_model(inner):
        text = "table"
    elif typing.get_origin(inner) is Literal:
        text = " or ".join(f'"{choice}"' for choice in typing.get_args(inner))
    else:
        text = {int: "integer", float: "number", str: "string", bool: "boolean", date: "date"}.get(
            inner, getattr(inner, "__name__", str(inner))
        )
    if is_list:
        text = f"list of {'tables' if text == 'table' else text}"
    return text


def _toml_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return "inf" if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(item) for item in value) + "]"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _default_text(field: Any) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, _SchemaExtra) and extra.default_text is not None:
        return extra.default_text
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "see below"
    if field.default is None:
        return "not set"
    return f"`{_toml_literal(field.default)}`"


def _constraint_text(field: Any) -> str:
    parts = []
    symbols = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    for item in field.metadata:
        for name, symbol in symbols.items():
            bound = getattr(item, name, None)
            if bound is not None:
                parts.append(f"{symbol} {_toml_literal(bound)}")
        if getattr(item, "min_length", None) == 1:
            parts.append("not empty")
    extra = field.json_schema_extra
    if isinstance(extra, _SchemaExtra) and extra.constraint is not None:
        parts.append(extra.constraint)
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _doc_summary(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def _section(model: type[BaseModel], path: str, documented: dict[type, str], lines: list[str]) -> None:
    """Append the table of ``model`` at ``path`` and then its sub-tables."""
    heading = f"`{path}`" if path else "Top level"
    lines += ["", f"## {heading}" if path.count(".") == 0 and "[" not in path else f"### {heading}", ""]
    summary = _doc_summary(model)
    if summary:
        lines += [summary, ""]
    if model in documented:
        lines.append(f"Same keys as `{documented[model]}`.")
        return
    documented[model] = path
    lines += ["| key | type | default | constraint | description |", "|---|---|---|---|---|"]
    children = []
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        inner, is_list, _ = unwrap_annotation(field.annotation)
        if is_model(inner):
            child_path = f"{key}[]" if is_list else key
            children.append((inner, child_path))
            if not is_list and path == "":
                continue
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"`{key}`",
                    _type_text(field.annotation),
                    _default_text(field) if not (is_model(inner) and not is_list) else "see below",
                    _constraint_text(field) if not is_model(inner) else "",
                    field.description or "",
                )
            )
            + " |"
        )
    if model is Store:
        lines += _format_table()
    for child, child_path in children:
        _section(child, child_path, documented, lines)


def _format_table() -> list[str]:
    columns = FormatDefaults._fields
    lines = [
        "",
        "Defaults by store format (`FORMAT_DEFAULTS`): the first three fill a store's keys, "
        "the last three fill `behaviour.sighting_probability.<format>`.",
        "",
        "| format | " + " | ".join(f"`{column}`" for column in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for store_format, defaults in FORMAT_DEFAULTS.items():
        lines.append(f"| `{store_format}` | " + " | ".join(_toml_literal(value) for value in defaults) + " |")
    return lines


def reference_markdown() -> str:
    """The scenario reference (Markdown), generated from the schema.

    One table per section: key path, type, default, constraint, description; plus the
    per-format defaults table.
    """
    lines = [
        "# Scenario file reference",
        "",
        "<!-- Generated from simulator/scenario.py by `python docs/generate_reference.py`; do not edit. -->",
        "",
        'A scenario is a TOML file. Every section and key is optional unless its default reads "required";',
        'unknown keys are errors (with a "did you mean" hint). Key paths below are what',
        "`--set KEY=VALUE` overrides use: names joined by `.`, list items as `[i]`, e.g.",
        "`plan.stores[0].capacity_per_day=30`. Days are counted from `horizon.start_date` (day 0);",
        "an `end_day` or `close_day` is the first day something no longer applies.",
        "Trust is in log-odds: logit T = b0 + bF * F + bW * WOM + sum of lever effects + u.",
    ]
    sections = [
        name for name, field in Scenario.model_fields.items() if is_model(unwrap_annotation(field.annotation)[0])
    ]
    lines += ["", "Sections: " + ", ".join(f"`[{name}]`" for name in sections) + "."]
    _section(Scenario, "", {}, lines)
    return "\n".join(lines) + "\n"


def write_reference(path: str | Path = REFERENCE_PATH) -> Path:
    """Write :func:`reference_markdown` to ``path`` (default ``docs/scenario-reference.md``)."""
    path = Path(path)
    path.write_text(reference_markdown(), encoding="utf-8")
    return path

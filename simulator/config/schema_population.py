"""Schema of the ``[population]`` section: the synthetic consumers and how they commute.

:class:`PopulationSettings` holds the settings; the arrays of a synthesised population are
the model's :class:`simulator.model.population.Population`.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from simulator.config.limits import MAX_CONSUMERS, MAX_CONTACTS_PER_CONSUMER, MAX_MALLS_IN_REPERTOIRE
from simulator.config.schema_base import FrozenModel, SchemaExtra
from simulator.config.values import Integer, Number, kind_of, show_number, show_value

__all__ = [
    "ALL_RESIDENTS",
    "MIN_CONSUMERS",
    "ConsumerCount",
    "ModeShares",
    "PopulationSettings",
]

ALL_RESIDENTS = "all"
"""``population.consumers = "all"``: one simulated consumer per resident of the city."""
MIN_CONSUMERS = 100


def _to_consumer_count(value: Any) -> Any:
    """``"all"`` (any case, surrounding spaces ignored) or an integer of at least ``MIN_CONSUMERS``."""
    if isinstance(value, str):
        if value.strip().lower() == ALL_RESIDENTS:
            return ALL_RESIDENTS
        raise ValueError(f'must be an integer >= {MIN_CONSUMERS} or "{ALL_RESIDENTS}", got {show_value(value)}')
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'must be an integer or "{ALL_RESIDENTS}", got {kind_of(value)} ({show_value(value)})')
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"must be an integer, got {show_value(value)}")
    if value < MIN_CONSUMERS:
        raise ValueError(f'must be >= {MIN_CONSUMERS} or "{ALL_RESIDENTS}", got {show_value(value)}')
    if value > MAX_CONSUMERS:
        raise ValueError(f"must be <= {MAX_CONSUMERS:,} (the documented maximum), got {show_number(value)}")
    return int(value)


ConsumerCount = Annotated[
    Annotated[int, Field(ge=MIN_CONSUMERS, le=MAX_CONSUMERS)] | Literal["all"], BeforeValidator(_to_consumer_count)
]
"""An integer >= ``MIN_CONSUMERS`` or the literal ``"all"`` (resolved against the city when it is known)."""


class ModeShares(FrozenModel):
    """Shares of commute modes among commuters; they must sum to 1."""

    subway: Number = Field(default=0.35, ge=0, description="Share of commuters who ride the subway.")
    bus: Number = Field(default=0.15, ge=0, description="Share of commuters who take the bus.")
    car: Number = Field(default=0.30, ge=0, description="Share of commuters who drive (car or taxi).")
    active: Number = Field(default=0.20, ge=0, description="Share of commuters who walk or cycle.")

    SUM_TOLERANCE: ClassVar[float] = 1e-6

    @model_validator(mode="after")
    def _sum_to_one(self) -> "ModeShares":
        total = self.subway + self.bus + self.car + self.active
        if abs(total - 1.0) > self.SUM_TOLERANCE:
            raise ValueError(f"subway + bus + car + active must sum to 1 (within 1e-6), got {total:.6g}")
        return self


class PopulationSettings(FrozenModel):
    """Synthetic population: how many consumers, how they commute, shop and talk."""

    # The JSON Schema names the section as users know it (and as it was before the rename).
    model_config = ConfigDict(title="Population")

    consumers: ConsumerCount = Field(
        default=20000,
        description=(
            "Number of simulated consumers; each stands for population / consumers people (the consumer weight). "
            '`"all"`: one consumer per resident (weight 1), i.e. the city\'s population total rounded to the '
            "nearest integer."
        ),
        json_schema_extra=SchemaExtra(constraint=f'>= {MIN_CONSUMERS} and <= {MAX_CONSUMERS} or "{ALL_RESIDENTS}"'),
    )
    commuter_share: Number = Field(
        default=0.6, ge=0, le=1, description="Share of consumers who commute to a workplace."
    )
    mean_commute_km: Number = Field(
        default=13.0, gt=0, description="Target mean one-way commute distance, km (Beijing: 13 km)."
    )
    mode_shares: ModeShares = Field(default_factory=ModeShares, description="Commute mode shares.")
    mall_visits_per_week: Number = Field(default=0.8, ge=0, description="Mean mall visits per consumer per week.")
    weekend_share_of_mall_visits: Number = Field(
        default=0.6, ge=0, le=1, description="Share of mall visits that fall on Saturday or Sunday."
    )
    malls_in_repertoire: Integer = Field(
        default=3,
        ge=1,
        le=MAX_MALLS_IN_REPERTOIRE,
        description="Number of malls each consumer visits (chosen by Huff over nearby malls).",
    )
    mall_choice_lambda: Number = Field(
        default=2.0,
        gt=0,
        description="Huff distance exponent for choosing malls: weight = attractiveness / distance^lambda.",
    )
    local_mall_attractiveness: Number = Field(
        default=2.5,
        ge=0,
        description=(
            "Attractiveness of the unlisted local malls every consumer can visit instead (the outside "
            "option of the mall choice; 0 = only the bundle's malls exist)."
        ),
    )
    local_mall_distance_km: Number = Field(
        default=4.5,
        gt=0,
        description="Distance to the unlisted local malls, km (Beijing's mean shopping trip: 4.5 km).",
    )
    contacts_per_consumer: Integer = Field(
        default=6,
        ge=0,
        le=MAX_CONTACTS_PER_CONSUMER,
        description="Social contacts per consumer (word-of-mouth network degree).",
    )
    random_contact_share: Number = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of contacts drawn at random city-wide (small-world rewiring); the rest are nearby.",
    )
    mixing: Literal["network", "full"] = Field(
        default="network",
        description=(
            "Word-of-mouth mixing: `network` uses the contact network; `full` mixes everyone "
            "with everyone (the Bass limiting case)."
        ),
    )

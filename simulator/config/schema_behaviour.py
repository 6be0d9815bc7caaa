"""Schema of the ``[behaviour]`` section: exposure, familiarity, trust, booking, conversion.

Sighting probabilities are per store format; a format's table takes the defaults of
:data:`~simulator.config.formats.FORMAT_DEFAULTS` for the keys it leaves out.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.config.formats import FORMAT_DEFAULTS, FORMATS, SIGHTING_KEYS
from simulator.config.limits import MAX_DAY
from simulator.config.schema_base import RESOLVED_BY_VALIDATOR, FrozenModel, SchemaExtra
from simulator.config.values import Boolean, Integer, Number

__all__ = [
    "Behaviour",
    "SightingProbabilities",
    "SightingProbability",
]


class SightingProbability(FrozenModel):
    """Probability of noticing a store of one format, per opportunity."""

    walk: Number = Field(
        default=RESOLVED_BY_VALIDATOR,
        ge=0,
        le=1,
        description="Per pass on foot within the store's visibility radius.",
        json_schema_extra=SchemaExtra(default_text="by format"),
    )
    vehicle: Number = Field(
        default=RESOLVED_BY_VALIDATOR,
        ge=0,
        le=1,
        description="Per pass by car or bus within the visibility radius.",
        json_schema_extra=SchemaExtra(default_text="by format"),
    )
    mall_visit: Number = Field(
        default=RESOLVED_BY_VALIDATOR,
        ge=0,
        le=1,
        description="Per visit to the mall the store is in.",
        json_schema_extra=SchemaExtra(default_text="by format"),
    )


def _sighting_default(store_format: str) -> SightingProbability:
    defaults = FORMAT_DEFAULTS[store_format]
    return SightingProbability(**{key: getattr(defaults, key) for key in SIGHTING_KEYS})


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
                for key in SIGHTING_KEYS:
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
        default=28.0, gt=0, description="Half-life H of the exposure stock, days: E <- 0.5^(1/H) * E + sum(w * n)."
    )
    hill_k: Number = Field(
        default=3.0, gt=0, description="Hill half-saturation K, in sightings: familiarity F = E^s / (E^s + K^s)."
    )
    hill_s: Number = Field(default=2.0, gt=0, description="Hill shape s (dimensionless).")
    wearout_half_life_days: Number = Field(default=7.0, gt=0, description="Half-life of the wear-out stock, days.")
    wearout_weight: Number = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Weight of the wear-out stock subtracted from the exposure stock (0 = off).",
    )
    sighting_weight_walk: Number = Field(default=1.0, ge=0, description="Exposure weight w of one sighting on foot.")
    sighting_weight_vehicle: Number = Field(
        default=0.4, ge=0, description="Exposure weight w of one sighting from a car or bus."
    )
    sighting_weight_mall: Number = Field(
        default=1.0, ge=0, description="Exposure weight w of one sighting inside a visited mall."
    )
    sighting_probability: SightingProbabilities = Field(
        default_factory=SightingProbabilities, description="Probability of noticing a store, per format."
    )
    trust_intercept: Number = Field(default=-2.8, description="Trust intercept b0, log-odds.")
    trust_heterogeneity_sd: Number = Field(
        default=0.5, ge=0, description="Standard deviation of the individual trust offset u_i, log-odds."
    )
    in_market_rate_per_year: Number = Field(
        default=0.04, ge=0, description="Rate at which a consumer starts a car-shopping spell, per year."
    )
    in_market_duration_days: Number = Field(
        default=90.0, gt=0, description="Mean length of a car-shopping spell, days."
    )
    booking_rate_per_day: Number = Field(
        default=0.003,
        ge=0,
        description="Daily hazard of deciding (booking or ordering), per unit trust, for an in-market consumer, 1/day.",
    )
    test_drive_share: Number = Field(
        default=0.8,
        ge=0,
        le=1,
        description=(
            "Share of deciders who want a test drive first; the rest order online without one "
            "(and buy with the odds of a test-driver times online_conversion_odds_ratio)."
        ),
    )
    online_conversion_odds_ratio: Number = Field(
        default=0.3,
        ge=0,
        description=(
            "Odds of buying after an online order without a test drive, relative to the odds after "
            "a test drive, for the same trust: logit P_online = logit P_td + log(ratio)."
        ),
    )
    huff_lambda: Number = Field(
        default=2.0,
        gt=0,
        description="Distance exponent lambda of the store choice: attraction A * max(d, d_min)^-lambda.",
    )
    outside_option: Boolean = Field(
        default=True,
        description=(
            "Whether a consumer who wants a test drive may choose no visit at all (the outside option); "
            "off = every intent books at some store, as in plain Huff."
        ),
    )
    outside_option_km: Number = Field(
        default=10.0,
        gt=0,
        description=(
            "Size of the outside option as a distance: its attraction is 1 * outside_option_km^-lambda, "
            "that of a mall store (A = 1) at this distance, km."
        ),
    )
    travel_from: Literal["home", "home_or_commute"] = Field(
        default="home_or_commute",
        description=(
            "Where travel to a store is measured from: `home`, or `home_or_commute` (the nearest point "
            "of the straight home-work line, so a store on the way to work is cheap to visit)."
        ),
    )
    huff_min_distance_km: Number = Field(
        default=0.5, gt=0, description="Distances below this are raised to it in the Huff formula, km."
    )
    queue_patience_days: Integer = Field(
        default=7, ge=0, le=MAX_DAY, description="Days a waiting booking stays in a store's queue before it is lost."
    )
    conversion: Number = Field(
        default=0.3, ge=0, le=1, description="P(purchase | test drive) for a consumer with trust 0.5."
    )
    conversion_trust_slope: Number = Field(
        default=2.0,
        ge=0,
        description="Slope of the conversion in trust, log-odds per unit trust: logit P = logit(conversion) + slope * (T - 0.5).",
    )

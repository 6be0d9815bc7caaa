"""Schema of the ``[levers]`` section: the seven reasons to believe, media, and their dated events.

Each lever says how it shifts trust (log-odds) on a given day: the four offset levers by
a constant offset, the sales announcements by social proof, both plus dated shocks and
steps (:class:`LeverEvent`); the offline footprint and testimonials act per consumer
through familiarity and word of mouth.
"""

import math
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from simulator.config.limits import MAX_DAY, MAX_ORDERS
from simulator.config.problems import LocatedError
from simulator.config.schema_base import FrozenModel, SchemaExtra
from simulator.config.values import Boolean, Integer, Number, NumberOrInfinity

__all__ = [
    "Announcement",
    "BrandPromiseLever",
    "ExpertBrandLever",
    "FounderEndorsementLever",
    "LeverEvent",
    "Levers",
    "MediaLever",
    "OfflineFootprintLever",
    "OffsetLever",
    "SalesAnnouncementsLever",
    "SupplyChainLever",
    "TestimonialsLever",
]


class LeverEvent(FrozenModel):
    """A dated change of a lever: a decaying `shock` or a lasting `step`."""

    kind: Literal["shock", "step"] = Field(
        description=(
            "`shock`: size * 0.5^((t - day) / half_life_days) for t >= day (a launch event, or "
            "with a negative size a PR crisis whose half-life is the recovery); `step`: size "
            "from day until end_day."
        )
    )
    day: Integer = Field(ge=0, le=MAX_DAY, description="Day the event happens.")
    size: Number = Field(description="Effect on trust at the event day, log-odds.")
    half_life_days: NumberOrInfinity | None = Field(
        default=None,
        gt=0,
        description="Half-life of a shock's effect, days (shock only, required for it).",
    )
    end_day: Integer | None = Field(
        default=None,
        le=MAX_DAY + 1,
        description="First day a step no longer applies; not set = lasts to the end (step only).",
        json_schema_extra=SchemaExtra(constraint="> day"),
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
_OFFSET_DESCRIPTION = "Shift of trust, log-odds, from start_day until end_day."


class OffsetLever(FrozenModel):
    """A reason to believe that shifts everyone's trust by a constant offset, plus events."""

    enabled: Boolean = Field(default=True, description="Whether the lever acts at all.")
    offset: Number = Field(default=0.0, description=_OFFSET_DESCRIPTION)
    start_day: Integer = Field(default=0, ge=0, le=MAX_DAY, description="First day the offset applies.")
    end_day: Integer | None = Field(
        default=None,
        le=MAX_DAY + 1,
        description="First day the offset no longer applies; not set = to the end.",
        json_schema_extra=SchemaExtra(constraint="> start_day"),
    )
    events: tuple[LeverEvent, ...] = Field(default=(), description=_EVENTS_DESCRIPTION)

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

    offset: Number = Field(default=0.3, description=_OFFSET_DESCRIPTION)


class FounderEndorsementLever(OffsetLever):
    """A famous founder's endorsement (negative after a scandal)."""

    offset: Number = Field(default=0.25, description=_OFFSET_DESCRIPTION)


class BrandPromiseLever(OffsetLever):
    """Brand promises such as warranty and after-sales service: a quality signal."""

    offset: Number = Field(default=0.3, description=_OFFSET_DESCRIPTION)


class SupplyChainLever(OffsetLever):
    """Reputable suppliers and the maker's own factory: a quality signal."""

    offset: Number = Field(default=0.2, description=_OFFSET_DESCRIPTION)


class Announcement(FrozenModel):
    """One public sales-record announcement."""

    day: Integer = Field(ge=0, le=MAX_DAY, description="Day of the announcement.")
    cumulative_orders: Integer = Field(ge=0, le=MAX_ORDERS, description="Orders announced as made so far.")


class SalesAnnouncementsLever(FrozenModel):
    """Social proof from announced sales: effect = max_effect * (1 - exp(-orders / orders_scale)).

    ``orders`` is the cumulative orders of the latest announcement on or before the day
    (0 before the first).
    """

    enabled: Boolean = Field(default=True, description="Whether the lever acts at all.")
    max_effect: Number = Field(
        default=0.18, description="Largest shift of trust, log-odds, reached for very large orders."
    )
    orders_scale: Number = Field(
        default=50000.0, gt=0, description="Announced orders at which the effect reaches 1 - 1/e of max_effect."
    )
    announcements: tuple[Announcement, ...] = Field(
        default=(), description="Announcements, days strictly increasing, orders non-decreasing."
    )
    events: tuple[LeverEvent, ...] = Field(default=(), description=_EVENTS_DESCRIPTION)

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

    enabled: Boolean = Field(default=True, description="Whether familiarity enters trust at all.")
    weight: Number = Field(default=1.0, description="bF: shift of trust per unit familiarity, log-odds.")


class TestimonialsLever(FrozenModel):
    """Customer testimonials and word of mouth from contacts who test-drove or bought."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    enabled: Boolean = Field(default=True, description="Whether word of mouth acts at all.")
    weight: Number = Field(default=0.5, description="bW: shift of trust per unit word of mouth, log-odds.")
    referral_rate_per_year: Number = Field(
        default=0.38, ge=0, description="q of the Bass model: imitation rate per year in a fully mixed population."
    )
    source_half_life_days: NumberOrInfinity = Field(
        default=180.0,
        gt=0,
        allow_inf_nan=True,
        description="How long a source keeps talking: half-life of its testimonials, days (`inf` = forever).",
    )
    test_drive_weight: Number = Field(
        default=0.5, ge=0, le=1, description="How much a test-driver counts as a source relative to a buyer."
    )
    online_weight: Number = Field(
        default=0.78,
        ge=0,
        description=(
            "Online reviews and creators' posts, which reach people who know no buyer: their largest "
            "effect, in units of one contact's word of mouth (trust shift weight * online_weight)."
        ),
    )
    online_scale: Number = Field(
        default=2000.0,
        gt=0,
        description=(
            "Testimonial sources (people, buyers counting 1 and test-drivers test_drive_weight, decayed "
            "with the source half-life) at which online reviews reach 1 - 1/e of their largest effect."
        ),
    )
    events: tuple[LeverEvent, ...] = Field(
        default=(), description="Dated shocks and steps of online content (creators' reviews), log-odds."
    )

    def online_effect(self, day: int, sources: float) -> float:
        """Everyone's trust shift from online testimonials on ``day``, log-odds.

        ``weight * online_weight * (1 - exp(-sources / online_scale))`` plus the events; 0 if
        the lever is off. ``sources`` is the decayed stock of testimonial sources, in people.
        """
        if not self.enabled:
            return 0.0
        reviews = self.weight * self.online_weight * (1.0 - math.exp(-sources / self.online_scale))
        return reviews + sum(event.effect(day) for event in self.events)

    @field_validator("source_half_life_days")
    @classmethod
    def _not_nan(cls, value: float) -> float:
        if math.isnan(value):
            raise ValueError("must be > 0 or inf, got nan")
        return value


class MediaLever(FrozenModel):
    """Paid and earned media (the launch event's live stream, press, online reach).

    It builds exposure without stores: on day t each consumer is reached with probability
    ``reach(t)`` (the sum of the events, clipped to [0, 1]) and a contact adds
    ``exposure_weight`` to the exposure stock, like a sighting of that weight.
    """

    enabled: Boolean = Field(default=True, description="Whether media acts at all.")
    exposure_weight: Number = Field(
        default=0.3, ge=0, description="Exposure weight w of one media contact (a walking sighting is 1)."
    )
    events: tuple[LeverEvent, ...] = Field(
        default=(),
        description=(
            "Reach over time: each event's size is a share of residents reached per day (0..1); "
            "a shock is a campaign that fades, a step an always-on presence."
        ),
    )

    @field_validator("events")
    @classmethod
    def _reach_sizes(cls, events: tuple[LeverEvent, ...]) -> tuple[LeverEvent, ...]:
        for position, event in enumerate(events):
            if not 0.0 <= event.size <= 1.0:
                raise LocatedError((position, "size"), f"is a daily reach and must be in [0, 1], got {event.size}")
        return events

    def reach(self, day: int) -> float:
        """Share of residents reached on ``day``: the events' sum clipped to [0, 1]; 0 if off."""
        if not self.enabled:
            return 0.0
        return min(max(sum(event.effect(day) for event in self.events), 0.0), 1.0)


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
    media: MediaLever = Field(default_factory=MediaLever, description="Media reach (launch event, press, online).")

    def offset_levers(self) -> dict[str, OffsetLever]:
        """The four offset levers by name."""
        return {name: getattr(self, name) for name in self.OFFSET_LEVERS}

    def trust_shift(self, day: int) -> float:
        """Sum of the offset levers' and the sales announcements' effects on ``day``, log-odds.

        Excludes the offline footprint and testimonials, which act per consumer.
        """
        return sum(lever.effect(day) for lever in self.offset_levers().values()) + self.sales_announcements.effect(day)

"""Schema of the market around the brand: rival showrooms (``[rivals]``) and the launch (``[launch]``).

Rival showrooms enter the consumers' store choice next to the brand's stores: a
test-drive intent that picks one is a booking lost to the brand. The launch section sets
the pent-up demand waiting for the launch day.
"""

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator.config.coordinates import CRS_CHOICES, CRS_DESCRIPTION, WGS84
from simulator.config.limits import MAX_DAY
from simulator.config.problems import LocatedError
from simulator.config.schema_base import FrozenModel, SchemaExtra
from simulator.config.schema_plan import LAT_CONSTRAINT, LON_CONSTRAINT, check_coordinate, check_crs, check_site
from simulator.config.values import Integer, Number, Text

__all__ = [
    "Launch",
    "RivalShowroom",
    "Rivals",
]


class RivalShowroom(FrozenModel):
    """A competitor's showroom. Give exactly one position: `mall`, `station`, or `lon` and `lat`."""

    id: Text = Field(min_length=1, description="Showroom identifier, unique among the rivals.")
    brand: Text = Field(min_length=1, description="The rival brand (results are summed per brand).")
    name: Text | None = Field(
        default=None,
        min_length=1,
        description="Display name.",
        json_schema_extra=SchemaExtra(default_text="brand and id"),
    )
    mall: Text | None = Field(default=None, min_length=1, description="Position: a mall id or name of the bundle.")
    station: Text | None = Field(default=None, min_length=1, description="Position: a subway station name or id.")
    crs: Text = Field(default=WGS84, description=CRS_DESCRIPTION, json_schema_extra=SchemaExtra(constraint=CRS_CHOICES))
    lon: Number | None = Field(
        default=None,
        description="Position: longitude in `crs`, degrees, or x for a projected `crs`.",
        json_schema_extra=SchemaExtra(constraint=LON_CONSTRAINT),
    )
    lat: Number | None = Field(
        default=None,
        description="Position: latitude in `crs`, degrees, or y for a projected `crs`.",
        json_schema_extra=SchemaExtra(constraint=LAT_CONSTRAINT),
    )
    attractiveness: Number = Field(
        default=0.2,
        gt=0,
        description=(
            "Attractiveness A in the store choice, on the brand stores' scale (a mall store is 1): "
            "how strongly a rival showroom draws the brand's own prospects (judgement)."
        ),
    )
    open_day: Integer = Field(default=0, ge=0, le=MAX_DAY, description="First day the showroom is open.")
    close_day: Integer | None = Field(
        default=None,
        le=MAX_DAY + 1,
        description="First day the showroom is closed again; not set = never closes.",
        json_schema_extra=SchemaExtra(constraint="> open_day"),
    )

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        return check_crs(value)

    @field_validator("lon", "lat")
    @classmethod
    def _coordinate(cls, value: float | None, info: ValidationInfo) -> float | None:
        return check_coordinate(value, info)

    @model_validator(mode="after")
    def _position_and_days(self) -> "RivalShowroom":
        check_site(self, "showroom")
        return self

    @property
    def display_name(self) -> str:
        """The name, or ``"<brand> <id>"`` when none is given."""
        return self.name if self.name is not None else f"{self.brand} {self.id}"


class Rivals(FrozenModel):
    """Competitors' showrooms, inline and/or from `file`."""

    showrooms: tuple[RivalShowroom, ...] = Field(
        default=(), description="Rival showrooms; those read from `file` follow the inline ones."
    )
    file: Text | None = Field(
        default=None,
        min_length=1,
        description=(
            "CSV or GeoJSON file of further showrooms, relative to the scenario file, with columns "
            "(or properties) named like the showroom keys."
        ),
    )
    file_crs: Text | None = Field(
        default=None,
        description=(
            "Coordinate system of the positions in `file` whose row gives no `crs` (same values "
            "as a showroom's `crs`); a GeoJSON's declared `crs` member applies to its geometries."
        ),
        json_schema_extra=SchemaExtra(default_text="not set (`wgs84`)", constraint=CRS_CHOICES),
    )

    @field_validator("file_crs")
    @classmethod
    def _file_crs(cls, value: str | None) -> str | None:
        return None if value is None else check_crs(value)

    @field_validator("showrooms")
    @classmethod
    def _unique_ids(cls, showrooms: tuple[RivalShowroom, ...]) -> tuple[RivalShowroom, ...]:
        first_position: dict[str, int] = {}
        for position, showroom in enumerate(showrooms):
            if showroom.id in first_position:
                raise LocatedError(
                    (position, "id"),
                    f"duplicate showroom id '{showroom.id}' (also rivals.showrooms[{first_position[showroom.id]}])",
                )
            first_position[showroom.id] = position
        return showrooms


class Launch(FrozenModel):
    """Demand waiting for the launch: consumers already in market on day 0 who act soon."""

    pent_up_share: Number = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Share of residents in market for the brand on day 0 (pre-launch interest). Each decides "
            "with daily probability 1 - exp(-1 / pent_up_mean_days_to_act) (a hazard of one per mean "
            "time to act), whatever their trust."
        ),
    )
    pent_up_mean_days_to_act: Number = Field(
        default=10.0,
        gt=0,
        description="Mean time a pent-up consumer takes to act on the launch (the inverse of the daily hazard), days.",
    )

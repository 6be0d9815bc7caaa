"""Schema of the ``[plan]`` section: the brand's stores, their positions and timing.

A :class:`Store` takes the defaults of its format
(:data:`~simulator.config.formats.FORMAT_DEFAULTS`) for the keys it leaves out; a
:class:`Plan` holds the stores (inline and from ``stores_file``) with unique ids.
"""

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator, model_validator

from simulator.config.coordinates import (
    CRS_CHOICES,
    CRS_DESCRIPTION,
    WGS84,
    crs_is_geographic,
    normalise_crs,
    wgs84_problem,
)
from simulator.config.formats import FORMAT_DEFAULTS, STORE_FORMAT_KEYS, StoreFormat
from simulator.config.limits import MAX_CAPACITY_PER_DAY, MAX_DAY
from simulator.config.problems import LocatedError
from simulator.config.schema_base import RESOLVED_BY_VALIDATOR, FrozenModel, SchemaExtra
from simulator.config.values import Integer, Number, Text, show_number

__all__ = [
    "LAT_CONSTRAINT",
    "LON_CONSTRAINT",
    "PlacedSite",
    "Plan",
    "Store",
    "check_coordinate",
    "check_crs",
    "check_site",
]

LON_CONSTRAINT = ">= -180, <= 180 in degrees; any number for a projected `crs`"
LAT_CONSTRAINT = ">= -90, <= 90 in degrees; any number for a projected `crs`"


class PlacedSite(Protocol):
    """What a site (a store or a rival showroom) says about where it is and when it is open."""

    id: str
    mall: str | None
    station: str | None
    lon: float | None
    lat: float | None
    crs: str
    open_day: int
    close_day: int | None


def check_crs(value: str) -> str:
    """The ``crs`` of a site, spelled the one way the schema stores it (see :func:`normalise_crs`)."""
    return normalise_crs(value)


def check_coordinate(value: float | None, info: ValidationInfo) -> float | None:
    """A site's ``lon`` or ``lat``: in degrees (a geographic ``crs``) within ±180 or ±90; any number otherwise.

    Declared after ``crs`` in the site models, so the (valid) crs is in ``info.data``;
    with an invalid crs the coordinate is not checked (the crs is reported).
    """
    crs = info.data.get("crs")
    if value is None or crs is None or not crs_is_geographic(crs):
        return value
    bound = 180.0 if info.field_name == "lon" else 90.0
    if value > bound:
        raise ValueError(f"must be <= {show_number(bound)}, got {show_number(value)}")
    if value < -bound:
        raise ValueError(f"must be >= {show_number(-bound)}, got {show_number(value)}")
    return value


def check_site(site: PlacedSite, noun: str) -> None:
    """Raise unless the site gives exactly one position and ``close_day > open_day``.

    The position is `mall`, `station`, or `lon` and `lat` together; `lon`/`lat` in the
    site's `crs` must convert to a WGS84 longitude and latitude.
    """
    if (site.lon is None) != (site.lat is None):
        missing, present = ("lat", "lon") if site.lat is None else ("lon", "lat")
        raise LocatedError((missing,), f"{noun} '{site.id}': required when {present} is given")
    given = [
        label
        for label, present in (
            ("mall", site.mall is not None),
            ("station", site.station is not None),
            ("lon/lat", site.lon is not None),
        )
        if present
    ]
    if len(given) != 1:
        what = "no position" if not given else f"{len(given)} positions ({', '.join(given)})"
        raise ValueError(f"{noun} '{site.id}' has {what}: give exactly one of mall, station, or lon and lat")
    if site.lon is not None and site.lat is not None:
        problem = wgs84_problem(site.lon, site.lat, site.crs)
        if problem is not None:
            raise LocatedError((problem[0],), problem[1])
    if site.close_day is not None and site.close_day <= site.open_day:
        raise LocatedError(("close_day",), f"must be > open_day ({site.open_day}), got {site.close_day}")


class Store(FrozenModel):
    """One store of the plan. Give exactly one position: `mall`, `station`, or `lon` and `lat`.

    Keys left out take the defaults of the store's format (see the per-format table).
    """

    id: Text = Field(min_length=1, description="Store identifier, unique within the plan.")
    name: Text = Field(
        default=RESOLVED_BY_VALIDATOR,
        min_length=1,
        description="Display name.",
        json_schema_extra=SchemaExtra(default_text="the id"),
    )
    mall: Text | None = Field(
        default=None,
        min_length=1,
        description="Position: a mall id or name of the city bundle (the store is inside it).",
    )
    station: Text | None = Field(
        default=None, min_length=1, description="Position: a subway station name or id (the store is next to it)."
    )
    crs: Text = Field(default=WGS84, description=CRS_DESCRIPTION, json_schema_extra=SchemaExtra(constraint=CRS_CHOICES))
    lon: Number | None = Field(
        default=None,
        description="Position: longitude in `crs`, degrees, or x for a projected `crs` (give with `lat`).",
        json_schema_extra=SchemaExtra(constraint=LON_CONSTRAINT),
    )
    lat: Number | None = Field(
        default=None,
        description="Position: latitude in `crs`, degrees, or y for a projected `crs` (give with `lon`).",
        json_schema_extra=SchemaExtra(constraint=LAT_CONSTRAINT),
    )
    format: StoreFormat = Field(
        default=RESOLVED_BY_VALIDATOR,
        description="Store format; it sets the defaults of capacity, attractiveness and visibility.",
        json_schema_extra=SchemaExtra(default_text="`mall` for a store given by `mall`, else `street`"),
    )
    open_day: Integer = Field(
        default=0, ge=0, le=MAX_DAY, description="First day the store is open (0 = the first simulated day)."
    )
    close_day: Integer | None = Field(
        default=None,
        le=MAX_DAY + 1,
        description="First day the store is closed again; not set = never closes.",
        json_schema_extra=SchemaExtra(constraint="> open_day"),
    )
    capacity_per_day: Integer = Field(
        default=RESOLVED_BY_VALIDATOR,
        le=MAX_CAPACITY_PER_DAY,
        description="Test-drive slots per day.",
        json_schema_extra=SchemaExtra(default_text="by format", constraint="> 0 (>= 0 for delivery_centre)"),
    )
    attractiveness: Number = Field(
        default=RESOLVED_BY_VALIDATOR,
        gt=0,
        description="Huff attractiveness A in the store choice P = A / d^lambda / sum(A / d^lambda).",
        json_schema_extra=SchemaExtra(default_text="by format"),
    )
    visibility_radius_m: Number = Field(
        default=RESOLVED_BY_VALIDATOR,
        gt=0,
        description="Distance within which a passer-by can see the store, metres.",
        json_schema_extra=SchemaExtra(default_text="by format"),
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
            for key in STORE_FORMAT_KEYS:
                if data.get(key) is None:
                    data[key] = getattr(defaults, key)
        return data

    @field_validator("crs")
    @classmethod
    def _crs(cls, value: str) -> str:
        return check_crs(value)

    @field_validator("lon", "lat")
    @classmethod
    def _coordinate(cls, value: float | None, info: ValidationInfo) -> float | None:
        return check_coordinate(value, info)

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
        check_site(self, "store")
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

    name: Text = Field(default="plan", min_length=1, description="Plan name (used in comparisons and outputs).")
    stores: tuple[Store, ...] = Field(
        default=(),
        description=(
            "Stores, in the order the model indexes them; those read from `stores_file` follow the inline ones."
        ),
    )
    stores_file: Text | None = Field(
        default=None,
        min_length=1,
        description=(
            "CSV or GeoJSON file of further stores, relative to the scenario file: CSV columns "
            "and GeoJSON properties are named like the store keys; GeoJSON Point geometries "
            "give lon/lat. Read once at load time; errors name the CSV row (its line number, "
            "the header being row 1) or the GeoJSON feature."
        ),
    )
    stores_file_crs: Text | None = Field(
        default=None,
        description=(
            "Coordinate system of the positions in `stores_file` whose row gives no `crs` "
            "(same values as a store's `crs`). A GeoJSON's declared `crs` member applies to its "
            "geometries, which are reprojected to WGS84 when read."
        ),
        json_schema_extra=SchemaExtra(default_text="not set (`wgs84`)", constraint=CRS_CHOICES),
    )

    @field_validator("stores_file_crs")
    @classmethod
    def _file_crs(cls, value: str | None) -> str | None:
        return None if value is None else check_crs(value)

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

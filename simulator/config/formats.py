"""Store formats and the defaults that depend on them: the one table.

:data:`FORMAT_DEFAULTS` fills a store's capacity, attractiveness and visibility radius
(:class:`~simulator.config.schema_plan.Store`) and the sighting probabilities of
``behaviour.sighting_probability.<format>``
(:class:`~simulator.config.schema_behaviour.SightingProbabilities`).
"""

import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

__all__ = [
    "FORMATS",
    "FORMAT_DEFAULTS",
    "SIGHTING_KEYS",
    "STORE_FORMAT_KEYS",
    "FormatDefaults",
    "StoreFormat",
]

StoreFormat = Literal["mall", "street", "flagship", "popup", "delivery_centre"]
#: The store formats, in the order the model codes them.
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


#: The fields of :class:`FormatDefaults` that fill a store's own keys.
STORE_FORMAT_KEYS = ("capacity_per_day", "attractiveness", "visibility_radius_m")
#: The fields of :class:`FormatDefaults` that fill ``behaviour.sighting_probability.<format>``.
SIGHTING_KEYS = ("walk", "vehicle", "mall_visit")

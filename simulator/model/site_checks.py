"""Warnings about a scenario on a city: settings without effect and coordinates that look GCJ-02 or BD-09.

:func:`scenario_warnings` is what ``footprint validate`` prints and what a run writes into
``metadata.json``: the city-free :func:`simulator.config.no_effect.no_effect_warnings`,
then :func:`chinese_map_warnings`.

A WGS84 position copied from a Chinese map (Amap, Baidu) sits a few hundred metres off
the place it means, which :func:`chinese_map_warnings` can tell only when the site says
what that place is: a site whose name (or id) contains the name of one of the bundle's
malls, whose WGS84 position is at least :data:`FAR_M` from that mall, and which read as
GCJ-02 (or BD-09) would be within :data:`NEAR_M` of it and at most a third as far. A
correct position of a store in the mall it names is within the mall's extent (about
150 m), and reading it as GCJ-02 moves it away by the full offset, so the test does not
fire on it; stations are not used (a station's name is also the name of its district).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyproj import Transformer

from simulator.config.china_coordinates import bd09_to_wgs84, gcj02_to_wgs84, in_china
from simulator.config.coordinates import WGS84
from simulator.config.no_effect import no_effect_warnings

__all__ = ["FAR_M", "NEAR_M", "chinese_map_warnings", "scenario_warnings"]

#: A site at least this far from the mall it names may be in another coordinate system (m).
FAR_M = 300.0
#: ... if read in that system it is within this distance of the mall (m), and a third as far.
NEAR_M = 150.0
_NON_WORD = re.compile(r"[\W_]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _squash(text: str) -> str:
    """Name text for containment tests: NFKC, case-folded, without spaces and punctuation."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


def _named_malls(text: str, mall_keys: Sequence[tuple[str, ...]]) -> list[int]:
    """Indices of the malls one of whose names is contained in ``text`` (CJK names of 2+, others of 5+ characters)."""
    squashed = _squash(text)
    return [
        index
        for index, keys in enumerate(mall_keys)
        if any(key in squashed for key in keys if len(key) >= (2 if _CJK.search(key) else 5))
    ]


def chinese_map_warnings(sites: Sequence[Any], names: Sequence[str], city: Any, section: str, noun: str) -> list[str]:
    """Warnings for WGS84 sites in China that look like GCJ-02 or BD-09 coordinates (see the module docstring).

    Parameters
    ----------
    sites
        Stores or rival showrooms (``id``, ``lon``, ``lat``, ``crs``).
    names
        The text searched for mall names, one per site (e.g. the display name and id).
    city
        The :class:`simulator.city.City` (``mall_xy``, mall ids and names, ``crs``).
    section, noun
        Key path of the list (``plan.stores``) and what a site is called (``store``).
    """
    candidates = [
        position
        for position, site in enumerate(sites)
        if site.lon is not None and site.lat is not None and site.crs == WGS84 and len(city.mall_ids)
    ]
    if not candidates:
        return []
    lon = np.array([sites[p].lon for p in candidates], dtype=np.float64)
    lat = np.array([sites[p].lat for p in candidates], dtype=np.float64)
    to_metric = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    readings = {"wgs84": (lon, lat), "gcj02": gcj02_to_wgs84(lon, lat), "bd09": bd09_to_wgs84(lon, lat)}
    xy = {system: np.column_stack(to_metric.transform(*pair)) for system, pair in readings.items()}
    mall_keys = [
        tuple(_squash(text) for text in texts) for texts in zip(city.mall_ids, city.mall_names, city.mall_names_en)
    ]
    inside = in_china(lon, lat)
    warnings = []
    for row, position in enumerate(candidates):
        if not inside[row]:
            continue
        for mall in _named_malls(names[position], mall_keys):
            distance = {system: float(np.hypot(*(points[row] - city.mall_xy[mall]))) for system, points in xy.items()}
            system = min(("gcj02", "bd09"), key=distance.__getitem__)
            if distance["wgs84"] >= FAR_M and distance[system] <= min(NEAR_M, distance["wgs84"] / 3.0):
                source = "Amap/Gaode or Tencent" if system == "gcj02" else "Baidu"
                warnings.append(
                    f"{section}[{position}] ({sites[position].id}): lon/lat are {distance['wgs84']:,.0f} m from "
                    f"the mall '{city.mall_names[mall]}' ({city.mall_ids[mall]}) the {noun} names, but "
                    f'{distance[system]:,.0f} m read as {system}: if they come from {source}, set crs = "{system}"'
                )
                break
    return warnings


def scenario_warnings(scenario: Any, city: Any = None) -> list[str]:
    """The scenario's no-effect warnings and, given its city, the Chinese-map coordinate warnings."""
    warnings = no_effect_warnings(scenario)
    if city is None:
        return warnings
    stores = scenario.plan.stores
    warnings += chinese_map_warnings(stores, [f"{s.name} {s.id}" for s in stores], city, "plan.stores", "store")
    showrooms = scenario.rivals.showrooms
    warnings += chinese_map_warnings(
        showrooms, [f"{r.display_name} {r.id}" for r in showrooms], city, "rivals.showrooms", "showroom"
    )
    return warnings

"""The candidate sites of a city as one table: malls, subway stations and street sites, with their ids.

``footprint city sites NAME`` prints it; a scenario places a store with ``mall = "<id>"``,
``station = "<id>"`` or the ``lon``/``lat`` shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.city.projection import transformer

if TYPE_CHECKING:
    from simulator.city.bundle import City

__all__ = ["SITE_COLUMNS", "site_table"]

SITE_COLUMNS = ("kind", "id", "name", "name_en", "lon", "lat", "attractiveness", "lines", "scenario_key")
"""Columns of :func:`site_table`."""


def _lonlat(city: City, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude and latitude (degrees, 6 decimals) of metric points."""
    if len(xy) == 0:
        return np.empty(0), np.empty(0)
    lon, lat = transformer(city.crs, "EPSG:4326").transform(xy[:, 0], xy[:, 1])
    return np.round(np.asarray(lon, dtype=float), 6), np.round(np.asarray(lat, dtype=float), 6)


def _station_lines(city: City) -> list[str]:
    """The line names of each station, joined by ``;``, in the order of ``city.station_ids``."""
    lines: list[list[str]] = [[] for _ in city.station_ids]
    for station, line in zip(city.platform_station, city.platform_line):
        name = str(city.line_names[line])
        if name not in lines[station]:
            lines[station].append(name)
    return [";".join(names) for names in lines]


def site_table(city: City) -> pd.DataFrame:
    """Every mall, subway station and street site of a city, with id, names, WGS84 position and key.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SITE_COLUMNS`: ``kind`` (``mall``, ``station`` or ``street``),
        ``id``, ``name``, ``name_en`` (empty for street sites), ``lon``, ``lat``,
        ``attractiveness`` (NaN for stations), ``lines`` (stations only) and
        ``scenario_key``: how a store is placed there in a scenario file.
    """
    parts = []
    kinds = (
        ("mall", city.mall_ids, city.mall_names, city.mall_names_en, city.mall_xy, city.mall_attractiveness),
        ("station", city.station_ids, city.station_names, city.station_names_en, city.station_xy, None),
        ("street", city.site_ids, city.site_names, None, city.site_xy, city.site_attractiveness),
    )
    for kind, ids, names, names_en, xy, attractiveness in kinds:
        lon, lat = _lonlat(city, np.asarray(xy, dtype=float).reshape(-1, 2))
        count = len(ids)
        frame = pd.DataFrame(
            {
                "kind": [kind] * count,
                "id": [str(v) for v in ids],
                "name": [str(v) for v in names],
                "name_en": [str(v) for v in names_en] if names_en is not None else [""] * count,
                "lon": lon,
                "lat": lat,
                "attractiveness": np.asarray(attractiveness, dtype=float) if attractiveness is not None else np.nan,
                "lines": _station_lines(city) if kind == "station" else [""] * count,
            }
        )
        if kind == "street":
            frame["scenario_key"] = [f"lon = {x}, lat = {y}" for x, y in zip(lon, lat)]
        else:
            frame["scenario_key"] = [f'{kind} = "{v}"' for v in frame["id"]]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)[list(SITE_COLUMNS)]

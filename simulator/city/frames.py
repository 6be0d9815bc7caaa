"""GeoDataFrame adapters of a loaded city (geo at the edge): districts, cells, stations, lines, malls, sites.

The simulation core works on the arrays of :class:`simulator.city.bundle.City`;
maps and GIS output read the geometries again from the bundle, lazily, with these
functions. Each frame holds the layer's required columns (:data:`simulator.city.schema.LAYERS`),
in ``city.crs`` and in the order of the city's arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.city.schema import LAYERS
from simulator.config import CityError

if TYPE_CHECKING:
    import geopandas as gpd

    from simulator.city.bundle import City

__all__ = ["cell_frame", "line_frame", "mall_frame", "site_frame", "station_frame", "zone_frame"]


def zone_frame(city: City) -> gpd.GeoDataFrame:
    """Districts as a GeoDataFrame in ``city.crs``, in the order of ``city.zone_ids``."""
    return _frame(city, "districts", city.zone_ids)


def cell_frame(city: City) -> gpd.GeoDataFrame:
    """Population cells as a GeoDataFrame in ``city.crs``, in the order of ``city.cell_ids``."""
    return _frame(city, "population_cells", city.cell_ids)


def station_frame(city: City) -> gpd.GeoDataFrame:
    """Stations as a GeoDataFrame in ``city.crs``, in the order of ``city.station_ids``."""
    return _frame(city, "subway_stations", city.station_ids)


def line_frame(city: City) -> gpd.GeoDataFrame:
    """Lines as a GeoDataFrame in ``city.crs``, in the order of ``city.line_ids``.

    Keeps a ``color`` column when the bundle has one.
    """
    return _frame(city, "subway_lines", city.line_ids, extra=("color",))


def mall_frame(city: City) -> gpd.GeoDataFrame:
    """Malls as a GeoDataFrame in ``city.crs``, in the order of ``city.mall_ids``."""
    return _frame(city, "malls", city.mall_ids)


def site_frame(city: City) -> gpd.GeoDataFrame:
    """Street sites as a GeoDataFrame in ``city.crs`` (empty when the bundle has none)."""
    import geopandas as gpd

    if city.site_ids.size == 0:
        return gpd.GeoDataFrame({c: [] for c in LAYERS["street_sites"].columns}, geometry=[], crs=city.crs)
    return _frame(city, "street_sites", city.site_ids)


def _frame(city: City, layer: str, ids: np.ndarray, extra: tuple[str, ...] = ()) -> gpd.GeoDataFrame:
    """The required columns of ``layer`` (and those of ``extra`` it has), rows in the order of ``ids``."""
    import pyogrio

    spec = LAYERS[layer]
    frame = pyogrio.read_dataframe(city.source, layer=layer)
    keep = list(spec.columns) + [c for c in extra if c in frame.columns]
    frame = frame[keep + [frame.geometry.name]]
    if len(frame):
        frame = frame.set_index(frame[spec.id_column].astype(str)).loc[list(ids)].reset_index(drop=True)
    if frame.crs is None:  # only possible if the file changed since loading
        raise CityError(f"{city.source.name}: layer '{layer}': has no CRS")
    return frame.to_crs(city.crs)

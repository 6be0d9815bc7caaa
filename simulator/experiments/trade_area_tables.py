"""A finished model's trade-area table and booking log (:mod:`simulator.results.trade_areas` reads them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.model import FootprintModel


def trade_area_table(model: FootprintModel) -> pd.DataFrame:
    r"""Where each store's bookings, test drives and purchases come from: one row per store and home cell.

    Only pairs with at least one booking or test drive are listed (a missing pair is 0).
    ``distance_km`` is the straight line from the store to the cell's centroid,
    :math:`\lVert s_j - c_k \rVert / 1000` in the city's metric CRS. Counts are simulated
    consumers (the ``_scaled`` twins are added with the replication columns).
    """
    counts = model.trade_area_counts()
    city, stores = model.city, model.stores
    store, cell = np.nonzero(counts["bookings_requested"] + counts["test_drives"])
    distance = np.hypot(*(stores.xy[store] - city.cell_xy[cell]).T) / 1000.0
    frame = pd.DataFrame(
        {
            "store_id": np.asarray(stores.ids).astype(str)[store],
            "cell_id": np.asarray(city.cell_ids)[cell],
            "zone_id": np.asarray(city.zone_ids)[np.asarray(city.cell_zone)[cell]],
            "distance_km": distance,
        }
    )
    for name, table in counts.items():
        frame[name] = table[store, cell].astype(np.int64)
    return frame


def booking_table(model: FootprintModel) -> pd.DataFrame:
    """Every booking of the run: ``day``, ``consumer`` and ``store_id`` (``rival:<rival_id>`` at a rival)."""
    days, consumers, destination = model.bookings()
    store_ids = np.asarray(model.stores.ids).astype(str)
    rival_ids = np.asarray([f"rival:{rival}" for rival in model.rivals.ids], dtype=str)
    names = np.where(
        destination >= 0,
        store_ids[np.maximum(destination, 0)] if len(store_ids) else "",
        rival_ids[np.maximum(-1 - destination, 0)] if len(rival_ids) else "",
    )
    return pd.DataFrame({"day": days, "consumer": consumers, "store_id": names.astype(str)})

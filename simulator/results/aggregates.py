"""Aggregates of the run tables shared by storage and reports.

:func:`store_totals` sums the ``stores`` table over the horizon per store and averages it
over replications; :func:`replication_means` averages a ``zones`` or ``cells`` table over
replications. The GeoPackage writer, the report and the comparison all use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def store_totals(stores: pd.DataFrame, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-store totals over the horizon, averaged over replications.

    Utilisation is the mean over open days of ``test_drives / capacity``
    (the ``utilisation`` column of ``stores``), then averaged over replications.

    Parameters
    ----------
    stores : pandas.DataFrame
        The ``stores`` table (one row per replication, day and store).
    plan : pandas.DataFrame, optional
        The ``plan`` table; gives the store order, names, formats and capacities.

    Returns
    -------
    pandas.DataFrame
        One row per store: ``store_id``, ``store_name``, ``format``, ``capacity``,
        ``open_days``, ``sightings``, ``bookings_requested``, ``test_drives``,
        ``bookings_lost``, ``purchases``, ``utilisation``, ``replications``.
        Counts are simulated consumers (multiply by the consumer weight for people).
    """
    count_columns = [
        c
        for c in ("sightings", "bookings_requested", "test_drives", "bookings_lost", "purchases")
        if c in stores.columns
    ]
    if stores.empty:
        per_store = pd.DataFrame(columns=["store_id", "open_days", *count_columns, "utilisation", "replications"])
    else:
        frame = stores.copy()
        frame["store_id"] = frame["store_id"].astype(str)
        is_open = frame["is_open"].astype(bool) if "is_open" in frame.columns else pd.Series(True, index=frame.index)
        frame["_open"] = is_open.astype(int)
        frame["_utilisation_open"] = frame["utilisation"].where(is_open) if "utilisation" in frame.columns else np.nan
        per_replication = frame.groupby(["replication", "store_id"], sort=False).agg(
            open_days=("_open", "sum"),
            **{column: (column, "sum") for column in count_columns},
            utilisation=("_utilisation_open", "mean"),
        )
        per_store = per_replication.groupby(level="store_id", sort=False).mean()
        per_store["replications"] = per_replication.groupby(level="store_id", sort=False).size()
        per_store = per_store.reset_index()
        per_store["utilisation"] = per_store["utilisation"].fillna(0.0)
    descriptors = ["store_id", "store_name", "format", "capacity"]
    if plan is not None and len(plan):
        plan_part = plan[[c for c in descriptors if c in plan.columns]].copy()
        plan_part["store_id"] = plan_part["store_id"].astype(str)
        merged = plan_part.merge(per_store, on="store_id", how="outer", sort=False)
    else:
        merged = per_store
        if not stores.empty:
            first = stores.drop_duplicates("store_id").assign(store_id=lambda f: f["store_id"].astype(str))
            extra = [c for c in descriptors[1:] if c in first.columns]
            merged = first[["store_id", *extra]].merge(per_store, on="store_id", how="right")
    for column in descriptors:
        if column not in merged.columns:
            merged[column] = merged["store_id"] if column == "store_name" else np.nan
    for column in ("open_days", *count_columns, "utilisation", "replications"):
        if column in merged.columns:
            merged[column] = merged[column].fillna(0)
    ordered = descriptors + [c for c in merged.columns if c not in descriptors]
    return merged[ordered].reset_index(drop=True)


def replication_means(table: pd.DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    """Mean over replications of every numeric column of a zone or cell table.

    Parameters
    ----------
    table : pandas.DataFrame
        ``zones`` or ``cells`` (one row per replication and zone or cell).
    key : str or sequence of str
        Identifier column(s), e.g. ``"zone_id"`` or ``["cell_id", "zone_id"]``.

    Returns
    -------
    pandas.DataFrame
        One row per key with the means of the numeric columns (``replication`` and
        ``seed`` dropped) and ``replications``, the number of replications averaged.
    """
    keys = [key] if isinstance(key, str) else list(key)
    if table.empty:
        return pd.DataFrame(columns=[*keys, "replications"])
    frame = table.copy()
    for column in keys:
        frame[column] = frame[column].astype(str)
    numeric = [
        c
        for c in frame.columns
        if c not in keys
        and c not in ("replication", "seed")
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    grouped = frame.groupby(keys, sort=False)
    means = grouped[numeric].mean()
    means["replications"] = grouped.size()
    return means.reset_index()

"""Aggregates of the run tables shared by storage and reports.

:func:`store_totals` sums the ``stores`` table over the horizon per store and averages it
over replications; :func:`replication_means` averages a ``zones`` or ``cells`` table over
replications. Each KPI gets its Monte-Carlo standard error ``<kpi>_se``
(:mod:`simulator.results.uncertainty`). The GeoPackage writer, the report and the
comparison all use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simulator.results.uncertainty import (
    STORE_COUNT_KPIS,
    ZONE_KPI_KINDS,
    add_within_run_se,
    combine_replications,
    count_se,
    order_se_columns,
    se_name,
)


def store_totals(stores: pd.DataFrame, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    r"""Per-store totals over the horizon, averaged over replications, with their SEs.

    Utilisation is the mean over open days of ``test_drives / capacity``
    (the ``utilisation`` column of ``stores``), then averaged over replications.
    Every KPI has ``<kpi>_se``: over replications :math:`s/\sqrt R`; with one
    replication the Poisson estimate :math:`\sqrt n` of a count and, for utilisation
    :math:`u_d` over ``D`` open days, :math:`\sqrt{\sum_d u_d^2 / n_d} / D` (test drives
    ``n_d`` on day ``d`` Poisson).

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
        ``bookings_lost``, ``purchases``, ``utilisation``, each followed by its
        ``_se``, and ``replications``. Counts are simulated consumers (multiply by the
        consumer weight for people).
    """
    count_columns = [c for c in STORE_COUNT_KPIS if c in stores.columns]
    kpis = [*count_columns, "utilisation"]
    if stores.empty:
        per_store = pd.DataFrame(
            columns=["store_id", "open_days", *[n for k in kpis for n in (k, se_name(k))], "replications"]
        )
    else:
        per_replication = _store_replication_totals(stores, count_columns)
        per_store = combine_replications(per_replication, ["store_id"], kpis)
        per_store.insert(0, "open_days", per_replication.groupby("store_id", sort=False)["open_days"].mean())
        per_store["replications"] = per_replication.groupby("store_id", sort=False).size()
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
        if se_name(column) in merged.columns:
            merged[se_name(column)] = merged[se_name(column)].astype(float)
    ordered = descriptors + [c for c in merged.columns if c not in descriptors]
    return order_se_columns(merged[ordered].reset_index(drop=True))


def _store_replication_totals(stores: pd.DataFrame, count_columns: list[str]) -> pd.DataFrame:
    """Per replication and store: open days, counts and utilisation, each with its within-run SE."""
    frame = stores.copy()
    frame["store_id"] = frame["store_id"].astype(str)
    is_open = frame["is_open"].astype(bool) if "is_open" in frame.columns else pd.Series(True, index=frame.index)
    frame["_open"] = is_open.astype(int)
    if "utilisation" in frame.columns:
        utilisation = frame["utilisation"].astype(float)
        drives = frame["test_drives"].astype(float) if "test_drives" in frame.columns else utilisation * np.nan
        frame["_utilisation_open"] = utilisation.where(is_open)
        frame["_utilisation_variance"] = np.where(is_open & (drives > 0), utilisation**2 / drives.where(drives > 0), 0.0)
    else:
        frame["_utilisation_open"] = np.nan
        frame["_utilisation_variance"] = np.nan
    totals = frame.groupby(["replication", "store_id"], sort=False).agg(
        open_days=("_open", "sum"),
        **{column: (column, "sum") for column in count_columns},
        utilisation=("_utilisation_open", "mean"),
        _utilisation_variance=("_utilisation_variance", "sum"),
    )
    for column in count_columns:
        totals[se_name(column)] = count_se(totals[column])
    open_days = totals["open_days"].to_numpy(dtype=float)
    totals["utilisation_se"] = np.where(
        open_days > 0, np.sqrt(totals["_utilisation_variance"]) / np.maximum(open_days, 1.0), 0.0
    )
    return totals.drop(columns="_utilisation_variance").reset_index()


SCALED_COUNTS = tuple(dict.fromkeys([*STORE_COUNT_KPIS, *(k for k, kind in ZONE_KPI_KINDS.items() if kind == "count")]))
"""Counts of the store and zone tables that get a ``_scaled`` twin in people (:func:`with_scaled_counts`)."""


def with_scaled_counts(frame: pd.DataFrame, weight: float, counts: Sequence[str] = SCALED_COUNTS) -> pd.DataFrame:
    """A copy of ``frame`` with ``<count>_scaled`` (people) and its ``_se`` right after each simulated count.

    ``x_scaled = w x`` and ``x_scaled_se = w x_se``, ``w`` the people one simulated consumer
    stands for; columns that already exist are kept.
    """
    present = set(frame.columns)
    added: dict[str, pd.Series] = {}
    ordered: list[str] = []
    for column in frame.columns:
        if column.endswith("_se") and column.removesuffix("_se") in present:
            continue  # placed right after its KPI
        ordered += [column, *([se_name(column)] if se_name(column) in present else [])]
        scaled = f"{column}_scaled"
        if column in counts and scaled not in present:
            added[scaled] = frame[column].astype(float) * weight
            ordered.append(scaled)
            if se_name(column) in present:
                added[se_name(scaled)] = frame[se_name(column)].astype(float) * weight
                ordered.append(se_name(scaled))
    if not added:
        return frame
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)[ordered]


def replication_means(table: pd.DataFrame, key: str | Sequence[str]) -> pd.DataFrame:
    r"""Mean over replications of every numeric column of a zone or cell table.

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
        ``seed`` dropped), ``<kpi>_se`` after each KPI (:data:`ZONE_KPI_KINDS` and any
        column with an ``_se`` in ``table``: over replications :math:`s/\sqrt R`, with
        one replication the within-run estimate of
        :func:`~simulator.results.uncertainty.add_within_run_se`) and ``replications``,
        the number of replications averaged.
    """
    keys = [key] if isinstance(key, str) else list(key)
    if table.empty:
        return pd.DataFrame(columns=[*keys, "replications"])
    frame = add_within_run_se(table) if "consumers" in table.columns else table.copy()
    for column in keys:
        frame[column] = frame[column].astype(str)
    numeric = [
        c
        for c in frame.columns
        if c not in keys
        and c not in ("replication", "seed")
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    kpis = [c for c in numeric if c in ZONE_KPI_KINDS or se_name(c) in frame.columns]
    others = [c for c in numeric if c not in kpis and not (c.endswith("_se") and c.removesuffix("_se") in kpis)]
    grouped = frame.groupby(keys, sort=False)
    means = grouped[others].mean().join(combine_replications(frame, keys, kpis))
    means["replications"] = grouped.size()
    return order_se_columns(means.reset_index()[[*keys, *[c for c in numeric if c in means.columns], "replications"]])

r"""Trade areas, catchments and booking transfers between plans.

A store's *trade area* is where its customers live: its bookings, test drives and the
purchases after them by the home cell of the consumer (``trade_areas`` table of a run,
one row per replication, store and cell). :func:`trade_area_summary` averages it over
replications with Monte-Carlo SEs (:mod:`simulator.results.uncertainty`) and marks each
store's 50, 70 and 90 % *catchments*.

**Catchment rule (highest density first).** A store's cells are ranked by the mean
bookings they give it, most first (ties: nearer cell first, then cell id). The cells are
all 1 km squares, so this is the order of booking density. The :math:`p` catchment is the
shortest prefix of that ranking whose bookings reach the share :math:`p` of the store's
bookings: cell :math:`k` belongs to it when the share of the cells ranked before it is
below :math:`p`,

.. math::

    k \in C_p \iff \sum_{i < k} b_i < p \sum_i b_i .

For a count this greedy prefix is the smallest set of cells holding the share :math:`p`,
and :math:`C_{0.5} \subseteq C_{0.7} \subseteq C_{0.9}`.

**Transfers.** Under common random numbers every plan of a comparison has the same
consumers. :func:`transfer_table` pairs the :math:`k`-th booking of each consumer in the
baseline with their :math:`k`-th booking in a plan (:math:`k = 1, 2, \dots` in the order
made) and counts the pairs by (baseline destination, plan destination): a brand store,
``rivals`` (any rival showroom) or ``none`` (no :math:`k`-th booking in that run). Its
row sums are the baseline's bookings per destination and its column sums the plan's.

Naming: a count ``x`` is simulated consumers and ``x_scaled`` people of the city
(``x`` times the consumer weight), as in every table (``docs/architecture.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simulator.results.uncertainty import order_se_columns, se_name

TRADE_AREA_COUNTS = ("bookings_requested", "test_drives", "purchases")
"""Counts of the ``trade_areas`` table (simulated), each with a ``_scaled`` twin (people)."""

CATCHMENT_SHARES = (0.5, 0.7, 0.9)
"""Shares of a store's bookings its catchments hold (judgement: the usual 50/70/90 % trade-area rings)."""

RIVALS = "rivals"
NONE = "none"
"""Destinations of :func:`transfer_table` besides the brand's stores."""


def catchment_column(share: float) -> str:
    """Column of :func:`trade_area_summary` marking the ``share`` catchment (``in_catchment_50``)."""
    return f"in_catchment_{round(share * 100)}"


def _replication_stats(
    per_replication: pd.DataFrame, keys: list[str], columns: list[str], n_replications: int, weight: float
) -> pd.DataFrame:
    r"""Mean over ``n_replications`` of each count (missing rows are 0), its SE and ``_scaled`` twins.

    With :math:`R \ge 2` the SE is :math:`s/\sqrt R` over the replications (zeros included),
    with one the Poisson :math:`\sqrt n`.
    """
    n = max(int(n_replications), 1)
    grouped = per_replication.groupby(keys, sort=False)[columns]
    total = grouped.sum().astype(float)
    squares = (per_replication[columns].astype(float) ** 2).groupby([per_replication[k] for k in keys], sort=False).sum()
    out = pd.DataFrame(index=total.index)
    for column in columns:
        mean = total[column] / n
        if n >= 2:
            variance = (squares[column] - n * mean**2).clip(lower=0.0) / (n - 1)
            se = np.sqrt(variance / n)
        else:
            se = np.sqrt(mean)
        out[column] = mean
        out[se_name(column)] = se
        out[f"{column}_scaled"] = mean * weight
        out[se_name(f"{column}_scaled")] = se * weight
    return out


def trade_area_summary(
    trade_areas: pd.DataFrame,
    plan: pd.DataFrame | None,
    *,
    n_replications: int,
    weight: float,
    shares: tuple[float, ...] = CATCHMENT_SHARES,
) -> pd.DataFrame:
    """Each store's trade area over replications, with its catchments.

    Parameters
    ----------
    trade_areas : pandas.DataFrame
        The run's ``trade_areas`` table (``replication``, ``store_id``, ``cell_id``,
        ``zone_id``, ``distance_km`` and :data:`TRADE_AREA_COUNTS`).
    plan : pandas.DataFrame, optional
        The ``plan`` table (store names and order).
    n_replications : int
        Replications of the run (a pair missing from one counts 0 there).
    weight : float
        People one simulated consumer stands for.
    shares : tuple of float
        Catchment shares (default :data:`CATCHMENT_SHARES`).

    Returns
    -------
    pandas.DataFrame
        One row per store and cell, stores in plan order and cells by rank: ``store_id``,
        ``store_name``, ``cell_id``, ``zone_id``, ``distance_km``, each count with ``_se``,
        ``_scaled`` and ``_scaled_se``, ``booking_share`` (of the store's bookings),
        ``cumulative_share``, ``catchment_rank`` (1 = most bookings) and one boolean
        :func:`catchment_column` per share.
    """
    counts = [c for c in TRADE_AREA_COUNTS if c in trade_areas.columns]
    descriptors = ["store_id", "store_name", "cell_id", "zone_id", "distance_km"]
    if trade_areas.empty or not counts:
        scaled = [n for c in TRADE_AREA_COUNTS for n in (c, se_name(c), f"{c}_scaled", se_name(f"{c}_scaled"))]
        extra = ["booking_share", "cumulative_share", "catchment_rank", *map(catchment_column, shares)]
        return pd.DataFrame(columns=[*descriptors, *scaled, *extra])
    frame = trade_areas.assign(store_id=trade_areas["store_id"].astype(str), cell_id=trade_areas["cell_id"].astype(str))
    stats = _replication_stats(frame, ["store_id", "cell_id"], counts, n_replications, weight)
    places = frame.groupby(["store_id", "cell_id"], sort=False)[["zone_id", "distance_km"]].first()
    table = places.join(stats).reset_index()
    table["zone_id"] = table["zone_id"].astype(str)
    order = _store_order(table["store_id"], plan)
    table["_store_order"] = table["store_id"].map(order)
    table = table.sort_values(
        ["_store_order", "bookings_requested", "distance_km", "cell_id"], ascending=[True, False, True, True]
    )
    by_store = table.groupby("store_id", sort=False)["bookings_requested"]
    store_total = by_store.transform("sum")
    with np.errstate(invalid="ignore", divide="ignore"):
        table["booking_share"] = np.where(store_total > 0, table["bookings_requested"] / store_total, 0.0)
    table["cumulative_share"] = table.groupby("store_id", sort=False)["booking_share"].cumsum()
    before = table["cumulative_share"] - table["booking_share"]
    table["catchment_rank"] = table.groupby("store_id", sort=False).cumcount() + 1
    for share in shares:
        table[catchment_column(share)] = (before < share - 1e-9) & (table["bookings_requested"] > 0)
    names = _store_names(plan)
    table.insert(1, "store_name", [names.get(store, store) for store in table["store_id"]])
    return order_se_columns(table.drop(columns="_store_order").reset_index(drop=True))


def _store_order(store_ids: pd.Series, plan: pd.DataFrame | None) -> dict[str, int]:
    listed = [str(s) for s in plan["store_id"]] if plan is not None and "store_id" in plan.columns else []
    extra = [s for s in pd.unique(store_ids) if s not in listed]
    return {store: position for position, store in enumerate([*listed, *extra])}


def _store_names(plan: pd.DataFrame | None) -> dict[str, str]:
    if plan is None or not {"store_id", "store_name"} <= set(plan.columns):
        return {}
    return dict(zip(plan["store_id"].astype(str), plan["store_name"].astype(str), strict=False))


def catchment_cells(summary: pd.DataFrame, share: float) -> pd.DataFrame:
    """The rows of :func:`trade_area_summary` in each store's ``share`` catchment."""
    return summary[summary[catchment_column(share)].astype(bool)]


def catchment_summary(summary: pd.DataFrame, shares: tuple[float, ...] = CATCHMENT_SHARES) -> pd.DataFrame:
    """Per store: its bookings and, for each catchment, the cells it spans and its farthest cell.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`trade_area_summary`.

    Returns
    -------
    pandas.DataFrame
        ``store_id``, ``store_name``, ``bookings_requested`` (simulated), ``bookings_requested_scaled``
        (people), ``cells`` (home cells with a booking) and, per share ``p`` (in percent),
        ``cells_<p>`` and ``radius_km_<p>`` (the distance of the catchment's farthest cell).
    """
    columns = ["store_id", "store_name", "bookings_requested", "bookings_requested_scaled", "cells"]
    for share in shares:
        columns += [f"cells_{round(share * 100)}", f"radius_km_{round(share * 100)}"]
    if summary.empty:
        return pd.DataFrame(columns=columns)
    booked = summary[summary["bookings_requested"] > 0]
    grouped = booked.groupby(["store_id", "store_name"], sort=False)
    table = grouped[["bookings_requested", "bookings_requested_scaled"]].sum()
    table["cells"] = grouped.size()
    for share in shares:
        inside = booked[booked[catchment_column(share)].astype(bool)].groupby(["store_id", "store_name"], sort=False)
        table[f"cells_{round(share * 100)}"] = inside.size()
        table[f"radius_km_{round(share * 100)}"] = inside["distance_km"].max()
    return table.reset_index()[columns]


def catchment_frame(summary: pd.DataFrame, cell_frame: Any, shares: tuple[float, ...] = CATCHMENT_SHARES) -> Any:
    """Each store's catchments as polygons: the union of their cells, one row per store and share.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`trade_area_summary`.
    cell_frame : geopandas.GeoDataFrame
        The city's cells with ``cell_id`` (any CRS; the result keeps it).

    Returns
    -------
    geopandas.GeoDataFrame
        ``store_id``, ``store_name``, ``share_percent`` (50, 70, 90), ``cells``,
        ``bookings_requested`` (simulated) and ``bookings_requested_scaled`` (people) inside,
        ``booking_share`` (what the cells hold; at least the share) and the geometry
        (:func:`shapely.coverage_union_all` of the cells: they tile the city). Widest first,
        so that a map draws the narrower catchments on top.
    """
    import geopandas as gpd
    import shapely

    columns = ["store_id", "store_name", "share_percent", "cells", "bookings_requested", "bookings_requested_scaled", "booking_share"]
    if summary.empty or cell_frame is None:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=getattr(cell_frame, "crs", None))
    geometries = np.asarray(cell_frame.geometry.to_numpy())
    position = {str(cell): k for k, cell in enumerate(cell_frame["cell_id"].tolist())}
    at = np.asarray([position.get(str(cell), -1) for cell in summary["cell_id"].tolist()], dtype=np.int64)
    stores = summary["store_id"].to_numpy()
    names = summary["store_name"].to_numpy()
    booked = summary["bookings_requested"].to_numpy(dtype=float)
    scaled = summary["bookings_requested_scaled"].to_numpy(dtype=float)
    share_of = summary["booking_share"].to_numpy(dtype=float)
    rows, shapes = [], []
    for share in sorted(shares, reverse=True):
        inside = summary[catchment_column(share)].to_numpy(dtype=bool) & (at >= 0)
        for store in pd.unique(stores[inside]):
            mask = inside & (stores == store)
            rows.append(
                {
                    "store_id": store,
                    "store_name": names[mask][0],
                    "share_percent": round(share * 100),
                    "cells": int(mask.sum()),
                    "bookings_requested": float(booked[mask].sum()),
                    "bookings_requested_scaled": float(scaled[mask].sum()),
                    "booking_share": float(share_of[mask].sum()),
                }
            )
            shapes.append(shapely.coverage_union_all(geometries[at[mask]]))
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry=list(shapes) if shapes else [], crs=cell_frame.crs)


def _ranked_bookings(bookings: pd.DataFrame) -> pd.DataFrame:
    """``replication``, ``consumer``, ``k`` (the consumer's k-th booking, from 1) and ``destination``."""
    frame = bookings[["replication", "day", "consumer", "store_id"]].copy()
    frame["destination"] = frame["store_id"].astype(str).where(~frame["store_id"].astype(str).str.startswith("rival:"), RIVALS)
    frame = frame.sort_values(["replication", "consumer", "day"], kind="stable")
    frame["k"] = frame.groupby(["replication", "consumer"], sort=False).cumcount() + 1
    return frame[["replication", "consumer", "k", "destination"]]


def transfer_table(
    base_bookings: pd.DataFrame, plan_bookings: pd.DataFrame, *, n_replications: int, weight: float
) -> pd.DataFrame:
    """Bookings by baseline destination and plan destination, the same consumers paired (see the module).

    Parameters
    ----------
    base_bookings, plan_bookings : pandas.DataFrame
        The runs' booking logs (``replication``, ``day``, ``consumer``, ``store_id``;
        a rival's ``store_id`` starts with ``rival:``), same seeds.
    n_replications : int
        Replications of the runs.
    weight : float
        People one simulated consumer stands for.

    Returns
    -------
    pandas.DataFrame
        One row per (``from_store_id``, ``to_store_id``) pair seen: ``bookings`` (mean
        over replications, simulated), ``bookings_se``, ``bookings_scaled`` (people),
        ``bookings_scaled_se`` and ``moved`` (the destinations differ). ``rivals`` and
        ``none`` are destinations too.
    """
    columns = ["from_store_id", "to_store_id", "bookings", "bookings_se", "bookings_scaled", "bookings_scaled_se", "moved"]
    if base_bookings.empty and plan_bookings.empty:
        return pd.DataFrame(columns=columns)
    paired = _ranked_bookings(base_bookings).merge(
        _ranked_bookings(plan_bookings), on=["replication", "consumer", "k"], how="outer", suffixes=("_base", "_plan")
    )
    paired["from_store_id"] = paired["destination_base"].fillna(NONE)
    paired["to_store_id"] = paired["destination_plan"].fillna(NONE)
    counts = paired.groupby(["replication", "from_store_id", "to_store_id"], sort=False).size()
    per_replication = counts.rename("bookings").reset_index()
    stats = _replication_stats(per_replication, ["from_store_id", "to_store_id"], ["bookings"], n_replications, weight)
    table = stats.reset_index()
    table["moved"] = table["from_store_id"] != table["to_store_id"]
    return table.sort_values(["from_store_id", "to_store_id"]).reset_index(drop=True)[columns]


def transfer_matrix(transfers: pd.DataFrame, value: str = "bookings_scaled") -> pd.DataFrame:
    """:func:`transfer_table` as a matrix: baseline destinations down, plan destinations across (0 where none)."""
    if transfers.empty:
        return pd.DataFrame()
    matrix = transfers.pivot_table(index="from_store_id", columns="to_store_id", values=value, aggfunc="sum", fill_value=0.0)

    def ordered(labels: pd.Index) -> list[str]:
        stores = [str(label) for label in labels if label not in (RIVALS, NONE)]
        return stores + [label for label in (RIVALS, NONE) if label in labels]

    return matrix.loc[ordered(matrix.index), ordered(matrix.columns)]

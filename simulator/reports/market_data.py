"""The numbers behind the market figures and sections of a run report.

Where test-drive intent goes (:func:`funnel_totals`), bookings won by rivals
(:func:`rival_bookings`), access and booking rates by zone (:func:`zone_access`), and
the launch rush (:func:`launch_window`, :func:`weekly_bookings`), all from the run's
tables alone. Counts use the ``_scaled`` columns (people) when the run has them, else
simulated consumers; tables of runs written before these columns existed give empty
results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simulator.reports.derived import replication_means_of, store_totals_of
from simulator.reports.figures import display_label, time_axis
from simulator.results import RunResult
from simulator.results.uncertainty import count_se, replication_se

FUNNEL_COUNTS = (
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "bookings_no_store",
    "test_drives",
    "bookings_lost",
    "online_orders",
    "purchases",
    "purchases_direct",
)
"""Daily counts summed over the horizon for the intent funnel."""

LAUNCH_DAYS = 56
"""Days after the launch shown in the launch-rush figure (eight weeks)."""

BRAND_LABEL = "own brand"
"""Label of the simulated brand in rival comparisons."""


def count_unit(daily: pd.DataFrame) -> str:
    """``people`` when the daily counts have ``_scaled`` twins, else ``simulated consumers``."""
    return "people" if any(str(c).endswith("_scaled") for c in daily.columns) else "simulated consumers"


def funnel_totals(daily: pd.DataFrame) -> dict[str, float]:
    """Totals over the horizon of the funnel counts, mean over replications.

    For a count :math:`c` with daily values :math:`c_{r,t}` in replication :math:`r`,
    the total is :math:`\\frac{1}{R}\\sum_r \\sum_t c_{r,t}`, taken from the ``_scaled``
    column (people) when present. Counts missing from ``daily`` are left out, so an
    older run without ``test_drive_intents`` gives a dictionary without that key.
    """
    totals: dict[str, float] = {}
    if daily.empty:
        return totals
    for name in FUNNEL_COUNTS:
        column = f"{name}_scaled" if f"{name}_scaled" in daily.columns else name
        if column in daily.columns:
            totals[name] = float(daily.groupby("replication")[column].sum().mean())
    return totals


def funnel_standard_errors(daily: pd.DataFrame, weight: float = 1.0) -> dict[str, float]:
    r"""Monte-Carlo SE of each :func:`funnel_totals` total.

    Over replications :math:`s/\sqrt R` of the per-replication totals; with one
    replication the Poisson estimate :math:`w\sqrt n` of the simulated total ``n``
    (``w`` = ``weight`` when the totals are scaled, else 1).
    """
    errors: dict[str, float] = {}
    if daily.empty:
        return errors
    several = daily["replication"].nunique() >= 2
    for name in FUNNEL_COUNTS:
        scaled = f"{name}_scaled" in daily.columns
        column = f"{name}_scaled" if scaled else name
        if column not in daily.columns:
            continue
        totals = daily.groupby("replication")[column].sum()
        if several:
            errors[name] = replication_se(totals.to_numpy(dtype=float))
        else:
            factor = weight if scaled else 1.0
            errors[name] = float(count_se(float(totals.iloc[0]) / factor, factor))
    return errors


def rival_bookings(result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bookings won by each rival brand and showroom, beside the brand's own.

    Returns
    -------
    brands, showrooms : pandas.DataFrame
        ``brands``: columns ``brand``, ``bookings``, ``bookings_se``, ``share`` (of all bookings, the
        brand's plus the rivals'), ``showrooms``, ``is_brand``; the brand's own row first
        (:data:`BRAND_LABEL`), then rivals by bookings. ``showrooms``: ``id``, ``name``, ``brand``,
        ``bookings``, ``is_brand`` for the brand's stores and each rival showroom, by
        bookings. Bookings are means over replications, in people when the run is
        scaled. Both are empty when the run has no rival showrooms.
    """
    rivals = result.rivals
    empty = pd.DataFrame(columns=["brand", "bookings", "bookings_se", "share", "showrooms", "is_brand"])
    if rivals.empty or "bookings" not in rivals.columns:
        return empty, pd.DataFrame(columns=["id", "name", "brand", "bookings", "is_brand"])
    value = "bookings_scaled" if "bookings_scaled" in rivals.columns else "bookings"
    per_showroom = (
        rivals.groupby(["rival_id", "brand", "rival_name"], sort=False)[value]
        .mean()
        .reset_index()
        .rename(columns={value: "bookings", "rival_name": "name", "rival_id": "id"})
    )
    per_showroom["is_brand"] = False
    weight = result.consumer_weight if value == "bookings_scaled" else 1.0
    own = store_totals_of(result.stores, result.plan)
    own_stores = pd.DataFrame(
        {
            "id": own["store_id"].astype(str),
            "name": own["store_name"].astype(str),
            "brand": BRAND_LABEL,
            "bookings": own["bookings_requested"].astype(float) * weight if len(own) else [],
            "is_brand": True,
        }
    )
    own_total = funnel_totals(result.daily).get("bookings_requested", float(own_stores["bookings"].sum()))
    by_brand = per_showroom.groupby("brand", sort=False).agg(bookings=("bookings", "sum"), showrooms=("name", "size"))
    by_brand = by_brand.reset_index().sort_values("bookings", ascending=False, kind="stable")
    by_brand["is_brand"] = False
    own_row = pd.DataFrame(
        [{"brand": BRAND_LABEL, "bookings": own_total, "showrooms": len(own_stores), "is_brand": True}]
    )
    brands = pd.concat([own_row, by_brand], ignore_index=True)
    brands["bookings_se"] = _brand_standard_errors(result, brands, value, weight)
    all_bookings = float(brands["bookings"].sum())
    brands["share"] = brands["bookings"] / all_bookings if all_bookings > 0 else np.nan
    showrooms = pd.concat([own_stores, per_showroom], ignore_index=True)
    showrooms = showrooms.sort_values("bookings", ascending=False, kind="stable").reset_index(drop=True)
    return brands, showrooms


def _brand_standard_errors(result: RunResult, brands: pd.DataFrame, value: str, weight: float) -> np.ndarray:
    """SE of each brand's mean bookings: over replications, or the within-run w·sqrt(n) with one."""
    own_column = "bookings_requested_scaled" if value == "bookings_scaled" else "bookings_requested"
    if result.rivals["replication"].nunique() < 2 or own_column not in result.daily.columns:
        return np.asarray(count_se(brands["bookings"].to_numpy(dtype=float) / weight, weight))
    per_replication = result.rivals.groupby(["brand", "replication"])[value].sum()
    own = result.daily.groupby("replication")[own_column].sum()
    return np.array(
        [
            replication_se(own.to_numpy(dtype=float) if is_brand else per_replication.loc[brand].to_numpy(dtype=float))
            for brand, is_brand in zip(brands["brand"], brands["is_brand"], strict=True)
        ]
    )


def zone_access(result: RunResult, zone_frame: Any = None) -> pd.DataFrame:
    """Zones with access and booking rates, nearest store first (mean over replications).

    Columns of the ``zones`` table (``nearest_store_km``, ``brand_access``,
    ``rival_access``, ``bookings_requested_per_1000``, ``bookings_to_rivals_per_1000``,
    ``population_represented``, ...) plus ``label`` (English name, Chinese name or id)
    and ``name_en`` / ``name`` when ``zone_frame`` has them. Empty when the zones carry no
    ``nearest_store_km`` (a run written before access was recorded).
    """
    zones = result.zones
    if zones.empty or "nearest_store_km" not in zones.columns:
        return pd.DataFrame()
    means = replication_means_of(zones, "zone_id")
    if zone_frame is not None:
        names = pd.DataFrame(zone_frame.drop(columns=zone_frame.geometry.name, errors="ignore"))
        names = names[[c for c in ("zone_id", "name", "name_en") if c in names.columns]].copy()
        names["zone_id"] = names["zone_id"].astype(str)
        means = means.merge(names.drop_duplicates("zone_id"), on="zone_id", how="left")
    means["label"] = [
        display_label(row.get("name_en"), row.get("name"), row["zone_id"]) for row in means.to_dict("records")
    ]
    return means.sort_values("nearest_store_km", kind="stable", na_position="last").reset_index(drop=True)


def launch_window(daily: pd.DataFrame, days: int = LAUNCH_DAYS) -> pd.DataFrame:
    """Daily launch-rush counts over the first ``days`` days, mean over replications.

    Columns ``day`` (and ``date`` when the table has dates) and, of ``bookings_requested``,
    ``test_drives``, ``queue_length`` and ``bookings_lost``, those present (``_scaled``
    values when the run has them, under the plain names).
    """
    names = ("bookings_requested", "test_drives", "queue_length", "bookings_lost")
    columns = {}
    for name in names:
        column = f"{name}_scaled" if f"{name}_scaled" in daily.columns else name
        if column in daily.columns:
            columns[column] = name
    if daily.empty or not columns:
        return pd.DataFrame()
    first = daily[daily["day"] < daily["day"].min() + days]
    window = first.groupby("day", sort=True)[list(columns)].mean().rename(columns=columns).reset_index()
    if time_axis(daily)[1]:
        dates = first.groupby("day", sort=True)["date"].first()
        window["date"] = pd.to_datetime(window["day"].map(dates))
    return window


def weekly_bookings(daily: pd.DataFrame) -> pd.Series:
    """Bookings requested at the brand's stores per complete week since the first day, mean over replications.

    Week :math:`w` covers days :math:`7w .. 7w+6`; an incomplete last week is dropped.
    Empty when ``bookings_requested`` is missing.
    """
    column = "bookings_requested_scaled" if "bookings_requested_scaled" in daily.columns else "bookings_requested"
    if daily.empty or column not in daily.columns:
        return pd.Series(dtype=float)
    day = daily["day"] - daily["day"].min()
    week = day // 7
    per_day = daily.assign(week=week).groupby(["replication", "week"])[column].agg(["sum", "size"])
    complete = per_day[per_day["size"] == 7]["sum"]
    return complete.groupby(level="week").mean()

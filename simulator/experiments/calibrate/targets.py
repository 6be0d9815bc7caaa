"""Observed targets: reading the data file, checking each row against the base scenario, simulated values.

A row of the observed file (CSV or Parquet) is one target: a KPI over a period, for the
whole city, one store or one district, with its observed value and standard error.

Periods: a day ``2024-03-28``, an ISO week ``2024-W14`` (Monday to Sunday), a month
``2024-04``, a date range ``2024-03-28..2024-04-23`` (both ends included) or ``all`` (the
horizon). Over a period, a count KPI (``purchases``, ``test_drives_scaled``, ...) is
summed; ``cumulative_purchases`` takes the period's last day; ``queue_length`` and the
shares and means (``mean_trust``, ``share_aware``, store ``utilisation``) are averaged
over the period's days. ``_scaled`` KPIs count people (simulated consumers times the
consumer weight).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import Scenario, file_path_problem, raise_problems, show_value
from simulator.experiments.calibrate.spec import DEFAULT_RELATIVE_ERROR
from simulator.results import DAILY_COUNT_COLUMNS

DAILY_LEVELS = (
    "share_aware",
    "mean_familiarity",
    "share_familiar",
    "reach_28d",
    "effective_frequency_28d",
    "mean_trust",
)
STORE_COUNTS = ("sightings", "bookings_requested", "test_drives", "bookings_lost", "queue_length", "purchases")
ZONE_COUNTS = ("test_drive_intents", "bookings_requested", "bookings_to_rivals", "test_drives", "purchases")
MEAN_COUNTS = ("queue_length",)
LAST_COUNTS = ("cumulative_purchases",)
COLUMNS = ("kpi", "period", "value", "se", "store_id", "district", "label")


def _with_scaled(counts: tuple[str, ...]) -> tuple[str, ...]:
    return counts + tuple(f"{c}_scaled" for c in counts)


CITY_KPIS = _with_scaled(DAILY_COUNT_COLUMNS) + DAILY_LEVELS
STORE_KPIS = _with_scaled(STORE_COUNTS) + ("utilisation",)
ZONE_KPIS = _with_scaled(ZONE_COUNTS)


@dataclass(frozen=True)
class Target:
    """One observed target, resolved against the base scenario.

    Attributes
    ----------
    label : str
        Name in tables and figures.
    kpi : str
        As written (``purchases_scaled``).
    table : {"daily", "stores", "zones"}
        The simulated table it is read from.
    rule : {"sum", "mean", "last"}
        How the period's days are combined.
    first_day, last_day : int
        The period, 0-based days of the horizon, both included.
    store_id, zone_id : str or None
        The store or district (None: the whole city).
    value, se : float
        Observed value and its standard error.
    log : bool
        Emulated on the scale ``log(1 + y)`` (counts), else as it is.
    """

    label: str
    kpi: str
    table: str
    rule: str
    first_day: int
    last_day: int
    period: str
    store_id: str | None
    zone_id: str | None
    value: float
    se: float
    log: bool

    @property
    def column(self) -> str:
        return self.kpi.removesuffix("_scaled")

    @property
    def scaled(self) -> bool:
        return self.kpi.endswith("_scaled")


_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def period_days(text: str, start: date, days: int) -> tuple[int, int]:
    """``(first_day, last_day)`` of a period within a horizon of ``days`` days from ``start``.

    Raises
    ------
    ValueError
        For a period that cannot be read or that is not inside the horizon.
    """
    text = text.strip()
    if text.lower() == "all":
        return 0, days - 1
    try:
        if ".." in text:
            low, _, high = text.partition("..")
            first, last = date.fromisoformat(low.strip()), date.fromisoformat(high.strip())
        elif match := _WEEK.match(text):
            first = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            last = first + timedelta(days=6)
        elif match := _MONTH.match(text):
            first = date(int(match[1]), int(match[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = following - timedelta(days=1)
        else:
            first = last = date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"period {show_value(text)}: expected a day (2024-03-28), a week (2024-W14), a month (2024-04), "
            "a range (2024-03-28..2024-04-23) or all"
        ) from None
    if last < first:
        raise ValueError(f"period {show_value(text)}: ends before it starts")
    end = start + timedelta(days=days - 1)
    if first < start or last > end:
        raise ValueError(f"period {show_value(text)} ({first} to {last}) is outside the horizon ({start} to {end})")
    return (first - start).days, (last - start).days


def read_observed(path: Path, source: str) -> pd.DataFrame:
    """The observed file as a table of text and numbers (one row per target)."""
    problem = file_path_problem(path)
    if problem is not None:
        raise_problems([f"{source}: observed: {problem}"])
    where = f"{source}: observed {path.name}"
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt"):
            frame = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise_problems([f"{where}: expected a .csv or .parquet file"])
    except pd.errors.EmptyDataError:
        raise_problems([f"{where}: the file is empty (expected a header and one row per target)"])
    except (OSError, ValueError) as error:
        raise_problems([f"{where}: cannot be read: {str(error).splitlines()[0]}"])
    frame.columns = [str(c).strip() for c in frame.columns]
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], COLUMNS, n=1)
        raise_problems(
            [
                f"{where}: unknown column '{unknown[0]}'"
                + (f" (did you mean '{hint[0]}'?)" if hint else f" (expected {', '.join(COLUMNS)})")
            ]
        )
    missing = [c for c in ("kpi", "period", "value") if c not in frame.columns]
    if missing:
        raise_problems([f"{where}: missing column(s) {', '.join(missing)}"])
    if frame.empty:
        raise_problems([f"{where}: has no rows (expected one row per target)"])
    return frame


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _number(value: Any) -> float:
    number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _kpi_problem(kpi: str, table: str, allowed: tuple[str, ...]) -> str | None:
    if kpi in allowed:
        return None
    hint = difflib.get_close_matches(kpi, allowed, n=1, cutoff=0.6)
    return f"unknown {table} KPI '{kpi}' (" + (
        f"did you mean '{hint[0]}'?)" if hint else f"expected one of: {', '.join(allowed)})"
    )


def resolve_targets(frame: pd.DataFrame, base: Scenario, zones: dict[str, str], where: str) -> tuple[Target, ...]:
    """Check every row against the base scenario and the city's districts; one :class:`Target` per row.

    ``zones`` maps district ids and names (Chinese and English) to zone ids. Raises
    :class:`~simulator.config.ScenarioError` naming the file, the row and the problem.
    """
    stores = {store.id for store in base.plan.stores}
    start, days = base.horizon.start_date, base.horizon.days
    problems: list[str] = []
    targets: list[Target] = []
    for position, row in enumerate(frame.to_dict("records")):
        here = f"{where}: row {position + 1}"
        try:
            targets.append(_target({str(k): v for k, v in row.items()}, stores, zones, start, days))
        except ValueError as error:
            problems.append(f"{here}: {error}")
    if problems:
        raise_problems(problems)
    labels = [t.label for t in targets]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise_problems([f"{where}: target '{repeated[0]}' is given twice (give each row its own label)"])
    return tuple(targets)


def _target(row: dict[str, Any], stores: set[str], zones: dict[str, str], start: date, days: int) -> Target:
    kpi = str(row.get("kpi", "")).strip()
    store = None if _blank(row.get("store_id")) else str(row["store_id"]).strip()
    district = None if _blank(row.get("district")) else str(row["district"]).strip()
    if store is not None and district is not None:
        raise ValueError("give store_id or district, not both")
    table, allowed = ("stores", STORE_KPIS) if store else ("zones", ZONE_KPIS) if district else ("daily", CITY_KPIS)
    problem = _kpi_problem(kpi, {"stores": "store", "zones": "district", "daily": "daily"}[table], allowed)
    if problem:
        raise ValueError(problem)
    if store is not None and store not in stores:
        hint = difflib.get_close_matches(store, sorted(stores), n=1)
        raise ValueError(
            f"store_id '{store}' is not in the plan"
            + (f" (did you mean '{hint[0]}'?)" if hint else f" ({', '.join(sorted(stores))})")
        )
    zone_id = None
    if district is not None:
        zone_id = zones.get(district) or zones.get(district.lower())
        if zone_id is None:
            hint = difflib.get_close_matches(district, sorted(zones), n=1)
            raise ValueError(
                f"district '{district}' is not in the city" + (f" (did you mean '{hint[0]}'?)" if hint else "")
            )
    period = str(row.get("period", "")).strip()
    first, last = period_days(period, start, days)
    if district is not None and (first, last) != (0, days - 1):
        raise ValueError(f"period {show_value(period)}: a district's results are totals over the horizon (use all)")
    try:
        value = _number(row.get("value"))
    except (TypeError, ValueError):
        raise ValueError(f"value {show_value(row.get('value'))}: expected a number") from None
    se = DEFAULT_RELATIVE_ERROR * abs(value)
    if not _blank(row.get("se")):
        try:
            se = _number(row["se"])
        except (TypeError, ValueError):
            raise ValueError(f"se {show_value(row.get('se'))}: expected a number") from None
    if not se > 0:
        raise ValueError(f"se {show_value(row.get('se', se))}: must be > 0 (a value of 0 needs an se)")
    column = kpi.removesuffix("_scaled")
    rule = (
        "last"
        if column in LAST_COUNTS
        else "mean"
        if column in MEAN_COUNTS or kpi in DAILY_LEVELS or kpi == "utilisation"
        else "sum"
    )
    where = f" {store}" if store else f" {district}" if district else ""
    label = str(row["label"]).strip() if not _blank(row.get("label")) else f"{kpi}{where} {period}"
    return Target(
        label, kpi, table, rule, first, last, period, store, zone_id, value, se, rule != "mean" and value >= 0
    )


def simulated_value(
    target: Target, daily: pd.DataFrame, stores: pd.DataFrame, zones: pd.DataFrame, weight: float
) -> float:
    """The value of ``target`` in one replication's tables (``weight``: people per simulated consumer)."""
    factor = weight if target.scaled else 1.0
    if target.table == "zones":
        rows = zones.loc[zones["zone_id"] == target.zone_id, target.column]
        return float(rows.sum()) * factor
    if target.table == "stores":
        frame = stores.loc[stores["store_id"] == target.store_id]
    else:
        frame = daily
    days = frame["day"].to_numpy()
    values = frame[target.column].to_numpy(dtype=np.float64)[(days >= target.first_day) & (days <= target.last_day)]
    if target.rule == "sum":
        return float(values.sum()) * factor
    if target.rule == "last":
        return float(values[-1]) * factor
    return float(values.mean()) * factor

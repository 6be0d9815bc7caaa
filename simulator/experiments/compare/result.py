"""What a comparison produces (:class:`ComparisonResult`) and the layout of its folder."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from simulator.city import City
from simulator.experiments.compare.spec import ComparisonSpec
from simulator.results import (
    RunResult,
)
from simulator.results.display import format_kpi, kpi_table_html, plural, short_repr

COMPARISON_KIND = "comparison"
"""``kind`` in a comparison's ``metadata.json``."""

HEADLINE_KPIS = (
    "bookings_requested_scaled",
    "test_drives_scaled",
    "bookings_lost_scaled",
    "purchases_scaled",
    "share_aware",
    "share_familiar",
    "mean_trust",
)
"""KPIs of the terminal table, the difference chart and the report's headline."""


MARGINAL_KPIS = ("bookings_requested_scaled", "test_drives_scaled", "purchases_scaled", "share_familiar")
"""KPIs of the marginal contribution of each store (``--marginal``)."""


ZONE_DIFFERENCE_COLUMNS = (
    "mean_familiarity",
    "share_familiar",
    "bookings_requested_scaled",
    "bookings_requested_per_1000",
    "test_drives_per_1000",
    "purchases_per_1000",
)
"""Zone results whose difference to the baseline gets a paired confidence interval."""


METADATA_FILE = "metadata.json"
TABLE_FILES = ("runs", "plans", "differences", "stores", "daily", "zones", "transfers")
"""Parquet tables of every comparison folder (``<name>.parquet``)."""
MARGINAL_FILES = ("marginal", "marginal_runs")
"""Parquet tables of a comparison folder with ``--marginal``."""
RUNS_DIR = "runs"
"""Subfolder of a comparison folder with one run folder per plan (``runs/<plan-slug>``)."""
ZONES_GPKG = "zones.gpkg"


@dataclasses.dataclass
class ComparisonResult:
    """Everything a comparison produces (the tables of the comparison folder).

    Attributes
    ----------
    spec : ComparisonSpec
        The plans, root seed and replications.
    runs : dict of str to RunResult
        The run of each plan (all replications), by plan name, baseline first.
    run_kpis : pandas.DataFrame
        ``runs.parquet``: one row per plan and replication with its seed and the
        end-of-horizon KPIs (totals over the horizon for counts, last-day values for
        shares and means).
    plans : pandas.DataFrame
        ``plans.parquet``: per plan and KPI the mean, ``ci_low``, ``ci_high`` over replications.
    differences : pandas.DataFrame
        ``differences.parquet``: per non-baseline plan and KPI the mean paired difference
        to the baseline with its confidence interval.
    stores : pandas.DataFrame
        ``stores.parquet``: per plan and store the totals, utilisation and queue.
    daily : pandas.DataFrame
        ``daily.parquet``: the daily KPIs of every plan and replication.
    zones : pandas.DataFrame
        ``zones.parquet``: per plan and zone the replication means and the paired
        differences to the baseline.
    transfers : pandas.DataFrame
        ``transfers.parquet``: per non-baseline plan, the bookings by baseline destination
        (``from_store_id``) and plan destination (``to_store_id``), the same consumers paired
        (:func:`simulator.results.transfer_table`; ``rivals`` and ``none`` included).
    marginal, marginal_runs : pandas.DataFrame or None
        With ``marginal=True``: per plan and store the marginal contribution (plan minus
        the plan without the store) with paired intervals, and the KPIs of those runs.
    metadata : dict
        ``metadata.json``.
    city : City
        The city (for maps and the GeoPackage).
    """

    spec: ComparisonSpec
    runs: dict[str, RunResult]
    run_kpis: pd.DataFrame
    plans: pd.DataFrame
    differences: pd.DataFrame
    stores: pd.DataFrame
    daily: pd.DataFrame
    zones: pd.DataFrame
    marginal: pd.DataFrame | None
    marginal_runs: pd.DataFrame | None
    metadata: dict[str, Any]
    city: City
    transfers: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def baseline(self) -> str:
        return self.spec.baseline.name

    @property
    def plan_names(self) -> list[str]:
        return [plan.name for plan in self.spec.plans]

    @property
    def consumer_weight(self) -> float:
        return float(self.metadata.get("consumer_weight", 1.0))

    def _display_facts(self) -> list[str]:
        return [
            plural(len(self.plan_names), "plan"),
            f"baseline {self.baseline!r}",
            plural(self.spec.replications, "paired replication"),
        ]

    def __repr__(self) -> str:
        return short_repr("ComparisonResult", self.spec.name, self._display_facts())

    def _repr_html_(self) -> str:
        """The headline KPIs: the baseline's mean and each plan's paired difference [95 % CI], for Jupyter."""
        header = ["KPI", f"{self.baseline} (baseline)"] + [f"{name} − baseline" for name in self.plan_names[1:]]
        baseline = {row["kpi"]: row for row in self.plans[self.plans["plan"] == self.baseline].to_dict("records")}
        differences = {(row["plan"], row["kpi"]): row for row in self.differences.to_dict("records")}
        rows = []
        for kpi in HEADLINE_KPIS:
            if kpi not in baseline:
                continue
            unit = str(baseline[kpi].get("unit", ""))
            cells = [str(baseline[kpi].get("label", kpi)), format_kpi(float(baseline[kpi]["mean"]), unit)]
            for name in self.plan_names[1:]:
                row = differences.get((name, kpi))
                cells.append(_difference_text(row, unit) if row is not None else "–")
            rows.append(cells)
        return kpi_table_html(f"Comparison: {self.spec.name}", self._display_facts(), header, rows)


def _difference_text(row: Mapping[Any, Any], unit: str) -> str:
    """``+1,234 [+200, +2,300]`` (the interval only when there is one)."""

    def signed(value: float) -> str:
        text = format_kpi(value, unit)
        return text if text.startswith("-") or text == "–" else f"+{text}"

    text = signed(float(row["difference"]))
    low, high = float(row["ci_low"]), float(row["ci_high"])
    return f"{text} [{signed(low)}, {signed(high)}]" if math.isfinite(low) and math.isfinite(high) else text

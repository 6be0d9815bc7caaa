"""The run-result contract: the tables a run produces, their columns and the run-folder names.

:class:`RunResult` holds one run's five tables (``daily``, ``stores``, ``zones``, ``cells``,
``plan``) and its metadata; :data:`REQUIRED_COLUMNS` and :data:`METADATA_REQUIRED_KEYS` are
the columns and keys every writer and reader relies on (``docs/architecture.md``, section
"Results (run folder)"), and :func:`validate_run` checks them. The file names of a run
folder (:data:`METADATA_FILE`, :data:`REPORT_FILE`, ...) and the end-of-horizon KPIs of
:meth:`RunResult.summary` (:data:`SUMMARY_KPIS`) are declared here once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from simulator.config import ResultsError
from simulator.results.display import format_kpi, kpi_table_html, plural, run_kpi_rows, short_repr
from simulator.results.trade_areas import TRADE_AREA_COUNTS
from simulator.results.uncertainty import (
    ACROSS_REPLICATIONS,
    WITHIN_RUN,
    ZONE_KPI_KINDS,
    count_se,
    pooled_mean_se,
    replication_se,
    se_name,
    share_se,
)

SCHEMA_VERSION = 1
"""Version of the run-folder layout written into ``metadata.json``."""

TABLE_NAMES = ("daily", "stores", "zones", "cells", "plan", "rivals", "weekly", "trade_areas", "batches")
"""Tables of a run folder, each stored as ``<name>.parquet``."""

OPTIONAL_TABLES = ("cells", "rivals", "weekly", "trade_areas", "batches")
"""Tables that may be empty without columns (no cells kept; no rival showrooms; no weekly
snapshots; no trade areas; no consumer batches); a run folder written before ``rivals``,
``weekly``, ``trade_areas`` or ``batches`` existed reads them as empty."""

SUMMARY_TABLES = ("summary", "store_summary", "zone_summary", "trade_area_summary")
"""Derived tables of a run folder (``<name>.parquet``), written for readers of the files and
never read back (they are recomputed from the tables above): :meth:`RunResult.summary`,
:func:`~simulator.results.aggregates.store_totals`, the zone means of
:func:`~simulator.results.aggregates.replication_means` and the trade areas with their
catchments (:func:`~simulator.results.trade_areas.trade_area_summary`), every KPI with its SE."""

RUN_ID_COLUMN = "run_id"
"""First column of a written ``daily.parquet``: the run's ``metadata["run_id"]``, so that the
daily tables of many run folders can be read as one (``select * from 'results/*/daily.parquet'``)."""

COUNT_NAMING = (
    "a count named x is simulated consumers; x_scaled is people of the city (x times consumer_weight); "
    "x_se and x_scaled_se are their Monte-Carlo standard errors"
)
"""The naming rule of every count column (tables, GeoPackages, workbooks; docs/architecture.md)."""

METADATA_FILE = "metadata.json"
GEOPACKAGE_FILE = "zones.gpkg"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
"""Files of a run folder besides the tables: metadata, GeoPackage, report, figures folder."""

GEOPACKAGE_CRS = "EPSG:4326"
"""CRS of every layer of ``zones.gpkg`` (the CRS of the city bundles, what GIS tools expect)."""

DAILY_COUNT_COLUMNS = (
    "in_market",
    "sightings",
    "media_contacts",
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "test_drives",
    "bookings_lost",
    "bookings_no_store",
    "queue_length",
    "online_orders",
    "purchases",
    "purchases_direct",
    "cumulative_purchases",
)
"""Count columns of ``daily``; each has a ``_scaled`` twin (count x consumer weight)."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "daily": (
        "replication",
        "seed",
        "day",
        "date",
        "share_aware",
        "mean_familiarity",
        "share_familiar",
        "reach_28d",
        "effective_frequency_28d",
        "mean_trust",
        *DAILY_COUNT_COLUMNS,
        *(f"{name}_scaled" for name in DAILY_COUNT_COLUMNS),
    ),
    "stores": (
        "replication",
        "seed",
        "day",
        "store_id",
        "store_name",
        "format",
        "is_open",
        "capacity",
        "sightings",
        "bookings_requested",
        "test_drives",
        "bookings_lost",
        "queue_length",
        "purchases",
        "utilisation",
    ),
    "zones": (
        "replication",
        "seed",
        "zone_id",
        "consumers",
        "population_represented",
        "mean_familiarity",
        "share_familiar",
        "mean_trust",
        "share_aware",
        "brand_access",
        "rival_access",
        "nearest_store_km",
        "test_drive_intents",
        "bookings_requested",
        "bookings_to_rivals",
        "test_drives",
        "purchases",
        "bookings_to_rivals_per_1000",
        "bookings_requested_per_1000",
        "test_drives_per_1000",
        "purchases_per_1000",
    ),
    "cells": (
        "replication",
        "seed",
        "cell_id",
        "zone_id",
        "consumers",
        "population_represented",
        "mean_familiarity",
        "share_familiar",
        "mean_trust",
        "share_aware",
        "brand_access",
        "rival_access",
        "nearest_store_km",
        "test_drive_intents",
        "bookings_requested",
        "bookings_to_rivals",
        "test_drives",
        "purchases",
        "bookings_to_rivals_per_1000",
        "bookings_requested_per_1000",
        "test_drives_per_1000",
        "purchases_per_1000",
    ),
    "rivals": (
        "replication",
        "seed",
        "rival_id",
        "brand",
        "rival_name",
        "lon",
        "lat",
        "open_day",
        "close_day",
        "attractiveness",
        "zone_id",
        "bookings",
        "bookings_scaled",
    ),
    "batches": ("replication", "seed", "batch", "consumers"),
    "weekly": (
        "replication",
        "seed",
        "week",
        "day",
        "zone_id",
        "consumers",
        "mean_familiarity",
        "share_familiar",
    ),
    "trade_areas": (
        "replication",
        "seed",
        "store_id",
        "cell_id",
        "zone_id",
        "distance_km",
        *TRADE_AREA_COUNTS,
        *(f"{name}_scaled" for name in TRADE_AREA_COUNTS),
    ),
    "plan": (
        "store_id",
        "store_name",
        "format",
        "lon",
        "lat",
        "x",
        "y",
        "mall_id",
        "open_day",
        "close_day",
        "capacity",
        "attractiveness",
        "visibility_radius_m",
        "zone_id",
    ),
}
for _table in ("zones", "cells"):
    REQUIRED_COLUMNS[_table] = REQUIRED_COLUMNS[_table] + tuple(
        se_name(kpi) for kpi in REQUIRED_COLUMNS[_table] if kpi in ZONE_KPI_KINDS
    )
"""Columns each table must have (architecture.md); :func:`validate_run` checks them. Every
KPI of ``zones`` and ``cells`` has its within-run Monte-Carlo SE ``<kpi>_se``
(:mod:`simulator.results.uncertainty`)."""

SE_COLUMNS_REQUIRED_SINCE = ("zones", "cells")
"""Tables whose ``_se`` columns a run folder written before they existed lacks; :func:`read_run`
adds the ones computable from the row (the means' SEs stay NaN)."""

METADATA_REQUIRED_KEYS = ("schema_version", "scenario", "scenario_hash", "seed", "replication_seeds")

# (kpi, label, unit, how): how = "total" sums a daily column over the horizon;
# "end" takes its value on the last day.  Rows whose column is absent are skipped.
SUMMARY_KPIS: tuple[tuple[str, str, str, str], ...] = (
    ("test_drive_intents_scaled", "Test-drive intents", "people", "total"),
    ("bookings_requested_scaled", "Test-drive bookings at the brand's stores", "people", "total"),
    ("bookings_to_rivals_scaled", "Test-drive bookings lost to rivals", "people", "total"),
    ("intents_no_visit_scaled", "Test-drive intents with no visit (too far)", "people", "total"),
    ("test_drives_scaled", "Test drives", "people", "total"),
    ("bookings_lost_scaled", "Bookings lost (abandoned in queue)", "people", "total"),
    ("bookings_no_store_scaled", "Intents with no store or showroom open", "people", "total"),
    ("online_orders_scaled", "Online orders (no test drive)", "people", "total"),
    ("purchases_scaled", "Purchases", "people", "total"),
    ("purchases_direct_scaled", "Purchases without a test drive", "people", "total"),
    ("media_contacts_scaled", "Media contacts", "people", "total"),
    ("bookings_requested", "Test-drive bookings requested (simulated)", "consumers", "total"),
    ("test_drives", "Test drives (simulated)", "consumers", "total"),
    ("bookings_lost", "Bookings lost (simulated)", "consumers", "total"),
    ("bookings_no_store", "Bookings with no store open (simulated)", "consumers", "total"),
    ("purchases", "Purchases (simulated)", "consumers", "total"),
    ("purchases_direct", "Purchases without a test drive (simulated)", "consumers", "total"),
    ("share_aware", "Share aware (end of horizon)", "share", "end"),
    ("share_familiar", "Share familiar, F >= 0.5 (end of horizon)", "share", "end"),
    ("mean_familiarity", "Mean familiarity (end of horizon)", "index", "end"),
    ("reach_28d", "Reach, last 28 days (end of horizon)", "share", "end"),
    ("effective_frequency_28d", "Effective frequency 3+, last 28 days (end of horizon)", "share", "end"),
    ("mean_trust", "Mean trust (end of horizon)", "index", "end"),
)

CONFIDENCE_LEVEL = 0.95


@dataclasses.dataclass
class RunResult:
    """Everything one run (one scenario, all its replications) produces.

    Attributes
    ----------
    daily, stores, zones, cells, plan : pandas.DataFrame
        The tables of the run folder, with the columns of :data:`REQUIRED_COLUMNS`
        (``docs/architecture.md``). ``cells`` may be empty.
    rivals : pandas.DataFrame
        Bookings won by each rival showroom, per replication (empty without rivals).
    weekly : pandas.DataFrame
        Each zone's mean familiarity and share familiar at the end of every week of the
        horizon and on its last day, per replication (empty in folders written before it).
    trade_areas : pandas.DataFrame
        Bookings, test drives and purchases by store and home cell, per replication
        (:mod:`simulator.results.trade_areas`; empty in folders written before it).
    bookings : pandas.DataFrame
        Every booking (``replication``, ``seed``, ``day``, ``consumer``, ``store_id``), kept
        in memory for the transfers of a comparison; not written to the run folder.
    batches : pandas.DataFrame
        Per replication and batch of consumers (``i mod 32``): the horizon's counts and the
        end-of-horizon sums (:mod:`simulator.model.batches`); the batch-means SE of a
        comparison's differences with one replication reads it (empty in older folders).
    metadata : dict
        JSON-serialisable run description: see :func:`build_metadata`.
    """

    daily: pd.DataFrame
    stores: pd.DataFrame
    zones: pd.DataFrame
    cells: pd.DataFrame
    plan: pd.DataFrame
    metadata: dict[str, Any]
    rivals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    weekly: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    batches: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    trade_areas: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    bookings: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    def _display_facts(self) -> list[str]:
        days = int(self.daily["day"].nunique()) if len(self.daily) else 0
        scenario = self.metadata.get("scenario")
        population = scenario.get("population") if isinstance(scenario, Mapping) else None
        consumers = population.get("consumers") if isinstance(population, Mapping) else None
        facts = [plural(self.n_replications, "replication"), plural(days, "day"), plural(len(self.plan), "store")]
        return facts + ([plural(consumers, "consumer")] if isinstance(consumers, int) else [])

    def __repr__(self) -> str:
        summary = self.summary().set_index("kpi")
        kpis = [
            f"{kpi}={format_kpi(summary.at[kpi, 'mean'], str(summary.at[kpi, 'unit']))}"
            for kpi in ("test_drives_scaled", "purchases_scaled")
            if kpi in summary.index
        ]
        return short_repr("RunResult", self.scenario_name, self._display_facts() + kpis)

    def _repr_html_(self) -> str:
        """A small table of the headline KPIs (mean and Monte-Carlo SE) for Jupyter."""
        rows = run_kpi_rows(self.summary())
        return kpi_table_html(f"Run: {self.scenario_name}", self._display_facts(), ["KPI", "mean", "± SE"], rows)

    @property
    def n_replications(self) -> int:
        """Number of replications present in ``daily``."""
        return int(self.daily["replication"].nunique()) if len(self.daily) else 0

    @property
    def scenario_name(self) -> str:
        """Scenario name from the metadata (``scenario_name``, else ``scenario.name``), or ``"run"``."""
        name = self.metadata.get("scenario_name")
        scenario = self.metadata.get("scenario")
        if not name and isinstance(scenario, Mapping):
            name = scenario.get("name")
        return str(name) if name else "run"

    @property
    def scenario_description(self) -> str:
        """Scenario description from the metadata, or an empty string."""
        text = self.metadata.get("scenario_description")
        scenario = self.metadata.get("scenario")
        if not text and isinstance(scenario, Mapping):
            text = scenario.get("description")
        return str(text) if text else ""

    @property
    def consumer_weight(self) -> float:
        """People represented by one simulated consumer (``population / consumers``); 1 if unknown."""
        weight = self.metadata.get("consumer_weight")
        return float(weight) if weight is not None else 1.0

    def replication_kpis(self) -> pd.DataFrame:
        """End-of-horizon KPIs of each replication.

        Returns
        -------
        pandas.DataFrame
            One row per replication (index ``replication``), one column per KPI of
            :meth:`summary` (totals over the horizon for counts, last-day values for
            shares and means).
        """
        if self.daily.empty:
            return pd.DataFrame(index=pd.Index([], name="replication"))
        daily = self.daily.sort_values(["replication", "day"])
        groups = daily.groupby("replication", sort=True)
        last = groups.tail(1).set_index("replication")
        columns: dict[str, pd.Series] = {}
        for kpi, _label, _unit, how in SUMMARY_KPIS:
            if kpi not in daily.columns:
                continue
            if how == "total":
                columns[kpi] = groups[kpi].sum().astype(float)
            else:
                columns[kpi] = last[kpi].astype(float)
        return pd.DataFrame(columns)

    def summary(self, confidence: float = CONFIDENCE_LEVEL) -> pd.DataFrame:
        r"""End-of-horizon KPIs: mean over replications, Monte-Carlo SE and a t confidence interval.

        For a KPI with per-replication values :math:`x_1..x_n`:

        .. math::

            \bar x \pm t_{1-\alpha/2,\,n-1}\, s / \sqrt{n},
            \qquad s^2 = \frac{1}{n-1}\sum_r (x_r - \bar x)^2

        Counts are totals over the horizon (raw: simulated consumers; ``_scaled``:
        people of the real population); shares and means are last-day values. ``se`` is
        :math:`s/\sqrt n` with two or more replications, else the within-run estimate
        (:meth:`within_run_se`); ``se_method`` says which.

        Parameters
        ----------
        confidence : float
            Two-sided confidence level of the interval (default 0.95).

        Returns
        -------
        pandas.DataFrame
            Columns ``kpi``, ``label``, ``unit`` (``people``, ``consumers``, ``share``
            (0-1) or ``index`` (0-1)), ``mean``, ``se``, ``se_method``
            (``replications`` or ``within-run``), ``std`` (sample, ddof=1),
            ``ci_low``, ``ci_high``, ``min``, ``max``, ``n_replications``. ``std`` and
            the interval are NaN with a single replication.
        """
        from scipy import stats

        per_replication = self.replication_kpis()
        n = len(per_replication)
        within = self.within_run_se() if n == 1 else {}
        rows = []
        for kpi, label, unit, _how in SUMMARY_KPIS:
            if kpi not in per_replication.columns:
                continue
            values = per_replication[kpi].to_numpy(dtype=float)
            mean = float(values.mean()) if n else math.nan
            if n >= 2:
                std = float(values.std(ddof=1))
                half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * std / math.sqrt(n)
                low, high = mean - half, mean + half
            else:
                std = low = high = math.nan
            rows.append(
                {
                    "kpi": kpi,
                    "label": label,
                    "unit": unit,
                    "mean": mean,
                    "se": replication_se(values) if n >= 2 else within.get(kpi, math.nan),
                    "se_method": ACROSS_REPLICATIONS if n >= 2 else WITHIN_RUN,
                    "std": std,
                    "ci_low": low,
                    "ci_high": high,
                    "min": float(values.min()) if n else math.nan,
                    "max": float(values.max()) if n else math.nan,
                    "n_replications": n,
                }
            )
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def within_run_se(self, replication: int | None = None) -> dict[str, float]:
        r"""Within-run Monte-Carlo SE of each :data:`SUMMARY_KPIS` KPI of one replication.

        Counts ``n`` (simulated) :math:`\sqrt n`, in people :math:`w\sqrt n`; shares ``p``
        of the ``N`` consumers :math:`\sqrt{p(1-p)/N}`; the means (familiarity, trust)
        :func:`~simulator.results.uncertainty.pooled_mean_se` of the replication's zones
        (NaN when the ``zones`` table has no ``_se`` columns).

        Parameters
        ----------
        replication : int, optional
            Which replication (default: the first).
        """
        kpis = self.replication_kpis()
        if kpis.empty:
            return {}
        replication = int(kpis.index[0]) if replication is None else replication
        row = kpis.loc[replication]
        zones = self.zones
        if "replication" in zones.columns:
            zones = zones[zones["replication"] == replication]
        consumers = self.metadata.get("consumers")
        if consumers is None and "consumers" in zones.columns:
            consumers = float(zones["consumers"].sum())
        weight = self.consumer_weight
        result: dict[str, float] = {}
        for kpi, _label, unit, _how in SUMMARY_KPIS:
            if kpi not in row.index:
                continue
            if unit == "people":
                result[kpi] = float(count_se(row[kpi] / weight, weight))
            elif unit == "consumers":
                result[kpi] = float(count_se(row[kpi]))
            elif unit == "share":
                result[kpi] = float(share_se(row[kpi], consumers if consumers is not None else math.nan))
            elif {kpi, se_name(kpi), "consumers"} <= set(zones.columns):
                result[kpi] = pooled_mean_se(zones["consumers"], zones[kpi], zones[se_name(kpi)])
            else:
                result[kpi] = math.nan
        return result


SUMMARY_COLUMNS = [
    "kpi",
    "label",
    "unit",
    "mean",
    "se",
    "se_method",
    "std",
    "ci_low",
    "ci_high",
    "min",
    "max",
    "n_replications",
]
"""Columns of :meth:`RunResult.summary` (one row per KPI)."""


def validate_run(result: RunResult) -> None:
    """Check that the tables have the contract columns and the metadata its keys.

    Raises
    ------
    ResultsError
        One line naming the table (or ``metadata``) and the missing columns (keys).
    """
    for name in TABLE_NAMES:
        table = getattr(result, name)
        if not isinstance(table, pd.DataFrame):
            raise ResultsError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
        if name in OPTIONAL_TABLES and table.empty and len(table.columns) == 0:
            continue
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in table.columns]
        if missing:
            raise ResultsError(f"{name}: missing column(s) {', '.join(missing)}")
    if not isinstance(result.metadata, Mapping):
        raise ResultsError(f"metadata: expected a dict, got {type(result.metadata).__name__}")
    missing_keys = [k for k in METADATA_REQUIRED_KEYS if k not in result.metadata]
    if missing_keys:
        raise ResultsError(f"metadata: missing key(s) {', '.join(missing_keys)}")

"""Monte-Carlo standard errors: the estimators against closed forms, the ``_se`` contract,
rankings within noise, the reports' ``±`` and ``≈``, and (slow) the within-run estimate
against the spread over seeds.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_results import synthetic_frames, synthetic_result

from simulator.config.scenario import parse_scenario
from simulator.experiments.run import run
from simulator.reports.noise import format_se, rank_labels, value_with_se
from simulator.reports.publish import write_run
from simulator.reports.run_report import summary_rows
from simulator.results import (
    NOISE_NOTE,
    REQUIRED_COLUMNS,
    SUMMARY_KPIS,
    RunResult,
    read_run,
    replication_means,
    store_totals,
)
from simulator.results.aggregates import with_scaled_counts
from simulator.results.uncertainty import (
    ZONE_KPI_KINDS,
    combine_replications,
    count_se,
    mean_se_from_moments,
    pooled_mean_se,
    ranking_within_noise,
    rate_se,
    ratio_se,
    replication_se,
    share_se,
    within_noise,
)

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)

# --------------------------------------------------------------------------- estimators


def test_poisson_binomial_and_rate_formulas() -> None:
    assert count_se(400) == pytest.approx(20.0)
    assert count_se(400, weight=127.5) == pytest.approx(127.5 * 20.0)
    assert count_se(0) == 0.0
    assert share_se(0.25, 300) == pytest.approx(math.sqrt(0.25 * 0.75 / 300))
    assert share_se(0.0, 300) == 0.0 and math.isnan(share_se(0.5, 0))
    assert ratio_se(30, 120) == pytest.approx(math.sqrt(0.25 * 0.75 / 120))
    assert math.isnan(ratio_se(0, 0))
    assert rate_se(49, 2_000) == pytest.approx(1000 * 7 / 2_000)
    assert replication_se([1.0, 3.0]) == pytest.approx(math.sqrt(2.0) / math.sqrt(2.0))
    assert math.isnan(replication_se([5.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=40))
def test_mean_se_from_moments_is_the_sample_sd_over_root_n(values: list[float]) -> None:
    x = np.asarray(values)
    expected = x.std(ddof=1) / math.sqrt(len(x))
    centred = x - x.mean()  # as the run centres them: raw sums of squares cancel catastrophically
    assert mean_se_from_moments(centred.sum(), (centred**2).sum(), len(x)) == pytest.approx(
        expected, rel=1e-6, abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(finite, min_size=1, max_size=15), min_size=1, max_size=6))
def test_pooled_se_of_groups_equals_the_se_of_all_values(groups: list[list[float]]) -> None:
    values = np.concatenate([np.asarray(g) for g in groups])
    if len(values) < 2:
        return
    sizes = [len(g) for g in groups]
    means = [float(np.mean(g)) for g in groups]
    ses = [float(np.std(g, ddof=1) / math.sqrt(len(g))) if len(g) >= 2 else math.nan for g in groups]
    expected = values.std(ddof=1) / math.sqrt(len(values))
    assert pooled_mean_se(sizes, means, ses) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_estimators_match_the_spread_of_independent_draws() -> None:
    """Closed forms against simulation: Poisson counts, binomial shares and ratios (2,000 draws, 10 %)."""
    rng = np.random.default_rng(12)
    counts = rng.poisson(80.0, size=2_000)
    assert counts.std(ddof=1) == pytest.approx(count_se(80.0), rel=0.1)
    shares = rng.binomial(500, 0.3, size=2_000) / 500
    assert shares.std(ddof=1) == pytest.approx(share_se(0.3, 500), rel=0.1)
    drives = 200
    conversions = rng.binomial(drives, 0.15, size=2_000) / drives
    assert conversions.std(ddof=1) == pytest.approx(ratio_se(30, drives), rel=0.1)


def test_within_noise_and_ranking_marks_on_a_constructed_case() -> None:
    # 100 ± 5 vs 95 ± 5: |5| < 1.96 * 7.07 = 13.9 -> tied; 95 vs 40 ± 3 -> apart; 40 vs 39 ± 3 -> tied
    values = [100.0, 95.0, 40.0, 39.0, 10.0]
    ses = [5.0, 5.0, 3.0, 3.0, 1.0]
    assert within_noise(100.0, 5.0, 95.0, 5.0) and not within_noise(95.0, 5.0, 40.0, 3.0)
    assert ranking_within_noise(values, ses).tolist() == [True, True, True, True, False]
    labels, marked = rank_labels(values, ses)
    assert labels == ["1 ≈", "2 ≈", "3 ≈", "4 ≈", "5"] and marked == 4
    assert not ranking_within_noise([10.0, 9.0], [math.nan, math.nan]).any()  # unknown SE: no claim
    assert ranking_within_noise([7.0], [1.0]).tolist() == [False]


def test_combine_uses_the_replications_when_there_are_several_else_the_within_run_se() -> None:
    frame = pd.DataFrame(
        {
            "replication": [0, 1, 2, 0],
            "key": ["a", "a", "a", "b"],
            "x": [10.0, 12.0, 14.0, 9.0],
            "x_se": [3.0, 3.0, 3.0, 3.0],
        }
    )
    combined = combine_replications(frame, ["key"], ["x"])
    assert combined.loc["a", "x"] == pytest.approx(12.0)
    assert combined.loc["a", "x_se"] == pytest.approx(2.0 / math.sqrt(3.0))
    assert combined.loc["b", "x_se"] == pytest.approx(3.0)


def test_formatting_of_values_with_se() -> None:
    assert value_with_se(12_345.4, 321.7, "people") == "12,345 ± 322"
    assert value_with_se(0.4567, 0.0123, "share") == "45.7 % ± 1.2 %"
    assert value_with_se(0.31, float("nan"), "index") == "0.310"
    assert format_se(3.25, "people") == "3.2" and format_se(None, "share") == "–"


# --------------------------------------------------------------------------- contract: every KPI has its _se


@pytest.mark.parametrize("table", ["zones", "cells"])
def test_every_zone_and_cell_kpi_has_its_se_column_in_the_contract(table: str) -> None:
    columns = REQUIRED_COLUMNS[table]
    kpis = [c for c in columns if c in ZONE_KPI_KINDS]
    assert len(kpis) >= 15
    assert all(f"{kpi}_se" in columns for kpi in kpis)


@pytest.mark.parametrize("replications", [1, 3])
def test_summaries_stores_and_zones_carry_an_se_for_every_kpi(replications: int) -> None:
    result = synthetic_result(n_replications=replications, n_days=20)
    summary = result.summary()
    assert set(summary["kpi"]) <= {kpi for kpi, *_ in SUMMARY_KPIS}
    assert summary["se"].notna().all() and (summary["se"] >= 0).all()
    assert set(summary["se_method"]) == {"replications" if replications > 1 else "within-run"}
    totals = store_totals(result.stores, result.plan)
    for kpi in ("sightings", "bookings_requested", "test_drives", "bookings_lost", "purchases", "utilisation"):
        assert totals[f"{kpi}_se"].notna().all(), kpi
        assert list(totals.columns).index(f"{kpi}_se") == list(totals.columns).index(kpi) + 1
    means = replication_means(result.zones, "zone_id")
    for kpi in (c for c in REQUIRED_COLUMNS["zones"] if c in ZONE_KPI_KINDS):
        assert means[f"{kpi}_se"].notna().all(), kpi
    if replications == 1:
        first = result.stores.groupby("store_id")["purchases"].sum()
        assert totals.set_index("store_id")["purchases_se"].to_dict() == pytest.approx(np.sqrt(first).to_dict())
    else:
        per = result.stores.groupby(["store_id", "replication"])["purchases"].sum().groupby("store_id")
        expected = (per.std(ddof=1) / math.sqrt(replications)).to_dict()
        assert totals.set_index("store_id")["purchases_se"].to_dict() == pytest.approx(expected)


def test_a_run_folder_without_se_columns_reads_back_with_them(tmp_path: Path) -> None:
    result = synthetic_result(n_replications=1, n_days=10, with_rivals=False)
    old = RunResult(
        daily=result.daily,
        stores=result.stores,
        zones=result.zones.drop(columns=[c for c in result.zones.columns if c.endswith("_se")]),
        cells=result.cells.drop(columns=[c for c in result.cells.columns if c.endswith("_se")]),
        plan=result.plan,
        metadata=result.metadata,
    )
    folder = tmp_path / "old"
    folder.mkdir()
    for name in ("daily", "stores", "zones", "cells", "plan"):
        getattr(old, name).to_parquet(folder / f"{name}.parquet")
    (folder / "metadata.json").write_text(json.dumps(old.metadata, default=str), encoding="utf-8")
    back = read_run(folder)
    assert back.zones["purchases_se"].to_numpy() == pytest.approx(np.sqrt(result.zones["purchases"]).to_numpy())
    assert back.zones["mean_familiarity_se"].isna().all()  # the spread of a mean cannot be recovered


def test_a_real_run_writes_within_run_ses_that_match_the_consumers(tiny_city_path, tiny_city) -> None:
    scenario = parse_scenario(
        {
            "name": "se",
            "seed": 5,
            "city": {"bundle": str(tiny_city_path)},
            "population": {"consumers": 600},
            "plan": {"stores": [{"id": "A", "mall": "M1"}]},
            "behaviour": {"booking_rate_per_day": 0.05},
            "horizon": {"days": 20},
        },
        "se.toml",
    )
    result = run(scenario, city=tiny_city)
    zones = result.zones
    for kpi in (c for c in REQUIRED_COLUMNS["zones"] if c in ZONE_KPI_KINDS):
        assert f"{kpi}_se" in zones.columns
    occupied = zones[zones["consumers"] >= 2]
    assert (occupied["mean_familiarity_se"] >= 0).all() and occupied["mean_trust_se"].gt(0).all()
    assert occupied["purchases_se"].to_numpy() == pytest.approx(np.sqrt(occupied["purchases"]).to_numpy())
    within = result.within_run_se()
    assert within["purchases"] == pytest.approx(math.sqrt(result.daily["purchases"].sum()))
    assert 0 < within["mean_trust"] < 0.05 and 0 < within["mean_familiarity"] < 0.05


# --------------------------------------------------------------------------- reports


def _close_stores_result() -> RunResult:
    """A one-replication run whose three stores book almost the same: all within noise."""
    result = synthetic_result(n_replications=1, n_days=30, with_rivals=False)
    stores = result.stores.copy()
    stores["bookings_requested"] = np.where(stores["is_open"], 2, 0)
    return RunResult(
        daily=result.daily,
        stores=stores,
        zones=result.zones,
        cells=result.cells,
        plan=result.plan,
        metadata=result.metadata,
    )


def test_report_and_terminal_mark_stores_within_noise(tmp_path: Path) -> None:
    result = _close_stores_result()
    zones, cells = synthetic_frames()
    folder = write_run(result, tmp_path / "run", zone_frame=zones, cell_frame=cells, figures=False)
    document = (folder / "report.html").read_text(encoding="utf-8")
    assert "1 ≈" in document and "± SE" in document
    assert html.escape(NOISE_NOTE) in document
    summary = pd.read_parquet(folder / "summary.parquet")
    assert summary["se"].notna().all() and set(summary["se_method"]) == {"within-run"}
    stores = pd.read_parquet(folder / "store_summary.parquet")
    expected = with_scaled_counts(store_totals(result.stores, result.plan), result.consumer_weight)
    pd.testing.assert_frame_equal(stores, expected, check_dtype=False)  # simulated counts and their _scaled twins
    zones = pd.read_parquet(folder / "zone_summary.parquet")
    assert {f"{kpi}_se" for kpi in ZONE_KPI_KINDS} <= set(zones.columns)
    rows = dict(summary_rows(result))
    assert "within noise" in rows["Store ranking"]


def test_no_mark_and_no_note_when_stores_are_far_apart(tmp_path: Path) -> None:
    result = synthetic_result(n_replications=1, n_days=30, with_rivals=False)
    stores = result.stores.copy()
    scale = {"S1": 200, "S2": 20, "S3": 1}
    stores["bookings_requested"] = stores["store_id"].map(scale) * stores["is_open"].astype(int)
    far = RunResult(
        daily=result.daily,
        stores=stores,
        zones=result.zones,
        cells=result.cells,
        plan=result.plan,
        metadata=result.metadata,
    )
    assert "Store ranking" not in dict(summary_rows(far))
    zones, cells = synthetic_frames()
    folder = write_run(far, tmp_path / "run", zone_frame=zones, cell_frame=cells, figures=False)
    assert "≈" not in (folder / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- validation (slow)

VALIDATION_REPLICATIONS = 16
VALIDATION_RATIO_RANGE = (0.6, 1.6)
"""The mean over stores and KPIs of (sd over seeds) / (mean within-run SE) must fall here."""


@pytest.mark.slow
def test_within_run_se_agrees_with_the_spread_over_seeds(tiny_city_path, tiny_city) -> None:
    """Per-store bookings and purchases: sd over 16 seeds against the mean within-run sqrt(n).

    With 16 seeds the sd itself is uncertain by about 1/sqrt(2*15) = 18 %, hence the
    range on the average of six ratios (three stores x two KPIs).
    """
    scenario = parse_scenario(
        {
            "name": "noise-validation",
            "seed": 7,
            "replications": VALIDATION_REPLICATIONS,
            "city": {"bundle": str(tiny_city_path)},
            "population": {"consumers": 3000},
            "plan": {
                "stores": [
                    {"id": "A", "mall": "M1"},
                    {"id": "B", "station": "木樨地", "format": "street"},
                    {"id": "C", "station": "东门", "format": "flagship"},
                ]
            },
            "behaviour": {"booking_rate_per_day": 0.05},
            "horizon": {"days": 90},
        },
        "noise-validation.toml",
    )
    result = run(scenario, city=tiny_city)
    per = result.stores.groupby(["replication", "store_id"])[["bookings_requested", "purchases"]].sum()
    ratios = {}
    for kpi in ("bookings_requested", "purchases"):
        table = per[kpi].unstack("store_id")
        for store in table.columns:
            ratios[(kpi, store)] = table[store].std(ddof=1) / np.sqrt(table[store]).mean()
    mean_ratio = float(np.mean(list(ratios.values())))
    print(f"sd over seeds / within-run SE: {ratios}; mean {mean_ratio:.2f}")
    low, high = VALIDATION_RATIO_RANGE
    assert low <= mean_ratio <= high, ratios

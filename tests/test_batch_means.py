"""Noise on the page, per day and for comparisons of one replication (issue 12).

The consumer batches add up to the run's totals; the batch-means SE of a plan's difference
to its baseline follows its formula, is zero for a plan against itself and (slow) matches
the spread of the difference over many seeds; every daily and weekly KPI carries an SE and
the funnel's band comes from them; the capacity granularity warning reaches metadata.json
and the run, comparison and sweep reports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.config import parse_scenario
from simulator.experiments.compare import compare, load_comparison
from simulator.experiments.run import run
from simulator.experiments.sweep import load_sweep
from simulator.model.batches import BATCH_COUNT_KPIS, CONSUMER_BATCHES
from simulator.reports.compare_report import write_comparison
from simulator.reports.publish import write_run
from simulator.reports.sweep_report import run_sweep
from simulator.results import RunResult
from simulator.results.batch_means import (
    WITHIN_RUN_BATCHES,
    WITHIN_RUN_IDENTICAL,
    WITHIN_RUN_UNPAIRED,
    batch_difference_se,
    batch_se,
)
from simulator.results.contract import SUMMARY_KPIS
from simulator.results.daily_noise import daily_band
from simulator.results.uncertainty import Z_95

BASE_STORES = [
    {"id": "A", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 40},
]
EXTRA_STORE = {"id": "C", "station": "东门", "format": "flagship"}
ACTIVE_BEHAVIOUR = {"in_market_rate_per_year": 1.0, "booking_rate_per_day": 0.02}


def scenario_data(city_path: Path, name: str, stores: list[dict], replications: int = 1, days: int = 60) -> dict:
    return {
        "name": name,
        "seed": 7,
        "replications": replications,
        "city": {"bundle": str(city_path)},
        "population": {"consumers": 3000},
        "behaviour": dict(ACTIVE_BEHAVIOUR),
        "plan": {"name": name, "stores": stores},
        "horizon": {"days": days},
    }


def toml_text(data: dict) -> str:
    lines = [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        scalars = {k: v for k, v in values.items() if not isinstance(v, list)}
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in scalars.items()]
        for key, items in values.items():
            if isinstance(items, list):
                for item in items:
                    lines.append(f"[[{section}.{key}]]")
                    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def one_run(tiny_city_path, tiny_city) -> RunResult:
    scenario = parse_scenario(scenario_data(tiny_city_path, "base", BASE_STORES), "base.toml")
    return run(scenario, city=tiny_city)


# --------------------------------------------------------------------------- batches


def test_the_batches_add_up_to_the_runs_totals_and_end_state(one_run: RunResult) -> None:
    batches, daily = one_run.batches, one_run.daily
    assert len(batches) == CONSUMER_BATCHES
    assert batches["consumers"].sum() == one_run.metadata["consumers"]
    assert batches["consumers"].max() - batches["consumers"].min() <= 1
    for kpi in BATCH_COUNT_KPIS:
        assert batches[kpi].sum() == daily[kpi].sum(), kpi
    assert daily["test_drives"].sum() > 20  # the check is not vacuous
    last = daily.sort_values("day").iloc[-1]
    n = batches["consumers"].sum()
    for column, kpi in [
        ("aware", "share_aware"),
        ("familiar", "share_familiar"),
        ("reach_28d", "reach_28d"),
        ("effective_frequency_28d", "effective_frequency_28d"),
        ("familiarity", "mean_familiarity"),
        ("trust", "mean_trust"),
    ]:
        # the kernel sums familiarity and trust in float32
        assert batches[column].sum() / n == pytest.approx(float(last[kpi]), abs=1e-4), kpi


def test_batch_difference_se_follows_its_formula() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"batch": np.arange(8), "consumers": np.full(8, 100)})
    plan, base = frame.copy(), frame.copy()
    plan["purchases"] = rng.poisson(20, 8)
    base["purchases"] = rng.poisson(15, 8)
    plan["aware"] = rng.binomial(100, 0.4, 8).astype(float)
    base["aware"] = rng.binomial(100, 0.3, 8).astype(float)
    result = batch_difference_se(
        plan, base, ["purchases", "purchases_scaled", "share_aware", "media_contacts"], 3.0, 3.0
    )
    d = (plan["purchases"] - base["purchases"]).to_numpy(dtype=float)
    assert result["purchases"] == pytest.approx(math.sqrt(8) * d.std(ddof=1))
    assert result["purchases_scaled"] == pytest.approx(3.0 * math.sqrt(8) * d.std(ddof=1))
    shares = (plan["aware"] - base["aware"]).to_numpy() / 100.0  # equal batch sizes: the ratio is the plain mean
    assert result["share_aware"] == pytest.approx(math.sqrt(8) * shares.std(ddof=1) / 8)
    assert "media_contacts" not in result  # not tallied by the batches
    assert batch_difference_se(plan, plan, ["purchases", "share_aware"]) == {"purchases": 0.0, "share_aware": 0.0}
    level = batch_se(plan, ["purchases"])["purchases"]
    assert level == pytest.approx(math.sqrt(8) * plan["purchases"].std(ddof=1))


def test_a_comparison_of_one_replication_has_within_run_intervals(tmp_path, tiny_city_path, tiny_city) -> None:
    base = tmp_path / "base.toml"
    more = tmp_path / "more.toml"
    base.write_text(toml_text(scenario_data(tiny_city_path, "two", BASE_STORES)), encoding="utf-8")
    more.write_text(toml_text(scenario_data(tiny_city_path, "three", BASE_STORES + [EXTRA_STORE])), encoding="utf-8")
    result = compare(load_comparison([base, more], replications=1), city=tiny_city)
    differences = result.differences.set_index("kpi")
    assert (differences["n_replications"] == 1).all()
    for kpi in ("bookings_requested_scaled", "test_drives", "purchases", "share_familiar", "mean_familiarity"):
        row = differences.loc[kpi]
        assert row["se_method"] == WITHIN_RUN_BATCHES, kpi
        assert row["se"] > 0, kpi
        assert row["ci_low"] < row["difference"] < row["ci_high"], kpi
    assert differences.loc["mean_trust", "se_method"] == WITHIN_RUN_UNPAIRED
    # the plan does not change who media reaches: the same series in both runs, SE 0
    assert differences.loc["media_contacts_scaled", "se_method"] == WITHIN_RUN_IDENTICAL
    assert differences.loc["media_contacts_scaled", "se"] == 0.0
    # a flagship store more raises familiarity far beyond the noise of one replication
    assert differences.loc["share_familiar", "significant"]
    folder = write_comparison(result, tmp_path / "cmp")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "the intervals are within-run estimates" in page
    stored = pd.read_parquet(folder / "differences.parquet")
    assert set(stored["se_method"]) <= {WITHIN_RUN_BATCHES, WITHIN_RUN_UNPAIRED, WITHIN_RUN_IDENTICAL}


def test_a_plan_against_itself_has_zero_within_run_se(tmp_path, tiny_city_path, tiny_city) -> None:
    base = tmp_path / "base.toml"
    base.write_text(toml_text(scenario_data(tiny_city_path, "two", BASE_STORES)), encoding="utf-8")
    spec = tmp_path / "self.toml"
    spec.write_text(
        'base = "base.toml"\nreplications = 1\n[[plans]]\nname = "original"\nuse_base_plan = true\n'
        '[[plans]]\nname = "copy"\nuse_base_plan = true\n',
        encoding="utf-8",
    )
    differences = compare(spec, city=tiny_city).differences
    batched = differences[differences["se_method"] == WITHIN_RUN_BATCHES]
    assert len(batched) > 10
    assert (batched["difference"] == 0).all() and (batched["se"] == 0).all()
    assert not differences["significant"].any()


# --------------------------------------------------------------------------- daily and weekly


def test_every_daily_and_weekly_kpi_has_a_within_run_se(one_run: RunResult) -> None:
    daily, n, weight = one_run.daily, one_run.metadata["consumers"], one_run.consumer_weight
    kpis = [c for c in daily.columns if c not in ("replication", "seed", "day", "date") and not c.endswith("_se")]
    missing = [c for c in kpis if f"{c}_se" not in daily.columns]
    assert not missing
    assert np.allclose(daily["purchases_se"], np.sqrt(daily["purchases"]))
    assert np.allclose(daily["purchases_scaled_se"], weight * np.sqrt(daily["purchases"]))
    p = daily["share_aware"]
    assert np.allclose(daily["share_aware_se"], np.sqrt(p * (1 - p) / n))
    m = daily["mean_familiarity"]
    assert np.allclose(daily["mean_familiarity_se"], np.sqrt(m * (1 - m) / n))
    assert daily["queue_length_se"].isna().all()
    weekly = one_run.weekly
    assert {"mean_familiarity_se", "share_familiar_se"} <= set(weekly.columns)
    assert (weekly["share_familiar_se"].dropna() >= 0).all()


def test_the_daily_band_is_plus_minus_1_96_se(one_run: RunResult) -> None:
    daily = one_run.daily
    _x, mean, _low, high, n = daily_band(daily, "purchases", "day")
    assert n == 1
    assert np.allclose(high - mean, Z_95 * np.sqrt(daily.sort_values("day")["purchases"].to_numpy()))
    # a 7-day rolling mean of k days with equal SEs s has SE s / sqrt(k)
    frame = pd.DataFrame({"replication": 0, "day": np.arange(10), "y": 5.0, "y_se": 2.0})
    _x, mean, _low, high, _n = daily_band(frame, "y", "day", rolling=7)
    k = np.minimum(np.arange(1, 11), 7)
    assert np.allclose(high - mean, Z_95 * 2.0 / np.sqrt(k))
    several = pd.concat([frame.assign(replication=r, y=5.0 + r) for r in range(3)])
    _x, mean, _low, high, n = daily_band(several, "y", "day")
    assert n == 3 and np.allclose(high - mean, Z_95 * 1.0 / np.sqrt(3))


# --------------------------------------------------------------------------- granularity warning


def lumpy_data(city_path: Path, name: str = "lumpy") -> dict:
    """Weight 381,636 / 1,000 = 382 people per consumer, above the 5 test drives a day of store B."""
    stores = [{"id": "A", "mall": "M1"}, {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 5}]
    data = scenario_data(city_path, name, stores, days=10)
    data["population"] = {"consumers": 1000}
    return data


def test_the_capacity_granularity_warning_reaches_metadata_and_every_report(
    tmp_path, tiny_city_path, tiny_city
) -> None:
    phrase = "queues and lost bookings are lumpy"
    result = run(parse_scenario(lumpy_data(tiny_city_path), "lumpy.toml"), city=tiny_city)
    assert result.consumer_weight > 5
    folder = write_run(result, tmp_path / "run", figures=False, geopackage=False)
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert any(phrase in warning for warning in metadata["warnings"])
    assert phrase in (folder / "report.html").read_text(encoding="utf-8")

    base = tmp_path / "lumpy.toml"
    base.write_text(toml_text(lumpy_data(tiny_city_path)), encoding="utf-8")
    more = tmp_path / "more.toml"
    more_data = lumpy_data(tiny_city_path, "more")
    more_data["plan"]["stores"] = more_data["plan"]["stores"] + [EXTRA_STORE]
    more.write_text(toml_text(more_data), encoding="utf-8")
    comparison = write_comparison(
        compare(load_comparison([base, more], replications=1), city=tiny_city), tmp_path / "c"
    )
    metadata = json.loads((comparison / "metadata.json").read_text(encoding="utf-8"))
    assert any(phrase in warning for warning in metadata["warnings"])
    assert phrase in (comparison / "report.html").read_text(encoding="utf-8")

    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(
        'scenario = "lumpy.toml"\nseed = 3\nreplications = 1\nkpis = ["test_drives_scaled"]\n'
        '[[parameters]]\nkey = "behaviour.hill_k"\nvalues = [2.0, 4.0]\n',
        encoding="utf-8",
    )
    sweep = run_sweep(load_sweep(sweep_file), tmp_path / "s")
    metadata = json.loads((sweep.folder / "metadata.json").read_text(encoding="utf-8"))
    assert any(phrase in warning for warning in metadata["warnings"])
    assert phrase in (sweep.folder / "report.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- validation (slow)

VALIDATION_REPLICATIONS = 16
VALIDATION_KPIS = (
    "test_drive_intents",
    "bookings_requested",
    "test_drives",
    "bookings_lost",
    "purchases",
    "share_aware",
    "share_familiar",
    "mean_familiarity",
    "reach_28d",
    "effective_frequency_28d",
)
MEAN_RATIO_RANGE = (0.6, 1.6)
EACH_RATIO_RANGE = (0.4, 2.5)


@pytest.mark.slow
def test_batch_means_se_of_a_difference_matches_its_spread_over_seeds(tiny_city_path, tiny_city) -> None:
    """Two stores against three, 16 seeds under common random numbers: sd over seeds of each
    difference / mean batch-means SE of one replication. With 16 seeds the sd is itself
    uncertain by about 18 %, hence the ranges (docs/model.md, section "Monte-Carlo error")."""
    runs = {
        name: run(
            parse_scenario(scenario_data(tiny_city_path, name, stores, VALIDATION_REPLICATIONS), f"{name}.toml"),
            city=tiny_city,
        )
        for name, stores in (("base", BASE_STORES), ("plan", BASE_STORES + [EXTRA_STORE]))
    }
    base, plan = runs["base"], runs["plan"]
    kpis = [k for k, *_ in SUMMARY_KPIS if k in VALIDATION_KPIS]
    per_seed = pd.DataFrame(
        [
            batch_difference_se(
                plan.batches[plan.batches.replication == r], base.batches[base.batches.replication == r], kpis
            )
            for r in range(VALIDATION_REPLICATIONS)
        ]
    )
    differences = plan.replication_kpis() - base.replication_kpis()
    ratios = {k: float(differences[k].std(ddof=1) / per_seed[k].mean()) for k in kpis}
    print("sd over seeds / batch-means SE:", {k: round(v, 2) for k, v in ratios.items()})
    assert MEAN_RATIO_RANGE[0] <= np.mean(list(ratios.values())) <= MEAN_RATIO_RANGE[1], ratios
    assert all(EACH_RATIO_RANGE[0] <= v <= EACH_RATIO_RANGE[1] for v in ratios.values()), ratios

"""Plan comparisons: common random numbers, paired intervals, comparison files, outputs, CLI.

Small cases on the tiny city (tests/cityfixtures.py). Tolerances and thresholds are
explained where they are used.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyogrio
import pytest
from clihelpers import assert_one_line_error
from scipy import stats
from typer.testing import CliRunner

from simulator.cli import app
from simulator.config.errors import ScenarioError
from simulator.config.scenario import parse_scenario
from simulator.experiments.compare import (
    ComparisonSpec,
    compare,
    comparison_from_files,
    first_difference,
    load_comparison,
    paired_interval,
)
from simulator.experiments.run import run
from simulator.model.footprint_model import FootprintModel
from simulator.reports.compare_report import write_comparison
from simulator.reports.compare_text import difference_rows, format_difference
from simulator.results.run_folder import read_run

runner = CliRunner()

BASE_STORES = [
    {"id": "A", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 40},
]
EXTRA_STORE = {"id": "C", "station": "东门", "format": "flagship"}
# More people in the market and quicker decisions than the defaults, so that a few thousand
# consumers make a few hundred bookings in two months (the defaults give a handful).
ACTIVE_BEHAVIOUR = {"in_market_rate_per_year": 1.0, "booking_rate_per_day": 0.02}


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """Results do not depend on the thread count; one thread is much faster on a busy 2-core machine."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


def tiny_data(city_path, name="tiny", stores=None, **sections):
    data = {
        "name": name,
        "seed": 7,
        "city": {"bundle": str(city_path)},
        "population": {"consumers": 3000},
        "behaviour": dict(ACTIVE_BEHAVIOUR),
        "plan": {"name": name, "stores": list(BASE_STORES if stores is None else stores)},
        "horizon": {"days": 60},
    }
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return data


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_toml(path: Path, data: dict) -> Path:
    """A flat TOML writer for these tests: top-level scalars, then one table per section."""
    lines = [f"{key} = {toml_value(value)}" for key, value in data.items() if not isinstance(value, (dict, list))]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            for item in value:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def extra_store_comparison(tiny_city_path, tiny_city, tmp_path_factory):
    """Baseline A+B against A+B+C (one extra store), 8 paired replications, with marginal runs."""
    folder = tmp_path_factory.mktemp("extra_store")
    base = write_toml(folder / "base.toml", tiny_data(tiny_city_path, "two stores"))
    more = write_toml(
        folder / "more.toml", tiny_data(tiny_city_path, "three stores", stores=BASE_STORES + [EXTRA_STORE])
    )
    spec = load_comparison([base, more], replications=8)
    return compare(spec, marginal=True, city=tiny_city)


# --------------------------------------------------------------------------- statistics


def test_paired_interval_matches_the_t_formula():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    interval = paired_interval(d)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2.0  # t_{0.975,3} s_d / sqrt(4)
    assert interval["mean"] == 2.5
    assert interval["ci_low"] == pytest.approx(2.5 - half)
    assert interval["ci_high"] == pytest.approx(2.5 + half)
    assert interval["se"] == pytest.approx(d.std(ddof=1) / 2.0)
    constant = paired_interval(np.full(5, 0.25))
    assert (constant["ci_low"], constant["mean"], constant["ci_high"], constant["std"]) == (0.25, 0.25, 0.25, 0.0)
    single = paired_interval(np.array([3.0]))
    assert single["mean"] == 3.0 and math.isnan(single["ci_low"]) and math.isnan(single["se"])


def test_format_difference_signs_and_units():
    assert format_difference(1234.4, "people") == "+1,234"
    assert format_difference(-0.2, "people") == "0"
    assert format_difference(0.0123, "share") == "+1.23 pp"
    assert format_difference(-0.004, "index") == "-0.004"


def test_first_difference_names_the_key_path():
    a = {"population": {"consumers": 10, "mode_shares": {"bus": 0.1}}, "seed": 1}
    b = {"population": {"consumers": 10, "mode_shares": {"bus": 0.2}}, "seed": 1}
    assert first_difference(a, b) == (("population", "mode_shares", "bus"), 0.1, 0.2)
    assert first_difference(a, a) is None
    assert first_difference({"x": [1, 2]}, {"x": [1, 3]}) == (("x", 1), 2, 3)


# --------------------------------------------------------------------------- common random numbers


def test_a_plan_compared_with_itself_differs_by_exactly_zero(tmp_path, tiny_city_path, tiny_city):
    base = write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path))
    comparison = write_toml(
        tmp_path / "self.toml",
        {
            "base": "base.toml",
            "replications": 3,
            "plans": [{"name": "original", "use_base_plan": True}, {"name": "copy", "use_base_plan": True}],
        },
    )
    result = compare(comparison, city=tiny_city)
    differences = result.differences
    assert len(differences) > 10
    assert (differences["difference"] == 0.0).all()
    assert (differences["ci_low"] == 0.0).all() and (differences["ci_high"] == 0.0).all()
    assert not differences["significant"].any()
    zone_columns = [c for c in result.zones.columns if c.endswith("_difference")]
    assert (result.zones[zone_columns].to_numpy() == 0.0).all()
    daily = result.daily.drop(columns=["plan", "plan_slug"])
    first, second = (daily[result.daily["plan"] == name].reset_index(drop=True) for name in ("original", "copy"))
    pd.testing.assert_frame_equal(first, second)
    assert base.exists()


@pytest.mark.parametrize(
    "extra",
    [
        EXTRA_STORE,
        {"id": "late", "station": "北苑", "format": "street", "open_day": 15},
        {"id": "second-in-M1", "mall": "M1", "format": "popup"},
    ],
    ids=["flagship", "opens-later", "same-mall"],
)
def test_an_extra_store_never_lowers_anyones_sightings(tiny_city_path, tiny_city, extra):
    """Exact under common random numbers: same uniform, larger Poisson rate, no fewer sightings.

    Consumer i's daily count is the inverse Poisson CDF of one uniform that depends only on
    (seed, day, i); adding a store only adds rate, and the inverse CDF is non-decreasing in
    the rate. So for every consumer and every day the count with the extra store is >= the
    count without it. (Exposure stock, familiarity and bookings carry no such guarantee.)
    """
    data = tiny_data(tiny_city_path, horizon={"days": 40})
    without = FootprintModel(parse_scenario(data, "a.toml"), seed=123, city=tiny_city, record_sightings=True)
    data_with = tiny_data(tiny_city_path, stores=BASE_STORES + [extra], horizon={"days": 40})
    with_store = FootprintModel(parse_scenario(data_with, "b.toml"), seed=123, city=tiny_city, record_sightings=True)
    np.testing.assert_array_equal(without.population.home_cell, with_store.population.home_cell)
    strictly_more = 0
    for _day in range(40):
        without.step()
        with_store.step()
        assert (with_store.sightings_today >= without.sightings_today).all()
        strictly_more += int((with_store.sightings_today > without.sightings_today).sum())
    assert strictly_more > 50  # the extra store is actually seen


def test_an_extra_store_raises_familiarity_statistically(extra_store_comparison):
    """The statistical form: awareness, familiarity, trust and test drives up (paired CI above 0).

    None of these is monotone consumer by consumer (a sighting can move to a store with a
    smaller weight; capacity and store choice reshuffle who is served), so the claim is about
    means. Bookings requested are left out on purpose: more capacity means fewer lost
    bookings and so fewer re-bookings, which can lower the count.
    """
    differences = extra_store_comparison.differences.set_index("kpi")
    for kpi in ("share_aware", "share_familiar", "mean_familiarity", "mean_trust", "test_drives"):
        assert differences.loc[kpi, "ci_low"] > 0, kpi
    assert differences.loc["purchases", "ci_high"] > 0
    assert (differences["n_replications"] == 8).all()


def test_common_random_numbers_shrink_the_standard_error(extra_store_comparison, tiny_city):
    """The SE of a difference is smaller with shared seeds than with independent ones.

    Independent comparison: the plan with the extra store run with seeds spawned from another
    root, paired by position with the baseline's replications. With 8 replications a sample
    SE is within about +-30 % of the true one, so the thresholds below are decisive, not
    borderline: ratios measured with three root seeds were 0.09-0.27 for familiarity,
    0.09-0.25 for bookings requested and 0.33-0.78 for test drives.
    """
    result = extra_store_comparison
    baseline_kpis = result.runs["two stores"].replication_kpis()
    other_plan = result.spec.plans[1].scenario
    independent = run(other_plan, seed=result.spec.seed + 1000, replications=8, city=tiny_city).replication_kpis()
    differences = result.differences.set_index("kpi")
    for kpi, largest_ratio in (
        ("share_familiar", 0.5),
        ("mean_familiarity", 0.5),
        ("bookings_requested", 0.6),
        ("test_drives", 1.0),
    ):
        se_independent = (independent[kpi] - baseline_kpis[kpi]).std(ddof=1) / math.sqrt(8)
        se_common = differences.loc[kpi, "se"]
        assert se_common < largest_ratio * se_independent, (kpi, se_common, se_independent)
    assert (
        differences.loc[["share_familiar", "mean_trust"], "se"]
        < differences.loc[["share_familiar", "mean_trust"], "se_unpaired"]
    ).all()


def test_every_plan_gets_the_same_seeds_and_population(extra_store_comparison):
    runs = extra_store_comparison.run_kpis
    seeds = runs.pivot(index="replication", columns="plan", values="seed")
    assert (seeds["two stores"] == seeds["three stores"]).all()
    assert seeds["two stores"].tolist() == extra_store_comparison.spec.seeds
    assert len(set(seeds["two stores"])) == 8
    zones = extra_store_comparison.zones.pivot(index="zone_id", columns="plan", values="consumers")
    assert (zones["two stores"] == zones["three stores"]).all()


def test_results_do_not_depend_on_jobs(tmp_path, tiny_city_path, tiny_city):
    base = write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path, "two", horizon={"days": 25}))
    more = write_toml(
        tmp_path / "more.toml",
        tiny_data(tiny_city_path, "three", stores=BASE_STORES + [EXTRA_STORE], horizon={"days": 25}),
    )
    spec = load_comparison([base, more], replications=2)
    serial = compare(spec, city=tiny_city, jobs=1)
    parallel = compare(spec, city=tiny_city, jobs=2)
    for name in ("run_kpis", "plans", "differences", "daily", "stores", "zones"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(parallel, name), obj=name)
    assert parallel.metadata["executor"] == "2 local processes"


# --------------------------------------------------------------------------- marginal contributions


def test_marginal_contribution_is_the_plan_minus_the_plan_without_the_store(extra_store_comparison, tiny_city):
    result = extra_store_comparison
    marginal = result.marginal
    assert set(marginal["store_id"][marginal["plan"] == "three stores"]) == {"A", "B", "C"}
    assert set(marginal["store_id"][marginal["plan"] == "two stores"]) == {"A", "B"}
    # Independent check: run the plan without store B ourselves with the same root seed.
    plan = result.spec.plans[1].scenario
    data = plan.model_dump(mode="python")
    data["plan"]["stores"] = [s for s in data["plan"]["stores"] if s["id"] != "B"]
    without_b = run(parse_scenario(data, "without_b.toml", read_stores_file=False), city=tiny_city).replication_kpis()
    full = result.runs["three stores"].replication_kpis()
    row = marginal.query("plan == 'three stores' and store_id == 'B' and kpi == 'test_drives_scaled'").iloc[0]
    assert row["contribution"] == pytest.approx((full["test_drives_scaled"] - without_b["test_drives_scaled"]).mean())
    assert row["ci_low"] <= row["contribution"] <= row["ci_high"]
    # The plan's total effect is measured against the same plan without any store.
    familiar = marginal.query("plan == 'three stores' and kpi == 'share_familiar'")
    assert (familiar["plan_effect"] > 0).all() and familiar["plan_effect"].nunique() == 1
    runs = result.marginal_runs
    assert len(runs) == 8 * ((2 + 1) + (3 + 1))


# --------------------------------------------------------------------------- comparison files


def test_comparison_file_builds_each_plan_on_the_base(tmp_path, tiny_city_path):
    write_toml(
        tmp_path / "base.toml", tiny_data(tiny_city_path, "base", levers={"founder_endorsement": {"offset": 0.3}})
    )
    (tmp_path / "more.csv").write_text("id,station,format\nfile-1,北桥,street\nfile-2,南桥,street\n", encoding="utf-8")
    path = write_toml(
        tmp_path / "plans.toml",
        {
            "base": "base.toml",
            "description": "test plans",
            "seed": 99,
            "replications": 4,
            "plans": [
                {"name": "Base plan", "use_base_plan": True},
                {
                    "name": "Base + file",
                    "use_base_plan": True,
                    "stores": [{"id": "inline", "mall": "M3"}],
                    "stores_file": "more.csv",
                },
                {"name": "Only file", "stores_file": "more.csv", "levers": {"founder_endorsement": {"enabled": False}}},
                {"name": "No stores", "stores": []},
            ],
        },
    )
    spec = load_comparison(path, days=30)
    assert isinstance(spec, ComparisonSpec) and spec.mode == "comparison_file"
    assert spec.name == "plans" and spec.description == "test plans"
    assert [p.slug for p in spec.plans] == ["base-plan", "base-file", "only-file", "no-stores"]
    ids = [[s.id for s in p.scenario.plan.stores] for p in spec.plans]
    assert ids == [["A", "B"], ["A", "B", "inline", "file-1", "file-2"], ["file-1", "file-2"], []]
    levers = spec.plans[2].scenario.levers.founder_endorsement
    assert levers.enabled is False and levers.offset == 0.3  # merged key by key into the base's levers
    assert spec.plans[1].scenario.levers == spec.plans[0].scenario.levers
    assert (spec.seed, spec.replications) == (99, 4)
    assert all(p.scenario.horizon.days == 30 and p.scenario.seed == 99 for p in spec.plans)
    assert load_comparison(path, replications=2, seed=5).seeds == load_comparison(path, replications=2, seed=5).seeds
    assert spec.n_runs(marginal=True) == 4 * 4 + 4 * ((2 + 1) + (5 + 1) + (2 + 1))


@pytest.mark.parametrize(
    ("plans_toml", "fragments"),
    [
        (
            '[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nname = "b"\nstores_fil = "x.csv"\n',
            ["plans[1].stores_fil: unknown key (did you mean 'stores_file'?)"],
        ),
        (
            '[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nname = "b"\nuse_base_plan = true\n'
            "levers = { founder_endorsment = { offset = 0.1 } }\n",
            ["plans[1].levers.founder_endorsment: unknown key (did you mean 'founder_endorsement'?)"],
        ),
        (
            '[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nname = "b"\nuse_base_plan = true\n'
            'stores = [{ id = "A", mall = "M2" }]\n',
            ["plans[1]: duplicate store id 'A'"],
        ),
        ('[[plans]]\nname = "a"\nuse_base_plan = true\n', ["plans: a comparison needs at least 2 plans, got 1"]),
        ('[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nname = "b"\n', ["plans[1]: plan 'b' has no stores"]),
        (
            '[[plans]]\nname = "Plan A"\nuse_base_plan = true\n[[plans]]\nname = "plan a"\nstores = []\n',
            ["plans[1].name: plan name 'plan a' gives the same folder name 'plan-a' as plans[0]"],
        ),
        (
            '[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nname = "b"\nstores = [{ id = "X", mall = "M1", capacity_per_day = -3 }]\n',
            ["plans[1].stores[0].capacity_per_day: must be > 0, got -3"],
        ),
    ],
    ids=["unknown-key", "unknown-lever", "duplicate-id", "one-plan", "no-stores", "same-slug", "bad-store"],
)
def test_comparison_file_errors_name_file_and_key(tmp_path, tiny_city_path, plans_toml, fragments):
    write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path))
    path = tmp_path / "bad.toml"
    path.write_text('base = "base.toml"\n' + plans_toml, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_comparison(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("bad.toml: ")
    for fragment in fragments:
        assert fragment in message


def test_missing_base_scenario_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'base = "nowhere.toml"\n[[plans]]\nname = "a"\nstores = []\n[[plans]]\nname = "b"\nstores = []\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"^c\.toml: base: scenario file not found"):
        load_comparison(path)


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        ({"population": {"consumers": 3500}}, "population.consumers"),
        ({"horizon": {"days": 61}}, "horizon.days"),
        ({"behaviour": {"hill_k": 4.0}}, "behaviour.hill_k"),
        ({"seed": 8}, "seed"),
    ],
)
def test_scenarios_that_differ_beyond_plan_and_levers_are_refused(tmp_path, tiny_city_path, change, key_path):
    base = write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path, "base"))
    other = write_toml(tmp_path / "other.toml", tiny_data(tiny_city_path, "other", **change))
    with pytest.raises(ScenarioError) as caught:
        load_comparison([base, other])
    message = str(caught.value)
    assert message.startswith(f"other.toml: {key_path}: differs from the baseline base.toml"), message
    # Levers and the plan may differ; overrides given on the command line apply to every plan.
    levers = write_toml(
        tmp_path / "levers.toml", tiny_data(tiny_city_path, "levers", levers={"brand_promise": {"offset": 0.2}})
    )
    assert len(load_comparison([base, levers]).plans) == 2


def test_a_single_scenario_file_is_refused(tmp_path, tiny_city_path):
    base = write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path))
    with pytest.raises(ScenarioError, match="one plan cannot be compared"):
        load_comparison([base])


# --------------------------------------------------------------------------- outputs


def test_comparison_folder_holds_tables_maps_report_and_runs(tmp_path, extra_store_comparison):
    result = extra_store_comparison
    folder = write_comparison(result, tmp_path / "cmp", run_reports=False)
    assert not list(tmp_path.glob(".cmp.partial-*"))
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["kind"] == "comparison" and metadata["baseline"] == "two stores"
    assert metadata["replication_seeds"] == result.spec.seeds
    assert [p["run_folder"] for p in metadata["plans"]] == ["runs/two-stores", "runs/three-stores"]
    assert all(len(p["scenario_hash"]) == 64 and p["scenario"]["plan"]["stores"] for p in metadata["plans"])
    assert metadata["warnings"] == result.metadata["warnings"]
    runs = pd.read_parquet(folder / "runs.parquet")
    assert len(runs) == 2 * 8 and {"plan", "replication", "seed", "bookings_requested_scaled"} <= set(runs.columns)
    plans = pd.read_parquet(folder / "plans.parquet")
    assert {"plan", "kpi", "mean", "se", "ci_low", "ci_high"} <= set(plans.columns)
    assert plans["se"].notna().all() and set(plans["se_method"]) == {"replications"}
    differences = pd.read_parquet(folder / "differences.parquet")
    assert set(differences["plan"]) == {"three stores"}
    assert {"difference", "ci_low", "ci_high", "se", "se_unpaired", "significant"} <= set(differences.columns)
    stores = pd.read_parquet(folder / "stores.parquet")
    assert {"bookings_requested_scaled", "test_drives_scaled", "utilisation", "queue_mean", "queue_max"} <= set(
        stores.columns
    )
    assert len(stores) == 2 + 3
    for kpi in ("bookings_requested", "test_drives", "bookings_lost", "purchases", "utilisation", "queue_mean"):
        for column in (kpi, f"{kpi}_scaled") if kpi != "utilisation" else (kpi,):
            assert stores[f"{column}_se"].notna().all(), column
    per_replication = result.runs["two stores"].stores.groupby(["store_id", "replication"])["purchases"].sum()
    expected = per_replication.groupby("store_id").std(ddof=1) / np.sqrt(8)
    two = stores[stores["plan"] == "two stores"].set_index("store_id")["purchases_se"]
    assert two.to_dict() == pytest.approx(expected.rename(index=str).to_dict())
    daily = pd.read_parquet(folder / "daily.parquet")
    assert len(daily) == 2 * 8 * 60
    zones = pd.read_parquet(folder / "zones.parquet")
    assert {"mean_familiarity_difference", "bookings_requested_per_1000_difference_ci_low"} <= set(zones.columns)
    assert {"mean_familiarity_se", "bookings_requested_scaled_se", "purchases_per_1000_se"} <= set(zones.columns)
    assert {"marginal.parquet", "marginal_runs.parquet"} <= {p.name for p in folder.iterdir()}
    layers = {name for name, kind_of in pyogrio.list_layers(folder / "zones.gpkg")}
    assert layers == {"zones", "stores", "catchments", "about"}
    figures = {p.stem for p in (folder / "figures").glob("*.png")}
    assert figures == {
        "differences",
        "funnel",
        "difference_over_time",
        "stores",
        "familiarity_difference_map",
        "bookings_difference_map",
        "marginal",
    }
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert report.count("data:image/png;base64,") == len(figures)
    markup = re.sub(
        r"<script\b[^>]*>.*?</script>", "<script></script>", report, flags=re.S
    )  # inline code: see test_webmap
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<script[^>]*\ssrc=""", markup, flags=re.I)
    assert 'id="webmap-data"' in report  # the interactive map, inline (tests/test_webmap.py opens it in Chromium)
    assert " ± " in report
    for slug in ("two-stores", "three-stores"):
        run_folder = read_run(folder / "runs" / slug)
        assert run_folder.n_replications == 8
        assert run_folder.metadata["replication_seeds"] == result.spec.seeds
    with pytest.raises(Exception, match="not empty"):
        write_comparison(result, folder, run_reports=False)


def test_a_plan_without_stores_is_a_valid_baseline(tmp_path, tiny_city_path, tiny_city):
    write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path, horizon={"days": 20}))
    path = write_toml(
        tmp_path / "c.toml",
        {
            "base": "base.toml",
            "replications": 2,
            "plans": [{"name": "no stores", "stores": []}, {"name": "with stores", "use_base_plan": True}],
        },
    )
    result = compare(path, city=tiny_city)
    differences = result.differences.set_index("kpi")
    assert differences.loc["share_aware", "difference"] > 0
    folder = write_comparison(result, tmp_path / "out", run_reports=False)
    assert read_run(folder / "runs" / "no-stores").stores.empty
    assert (folder / "figures" / "stores.png").is_file()


def test_terminal_rows_show_baseline_and_difference_with_interval(extra_store_comparison):
    headers, rows = difference_rows(extra_store_comparison)
    assert headers == ["KPI", "two stores (baseline)", "three stores − baseline"]
    familiar = next(row for row in rows if row[0].startswith("Familiar"))
    assert familiar[2].startswith("+") and "pp [" in familiar[2]


# --------------------------------------------------------------------------- command line


def test_cli_compare_writes_a_comparison_folder(tmp_path, tiny_city_path):
    write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path, "base"))
    comparison = write_toml(
        tmp_path / "cmp.toml",
        {
            "base": "base.toml",
            "plans": [
                {"name": "launch", "use_base_plan": True},
                {"name": "plus C", "use_base_plan": True, "stores": [EXTRA_STORE]},
            ],
        },
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "compare",
            str(comparison),
            "--replications",
            "2",
            "--days",
            "20",
            "--consumers",
            "1500",
            "--out",
            str(out),
            "--set",
            "behaviour.hill_k=2.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "plus C" in result.output and "(baseline)" in result.output
    assert f"comparison folder: {out}" in result.output
    assert (out / "report.html").is_file() and (out / "runs" / "plus-c" / "daily.parquet").is_file()
    # Inner runs write tables only: no figures, report or GeoPackage per plan.
    inner = {path.name for path in (out / "runs" / "plus-c").iterdir()}
    assert not inner & {"report.html", "figures", "zones.gpkg"}, inner
    metadata = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["replications"] == 2 and metadata["command"].startswith("footprint")
    assert all(
        p["scenario"]["behaviour"]["hill_k"] == 2.5 and p["scenario"]["horizon"]["days"] == 20
        for p in metadata["plans"]
    )
    again = runner.invoke(
        app, ["compare", str(comparison), "--replications", "2", "--days", "20", "--out", str(out), "--quiet"]
    )
    assert_one_line_error(again, "not empty", "--overwrite")


@pytest.mark.parametrize("case", ["different-population", "single-scenario", "bad-comparison-file", "bad-set"])
def test_cli_refused_comparisons_exit_1_with_one_line(tmp_path, tiny_city_path, case):
    base = write_toml(tmp_path / "base.toml", tiny_data(tiny_city_path, "base"))
    other = write_toml(tmp_path / "other.toml", tiny_data(tiny_city_path, "other", population={"consumers": 3500}))
    alternative = write_toml(
        tmp_path / "alternative.toml", tiny_data(tiny_city_path, "alternative", stores=[EXTRA_STORE])
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'base = "base.toml"\n[[plans]]\nname = "a"\nuse_base_plan = true\n[[plans]]\nnme = "b"\n', encoding="utf-8"
    )
    arguments, fragments = {
        "different-population": (
            [base, other],
            ["other.toml: population.consumers: differs from the baseline base.toml"],
        ),
        "single-scenario": ([base], ["base.toml: is a scenario file", "cannot be compared"]),
        "bad-comparison-file": ([bad], ["bad.toml: plans[1].nme: unknown key (did you mean 'name'?)"]),
        "bad-set": ([base, alternative], ["--set: behaviour.hill: unknown key (did you mean"]),
    }[case]
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["compare", *map(str, arguments), "--out", str(out), "--set", "behaviour.hill=3"]
        if case == "bad-set"
        else ["compare", *map(str, arguments), "--out", str(out)],
    )
    assert_one_line_error(result, *fragments)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_comparison_report_shows_the_plans_warnings(tmp_path, extra_store_comparison):
    import dataclasses

    from simulator.reports.compare_html import write_comparison_html

    warning = "one simulated consumer stands for 55 people, more than the smallest daily test-drive capacity (20)"
    warned = dataclasses.replace(
        extra_store_comparison, metadata={**extra_store_comparison.metadata, "warnings": [warning]}
    )
    html = write_comparison_html(warned, {}, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="warning"' in html and html.index(warning) < html.index("<h2>Comparison</h2>")
    # Without the key (a folder written before), the plans' runs' warnings are shown.
    runs = {
        name: dataclasses.replace(run, metadata={**run.metadata, "warnings": [warning]})
        for name, run in extra_store_comparison.runs.items()
    }
    metadata = {k: v for k, v in extra_store_comparison.metadata.items() if k != "warnings"}
    older = dataclasses.replace(extra_store_comparison, metadata=metadata, runs=runs)
    assert warning in write_comparison_html(older, {}, tmp_path / "older.html").read_text(encoding="utf-8")


def test_the_shipped_dense_network_compares_with_the_launch_scenario() -> None:
    """The README's ``footprint compare scenarios/beijing_launch.toml scenarios/beijing_dense24.toml`` is accepted."""
    scenarios = Path(__file__).resolve().parents[1] / "scenarios"
    spec = comparison_from_files([scenarios / "beijing_launch.toml", scenarios / "beijing_dense24.toml"])
    assert [plan.n_stores for plan in spec.plans] == [8, 24]

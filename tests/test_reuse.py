"""Reuse across runs: the per-process caches of populations, plans and exposure.

Runs that take their population, stores and exposure from the caches give exactly the
tables of runs that build them (run, comparison and sweep); a cache hit builds nothing;
cached arrays are read-only; the caches stay within their bounds. Small cases on the tiny
city (tests/cityfixtures.py).
"""

from __future__ import annotations

import gc

import numba
import numpy as np
import pandas as pd
import pytest

from simulator.config import apply_overrides
from simulator.config.scenario import parse_scenario
from simulator.experiments import cache
from simulator.experiments.cache import (
    BoundedCache,
    cache_builds,
    city_in_cache,
    clear_caches,
    exposure_inputs,
    prepared_run,
)
from simulator.experiments.compare import ComparisonSpec, PlanSpec, compare
from simulator.experiments.run import ALL_TABLES, run, simulate_replication
from simulator.experiments.sweep import parse_sweep, run_sweep
from simulator.experiments.sweep.evaluation import scenario_kpis
from simulator.model import FootprintModel, replication_seeds

STORES = [
    {"id": "A", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 5},
    {"id": "C", "station": "东门", "format": "flagship", "open_day": 10},
]
TABLES = ("daily", "stores", "zones", "cells", "rivals", "plan", "trade_areas", "bookings")


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.fixture(autouse=True)
def empty_caches():
    clear_caches()
    yield
    clear_caches()


def scenario_data(city_path, **sections) -> dict:
    data = {
        "name": "reuse",
        "seed": 3,
        "city": {"bundle": str(city_path)},
        "population": {"consumers": 1500},
        "behaviour": {"in_market_rate_per_year": 1.0, "booking_rate_per_day": 0.02},
        "plan": {"name": "three", "stores": STORES},
        "rivals": {"showrooms": [{"id": "R", "brand": "Other", "mall": "M2"}]},
        "horizon": {"days": 30},
    }
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return data


def tiny(city_path, **sections):
    return parse_scenario(scenario_data(city_path, **sections), "reuse.toml")


def builds_since(before: dict[str, int]) -> dict[str, int]:
    """Populations, plans and exposures built by this process since ``before`` (the counters only grow)."""
    return {name: count - before[name] for name, count in cache_builds().items()}


def assert_same_tables(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)


def test_cached_and_uncached_runs_give_identical_tables(tiny_city_path, tiny_city):
    scenario = tiny(tiny_city_path)
    bundle = str(tiny_city_path)
    before = cache_builds()
    uncached = simulate_replication(scenario, 42, tiny_city)
    first = simulate_replication(scenario, 42, tiny_city, prepared=prepared_run(bundle, tiny_city, scenario, 42))
    again = simulate_replication(scenario, 42, tiny_city, prepared=prepared_run(bundle, tiny_city, scenario, 42))
    assert builds_since(before) == {"populations": 1, "plans": 1, "exposures": 1}
    assert_same_tables(uncached, first)
    assert_same_tables(uncached, again)
    assert uncached.mean_store_utilisation == again.mean_store_utilisation
    assert uncached.daily["test_drives"].sum() > 0 and uncached.daily["bookings_to_rivals"].sum() > 0

    # A run with other levers and behaviour on the same exposure: as if built from scratch.
    changed = apply_overrides(scenario, {"behaviour.hill_k": 2.0, "levers.founder_endorsement.offset": 0.4})
    shared = prepared_run(bundle, tiny_city, changed, 42)
    assert builds_since(before)["exposures"] == 1
    assert_same_tables(
        simulate_replication(changed, 42, tiny_city), simulate_replication(changed, 42, tiny_city, prepared=shared)
    )


def test_fewer_tables_leave_the_others_empty_and_the_daily_one_unchanged(tiny_city_path, tiny_city):
    scenario = tiny(tiny_city_path)
    full = simulate_replication(scenario, 5, tiny_city)
    daily_only = simulate_replication(scenario, 5, tiny_city, tables={"daily"})
    pd.testing.assert_frame_equal(full.daily, daily_only.daily, check_exact=True)
    assert all(getattr(daily_only, name).empty for name in ALL_TABLES - {"daily"})
    assert daily_only.mean_store_utilisation == full.mean_store_utilisation
    with pytest.raises(ValueError, match="unknown tables"):
        simulate_replication(scenario, 5, tiny_city, tables={"daily", "figures"})


def test_store_utilisation_matches_the_per_store_rows(tiny_city_path, tiny_city):
    """The sweep's ``mean_store_utilisation`` from the model's counts equals the one from the store rows."""
    from simulator.results import store_totals

    scenario = tiny(tiny_city_path, horizon={"days": 40})
    outcome = simulate_replication(scenario, 8, tiny_city)
    totals = store_totals(outcome.stores.assign(replication=0), outcome.plan)
    expected = totals.loc[totals["capacity"] > 0, "utilisation"].mean()
    assert outcome.mean_store_utilisation == pytest.approx(expected, rel=1e-12)
    assert outcome.mean_store_utilisation > 0


def test_a_cache_hit_skips_synthesis_and_exposure(tiny_city_path, tiny_city, monkeypatch):
    calls = {"population": 0, "exposure": 0}
    real_population, real_exposure = cache.synthesize_population, cache.build_exposure

    def counted_population(*args, **kwargs):
        calls["population"] += 1
        return real_population(*args, **kwargs)

    def counted_exposure(*args, **kwargs):
        calls["exposure"] += 1
        return real_exposure(*args, **kwargs)

    monkeypatch.setattr(cache, "synthesize_population", counted_population)
    monkeypatch.setattr(cache, "build_exposure", counted_exposure)
    scenario = tiny(tiny_city_path)
    bundle = str(tiny_city_path)
    prepared = prepared_run(bundle, tiny_city, scenario, 1)
    # Behaviour, levers, a store's days and capacity: the exposure does not depend on them.
    for overrides in (
        {"behaviour.booking_rate_per_day": 0.05},
        {"levers.testimonials.weight": 2.0},
        {"plan.stores[1].capacity_per_day": 50, "plan.stores[2].open_day": 0},
    ):
        again = prepared_run(bundle, tiny_city, apply_overrides(scenario, overrides), 1)
        assert again.exposure is prepared.exposure and again.population is prepared.population
    assert calls == {"population": 1, "exposure": 1}
    # Sightings and positions do change it; another seed changes the population too.
    prepared_run(bundle, tiny_city, apply_overrides(scenario, {"behaviour.sighting_weight_mall": 0.5}), 1)
    prepared_run(bundle, tiny_city, apply_overrides(scenario, {"plan.stores[0].mall": "M2"}), 1)
    assert calls == {"population": 1, "exposure": 3}
    prepared_run(bundle, tiny_city, scenario, 2)
    assert calls == {"population": 2, "exposure": 4}


def test_exposure_inputs_are_exactly_what_exposure_reads(tiny_city_path):
    scenario = tiny(tiny_city_path)
    key = exposure_inputs(scenario)
    same = {
        "behaviour.hill_k": 4.0,
        "behaviour.huff_lambda": 1.0,
        "levers.media.exposure_weight": 2.0,
        "plan.stores[0].capacity_per_day": 99,
        "plan.stores[0].attractiveness": 3.0,
        "plan.stores[0].close_day": 20,
        "plan.stores[0].name": "renamed",
        "horizon.days": 10,
        "seed": 99,
    }
    for path, value in same.items():
        assert exposure_inputs(apply_overrides(scenario, {path: value})) == key, path
    different = {
        "behaviour.sighting_probability.mall.mall_visit": 0.5,
        "behaviour.sighting_weight_walk": 0.5,
        "behaviour.sighting_weight_vehicle": 0.9,
        "plan.stores[1].visibility_radius_m": 10.0,
        "plan.stores[1].format": "popup",
        "plan.stores[1].station": "东门",
    }
    for path, value in different.items():
        assert exposure_inputs(apply_overrides(scenario, {path: value})) != key, path


def test_cached_arrays_are_read_only_and_runs_do_not_change_them(tiny_city_path, tiny_city):
    scenario = tiny(tiny_city_path)
    prepared = prepared_run(str(tiny_city_path), tiny_city, scenario, 4)
    arrays = {
        "population.home_cell": prepared.population.home_cell,
        "population.contact_indices": prepared.population.contact_indices,
        "stores.xy": prepared.stores.xy,
        "stores.capacity": prepared.stores.capacity,
        "rivals.xy": prepared.rivals.xy,
        "exposure.consumer_class": prepared.exposure.consumer_class,
        "exposure.rate_weekday": prepared.exposure.rate_weekday,
    }
    for name, array in arrays.items():
        assert not array.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            array[..., 0] = 0
    before = {name: array.copy() for name, array in arrays.items()}
    simulate_replication(scenario, 4, tiny_city, prepared=prepared)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
    memo = next(iter(prepared.exposure.memo.values()))  # the day structures shared by later runs
    assert all(not a.flags.writeable for structure in memo.values() for a in structure if isinstance(a, np.ndarray))


def test_a_model_refuses_an_exposure_of_another_plan(tiny_city_path, tiny_city):
    scenario = tiny(tiny_city_path)
    prepared = prepared_run(str(tiny_city_path), tiny_city, scenario, 4)
    two_stores = apply_overrides(scenario, {"plan.stores": STORES[:2]})
    with pytest.raises(ValueError, match="does not fit"):
        FootprintModel(two_stores, seed=4, city=tiny_city, population=prepared.population, exposure=prepared.exposure)


def test_caches_are_bounded(tiny_city_path, tiny_city):
    bounded: BoundedCache[np.ndarray] = BoundedCache(2, max_bytes=1000)
    for key in "abc":
        bounded.get(key, lambda: np.zeros(10))
    assert len(bounded) == 2 and "a" not in bounded and bounded.builds == 3
    bounded.get("b", lambda: np.zeros(10))  # a hit makes "b" the newest
    bounded.get("d", lambda: np.zeros(10))
    assert "c" not in bounded and {"b", "d"} == {k for k in "abcd" if k in bounded}
    bounded.put("big", np.zeros(200))  # 1,600 bytes: over the budget, but the newest is kept
    assert len(bounded) == 1 and "big" in bounded

    scenario = tiny(tiny_city_path, population={"consumers": 300}, horizon={"days": 2})
    for seed in range(cache.POPULATIONS_KEPT + 3):
        prepared_run(str(tiny_city_path), tiny_city, scenario, seed)
    assert len(cache._POPULATIONS) == cache.POPULATIONS_KEPT
    assert len(cache._EXPOSURES) <= cache.EXPOSURES_KEPT
    with city_in_cache(str(tiny_city_path), tiny_city):
        prepared_run(str(tiny_city_path), tiny_city, scenario, 0)
    assert len(cache._POPULATIONS) == len(cache._EXPOSURES) == len(cache._PLANS) == 0


def test_comparison_with_caches_equals_runs_built_from_scratch(tiny_city_path, tiny_city):
    """Two plans that differ only in a lever share population and exposure, and give the tables of plain runs."""
    base = tiny(tiny_city_path, replications=2)
    endorsed = apply_overrides(base, {"levers.founder_endorsement.offset": 0.5, "plan.name": "endorsed"})
    spec = ComparisonSpec(
        name="levers",
        description="",
        plans=(PlanSpec("base", "base", base, "base.toml"), PlanSpec("endorsed", "endorsed", endorsed, "e.toml")),
        seed=base.seed,
        replications=2,
        sources=("base.toml", "e.toml"),
        mode="scenario_files",
    )
    gc.collect()
    models_before = {id(obj) for obj in gc.get_objects() if isinstance(obj, FootprintModel)}  # other tests' fixtures
    before = cache_builds()
    result = compare(spec, city=tiny_city)
    builds = builds_since(before)
    assert builds == {"populations": 2, "plans": 1, "exposures": 2}  # per replication, not per run
    assert len(cache._POPULATIONS) == 0  # dropped when the comparison ends
    for plan in spec.plans:
        direct = run(plan.scenario, city=tiny_city)
        assert_same_tables(result.runs[plan.name], direct)
    gc.collect()
    models_after = {id(obj) for obj in gc.get_objects() if isinstance(obj, FootprintModel)}
    assert models_after <= models_before  # every model of the comparison (and of the runs) was released


def test_sweep_with_caches_equals_uncached_runs(tiny_city_path, tiny_city, tmp_path):
    base = tiny(tiny_city_path)
    data = {
        "name": "reuse_sweep",
        "replications": 2,
        "kpis": ["test_drives_scaled", "purchases_scaled", "share_familiar", "mean_trust", "mean_store_utilisation"],
        "parameters": [
            {"key": "behaviour.hill_k", "values": [2.0, 4.0]},
            {"key": "plan.stores[*].capacity_per_day", "values": [3, 8]},
        ],
        "design": {"kind": "grid"},
    }
    sweep = parse_sweep(data, "reuse_sweep.toml", base=base)
    before = cache_builds()
    result = run_sweep(sweep, tmp_path / "sweep")
    builds = builds_since(before)
    assert result.ok and result.runs_total == 8
    assert builds["populations"] == 2 and builds["exposures"] == 2  # one per seed: capacity leaves exposure alone
    assert len(cache._POPULATIONS) == len(cache._EXPOSURES) == 0  # dropped when the sweep ends
    seeds = replication_seeds(sweep.root_seed, 2)
    for row in result.summary.to_dict("records"):
        scenario = apply_overrides(
            sweep.base,
            {"behaviour.hill_k": row["behaviour.hill_k"]}
            | {f"plan.stores[{i}].capacity_per_day": row["plan.stores[*].capacity_per_day"] for i in range(3)},
        )
        expected = scenario_kpis(scenario, seeds[row["replication"]], tiny_city, sweep.kpis)
        assert {kpi: row[kpi] for kpi in sweep.kpis} == expected

    # The same KPIs as footprint run's replication KPIs (the daily columns only, same sums).
    point = result.summary[result.summary["point"] == 0]
    scenario = apply_overrides(
        sweep.base, {"behaviour.hill_k": 2.0} | {f"plan.stores[{i}].capacity_per_day": 3 for i in range(3)}
    )
    kpis = run(scenario, city=tiny_city).replication_kpis()
    columns = ["test_drives_scaled", "purchases_scaled", "share_familiar", "mean_trust"]
    np.testing.assert_array_equal(point[columns].to_numpy(), kpis[columns].to_numpy())

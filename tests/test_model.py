"""The model: limiting cases against closed forms, determinism, queues, Mesa integration."""

from __future__ import annotations

import gc

import mesa
import numba
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator.config.scenario import parse_scenario
from simulator.experiments.run import run, simulate_replication
from simulator.model.closed_forms import bass_cumulative, huff_probabilities
from simulator.model.footprint_model import FootprintModel

TINY_STORES = [
    {"id": "A", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 5},
    {"id": "C", "station": "东门", "format": "flagship", "open_day": 20},
]


def tiny_scenario(city_path, **sections):
    """A scenario on the tiny city; keyword arguments replace or extend sections."""
    data = {
        "name": "tiny",
        "seed": 11,
        "city": {"bundle": str(city_path)},
        "population": {"consumers": 4000},
        "plan": {"stores": TINY_STORES},
        "horizon": {"days": 60},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_scenario(data, "tiny.toml")


BASS_P, BASS_Q = 0.03, 0.38


def bass_scenario(city_path, consumers, days, mixing="full"):
    """Stores and levers off, everyone permanently in the market, every decision an online purchase."""
    levers_off = {
        name: {"enabled": False}
        for name in (
            "expert_brand",
            "founder_endorsement",
            "brand_promise",
            "supply_chain",
            "sales_announcements",
            "offline_footprint",
        )
    }
    return tiny_scenario(
        city_path,
        population={"consumers": consumers, "mixing": mixing},
        plan={"stores": []},
        behaviour={
            "trust_intercept": 0.0,  # T = 0.5
            "trust_heterogeneity_sd": 0.0,
            "booking_rate_per_day": 2 * BASS_P / 365.0,  # r T = p per day
            "in_market_rate_per_year": 1e9,
            "in_market_duration_days": 1e12,
            "test_drive_share": 0.0,
            # Every online order is a purchase: P_td = 1 and the same odds online.
            "conversion": 1.0,
            "online_conversion_odds_ratio": 1.0,
        },
        levers={
            **levers_off,
            "testimonials": {"weight": 0.0, "referral_rate_per_year": BASS_Q, "source_half_life_days": float("inf")},
        },
        horizon={"days": days},
    )


def test_bass_limiting_case(tiny_city_path, tiny_city):
    """With stores and levers off and fully mixed word of mouth, adoption follows Bass (1969)."""
    consumers, years = 20000, 12
    result = run(bass_scenario(tiny_city_path, consumers, 365 * years), city=tiny_city)
    adopted = result.daily["cumulative_purchases"].to_numpy() / consumers
    t_years = (result.daily["day"].to_numpy() + 1) / 365.0
    expected = bass_cumulative(t_years, BASS_P, BASS_Q)
    # Binomial sampling error of a share is at most 0.5 / sqrt(N) = 0.0035; allow ~4 sd.
    tolerance = 4 * 0.5 / np.sqrt(consumers)
    assert np.max(np.abs(adopted - expected)) < tolerance
    assert adopted[-1] > 0.8  # the S-curve was run through, not just its start


def test_bass_needs_word_of_mouth(tiny_city_path, tiny_city):
    """Without referrals only innovation acts: F(t) = 1 - exp(-p t)."""
    scenario = bass_scenario(tiny_city_path, 10000, 365 * 3)
    from simulator.config import apply_overrides

    scenario = apply_overrides(scenario, {"levers.testimonials.referral_rate_per_year": 0.0})
    result = run(scenario, city=tiny_city)
    adopted = result.daily["cumulative_purchases"].to_numpy() / 10000
    t_years = (result.daily["day"].to_numpy() + 1) / 365.0
    assert np.max(np.abs(adopted - (1 - np.exp(-BASS_P * t_years)))) < 4 * 0.5 / np.sqrt(10000)


def test_same_seed_same_tables_and_thread_count_does_not_matter(tiny_city_path, tiny_city):
    scenario = tiny_scenario(tiny_city_path, replications=2)
    first = run(scenario, city=tiny_city)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        second = run(scenario, city=tiny_city)
    finally:
        numba.set_num_threads(threads)
    for name in ("daily", "stores", "zones", "cells", "plan"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))
    assert first.metadata["replication_seeds"] == second.metadata["replication_seeds"]
    other = run(tiny_scenario(tiny_city_path, seed=12), city=tiny_city)
    assert not first.daily["sightings"].iloc[:60].equals(other.daily["sightings"])


def test_replications_on_worker_processes_give_the_same_tables(tiny_city_path, tiny_city):
    serial = run(tiny_scenario(tiny_city_path, replications=3, horizon={"days": 20}), city=tiny_city)
    parallel = run(
        tiny_scenario(tiny_city_path, replications=3, horizon={"days": 20}, run={"workers": 2}), city=tiny_city
    )
    for name in ("daily", "stores", "zones", "cells", "plan"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(parallel, name))


def test_tables_are_consistent(tiny_city_path, tiny_city):
    result = run(tiny_scenario(tiny_city_path, behaviour={"booking_rate_per_day": 0.2}), city=tiny_city)
    daily, stores = result.daily, result.stores
    per_day = stores.groupby("day")[
        ["sightings", "bookings_requested", "test_drives", "bookings_lost", "queue_length"]
    ].sum()
    for column in per_day.columns:
        np.testing.assert_array_equal(per_day[column].to_numpy(), daily[column].to_numpy())
    # Every booking ends as a test drive, a loss or still waiting at the end.
    assert (
        daily["bookings_requested"].sum()
        == daily["test_drives"].sum() + daily["bookings_lost"].sum() + daily["queue_length"].iloc[-1]
    )
    assert (daily["cumulative_purchases"].diff().fillna(daily["purchases"]) == daily["purchases"]).all()
    assert (stores.loc[~stores["is_open"], "test_drives"] == 0).all()
    weight = result.metadata["consumer_weight"]
    assert (stores["test_drives"] <= np.ceil(stores["capacity"] / weight)).all()
    np.testing.assert_allclose(
        stores["utilisation"], np.where(stores["is_open"], stores["test_drives"] * weight / stores["capacity"], 0)
    )
    # Store C opens on day 20: no sightings of it before.
    assert stores.query("store_id == 'C' and day < 20")["sightings"].sum() == 0
    assert stores.query("store_id == 'C' and day >= 20")["sightings"].sum() > 0
    # Zone table adds up to the daily totals.
    assert result.zones["consumers"].sum() == 4000
    assert result.zones["test_drives"].sum() == daily["test_drives"].sum()
    assert result.zones["purchases"].sum() == daily["purchases"].sum()
    assert daily["bookings_requested_scaled"].iloc[5] == pytest.approx(
        daily["bookings_requested"].iloc[5] * result.metadata["consumer_weight"]
    )


def test_capacity_queue_and_abandonment(tiny_city_path, tiny_city):
    """Heavy demand on one small store: capacity binds, the queue grows, bookings are lost."""
    scenario = tiny_scenario(
        tiny_city_path,
        plan={"stores": [{"id": "only", "station": "中心", "format": "street", "capacity_per_day": 200}]},
        behaviour={"booking_rate_per_day": 0.5, "queue_patience_days": 3, "in_market_rate_per_year": 2.0},
        horizon={"days": 40},
    )
    result = run(scenario, city=tiny_city)
    stores = result.stores
    simulated_capacity = 200 / result.metadata["consumer_weight"]  # about 2.1 simulated test drives a day
    assert stores["test_drives"].max() == np.ceil(simulated_capacity)
    assert stores["test_drives"].mean() == pytest.approx(simulated_capacity, rel=0.1)
    assert result.daily["bookings_lost"].sum() > 0
    # Nobody waits longer than the patience: the queue is at most 3 days of arrivals deep beyond capacity.
    assert (stores["queue_length"] <= stores["bookings_requested"].rolling(4, min_periods=1).sum()).all()
    # Capacity unused on a day means nobody was left waiting that day.
    assert (stores.loc[stores["test_drives"] < np.floor(simulated_capacity), "queue_length"] == 0).all()


def test_no_store_open_means_bookings_without_store(tiny_city_path, tiny_city):
    scenario = tiny_scenario(
        tiny_city_path,
        plan={"stores": [{"id": "late", "station": "中心", "format": "street", "open_day": 50}]},
        behaviour={"booking_rate_per_day": 0.3},
        horizon={"days": 60},
    )
    daily = run(scenario, city=tiny_city).daily
    assert daily.loc[daily["day"] < 50, "bookings_no_store"].sum() > 0
    assert daily.loc[daily["day"] < 50, "test_drives"].sum() == 0
    assert daily.loc[daily["day"] >= 50, "bookings_no_store"].sum() == 0


def test_store_choice_shares_equal_huff(tiny_city_path, tiny_city):
    """With the outside option off and travel from home, bookings follow plain Huff (1963)."""
    behaviour = {"outside_option": False, "travel_from": "home", "huff_lambda": 1.5}
    model = FootprintModel(tiny_scenario(tiny_city_path, behaviour=behaviour), city=tiny_city)
    model.day = 25
    model._on_open_set_change()
    cell = int(np.argmax(np.bincount(model.population.home_cell)))
    consumers = np.flatnonzero(model.population.home_cell == cell)
    counts = np.zeros(len(model.stores))
    for day in range(60):
        for agent in model.store_agents:
            agent.reset_day()
            agent.queue_consumers = agent.queue_consumers[:0]
            agent.queue_days = agent.queue_days[:0]
        model._route_intents(consumers, day)
        counts += [agent.requested_today for agent in model.store_agents]
    distance_km = np.linalg.norm(model.stores.xy - tiny_city.cell_xy[cell], axis=1) / 1000
    expected = huff_probabilities(model.stores.attractiveness, distance_km[None, :], 1.5, min_distance=0.5)[0]
    assert stats.chisquare(counts, counts.sum() * expected).pvalue > 1e-3


def test_model_is_a_mesa_model_and_works_with_batch_run(tiny_city_path):
    scenario = tiny_scenario(tiny_city_path, horizon={"days": 10}, population={"consumers": 500})
    model = FootprintModel(scenario)
    assert isinstance(model, mesa.Model)
    assert len(model.agents) == 3
    model.step()
    assert model.day == 1 and model.steps == 1
    results = mesa.batch_run(
        FootprintModel,
        parameters={"scenario": [scenario], "seed": [1, 2]},
        iterations=1,
        max_steps=10,
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    assert len(results) == 2
    assert {r["seed"] for r in results} == {1, 2}
    assert all(0 <= r["share_aware"] <= 1 for r in results)


def test_more_consumers_same_kpis_within_sampling_error(tiny_city_path, tiny_city):
    """Scaled KPIs do not depend on the number of simulated consumers."""
    small = run(tiny_scenario(tiny_city_path, population={"consumers": 3000}, replications=3), city=tiny_city)
    large = run(tiny_scenario(tiny_city_path, population={"consumers": 30000}), city=tiny_city)
    last_small = small.daily[small.daily["day"] == 59]
    last_large = large.daily[large.daily["day"] == 59]
    for kpi in ("share_aware", "mean_familiarity", "reach_28d"):
        assert last_large[kpi].iloc[0] == pytest.approx(last_small[kpi].mean(), abs=0.03)


def test_a_plan_without_stores_runs(tiny_city_path, tiny_city, tmp_path):
    from simulator.reports.publish import write_run

    result = run(tiny_scenario(tiny_city_path, plan={"stores": []}, horizon={"days": 10}), city=tiny_city)
    assert len(result.stores) == 0 and "utilisation" in result.stores.columns
    assert result.daily["sightings"].sum() == 0
    write_run(result, tmp_path / "empty", figures=False, report=False)


def test_finished_runs_do_not_keep_their_models_alive(tiny_city_path, tiny_city):
    """Mesa's class-level agent-id counters would hold every model (mesa#3179); runs release them."""

    def live_models() -> int:
        gc.collect()
        return sum(isinstance(obj, FootprintModel) for obj in gc.get_objects())

    before = live_models()
    scenario = tiny_scenario(tiny_city_path, horizon={"days": 5})
    for seed in (1, 2, 3):
        simulate_replication(scenario, seed, tiny_city)
    assert live_models() == before
    kept = FootprintModel(scenario, city=tiny_city)
    assert kept in mesa.Agent._ids
    kept.release()
    assert kept not in mesa.Agent._ids

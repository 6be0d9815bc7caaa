"""Location matters: the face-validity checks of the default Beijing launch scenario (issue 11).

Each test runs the embedded default scenario (``scenarios/beijing_launch.toml``, 400,000
consumers, one seed) against a variant that changes one thing. The counter-based random
stream gives both runs the same uniforms per consumer and day (common random numbers),
so differences are the change's effect rather than noise. These runs take about 10 s
each, so the tests are marked slow (CI runs them).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator.city import City, load_city
from simulator.config import apply_overrides, default_scenario_path, load_scenario
from simulator.config.scenario import parse_scenario
from simulator.experiments.run import run
from simulator.results import RunResult

pytestmark = pytest.mark.slow

LEVERS = (
    "expert_brand",
    "founder_endorsement",
    "brand_promise",
    "supply_chain",
    "sales_announcements",
    "offline_footprint",
    "testimonials",
)


@cache
def beijing() -> City:
    scenario = load_scenario(default_scenario_path())
    return load_city(scenario.resolved_bundle)


def default_data() -> dict[str, Any]:
    """The default scenario as plain data (stores and rivals merged), to vary by hand."""
    return load_scenario(default_scenario_path()).model_dump(mode="python")


@cache
def run_default() -> RunResult:
    return run(load_scenario(default_scenario_path()), city=beijing())


def run_variant(overrides: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> RunResult:
    """The default scenario with dotted-key overrides, or with its data replaced."""
    if data is not None:
        scenario = parse_scenario(data, "variant.toml", read_stores_file=False)
    else:
        scenario = apply_overrides(load_scenario(default_scenario_path()), overrides or {})
    return run(scenario, city=beijing())


def total(result: RunResult, column: str) -> float:
    """A daily count summed over the horizon, in people."""
    return float(result.daily[f"{column}_scaled"].sum())


def test_no_stores_no_test_drives_and_at_most_a_quarter_of_the_purchases():
    default = run_default()
    data = default_data()
    data["plan"]["stores"] = []
    without = run_variant(data=data)
    assert total(without, "test_drives") == 0
    assert total(without, "purchases") <= 0.25 * total(default, "purchases")


def booking_rate_per_1000(zones: pd.DataFrame) -> float:
    return 1000.0 * zones["bookings_requested"].sum() / zones["consumers"].sum()


def test_far_districts_book_at_less_than_half_the_rate_of_near_ones():
    zones = run_default().zones
    near = zones[zones["nearest_store_km"] < 10]
    far = zones[zones["nearest_store_km"] > 30]
    assert len(near) >= 3 and len(far) >= 3
    assert booking_rate_per_1000(far) < 0.5 * booking_rate_per_1000(near)
    # Access, the model's own measure, orders the districts the same way.
    assert far["brand_access"].max() < near["brand_access"].min()


def with_extra_store(store: dict[str, Any]) -> RunResult:
    data = default_data()
    data["plan"]["stores"] = [*data["plan"]["stores"], store]
    return run_variant(data=data)


def store_bookings(result: RunResult) -> pd.Series:
    return result.stores.groupby("store_id")["bookings_requested_scaled"].sum()


def test_a_store_in_an_unserved_area_mostly_adds_bookings():
    """New store at Qinghe's mall (BJ-M29) in northern Haidian, 8.6 km from the nearest launch store."""
    default = run_default()
    extended = with_extra_store({"id": "qinghe", "mall": "BJ-M29"})
    own = store_bookings(extended)["qinghe"]
    gain = total(extended, "bookings_requested") - total(default, "bookings_requested")
    assert own > 0 and gain > 0.5 * own


def test_a_second_store_in_the_same_mall_mostly_takes_from_the_first():
    default = run_default()
    extended = with_extra_store({"id": "hopson-two", "mall": "BJ-M11"})
    own = store_bookings(extended)["hopson-two"]
    taken = store_bookings(default)["hopson-one"] - store_bookings(extended)["hopson-one"]
    gain = total(extended, "bookings_requested") - total(default, "bookings_requested")
    assert own > 0 and taken > 0.5 * own and gain < 0.5 * own


def test_removing_test_drive_capacity_lowers_purchases():
    default = run_default()
    n_stores = len(default.plan)
    scarce = run_variant({f"plan.stores[{i}].capacity_per_day": 1 for i in range(n_stores)})
    assert total(scarce, "test_drives") < 0.1 * total(default, "test_drives")
    assert total(scarce, "purchases") < 0.8 * total(default, "purchases")


def test_fewer_test_drive_wanters_do_not_raise_purchases_beyond_the_online_path():
    default = run_default()
    fewer = run_variant({"behaviour.test_drive_share": 0.4})
    after_test_drive = total(fewer, "purchases") - total(fewer, "purchases_direct")
    assert after_test_drive < total(default, "purchases") - total(default, "purchases_direct")
    rise = total(fewer, "purchases") - total(default, "purchases")
    online_rise = total(fewer, "purchases_direct") - total(default, "purchases_direct")
    assert rise <= online_rise


def test_the_launch_rush_fills_stores_then_settles():
    result = run_default()
    daily, stores = result.daily, result.stores
    launch_week = stores[stores["day"] < 7]
    assert (launch_week["utilisation"] >= 0.999).any(), "no store at capacity on a launch-week day"
    first_month = daily[daily["day"] < 30]
    assert first_month["bookings_lost"].sum() > 0 or first_month["queue_length"].max() > 0
    weekly = daily.groupby(daily["day"] // 7)["bookings_requested_scaled"].sum()
    later = weekly.iloc[4:52].mean()
    # Public: 75,723 locked orders in the first four weeks against about 15,000
    # deliveries a month in the rest of 2024 (136,854 in nine months): about 5 times.
    assert weekly.iloc[0] > 3.0 * later

    # It settles: in the last quarter stores are rarely full and queues are short.
    def share_at_capacity(frame: pd.DataFrame) -> float:
        return float((frame["utilisation"] >= 0.999).mean())

    last_quarter = stores[stores["day"] >= 270]
    assert share_at_capacity(last_quarter) < share_at_capacity(launch_week) / 10
    assert daily[daily["day"] >= 270]["queue_length"].max() < first_month["queue_length"].max() / 5


@pytest.mark.parametrize("lever", LEVERS)
def test_each_lever_switched_off_lowers_bookings(lever):
    default = run_default()
    off = run_variant({f"levers.{lever}.enabled": False})
    fall = 1.0 - total(off, "bookings_requested") / total(default, "bookings_requested")
    assert fall > 0.0
    if lever == "testimonials":
        assert fall >= 0.03


def test_rival_showrooms_take_bookings_and_are_counted():
    result = run_default()
    rivals = result.rivals
    assert len(rivals) == 14 and set(rivals["brand"]) == {"Tesla", "NIO", "Li Auto", "AITO", "BYD"}
    assert rivals["bookings"].sum() == result.daily["bookings_to_rivals"].sum()
    assert result.zones["bookings_to_rivals"].sum() == result.daily["bookings_to_rivals"].sum()
    data = default_data()
    data["rivals"]["showrooms"] = []
    alone = run_variant(data=data)
    assert total(alone, "bookings_to_rivals") == 0
    assert total(alone, "bookings_requested") > total(result, "bookings_requested")
    assert np.isclose(
        total(alone, "test_drive_intents"),
        total(alone, "bookings_requested") + total(alone, "intents_no_visit") + total(alone, "bookings_no_store"),
    )

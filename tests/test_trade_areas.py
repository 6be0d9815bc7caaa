"""Trade areas, catchments and booking transfers (issue 14, item 2).

Unit and property tests of :mod:`simulator.results.trade_areas` on made-up tables, then
the model's tables on the tiny city (tests/cityfixtures.py): trade areas add up to the
store totals, transfers add up to each run's totals, and a store far from the others
takes little from them.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compare import BASE_STORES, tiny_data, write_toml

from simulator.config.scenario import parse_scenario
from simulator.experiments.compare import compare, load_comparison
from simulator.experiments.run import run
from simulator.results import (
    CATCHMENT_SHARES,
    catchment_column,
    catchment_summary,
    store_totals,
    trade_area_summary,
    transfer_matrix,
    transfer_table,
)
from simulator.results.trade_areas import NONE, RIVALS

# A store in the north-east corner cell of the tiny city, 5.7 km from A (centre) and 7.6 km
# from B; NEAR_STORE shares A's mall.
FAR_STORE = {"id": "far", "lon": 116.4705, "lat": 39.9535, "format": "street"}
NEAR_STORE = {"id": "near", "mall": "M1"}


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


def _per_replication(counts: np.ndarray) -> pd.DataFrame:
    """A trade-area table from counts[replication, store, cell] (zero pairs left out, as the model does)."""
    replication, store, cell = np.nonzero(counts)
    return pd.DataFrame(
        {
            "replication": replication,
            "store_id": [f"s{j}" for j in store],
            "cell_id": [f"c{k:02d}" for k in cell],
            "zone_id": "Z",
            "distance_km": cell.astype(float),
            "bookings_requested": counts[replication, store, cell],
            "test_drives": counts[replication, store, cell] // 2,
            "purchases": counts[replication, store, cell] // 4,
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda r: st.lists(st.integers(0, 30), min_size=r * 2 * 12, max_size=r * 2 * 12).map(
            lambda v, r=r: np.asarray(v, dtype=np.int64).reshape(r, 2, 12)
        )
    )
)
def test_catchments_are_nested_smallest_prefixes_that_reach_their_share(counts):
    table = trade_area_summary(_per_replication(counts), None, n_replications=counts.shape[0], weight=10.0)
    for store, rows in table.groupby("store_id"):
        j = int(store[1:])
        assert rows["bookings_requested"].sum() == pytest.approx(counts[:, j, :].sum() / counts.shape[0])
        assert rows["bookings_requested_scaled"].sum() == pytest.approx(10.0 * rows["bookings_requested"].sum())
        assert rows["bookings_requested"].is_monotonic_decreasing
        assert rows["cumulative_share"].is_monotonic_increasing
        total = rows["bookings_requested"].sum()
        previous = set()
        for share in CATCHMENT_SHARES:
            inside = rows[rows[catchment_column(share)]]
            if total == 0:
                assert inside.empty
                continue
            held = inside["bookings_requested"].sum() / total
            assert held >= share - 1e-9  # reaches the share...
            assert held - inside["booking_share"].iloc[-1] < share  # ...and one cell fewer would not
            assert previous <= set(inside["cell_id"])  # 50 % inside 70 % inside 90 %
            previous = set(inside["cell_id"])


def test_trade_area_standard_errors_follow_the_uncertainty_rules():
    counts = np.zeros((3, 1, 2), dtype=np.int64)
    counts[:, 0, 0] = [4, 6, 8]
    counts[1, 0, 1] = 3  # missing in replications 0 and 2: zeros there
    table = trade_area_summary(_per_replication(counts), None, n_replications=3, weight=2.0).set_index("cell_id")
    assert table.loc["c00", "bookings_requested"] == pytest.approx(6.0)
    assert table.loc["c00", "bookings_requested_se"] == pytest.approx(np.std([4, 6, 8], ddof=1) / np.sqrt(3))
    assert table.loc["c01", "bookings_requested_se"] == pytest.approx(np.std([0, 3, 0], ddof=1) / np.sqrt(3))
    assert table.loc["c01", "bookings_requested_scaled_se"] == pytest.approx(
        2 * table.loc["c01", "bookings_requested_se"]
    )
    single = trade_area_summary(_per_replication(counts[:1]), None, n_replications=1, weight=2.0)
    assert single["bookings_requested_se"].iloc[0] == pytest.approx(2.0)  # Poisson: sqrt(4)


def _log(rows):
    return pd.DataFrame(rows, columns=["replication", "day", "consumer", "store_id"])


def test_transfers_pair_the_kth_booking_of_each_consumer_and_keep_both_margins():
    base = _log([(0, 1, 10, "A"), (0, 5, 10, "A"), (0, 2, 11, "B"), (0, 3, 12, "rival:R1"), (0, 4, 13, "A")])
    plan = _log([(0, 1, 10, "C"), (0, 2, 11, "B"), (0, 3, 12, "C"), (0, 9, 14, "A"), (0, 4, 13, "A")])
    table = transfer_table(base, plan, n_replications=1, weight=100.0)
    matrix = transfer_matrix(table, "bookings")
    assert matrix.loc["A", "C"] == 1 and matrix.loc["A", NONE] == 1  # 10's first moved, second vanished
    assert matrix.loc[RIVALS, "C"] == 1 and matrix.loc[NONE, "A"] == 1 and matrix.loc["B", "B"] == 1
    assert matrix.sum(axis=1).to_dict() == {"A": 3, "B": 1, RIVALS: 1, NONE: 1}
    assert matrix.sum(axis=0).drop(NONE).to_dict() == {"A": 2, "B": 1, "C": 2}
    assert set(table.loc[~table["moved"], "from_store_id"]) == {"A", "B"}
    assert (table["bookings_scaled"] == 100.0 * table["bookings"]).all()


@pytest.fixture(scope="module")
def tiny_run(tiny_city_path, tiny_city):
    data = tiny_data(
        tiny_city_path,
        stores=[*BASE_STORES, FAR_STORE],
        rivals={"showrooms": [{"id": "R1", "brand": "Rival", "station": "东门"}]},
    )
    return run(parse_scenario(data, "tiny.toml"), replications=2, city=tiny_city)


def test_trade_areas_add_up_to_the_store_totals(tiny_run):
    areas = tiny_run.trade_areas
    assert set(areas["replication"]) == {0, 1} and (areas["distance_km"] >= 0).all()
    from_areas = areas.groupby(["replication", "store_id"])[["bookings_requested", "test_drives", "purchases"]].sum()
    from_stores = tiny_run.stores.groupby(["replication", "store_id"])[
        ["bookings_requested", "test_drives", "purchases"]
    ].sum()
    pd.testing.assert_frame_equal(from_areas, from_stores.loc[from_areas.index], check_dtype=False)
    assert from_stores.loc[~from_stores.index.isin(from_areas.index)].sum().sum() == 0
    assert tiny_run.trade_areas["bookings_requested"].sum() == tiny_run.daily["bookings_requested"].sum()
    rivals = tiny_run.bookings["store_id"].str.startswith("rival:").sum()
    assert rivals == tiny_run.daily["bookings_to_rivals"].sum() > 0
    summary = trade_area_summary(tiny_run.trade_areas, tiny_run.plan, n_replications=2, weight=tiny_run.consumer_weight)
    totals = store_totals(tiny_run.stores, tiny_run.plan).set_index("store_id")
    per_store = catchment_summary(summary).set_index("store_id")
    for store in per_store.index:
        assert per_store.loc[store, "bookings_requested"] == pytest.approx(totals.loc[store, "bookings_requested"])
        assert per_store.loc[store, "cells_50"] <= per_store.loc[store, "cells_70"] <= per_store.loc[store, "cells_90"]


@pytest.fixture(scope="module")
def far_and_near(tiny_city_path, tiny_city, tmp_path_factory):
    folder = tmp_path_factory.mktemp("far_near")
    base = write_toml(folder / "base.toml", tiny_data(tiny_city_path, "base"))
    results = {}
    for extra in (FAR_STORE, NEAR_STORE):
        plan = write_toml(
            folder / f"{extra['id']}.toml", tiny_data(tiny_city_path, extra["id"], stores=[*BASE_STORES, extra])
        )
        results[extra["id"]] = compare(load_comparison([base, plan], replications=4), city=tiny_city)
    return results


def test_transfer_margins_equal_each_runs_store_totals(far_and_near):
    result = far_and_near["near"]
    matrix = transfer_matrix(result.transfers, "bookings")
    for name, margin in ((result.baseline, matrix.sum(axis=1)), ("near", matrix.sum(axis=0))):
        run_result = result.runs[name]
        totals = store_totals(run_result.stores, run_result.plan).set_index("store_id")["bookings_requested"]
        for store, value in totals.items():
            assert margin.get(store, 0.0) == pytest.approx(value)
        rivals = run_result.daily["bookings_to_rivals"].sum() / run_result.n_replications
        assert margin.get(RIVALS, 0.0) == pytest.approx(rivals)


def test_a_store_far_from_the_others_takes_little_from_them(far_and_near):
    def taken(result, store):
        matrix = transfer_matrix(result.transfers, "bookings")
        own = [s for s in matrix.index if s in {"A", "B"}]
        return float(matrix.loc[own, store].sum()), float(matrix.loc[own].to_numpy().sum())

    far, base_total = taken(far_and_near["far"], "far")
    near, _ = taken(far_and_near["near"], "near")
    assert far < 0.15 * base_total  # the far store takes under 15 % of the other stores' bookings
    assert far < 0.5 * near  # and less than half of what a store in A's mall takes

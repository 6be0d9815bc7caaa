"""Closed forms and the compiled kernel: adstock, Hill, Huff, Poisson draws, counter RNG."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import simulator.model.closed_forms as cf
import simulator.model.dynamics as dyn
from simulator.model.rng import counter_uniform, counter_uniforms, replication_seeds, run_generators


def single_consumer_days(
    rates: np.ndarray,
    weights: np.ndarray,
    days: int,
    *,
    hill_k=3.0,
    hill_s=2.0,
    half_life=28.0,
    wear_weight=0.0,
    wear_half_life=7.0,
    key=12345,
):
    """Run the kernel for one consumer with one class row; return daily sightings, stock, familiarity."""
    n_stores = len(rates)
    indptr = np.array([0, n_stores], dtype=np.int64)
    indices = np.arange(n_stores, dtype=np.int32)
    rate = np.asarray(rates, dtype=np.float32)
    weight = np.asarray(weights, dtype=np.float32)
    store_open = np.ones(n_stores, dtype=np.uint8)
    consumers = dyn.ConsumerArrays(
        consumer_class=np.zeros(1, np.int32),
        heterogeneity=np.zeros(1, np.float32),
        stock=np.zeros(1, np.float32),
        wear=np.zeros(1, np.float32),
        wom=np.zeros(1, np.float32),
        status=np.zeros(1, np.uint8),
        aware=np.zeros(1, np.uint8),
        recent_sightings=np.full((1, 3), dyn.NEVER, np.int16),
        event=np.zeros(1, np.uint8),
        sightings_record=np.zeros(0, np.int32),
    )
    exposure = dyn.day_exposure(indptr, indices, rate, weight, store_open, consumers.consumer_class)
    parameters = dyn.KernelParameters(
        stock_retention=cf.decay_from_half_life(half_life),
        wear_retention=cf.decay_from_half_life(wear_half_life),
        wear_weight=wear_weight,
        hill_k=hill_k,
        hill_s=hill_s,
        familiarity_weight=1.0,
        wom_weight=0.0,
        enter_probability=0.0,
        exit_probability=0.0,
        booking_rate=0.0,
        referral_rate=0.0,
        test_drive_share=0.0,
        source_retention=1.0,
        media_weight=0.0,
        pent_up_rate=0.0,
    )
    tallies = dyn.chunk_tallies(1, n_stores)
    per_store, stock, familiarity = [], [], []
    for day in range(days):
        day_inputs = dyn.DayInputs(day=day, key=np.uint64(key), trust_shift=0.0, full_mixing_wom=-1.0, media_reach=0.0)
        dyn.consumer_day(day_inputs, exposure, parameters, consumers, tallies)
        per_store.append(tallies.store_sightings[0].copy())
        stock.append(float(consumers.stock[0]))
        familiarity.append(tallies.kpis[0, dyn.KPI_FAMILIARITY])
    return np.array(per_store), np.array(stock), np.array(familiarity), consumers


def test_adstock_recursion_and_half_life():
    delta = cf.decay_from_half_life(28)
    assert delta == pytest.approx(0.9755, abs=1e-4)
    stock = cf.adstock([1.0] + [0.0] * 28, delta)
    assert stock[28] == pytest.approx(0.5)
    assert cf.decay_from_half_life(math.inf) == 1.0


def test_hill_reference_points():
    """K = 3, s = 2: 1 sighting 0.10, 3 give 0.50, 10 give 0.92 (REFERENCES.md)."""
    values = cf.hill(np.array([0.0, 1.0, 3.0, 10.0]), 3.0, 2.0)
    np.testing.assert_allclose(values, [0.0, 0.1, 0.5, 100 / 109], atol=1e-12)


def test_single_consumer_follows_adstock_and_hill_exactly():
    per_store, stock, familiarity, _ = single_consumer_days(np.array([0.3, 0.5]), np.array([1.0, 0.4]), 200)
    increments = per_store @ np.array([1.0, 0.4])
    expected_stock = cf.adstock(increments, cf.decay_from_half_life(28))
    np.testing.assert_allclose(stock, expected_stock, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(familiarity, cf.hill(stock, 3.0, 2.0), rtol=1e-5, atol=1e-6)


def test_single_consumer_hill_general_shape_and_wearout():
    per_store, _stock, familiarity, _state = single_consumer_days(
        np.array([0.8]), np.array([1.0]), 120, hill_s=1.5, wear_weight=0.2
    )
    increments = per_store[:, 0].astype(float)
    wear = cf.adstock(increments, cf.decay_from_half_life(7.0))
    net = np.maximum(cf.adstock(increments, cf.decay_from_half_life(28.0)) - 0.2 * wear, 0)
    np.testing.assert_allclose(familiarity, cf.hill(net, 3.0, 1.5), rtol=1e-4, atol=1e-5)


def test_sightings_are_poisson_and_split_by_rate():
    rates = np.array([0.1, 0.3, 0.6])
    per_store, *_ = single_consumer_days(rates, np.ones(3), 20000, key=99)
    totals = per_store.sum(axis=1)
    assert totals.mean() == pytest.approx(1.0, abs=0.03)
    assert totals.var() == pytest.approx(1.0, abs=0.05)
    # Share of sightings per store equals rate_j / sum(rate).
    observed = per_store.sum(axis=0)
    chi2 = stats.chisquare(observed, observed.sum() * rates / rates.sum())
    assert chi2.pvalue > 1e-3
    # Distribution of daily counts against Poisson(1).
    counts = np.bincount(totals, minlength=6)[:6]
    expected = stats.poisson.pmf(np.arange(6), 1.0) * len(totals)
    assert stats.chisquare(counts[:5], expected[:5] * counts[:5].sum() / expected[:5].sum()).pvalue > 1e-3


def test_huff_probabilities_formula():
    attractiveness = np.array([1.0, 2.0, 4.0])
    distance = np.array([[1.0, 2.0, 4.0], [0.1, 3.0, 3.0]])
    probabilities = cf.huff_probabilities(attractiveness, distance, 1.5, min_distance=0.5)
    floored = np.maximum(distance, 0.5)
    manual = attractiveness / floored**1.5
    manual /= manual.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, manual)
    closed = cf.huff_probabilities(np.array([1.0, 0.0, 4.0]), distance, 2.0)
    assert closed[:, 1].sum() == 0 and np.allclose(closed.sum(axis=1), 1)


@given(
    attractiveness=st.lists(st.floats(0.1, 10), min_size=1, max_size=6),
    exponent=st.floats(0.5, 3),
    data=st.data(),
)
@settings(max_examples=50, deadline=None)
def test_huff_rows_are_distributions_and_favour_closer(attractiveness, exponent, data):
    j = len(attractiveness)
    distances = np.array(data.draw(st.lists(st.floats(0.1, 50), min_size=j, max_size=j)))[None, :]
    p = cf.huff_probabilities(np.array(attractiveness), distances, exponent)
    assert np.isclose(p.sum(), 1.0)
    assert (p >= 0).all()
    # Moving a store closer never lowers its share.
    closer = distances.copy()
    closer[0, 0] *= 0.5
    assert cf.huff_probabilities(np.array(attractiveness), closer, exponent)[0, 0] >= p[0, 0] - 1e-12


def test_bass_closed_form_properties():
    p, q = 0.03, 0.38
    t = np.linspace(0, 40, 4001)
    f = cf.bass_cumulative(t, p, q)
    assert f[0] == 0 and f[-1] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(f) >= 0)
    # The adoption rate peaks at t* = ln(q/p) / (p + q).
    peak = t[np.argmax(np.gradient(f, t))]
    assert peak == pytest.approx(math.log(q / p) / (p + q), abs=0.02)


def test_conversion_probability():
    trust = np.array([0.0, 0.5, 1.0])
    c = cf.conversion_probability(trust, 0.3, 2.0)
    assert c[1] == pytest.approx(0.3)
    assert c[0] < 0.3 < c[2]
    assert np.all(cf.conversion_probability(trust, 1.0, 2.0) == 1.0)
    assert np.all(cf.conversion_probability(trust, 0.0, 2.0) == 0.0)


def test_counter_uniform_numba_and_numpy_agree_and_are_uniform():
    indices = np.arange(50000)
    vectorised = counter_uniforms(7, 3, 2, indices)
    compiled = np.array([counter_uniform(np.uint64(7), 3, 2, i) for i in indices[:200]])
    np.testing.assert_array_equal(vectorised[:200], compiled)
    assert stats.kstest(vectorised, "uniform").pvalue > 1e-3
    other_day = counter_uniforms(7, 4, 2, indices)
    assert abs(np.corrcoef(vectorised, other_day)[0, 1]) < 0.02


def test_replication_seeds_are_spawned_and_stable():
    seeds = replication_seeds(42, 4)
    assert seeds == replication_seeds(42, 4)
    assert len(set(seeds)) == 4
    assert replication_seeds(42, 2) == seeds[:2]
    a = run_generators(seeds[0])
    b = run_generators(seeds[0])
    assert a[2] == b[2]
    assert a[0].random() == b[0].random()


def test_fast_logistic_is_within_its_stated_error():
    """The dense pass's rational logistic stays within 2.3e-7 of ``1 / (1 + exp(-x))``."""
    from simulator.model.dense_pass import fast_logistic

    x = np.linspace(-40.0, 40.0, 200_001).astype(np.float32)
    approximate = np.array([fast_logistic(np.float32(v)) for v in x[::50]])
    exact = 1.0 / (1.0 + np.exp(-x[::50].astype(np.float64)))
    assert np.abs(approximate - exact).max() < 2.5e-7


def many_consumers_days(threads: int, days: int = 6) -> tuple:
    """Three full chunks and a partial one, many in the market, with word of mouth; run ``days`` days."""
    import numba

    n = 3 * dyn.CHUNK_SIZE + 517
    rng = np.random.default_rng(5)
    n_classes, n_stores = 50, 4
    indptr = np.arange(0, n_classes * n_stores + 1, n_stores, dtype=np.int64)
    indices = np.tile(np.arange(n_stores, dtype=np.int32), n_classes)
    rate = rng.uniform(0.0, 0.2, n_classes * n_stores).astype(np.float32)
    weight = rng.uniform(0.4, 1.0, n_classes * n_stores).astype(np.float32)
    consumers = dyn.ConsumerArrays(
        consumer_class=rng.integers(0, n_classes, n).astype(np.int32),
        heterogeneity=rng.normal(0, 0.5, n).astype(np.float32),
        stock=np.zeros(n, np.float32),
        wear=np.zeros(n, np.float32),
        wom=(rng.random(n) < 0.1).astype(np.float32) * 0.3,
        status=rng.choice([dyn.OUT_OF_MARKET, dyn.IN_MARKET, dyn.PENT_UP], n, p=[0.6, 0.3, 0.1]).astype(np.uint8),
        aware=np.zeros(n, np.uint8),
        recent_sightings=np.full((n, 3), dyn.NEVER, np.int16),
        event=np.zeros(n, np.uint8),
        sightings_record=np.zeros(n, np.int32),
    )
    exposure = dyn.day_exposure(indptr, indices, rate, weight, np.ones(n_stores, np.uint8), consumers.consumer_class)
    parameters = dyn.KernelParameters(
        stock_retention=0.97, wear_retention=0.9, wear_weight=0.0, hill_k=3.0, hill_s=2.0, familiarity_weight=1.0,
        wom_weight=1.0, enter_probability=0.0005, exit_probability=0.02, booking_rate=0.2, referral_rate=0.1,
        test_drive_share=0.6, source_retention=0.98, media_weight=0.5, pent_up_rate=0.1,
    )  # fmt: skip
    tallies = dyn.chunk_tallies(n, n_stores)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    outputs = []
    try:
        for day in range(days):
            inputs = dyn.DayInputs(day=day, key=np.uint64(77), trust_shift=-1.0, full_mixing_wom=-1.0, media_reach=0.06)
            dyn.consumer_day(inputs, exposure, parameters, consumers, tallies)
            deciders = dyn.gather_events(tallies)
            outputs.append((tallies.kpis.copy(), deciders, consumers.event.copy(), consumers.aware.copy()))
    finally:
        numba.set_num_threads(previous)
    return consumers, tallies, outputs


def test_kernel_is_independent_of_threads_and_lists_its_decisions():
    """Same state and sums on one thread and on two; deciders listed exactly; awareness counted exactly."""
    one, one_tallies, one_days = many_consumers_days(1)
    two, _, two_days = many_consumers_days(2)
    for field in dyn.ConsumerArrays._fields:
        np.testing.assert_array_equal(getattr(one, field), getattr(two, field), err_msg=field)
    for (kpis_1, deciders_1, _, _), (kpis_2, deciders_2, _, _) in zip(one_days, two_days, strict=True):
        np.testing.assert_array_equal(kpis_1, kpis_2)
        np.testing.assert_array_equal(deciders_1, deciders_2)
    decided_on = 0
    for kpis, deciders, event, aware in one_days:
        np.testing.assert_array_equal(deciders, np.flatnonzero(event))
        decided_on += len(deciders) > 0
        assert kpis[:, dyn.KPI_AWARE].sum() == aware.sum()
        assert kpis[:, dyn.KPI_TEST_DRIVE_INTENTS].sum() == (event == dyn.EVENT_TEST_DRIVE_INTENT).sum()
        assert kpis[:, dyn.KPI_ONLINE_ORDERS].sum() == (event == dyn.EVENT_ONLINE_ORDER).sum()
    assert decided_on == len(one_days)
    status = one.status
    in_market = np.isin(status, [dyn.IN_MARKET, dyn.WAITING, dyn.PENT_UP]).sum()
    assert one_tallies.kpis[:, dyn.KPI_IN_MARKET].sum() == in_market

"""The vectorised and staged pieces of the daily kernel draw exactly what their one-by-one rules say.

Each piece is compared with the rule written out in numpy from the same counter-based
uniforms (:func:`simulator.model.rng.counter_uniforms`): the hot consumers' sighting tests,
the media contacts of non-candidates, the packed class and entry tables, and the market
pass, whose trust is computed only below the bound of the decision probability.
"""

from __future__ import annotations

import numpy as np
import pytest

import simulator.model.dynamics as dyn
from simulator.model import events
from simulator.model.market_pass import market_pass
from simulator.model.rng import (
    STREAM_CHANNEL,
    STREAM_DECISION,
    STREAM_MARKET,
    STREAM_MEDIA,
    STREAM_SIGHTINGS,
    counter_uniforms,
)

KEY = np.uint64(20261202)


def test_hot_hits_are_the_one_by_one_test():
    rng = np.random.default_rng(1)
    hot = np.sort(rng.choice(50_000, 7_000, replace=False)).astype(np.int32)
    zero = rng.uniform(0.6, 0.98, hot.size).astype(np.float32)
    hits = np.empty(hot.size, np.uint8)
    for day in (0, 17):
        events._hot_hits(KEY, day, hot, zero, hits)
        expected = (1.0 - events.SIGHTING_CAP) * counter_uniforms(int(KEY), day, STREAM_SIGHTINGS, hot) > zero
        np.testing.assert_array_equal(hits.astype(bool), expected)
        assert 0 < expected.sum() < hot.size


def test_media_contacts_of_non_candidates_are_the_one_by_one_rule():
    rng = np.random.default_rng(2)
    size, start, threshold, weight = 5_000, 3_000, 0.15, np.float32(0.7)
    flags = (rng.random(size) < 0.05).astype(np.uint8) * events.FLAG_REACHED | events.FLAG_SIGHTING_CANDIDATE
    increment = rng.uniform(0, 1, size).astype(np.float32)
    aware = (rng.random(start + size) < 0.3).astype(np.uint8)
    before_flags, before_increment, before_aware = flags.copy(), increment.copy(), aware.copy()
    contacts, newly_aware = events._media_non_candidates(KEY, 4, start, threshold, weight, flags, increment, aware)
    u = counter_uniforms(int(KEY), 4, STREAM_MEDIA, np.arange(start, start + size))
    hit = (u < threshold) & (before_flags & events.FLAG_REACHED == 0)
    assert contacts == hit.sum() > 0
    assert newly_aware == (hit & (before_aware[start:] == 0)).sum()
    np.testing.assert_array_equal(flags, before_flags | hit.astype(np.uint8))
    np.testing.assert_array_equal(increment, before_increment + np.where(hit, weight, np.float32(0)))
    np.testing.assert_array_equal(aware[start:], before_aware[start:] | hit)
    np.testing.assert_array_equal(aware[:start], before_aware[:start])


def test_class_and_entry_tables_pack_the_open_rows():
    indptr = np.array([0, 3, 3, 5, 9], dtype=np.int64)
    indices = np.array([0, 2, 3, 1, 3, 0, 1, 2, 3], dtype=np.int32)
    rate = np.linspace(0.1, 0.9, 9).astype(np.float32)
    weight = np.linspace(1.0, 0.2, 9).astype(np.float32)
    store_open = np.array([1, 0, 1, 1], dtype=np.uint8)
    classes, entries = events.open_row_tables(indptr, indices, rate, weight, store_open)
    cumulative, totals, zero = events.open_row_cumulative(indptr, indices, rate, store_open)
    assert classes.dtype.itemsize == entries.dtype.itemsize == 16
    np.testing.assert_array_equal(classes["first"], indptr)
    np.testing.assert_array_equal(classes["total"][:-1], totals)
    np.testing.assert_array_equal(classes["zero"][:-1], zero)
    np.testing.assert_array_equal(entries["cumulative"], cumulative)
    np.testing.assert_array_equal(entries["weight"], weight)
    np.testing.assert_array_equal(entries["store"], indices)
    open_rate = np.where(store_open[indices] == 1, rate, 0.0)
    expected = [open_rate[indptr[c] : indptr[c + 1]].sum() for c in range(len(indptr) - 1)]
    np.testing.assert_allclose(totals, expected, rtol=1e-6)
    np.testing.assert_allclose(zero, np.exp(-np.array(expected)), rtol=1e-6)


def market_case(booking_rate: float, referral_rate: float) -> tuple:
    """One chunk of consumers in the market, pent up or out of it, after a dense pass; and the parameters."""
    rng = np.random.default_rng(3)
    n = dyn.CHUNK_SIZE
    consumers = dyn.ConsumerArrays(
        consumer_class=np.zeros(n, np.int32),
        heterogeneity=rng.normal(0, 0.5, n).astype(np.float32),
        stock=rng.uniform(0, 6, n).astype(np.float32),
        wear=np.zeros(n, np.float32),
        wom=(rng.random(n) < 0.3).astype(np.float32) * rng.uniform(0, 0.5, n).astype(np.float32),
        status=rng.choice([dyn.OUT_OF_MARKET, dyn.IN_MARKET, dyn.PENT_UP], n, p=[0.2, 0.7, 0.1]).astype(np.uint8),
        aware=np.zeros(n, np.uint8),
        recent_sightings=np.full((n, 3), dyn.NEVER, np.int16),
        event=np.zeros(n, np.uint8),
        sightings_record=np.zeros(0, np.int32),
    )
    parameters = dyn.KernelParameters(
        stock_retention=0.97, wear_retention=0.9, wear_weight=0.0, hill_k=3.0, hill_s=2.0, familiarity_weight=1.2,
        wom_weight=1.0, enter_probability=0.0, exit_probability=0.05, booking_rate=booking_rate,
        referral_rate=referral_rate, test_drive_share=0.6, source_retention=0.98, media_weight=0.5, pent_up_rate=0.1,
    )  # fmt: skip
    return consumers, parameters


@pytest.mark.parametrize(("booking_rate", "referral_rate"), [(0.003, 0.0001), (0.4, 0.5)])
def test_market_pass_decides_as_its_formula(booking_rate, referral_rate):
    """Deciders and exits are those of ``u < 1 - exp(-(r T + q WOM))`` with trust always computed."""
    consumers, parameters = market_case(booking_rate, referral_rate)
    inputs = dyn.DayInputs(day=9, key=KEY, trust_shift=-1.5, full_mixing_wom=-1.0, media_reach=0.0)
    status = consumers.status.copy()
    tallies = dyn.chunk_tallies(dyn.CHUNK_SIZE, 1)
    flags = np.zeros(dyn.CHUNK_SIZE, np.uint8)
    market_pass(0, 0, flags, inputs, parameters, consumers, tallies)

    everyone = np.arange(dyn.CHUNK_SIZE)
    u_market, u_decision, u_channel = (
        counter_uniforms(int(KEY), 9, s, everyone) for s in (STREAM_MARKET, STREAM_DECISION, STREAM_CHANNEL)
    )
    heard = consumers.wom.astype(np.float64) / parameters.source_retention
    ratio = consumers.stock.astype(np.float64) / parameters.hill_k
    familiarity = ratio * ratio / (1.0 + ratio * ratio)
    logit = inputs.trust_shift + parameters.familiarity_weight * familiarity + parameters.wom_weight * heard
    trust = 1.0 / (1.0 + np.exp(-(logit + consumers.heterogeneity)))
    in_market = status == dyn.IN_MARKET
    leaves = in_market & (u_market < parameters.exit_probability)
    decides = in_market & ~leaves & (u_decision < -np.expm1(-(booking_rate * trust + referral_rate * heard)))
    decides |= (status == dyn.PENT_UP) & (u_decision < parameters.pent_up_rate)
    intent = decides & (u_channel < parameters.test_drive_share)
    expected_event = np.where(intent, dyn.EVENT_TEST_DRIVE_INTENT, np.where(decides, dyn.EVENT_ONLINE_ORDER, 0))
    np.testing.assert_array_equal(consumers.event, expected_event)
    np.testing.assert_array_equal(consumers.status[leaves], dyn.OUT_OF_MARKET)
    np.testing.assert_array_equal(consumers.status[decides], dyn.WAITING)
    assert (in_market & ~leaves & decides).sum() > 0
    listed = tallies.event_consumers[0, : tallies.event_counts[0]]
    np.testing.assert_array_equal(listed, np.flatnonzero(decides))


@pytest.mark.parametrize(("hill_s", "wear_weight"), [(2.0, 0.0), (1.5, 0.3), (0.5, 0.0)])
def test_zone_familiarity_sums_are_the_bincounts_of_familiarity(hill_s, wear_weight):
    """The weekly zone snapshot in one compiled pass gives the numpy bincounts exactly."""
    from simulator.model.closed_forms import hill
    from simulator.model.consumers import zone_familiarity_sums

    rng = np.random.default_rng(4)
    n, n_zones = 20_000, 37
    stock = (rng.random(n) < 0.6) * rng.gamma(1.5, 2.5, n).astype(np.float32)
    stock = stock.astype(np.float32)
    wear = rng.gamma(1.0, 1.0, n).astype(np.float32)
    zone = rng.integers(0, n_zones, n)
    sums = zone_familiarity_sums(stock, wear, wear_weight, 3.0, hill_s, zone, n_zones)
    familiarity = hill(np.maximum(stock - wear_weight * wear, 0.0), 3.0, hill_s)
    expected = np.bincount(zone, weights=familiarity, minlength=n_zones)
    if hill_s in (2.0, 0.5):  # r r and sqrt: exact, as numpy computes them
        np.testing.assert_array_equal(sums[0], expected)
    else:  # numpy's vectorised pow and libm's may differ in the last bit
        np.testing.assert_allclose(sums[0], expected, rtol=1e-13)
    np.testing.assert_array_equal(sums[1], np.bincount(zone, weights=familiarity >= 0.5, minlength=n_zones))
    assert 0 < sums[1].sum() < n

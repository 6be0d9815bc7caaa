"""Population synthesis: "all" consumers, the contact builders, the pair-aggregated mode logit."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from clihelpers import assert_one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli import runner, tiny_scenario_file

from simulator.cli import app
from simulator.config import ScenarioError, apply_overrides, parse_scenario
from simulator.experiments import resolve_consumers
from simulator.model import population as population_module
from simulator.model.dynamics import followers_of
from simulator.model.population import (
    CONTACT_WINDOW_MIN,
    MODE_ACTIVE,
    MODE_BUS,
    MODE_CAR,
    MODE_LOGIT_ITERATIONS,
    MODE_SUBWAY,
    _choose_modes,
    consumer_count,
    contact_followers,
    small_world_contacts,
    synthesize_population,
)
from simulator.model.population_kernels import distinct_pairs
from simulator.model.rng import run_generators

# --------------------------------------------------------------------------- "all"


def test_all_is_one_consumer_per_resident_rounded():
    assert consumer_count("all", 21_893_095.0) == 21_893_095
    assert consumer_count("all", 1234.4) == 1234 and consumer_count("all", 1234.6) == 1235
    assert consumer_count(5000, 21_893_095.0) == 5000


@pytest.mark.parametrize("value", ["all", "ALL", " all "])
def test_all_is_a_valid_consumers_value(value):
    scenario = parse_scenario({"population": {"consumers": value}}, "t.toml")
    assert scenario.population.consumers == "all"
    assert apply_overrides(scenario, {"population.consumers": "4000"}).population.consumers == 4000
    assert apply_overrides(parse_scenario({}, "t.toml"), {"population.consumers": "all"}).population.consumers == "all"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (5, 'must be >= 100 or "all", got 5'),
        ("everyone", "must be an integer >= 100 or \"all\", got 'everyone'"),
        (True, 'must be an integer or "all", got a boolean (True)'),
        (5000.5, "must be an integer, got 5000.5"),
    ],
)
def test_bad_consumers_values_are_one_line_errors(value, fragment):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"population": {"consumers": value}}, "t.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"t.toml: population.consumers: {fragment}"


def test_all_is_resolved_against_the_city(tiny_city):
    scenario = parse_scenario({"population": {"consumers": "all"}}, "t.toml")
    resolved = resolve_consumers(scenario, tiny_city.population_total)
    assert resolved.population.consumers == round(tiny_city.population_total)
    assert resolve_consumers(resolved, 1.0) is resolved  # an integer stays as it is


def test_synthesis_of_all_residents_has_weight_one(tiny_city):
    settings_all = parse_scenario({"population": {"consumers": "all"}}, "t.toml").population
    population = synthesize_population(tiny_city, settings_all, run_generators(3)[0])
    assert population.n == round(tiny_city.population_total)
    assert population.weight == pytest.approx(1.0, abs=1e-6)
    assert np.bincount(population.home_cell, minlength=len(tiny_city.cell_xy)).sum() == population.n


def test_cli_run_with_all_consumers_writes_the_resolved_count(tmp_path, tiny_city_path, tiny_city):
    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(scenario), "--consumers", "all", "--days", "2", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "metadata.json").read_text())
    residents = round(tiny_city.population_total)
    assert metadata["consumers"] == residents
    assert metadata["scenario"]["population"]["consumers"] == residents
    assert metadata["consumer_weight"] == pytest.approx(1.0, abs=1e-6)
    assert f"{residents:,}" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["lots", "5"])
def test_cli_bad_consumers_is_a_one_line_error(tmp_path, tiny_city_path, value):
    scenario = tiny_scenario_file(tmp_path, tiny_city_path)
    result = runner.invoke(app, ["run", str(scenario), "--consumers", value, "--out", str(tmp_path / "x"), "--quiet"])
    assert_one_line_error(result, "population.consumers")
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- contacts


def _reference_followers(n: int, indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transpose by a stable argsort (how it was built before the counting sort)."""
    owner = np.repeat(np.arange(n), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    follower_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n), out=follower_indptr[1:])
    return follower_indptr, owner[order]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 400),
    k=st.integers(0, 9),
    share=st.sampled_from([0.0, 0.1, 0.5, 1.0]) | st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_contacts_keep_their_contract(n, k, share, seed):
    indptr, indices = small_world_contacts(n, k, share, np.random.default_rng(seed))
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert len(indptr) == n + 1
    if n < 2 or k == 0:
        assert len(indices) == 0 and not indptr.any()
        return
    assert np.array_equal(indptr, np.arange(0, n * k + 1, k))  # every consumer has exactly k contacts
    owner = np.repeat(np.arange(n), k)
    assert indices.min() >= 0 and indices.max() < n
    assert not np.any(indices == owner)  # no self-contacts
    if share == 0.0:  # only neighbours in the home ordering, within the window (reflection keeps them closer)
        assert np.abs(indices.astype(np.int64) - owner).max() <= max(CONTACT_WINDOW_MIN, 2 * k) + 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), k=st.integers(0, 8), share=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_counting_sort_transpose_is_the_stable_argsort_transpose(n, k, share, seed):
    indptr, indices = small_world_contacts(n, k, share, np.random.default_rng(seed))
    follower_indptr, follower_indices = contact_followers(n, indptr, indices)
    expected_indptr, expected_indices = _reference_followers(n, indptr, indices)
    assert follower_indptr.dtype == np.int64 and follower_indices.dtype == np.int32
    assert np.array_equal(follower_indptr, expected_indptr)
    assert np.array_equal(follower_indices, expected_indices)
    # in-degrees are the column counts; out-degrees of the transpose sum to the edges
    assert np.array_equal(np.diff(follower_indptr), np.bincount(indices, minlength=n))
    assert follower_indptr[-1] == len(indices)


@pytest.mark.parametrize(
    "n, k, share, seed", [(2000, 6, 0.1, 11), (500, 3, 0.9, 12), (50, 0, 0.5, 13), (1, 4, 0.2, 14)]
)
def test_model_followers_are_the_argsort_followers(n, k, share, seed):
    """The model's followers (counting sort, int32) equal the former argsort construction on a seeded graph."""
    indptr, indices = small_world_contacts(n, k, share, np.random.default_rng(seed))
    follower_indptr, follower_indices, inverse_degree = followers_of(n, indptr, indices)
    expected_indptr, expected_indices = _reference_followers(n, indptr, indices)
    assert follower_indices.dtype == np.int32 and follower_indptr.dtype == np.int64
    assert np.array_equal(follower_indptr, expected_indptr)
    assert np.array_equal(follower_indices, expected_indices)
    degree = np.diff(indptr)
    expected_inverse = np.where(degree > 0, 1.0 / np.maximum(degree, 1), 0.0).astype(np.float32)
    assert np.array_equal(inverse_degree, expected_inverse)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 60),
    degrees=st.lists(st.integers(0, 5), min_size=60, max_size=60),
    seed=st.integers(0, 2**32 - 1),
)
def test_transpose_of_any_graph_and_back(n, degrees, seed):
    """On any CSR graph (ragged degrees, repeated edges) transposing twice gives the graph back."""
    degree = np.asarray(degrees[:n])
    indptr = np.r_[0, np.cumsum(degree)].astype(np.int64)
    rng = np.random.default_rng(seed)
    indices = np.concatenate(
        [np.sort(rng.integers(0, n, size=d)) for d in degree] or [np.zeros(0, dtype=np.int64)]
    ).astype(np.int32)
    back_indptr, back_indices = contact_followers(n, *contact_followers(n, indptr, indices))
    assert np.array_equal(back_indptr, indptr) and np.array_equal(back_indices, indices)


def test_contacts_do_not_depend_on_the_draw_block(monkeypatch):
    expected = small_world_contacts(5000, 6, 0.1, np.random.default_rng(9))
    monkeypatch.setattr(population_module, "DRAW_BLOCK", 1000)
    again = small_world_contacts(5000, 6, 0.1, np.random.default_rng(9))
    assert all(np.array_equal(a, b) for a, b in zip(expected, again))


def test_contact_distances_follow_the_small_world_rule():
    """Random contacts with the given share; local offsets uniform on ±1..window, both signs alike."""
    n, k, share = 200_000, 6, 0.1
    window = max(CONTACT_WINDOW_MIN, 2 * k)
    _indptr, indices = small_world_contacts(n, k, share, np.random.default_rng(4))
    offset = indices.astype(np.int64) - np.repeat(np.arange(n), k)
    inner = np.abs(np.repeat(np.arange(n), k) - n // 2) < n // 2 - 2 * window  # away from the reflecting ends
    local = inner & (np.abs(offset) <= window)
    far_share = 1.0 - local.sum() / inner.sum()
    # far contacts: the random ones, less the few that land within the window by chance
    assert far_share == pytest.approx(share * (1 - 2 * window / n), abs=0.003)
    counts = np.bincount(offset[local] + window, minlength=2 * window + 1)
    expected = local.sum() / (2 * window)
    assert counts[window] == 0  # no self-contacts
    assert np.abs(np.delete(counts, window) / expected - 1).max() < 0.06


# --------------------------------------------------------------------------- modes


def _per_consumer_calibration(commute_km, home_access_km, work_access_km, target):
    """The per-consumer logit calibration as synthesis ran it before pairs (reference)."""
    utility = np.column_stack(
        [
            -1.6 * (home_access_km + work_access_km),
            -0.04 * commute_km,
            0.03 * commute_km,
            -0.9 * commute_km,
        ]
    )
    constants = np.zeros(4)
    probabilities = np.zeros((len(commute_km), 4))
    for _ in range(MODE_LOGIT_ITERATIONS):
        logits = utility + constants
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        shares = probabilities.mean(axis=0)
        if np.allclose(shares, target, atol=1e-5):
            break
        constants += np.log(target / np.maximum(shares, 1e-12))
    return constants, np.cumsum(probabilities, axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pair_aggregated_calibration_matches_the_per_consumer_one(seed):
    rng = np.random.default_rng(seed)
    n_cells, m = 60, 20_000
    cell_xy = rng.uniform(0, 30_000, size=(n_cells, 2))
    access = rng.exponential(1.2, size=n_cells)
    home = np.sort(rng.integers(0, n_cells, size=m)).astype(np.int32)  # grouped by home cell, as synthesis has them
    work = rng.integers(0, n_cells, size=m).astype(np.int32)
    targets = SimpleNamespace(subway=0.35, bus=0.15, car=0.30, active=0.20)
    target = np.array([0.35, 0.15, 0.30, 0.20])

    per_consumer_km = np.linalg.norm(cell_xy[home] - cell_xy[work], axis=1) / 1000.0
    reference_constants, reference_cumulative = _per_consumer_calibration(
        per_consumer_km, access[home], access[work], target
    )
    reference_modes = np.array([MODE_SUBWAY, MODE_BUS, MODE_CAR, MODE_ACTIVE], dtype=np.int8)[
        np.minimum((np.random.default_rng(7).random(m)[:, None] > reference_cumulative).sum(axis=1), 3)
    ]

    pair_of, pair_home, pair_work, pair_count = distinct_pairs(home, work, n_cells)
    assert len(pair_count) < m and pair_count.sum() == m
    assert np.array_equal(pair_home[pair_of], home) and np.array_equal(pair_work[pair_of], work)
    assert len(np.unique(pair_home.astype(np.int64) * n_cells + pair_work)) == len(pair_count)  # each pair once
    pair_km = np.linalg.norm(cell_xy[pair_home] - cell_xy[pair_work], axis=1) / 1000.0
    pairs = _choose_modes(
        pair_km, access[pair_home], access[pair_work], targets, True, np.random.default_rng(7), pair_count, pair_of
    )
    consumers = _choose_modes(per_consumer_km, access[home], access[work], targets, True, np.random.default_rng(7))
    np.testing.assert_allclose(pairs["constants"], reference_constants, rtol=0, atol=1e-10)
    np.testing.assert_allclose(consumers["constants"], reference_constants, rtol=0, atol=1e-10)
    assert np.array_equal(pairs["mode"], reference_modes)
    assert np.array_equal(consumers["mode"], reference_modes)
    shares = np.bincount(pairs["mode"], minlength=5)[1:] / m
    np.testing.assert_allclose(shares, target, atol=0.015)


def test_mode_shares_hit_their_targets_on_the_tiny_city(tiny_city):
    settings_ = parse_scenario({"population": {"consumers": 40_000}}, "t.toml").population
    population = synthesize_population(tiny_city, settings_, run_generators(11)[0])
    commuter = population.commuter
    shares = np.bincount(population.mode[commuter], minlength=5)[1:] / commuter.sum()
    target = settings_.mode_shares
    np.testing.assert_allclose(shares, [target.subway, target.bus, target.car, target.active], atol=0.01)
    assert population.diagnostics["mode_pairs"] <= commuter.sum()

"""The event-skipping kernel and the daily kernel it replaced agree in distribution.

``simulator.model.dynamics.consumer_day`` draws media contacts, sightings and market
entries only for their candidates (thinned Bernoulli draws) and reads the logistic from a
table; ``tests/daily_kernel.py`` keeps the former kernel, which drew one uniform per
consumer, day and event and called ``exp``. They use different uniforms, so runs differ
draw by draw; the claim is that they sample the same model. Both run the full model
(stores, queues, conversion, word of mouth) on one shared population for several
replications; every KPI's replication means must agree by Welch's t-test (p > 0.001).
The scenario makes each event matter: a media burst above ``MEDIA_CAP`` that decays below
it, weekends (more hot consumers), a store opening on day 20, consumers entering and
leaving the market, pent-up demand, and word of mouth strong enough to move trust.

Power: the same comparison flags a kernel whose sighting rates are 3 % too low, or whose
trust is 0.05 log-odds too high.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from daily_kernel import daily_consumer_day
from scipy import stats

from simulator.config.scenario import parse_scenario
from simulator.model.dynamics import consumer_day
from simulator.model.events import ENTRY_CAP, MEDIA_CAP
from simulator.model.footprint_model import FootprintModel
from simulator.model.population import synthesize_population
from simulator.model.rng import run_generators

pytestmark = pytest.mark.slow

CONSUMERS, DAYS, REPLICATIONS = 10_000, 60, 6
P_MIN = 1e-3
STORES = [
    {"id": "A", "mall": "M1"},
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 150},
    {"id": "C", "station": "东门", "format": "flagship", "open_day": 20},
]
TOTALS = ("sightings", "media_contacts", "test_drive_intents", "online_orders", "test_drives", "purchases")
DAILY_MEANS = (
    "share_aware",
    "mean_familiarity",
    "share_familiar",
    "mean_trust",
    "reach_28d",
    "effective_frequency_28d",
    "in_market",
)


def kernel_scenario(city_path):
    return parse_scenario(
        {
            "name": "kernels",
            "seed": 8,
            "city": {"bundle": str(city_path)},
            "population": {"consumers": CONSUMERS},
            "plan": {"stores": STORES},
            "horizon": {"days": DAYS},
            "behaviour": {"booking_rate_per_day": 0.05, "in_market_rate_per_year": 0.3},
            "levers": {
                "testimonials": {"weight": 1.5, "referral_rate_per_year": 3.0},
                "media": {"events": [{"kind": "shock", "day": 0, "size": 0.3, "half_life_days": 6}]},
            },
            "launch": {"pent_up_share": 0.02, "pent_up_mean_days_to_act": 10},
        },
        "kernels.toml",
    )


def run_kpis(model: FootprintModel, kernel, rate_factor: float = 1.0, trust_shift: float = 0.0) -> dict[str, float]:
    """Run a model with the given kernel (optionally mutated); its totals, daily means and store totals."""
    model.consumers.kernel = kernel
    for rates in (model.exposure.rate_weekday, model.exposure.rate_weekend):
        rates.flags.writeable = True  # the model's inputs are read-only; this test mutates them on purpose
        rates[:] *= rate_factor
    model.consumers.base_trust_shift += trust_shift
    model.run()
    model.release()
    daily, stores = pd.DataFrame(model.daily_rows), pd.DataFrame(model.store_rows)
    kpis = {name: float(daily[name].sum()) for name in TOTALS}
    kpis.update({f"mean {name}": float(daily[name].mean()) for name in DAILY_MEANS})
    kpis.update({f"end {name}": float(daily[name].iloc[-1]) for name in DAILY_MEANS})
    kpis["first week media_contacts"] = float(daily["media_contacts"].iloc[:7].sum())
    for store_id, rows in stores.groupby("store_id"):
        kpis[f"{store_id}.sightings"] = float(rows["sightings"].sum())
    return kpis


def welch(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Replication means and Welch's p-value per KPI."""
    rows = {}
    for name in a.columns:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p = stats.ttest_ind(x, y, equal_var=False).pvalue
        rows[name] = {"skipping": x.mean(), "daily": y.mean(), "sd": x.std(ddof=1), "p": p}
    return pd.DataFrame(rows).T


@pytest.fixture(scope="module")
def setting(tiny_city_path, tiny_city):
    scenario = kernel_scenario(tiny_city_path)
    population = synthesize_population(tiny_city, scenario.population, run_generators(scenario.seed)[0])

    def model(seed: int) -> FootprintModel:
        return FootprintModel(scenario, seed=seed, city=tiny_city, population=population)

    skipping = pd.DataFrame([run_kpis(model(100 + r), consumer_day) for r in range(REPLICATIONS)])
    daily = pd.DataFrame([run_kpis(model(200 + r), daily_consumer_day) for r in range(REPLICATIONS)])
    return model, skipping, daily, scenario


def test_the_scenario_exercises_every_skipped_event(setting):
    """Media above and below its cap, entries above none, sightings, decisions."""
    _, skipping, daily, scenario = setting
    reach = [scenario.levers.media.reach(d) for d in range(DAYS)]
    assert max(reach) > MEDIA_CAP > min(reach) > 0
    for kpis in (skipping, daily):
        means = kpis.mean()
        assert means["sightings"] > 50_000 and means["C.sightings"] > 1_000
        assert means["test_drive_intents"] > 300 and means["purchases"] > 50
        assert means["first week media_contacts"] > 0.2 * CONSUMERS
    # Market entries (about 500 over the run) are drawn for candidates only (the Bass tests
    # of test_model.py cover the dense path, probability above the cap).
    assert 1.0 - np.exp(-scenario.behaviour.in_market_rate_per_year / 365.0) < ENTRY_CAP


def test_kpis_agree_with_the_daily_kernel(setting):
    _, skipping, daily, _ = setting
    table = welch(skipping, daily)
    assert (table["p"] > P_MIN).all(), f"KPIs that differ:\n{table[table['p'] <= P_MIN]}\n\nall:\n{table}"


@pytest.mark.parametrize(
    ("mutation", "rate_factor", "trust_shift"),
    [("sighting rates 3 % low", 0.97, 0.0), ("trust 0.05 log-odds high", 1.0, 0.05)],
)
def test_a_wrong_kernel_is_detected(setting, mutation, rate_factor, trust_shift):
    """Power check: the same comparison fails for a kernel with a small error."""
    model, _, daily, _ = setting
    mutated = pd.DataFrame(
        [run_kpis(model(300 + r), consumer_day, rate_factor, trust_shift) for r in range(REPLICATIONS)]
    )
    table = welch(mutated, daily)
    assert (table["p"] <= P_MIN).any(), f"{mutation} went unnoticed:\n{table}"


def test_media_contacts_match_their_exact_expectation(setting):
    """Media contacts do not depend on the state: their expectation is ``N sum_t m(t)`` exactly."""
    _, skipping, daily, scenario = setting
    reach = np.array([scenario.levers.media.reach(d) for d in range(DAYS)])
    expected = CONSUMERS * reach.sum()
    standard_error = np.sqrt(CONSUMERS * (reach * (1 - reach)).sum() / REPLICATIONS)
    for kpis in (skipping, daily):
        assert abs(kpis["media_contacts"].mean() - expected) < 4 * standard_error

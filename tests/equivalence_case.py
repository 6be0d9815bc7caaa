"""The scenario, KPIs and comparison shared by the equivalence and power tests.

The production model and the per-agent Mesa reference (``benchmarks/reference_mesa.py``)
run on the same inputs; :func:`compare` tests each KPI's replication means with Welch's
t-test. ``tests/test_reference_equivalence.py`` checks that they agree and
``tests/test_reference_power.py`` that a reference with one wrong equation does not.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulator.config.scenario import parse_scenario
from simulator.model.footprint_model import FootprintModel
from simulator.model.population import synthesize_population
from simulator.model.rng import run_generators

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference_mesa import ReferenceModel
from reference_mesa import reference_from as reference_from  # re-exported for the two test modules

CONSUMERS, DAYS, REPLICATIONS = 10_000, 60, 5
P_MIN = 1e-3  # per KPI; about 45 KPIs, so a false alarm in ~4.5 % of seed choices (seeds are fixed)
STORES = [
    {"id": "A", "mall": "M1"},  # 60 a day = about 1.6 simulated test drives: capacity binds
    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 150},
    {"id": "C", "station": "东门", "format": "flagship", "open_day": 20},
    {"id": "D", "station": "中心", "format": "popup"},  # 85 m from A: one destination with it
]
RIVALS = [
    {"id": "R1", "brand": "Rival", "mall": "M2", "attractiveness": 1.0, "close_day": 45},  # next to B
    {"id": "R2", "brand": "Rival", "station": "北桥", "attractiveness": 0.5, "open_day": 15},
]
FUNNEL = (
    "sightings",
    "media_contacts",
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "test_drives",
    "bookings_lost",
    "online_orders",
    "purchases",
    "purchases_direct",
)
# Decisions (test-drive intents and online orders) in the first week: the pent-up rush.
EARLY_KPI, EARLY_DAYS = "decisions_first_week", 7
# Everyone's trust shift from online testimonials on the last day (log-odds).
ONLINE_KPI = "online_trust_shift"
END_STATE = ("share_aware", "mean_familiarity", "share_familiar", "mean_trust", "reach_28d", "effective_frequency_28d")
PER_STORE = ("sightings", "bookings_requested", "test_drives", "bookings_lost")
# Mean consumer index (= position in the home ordering) of store A's test drives minus that
# of its lost bookings: about 0 when a day's bookings queue in random order.
ORDER_KPI = "A:served_minus_lost_home_order"


def equivalence_scenario(city_path):
    return parse_scenario(
        {
            "name": "equivalence",
            "seed": 5,
            "city": {"bundle": str(city_path)},
            "population": {"consumers": CONSUMERS},
            "plan": {"stores": STORES},
            "horizon": {"days": DAYS},
            "rivals": {"showrooms": RIVALS},
            "launch": {"pent_up_share": 0.03, "pent_up_mean_days_to_act": 5},
            "behaviour": {
                "booking_rate_per_day": 0.05,
                "in_market_rate_per_year": 0.5,
                "queue_patience_days": 3,
                "outside_option": True,
                "outside_option_km": 2.5,
                "travel_from": "home_or_commute",
                "conversion_trust_slope": 4.0,  # a conversion that ignores trust is visible
            },
            "levers": {
                "testimonials": {"weight": 1.5, "referral_rate_per_year": 3.0, "online_scale": 5000.0},
                "media": {"events": [{"kind": "shock", "day": 0, "size": 0.3, "half_life_days": 10}]},
            },
        },
        "equivalence.toml",
    )


def run_production(model: FootprintModel) -> dict[str, float]:
    """Run to the horizon; KPIs, with the home order of store A's served and lost bookings."""
    store_a = model.store_agents[0]
    served, lost = [], []
    while model.running:
        model.step()
        served.extend(store_a.served_today.tolist())
        lost.extend(store_a.lost_today.tolist())
    return {**production_kpis(model), ORDER_KPI: np.mean(served) - np.mean(lost)}


def daily_kpis(daily: pd.DataFrame) -> dict[str, float]:
    """Funnel totals over the horizon and the first week's decisions."""
    kpis = {name: float(daily[name].sum()) for name in FUNNEL}
    early = daily[daily["day"] < EARLY_DAYS]
    kpis[EARLY_KPI] = float(early["test_drive_intents"].sum() + early["online_orders"].sum())
    return kpis


def production_kpis(model: FootprintModel) -> dict[str, float]:
    daily, stores = pd.DataFrame(model.daily_rows), pd.DataFrame(model.store_rows)
    kpis = daily_kpis(daily)
    kpis.update({name: float(daily[name].iloc[-1]) for name in (*END_STATE, "queue_length", "in_market")})
    last = model.horizon_days - 1
    kpis[ONLINE_KPI] = float(model.consumers.trust_shift[last] - model.consumers.base_trust_shift[last])
    for store_id, rows in stores.groupby("store_id"):
        kpis.update({f"{store_id}.{name}": float(rows[name].sum()) for name in PER_STORE})
    kpis.update({f"{r['id']}.bookings_to_rivals": float(n) for r, n in zip(RIVALS, model.rival_bookings)})
    return kpis


def reference_kpis(model: ReferenceModel) -> dict[str, float]:
    daily = pd.DataFrame(model.daily_rows)
    kpis = daily_kpis(daily)
    kpis.update(model.end_state())
    kpis.update(queue_length=float(daily["queue_length"].iloc[-1]), in_market=float(daily["in_market"].iloc[-1]))
    kpis[ONLINE_KPI] = model.online_trust_shift
    for index, totals in model.store_totals().items():
        kpis.update({f"{STORES[index]['id']}.{name}": float(totals[name]) for name in PER_STORE})
    kpis.update({f"{RIVALS[index]['id']}.bookings_to_rivals": float(n) for index, n in model.rival_bookings().items()})
    store_a = model.stores[0]
    kpis[ORDER_KPI] = np.mean(store_a.served) - np.mean(store_a.lost)
    return kpis


def compare(production: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Replication means, standard deviations and Welch's p-value per KPI."""
    rows = {}
    for name in production.columns:
        a, b = production[name].to_numpy(), reference[name].to_numpy()
        same = np.allclose(a, a[0]) and np.allclose(b, b[0])
        if same:
            p = 1.0 if np.isclose(a[0], b[0]) else 0.0
        else:
            with warnings.catch_warnings():  # one constant sample (a mutant's capped test drives) is fine
                warnings.simplefilter("ignore", RuntimeWarning)
                p = stats.ttest_ind(a, b, equal_var=False).pvalue
        rows[name] = {
            "production": a.mean(),
            "reference": b.mean(),
            "sd_production": a.std(ddof=1),
            "sd_reference": b.std(ddof=1),
            "p": p,
        }
    return pd.DataFrame(rows).T


def production_replications(city_path, city) -> tuple[pd.DataFrame, FootprintModel]:
    """Production KPIs of every replication on one shared population, and the last model."""
    scenario = equivalence_scenario(city_path)
    population = synthesize_population(city, scenario.population, run_generators(scenario.seed)[0])
    rows = []
    for replication in range(REPLICATIONS):
        model = FootprintModel(scenario, seed=1000 + replication, city=city, population=population)
        rows.append(run_production(model))
    return pd.DataFrame(rows), model

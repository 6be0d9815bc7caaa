"""The small seeded case whose public outputs the golden test pins.

Regenerate ``tiny_run.json`` with ``python tests/golden/golden_case.py`` ONLY when a change
is meant to alter the model's outputs (a new mechanism, a corrected formula, a new default),
and say so in the commit message. A refactoring must leave it untouched.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

GOLDEN_FILE = HERE / "tiny_run.json"
DAILY_KPIS = ("share_aware", "mean_familiarity", "share_familiar", "reach_28d", "effective_frequency_28d", "mean_trust")
TOTALS = (
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


def golden_scenario(city_path):
    from simulator.config.scenario import parse_scenario

    return parse_scenario(
        {
            "name": "golden",
            "seed": 2024,
            "replications": 2,
            "city": {"bundle": str(city_path)},
            "population": {"consumers": 3000},
            "plan": {
                "stores": [
                    {"id": "A", "mall": "M1"},
                    {"id": "B", "station": "木樨地", "format": "street", "capacity_per_day": 150},
                    {"id": "C", "station": "东门", "format": "flagship", "open_day": 15, "close_day": 70},
                ]
            },
            "behaviour": {"booking_rate_per_day": 0.05},
            "levers": {
                "founder_endorsement": {"events": [{"kind": "shock", "day": 40, "size": -1.0, "half_life_days": 14}]},
                "media": {"events": [{"kind": "shock", "day": 0, "size": 0.2, "half_life_days": 5}]},
                "testimonials": {"events": [{"kind": "shock", "day": 0, "size": 0.2, "half_life_days": 30}]},
            },
            "rivals": {"showrooms": [{"id": "R1", "brand": "Rival", "station": "东门", "open_day": 10}]},
            "launch": {"pent_up_share": 0.02, "pent_up_mean_days_to_act": 5},
            "horizon": {"days": 90},
        },
        "golden.toml",
    )


def golden_outputs(result) -> dict:
    daily = result.daily
    last = daily[daily["day"] == daily["day"].max()]
    stores = result.stores.groupby("store_id")[["sightings", "bookings_requested", "test_drives", "purchases"]].sum()
    return {
        "end_of_horizon": {k: float(last[k].mean()) for k in DAILY_KPIS},
        "totals": {k: int(daily[k].sum()) for k in TOTALS},
        "stores": {sid: {k: int(v) for k, v in row.items()} for sid, row in stores.iterrows()},
        "replication_seeds": result.metadata["replication_seeds"],
    }


def main() -> None:
    from cityfixtures import write_tiny_city

    from simulator.experiments.run import run

    with tempfile.TemporaryDirectory() as folder:
        city_path = write_tiny_city(Path(folder) / "tiny.gpkg")
        outputs = golden_outputs(run(golden_scenario(city_path)))
    GOLDEN_FILE.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN_FILE}")


if __name__ == "__main__":
    main()

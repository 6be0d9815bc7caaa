"""Power check of the equivalence test: a reference with one wrong equation is detected.

The production model's replications (fast) are compared, KPI by KPI and with the same
Welch test as ``tests/test_reference_equivalence.py``, against replications of the per-agent
reference with one rule changed; at least one KPI must differ (p <= P_MIN). It lives in
its own module so that it needs no unmutated reference runs and can run beside the
equivalence test on another worker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from equivalence_case import ORDER_KPI, P_MIN, compare, production_replications, reference_from, reference_kpis


@pytest.fixture(scope="module")
def replications(tiny_city_path, tiny_city):
    """Production KPIs, replication by replication, and the last model (the reference's inputs)."""
    production, model = production_replications(tiny_city_path, tiny_city)
    return production, None, model


@pytest.mark.slow
@pytest.mark.parametrize(
    "mutation",
    [
        "capacity without its fractional chance",
        "conversion falling with trust",
        "weekday rates on weekends",
        "travel from home, not the commute",
    ],
)
def test_a_wrong_equation_is_detected(replications, mutation):
    """Power check: a reference with one wrong rule fails the same comparison.

    Not everything is visible at this size: a queue patience one day off changes the lost
    bookings by less than their sampling error and passes, and so does a pent-up consumer's
    daily rate ``1 / m`` instead of ``1 - exp(-1 / m)`` (about 11 more decisions in the
    first week, whose standard deviation over replications is about 15).
    """
    production, _, model = replications
    # Flipping the conversion slope moves purchases by about 12 % at this scenario's trust
    # (near 0.5, where the slope matters least): 3 replications give p near 1e-3, 5 well below.
    n_mutated = 5 if mutation == "conversion falling with trust" else 3
    mutated = []
    for replication in range(n_mutated):
        reference = reference_from(model, np.random.Generator(np.random.PCG64([99, replication])))
        if mutation == "capacity without its fractional chance":
            for store in reference.stores:
                store.simulated_capacity = float(int(store.simulated_capacity))
        elif mutation == "conversion falling with trust":
            reference.conversion_slope = -reference.conversion_slope
        elif mutation == "travel from home, not the commute":
            reference.from_commute = False
        else:
            for consumer in reference.consumers:
                consumer.sees = [(s, wd, wd, wwd, wwd) for s, wd, _we, wwd, _wwe in consumer.sees]
        mutated.append(reference_kpis(reference.run()))
    columns = [c for c in production.columns if c != ORDER_KPI]
    table = compare(production[columns], pd.DataFrame(mutated)[columns])
    assert (table["p"] <= P_MIN).any(), f"{mutation} went unnoticed:\n{table}"

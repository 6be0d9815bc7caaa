"""The production model and the per-agent Mesa reference agree within sampling error.

``benchmarks/reference_mesa.py`` re-implements the daily dynamics one ``mesa.Agent`` per
consumer, with its own random numbers and none of the production code. Both run on the
same inputs (one synthetic population, its routes and exposure rates, the same stores and
rival showrooms) for several replications; every KPI's replication means must agree by
Welch's t-test (p > 0.001). The scenario makes each part of a day matter: demand high
enough that one store's capacity binds (queues, lost bookings), a store opening on day 20,
weekends, word of mouth strong enough to move trust, and the location mechanisms: a
second store co-located with the busy one (one destination), two rival showrooms (one
closing, one opening), an outside option small enough that many intents make no visit,
travel measured from the commute, online orders, a media campaign at launch, pent-up
demand and online testimonials.

The scenario, its KPIs and the comparison are in ``tests/equivalence_case.py``; the
power check (a wrong equation is detected) is ``tests/test_reference_power.py``.

Reading a failure: a KPI whose means differ names the part of the day where the two
implementations disagree; one of them has a wrong equation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from equivalence_case import (
    CONSUMERS,
    DAYS,
    EARLY_DAYS,
    EARLY_KPI,
    END_STATE,
    FUNNEL,
    ONLINE_KPI,
    ORDER_KPI,
    P_MIN,
    PER_STORE,
    REPLICATIONS,
    RIVALS,
    STORES,
    compare,
    equivalence_scenario,
    reference_from,
    reference_kpis,
    run_production,
)

from simulator.model.footprint_model import FootprintModel
from simulator.model.population import synthesize_population
from simulator.model.rng import run_generators


@pytest.fixture(scope="module")
def replications(tiny_city_path, tiny_city):
    """KPIs of both models, replication by replication, on one shared population."""
    scenario = equivalence_scenario(tiny_city_path)
    population = synthesize_population(tiny_city, scenario.population, run_generators(scenario.seed)[0])
    production, reference = [], []
    for replication in range(REPLICATIONS):
        model = FootprintModel(scenario, seed=1000 + replication, city=tiny_city, population=population)
        production.append(run_production(model))
        rng = np.random.Generator(np.random.PCG64([scenario.seed, replication]))
        reference.append(reference_kpis(reference_from(model, rng).run()))
    return pd.DataFrame(production), pd.DataFrame(reference), model


@pytest.mark.slow
def test_scenario_exercises_every_part_of_a_day(replications):
    """Not a vacuous comparison: every mechanism of a day happens often enough to be compared.

    Sightings and media contacts, queues and lost bookings at store A, store C after it
    opens, the co-located store D, both rivals, intents without a visit, online orders
    and their purchases, the pent-up rush, online testimonials and word of mouth.
    """
    production, reference, _ = replications
    for kpis in (production, reference):
        means = kpis.mean()
        assert means["sightings"] > 50_000 and means["media_contacts"] > 10_000
        assert means["bookings_requested"] > 300 and means["test_drives"] > 200
        assert means["A.bookings_lost"] > 10  # store A's capacity binds
        assert means["A.test_drives"] < means["A.bookings_requested"]
        assert means["C.bookings_requested"] > 30 and means["C.sightings"] > 0
        assert means["D.bookings_requested"] > 30  # the co-located store shares A's bookings
        assert means["R1.bookings_to_rivals"] > 30 and means["R2.bookings_to_rivals"] > 20
        assert means["intents_no_visit"] > 50  # the outside option
        assert means["online_orders"] > 100 and means["purchases_direct"] > 15
        decisions = means["test_drive_intents"] + means["online_orders"]
        assert means[EARLY_KPI] > 1.5 * decisions * EARLY_DAYS / DAYS  # the pent-up rush
        assert means[ONLINE_KPI] > 0.3  # online testimonials move everyone's trust
        assert 0.05 < means["share_familiar"] < 0.95


@pytest.mark.slow
def test_funnel_totals_and_end_state_agree(replications):
    production, reference, _ = replications
    columns = [*FUNNEL, EARLY_KPI, ONLINE_KPI, *END_STATE, "queue_length", "in_market"]
    table = compare(production[columns], reference[columns])
    assert (table["p"] > P_MIN).all(), f"KPIs that differ:\n{table[table['p'] <= P_MIN]}\n\nall:\n{table}"


@pytest.mark.slow
def test_per_store_and_rival_totals_agree(replications):
    production, reference, _ = replications
    columns = [c for c in production.columns if "." in c]
    assert len(columns) == len(STORES) * len(PER_STORE) + len(RIVALS)
    table = compare(production[columns], reference[columns])
    assert (table["p"] > P_MIN).all(), (
        f"store and rival KPIs that differ:\n{table[table['p'] <= P_MIN]}\n\nall:\n{table}"
    )


@pytest.mark.slow
def test_reference_is_built_from_the_production_inputs(replications):
    """The reference reads the same rates, contacts, stores, rivals and commutes, one agent each."""
    _, _, model = replications
    reference = reference_from(model, np.random.Generator(np.random.PCG64(0)))
    assert len(reference.agents_by_type[type(reference.consumers[0])]) == CONSUMERS
    assert len(reference.stores) == len(STORES) and len(reference.rivals) == len(RIVALS)
    home, work = model.population.home_cell, model.population.work_cell
    expected_work = model.city.cell_xy[np.where(work >= 0, work, home)]
    np.testing.assert_array_equal([c.work_xy for c in reference.consumers], expected_work)
    i = int(np.argmax(np.diff(model.population.contact_indptr)))
    consumer = reference.consumers[i]
    indptr, indices = model.population.contact_indptr, model.population.contact_indices
    contacts = indices[indptr[i] : indptr[i + 1]]
    assert [c.unique_id for c in consumer.contacts] == [reference.consumers[j].unique_id for j in contacts]
    rates = model.exposure.consumer_rates(np.arange(CONSUMERS), weekend=True).sum(axis=1)
    reference_rates = [sum(entry[2] for entry in c.sees) for c in reference.consumers]
    np.testing.assert_allclose(reference_rates, rates, rtol=1e-6)


@pytest.mark.slow
def test_a_days_bookings_queue_in_random_order(replications):
    """Who gets a scarce test drive must not depend on where one lives in the home ordering.

    Consumers are stored in home order (Z-order of their cells). Queuing a day's bookings
    in that order served the first third of the ordering 81 % of the time at a full store
    and the last third 31 %; the reference queues them in random order.
    """
    production, reference, _ = replications
    table = compare(production[[ORDER_KPI]], reference[[ORDER_KPI]])
    assert (table["p"] > P_MIN).all(), f"served vs lost differ in home order:\n{table}"

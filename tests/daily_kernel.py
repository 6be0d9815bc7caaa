"""The daily kernel as it was before the event-skipping kernel: the statistical oracle.

:func:`daily_consumer_day` is the fused kernel that tested every consumer every day: one
counter-based uniform per consumer and day for media, sightings and market spells, the
logistic with ``math.exp`` for every consumer. It takes the same structures as
:func:`simulator.model.dynamics.consumer_day` (ignoring the fields only that kernel reads)
and draws from the same distributions with different uniforms, so the two must agree in
distribution, not draw by draw (``tests/test_kernel_equivalence.py``). It is kept verbatim
as the daily formulation of the model's equations.
"""

from __future__ import annotations

import math

import numba
from numba import prange

from simulator.model.dynamics import (
    ADOPTED,
    CHUNK_SIZE,
    EVENT_NONE,
    EVENT_ONLINE_ORDER,
    EVENT_TEST_DRIVE_INTENT,
    IN_MARKET,
    KPI_AWARE,
    KPI_EFFECTIVE_FREQUENCY,
    KPI_FAMILIAR,
    KPI_FAMILIARITY,
    KPI_IN_MARKET,
    KPI_MEDIA_CONTACTS,
    KPI_ONLINE_ORDERS,
    KPI_REACH,
    KPI_SIGHTINGS,
    KPI_TEST_DRIVE_INTENTS,
    KPI_TRUST,
    OUT_OF_MARKET,
    PENT_UP,
    RECENT_WINDOW_DAYS,
    WAITING,
    ChunkTallies,
    ConsumerArrays,
    DayExposure,
    DayInputs,
    KernelParameters,
)
from simulator.model.rng import (
    STREAM_CHANNEL,
    STREAM_DECISION,
    STREAM_MARKET,
    STREAM_MEDIA,
    STREAM_SIGHTINGS,
    STREAM_SPLIT_BASE,
    counter_uniform,
)


@numba.njit(parallel=True, cache=True)
def daily_consumer_day(
    day_inputs: DayInputs,
    exposure: DayExposure,
    parameters: KernelParameters,
    consumers: ConsumerArrays,
    tallies: ChunkTallies,
) -> None:
    """Advance every consumer by one day (see the module docstring for the equations).

    Consumer i reads row ``consumers.consumer_class[i]`` of ``exposure``. The state arrays
    of ``consumers`` are updated in place, ``consumers.event`` and
    ``consumers.sightings_record`` receive the day's outputs and ``tallies`` the day's sums
    and deciders per chunk.
    """
    # Every field is read into a local before the parallel loop: numba drops writes to an
    # array reached through a namedtuple inside prange (numba issues #7135 and #10338).
    day = day_inputs.day
    key = day_inputs.key
    full_mixing_wom = day_inputs.full_mixing_wom
    trust_shift = day_inputs.trust_shift
    media_reach = day_inputs.media_reach
    exposure_indptr = exposure.indptr
    exposure_indices = exposure.indices
    exposure_rate = exposure.rate
    exposure_weight = exposure.weight
    row_total = exposure.row_total
    row_zero_probability = exposure.row_zero_probability
    store_open = exposure.store_open
    stock_retention = parameters.stock_retention
    wear_retention = parameters.wear_retention
    wear_weight = parameters.wear_weight
    hill_s = parameters.hill_s
    familiarity_weight = parameters.familiarity_weight
    wom_weight = parameters.wom_weight
    enter_probability = parameters.enter_probability
    exit_probability = parameters.exit_probability
    booking_rate = parameters.booking_rate
    referral_rate = parameters.referral_rate
    test_drive_share = parameters.test_drive_share
    source_retention = parameters.source_retention
    media_weight = parameters.media_weight
    pent_up_rate = parameters.pent_up_rate
    consumer_class = consumers.consumer_class
    heterogeneity = consumers.heterogeneity
    stock = consumers.stock
    wear = consumers.wear
    wom = consumers.wom
    status = consumers.status
    aware = consumers.aware
    recent_sightings = consumers.recent_sightings
    event = consumers.event
    sightings_record = consumers.sightings_record
    chunk_kpis = tallies.kpis
    chunk_store_sightings = tallies.store_sightings
    event_consumers = tallies.event_consumers
    event_counts = tallies.event_counts

    n = stock.shape[0]
    n_chunks = chunk_kpis.shape[0]
    recent_floor = day - (RECENT_WINDOW_DAYS - 1)
    k_inverse = 1.0 / parameters.hill_k
    for chunk in prange(n_chunks):
        start = chunk * CHUNK_SIZE
        stop = min(start + CHUNK_SIZE, n)
        kpi = chunk_kpis[chunk]
        kpi[:] = 0.0
        store_counts = chunk_store_sightings[chunk]
        store_counts[:] = 0
        n_events = 0
        for i in range(start, stop):
            # 1. Media contact, then sightings by inverse CDF of Poisson(R_i).
            row = consumer_class[i]
            lam = row_total[row]
            sightings = 0
            increment = 0.0
            reached = False
            if media_reach > 0.0 and counter_uniform(key, day, STREAM_MEDIA, i) < media_reach:
                reached = True
                increment += media_weight
            if lam > 0.0:
                u = counter_uniform(key, day, STREAM_SIGHTINGS, i)
                probability = float(row_zero_probability[row])
                cumulative = probability
                while u > cumulative and sightings < 10_000:
                    sightings += 1
                    probability *= lam / sightings
                    cumulative += probability
                    if probability < 1e-300:
                        break
                for k in range(sightings):
                    target = counter_uniform(key, day, STREAM_SPLIT_BASE + k, i) * lam
                    running = 0.0
                    chosen = -1
                    chosen_weight = 0.0
                    for entry in range(exposure_indptr[row], exposure_indptr[row + 1]):
                        store = exposure_indices[entry]
                        if store_open[store]:
                            running += exposure_rate[entry]
                            chosen = store
                            chosen_weight = exposure_weight[entry]
                            if running >= target:
                                break
                    store_counts[chosen] += 1
                    increment += chosen_weight
            # 2. Adstock and wear-out.
            e = stock_retention * stock[i] + increment
            stock[i] = e
            effective = e
            if wear_weight > 0.0:
                w = wear_retention * wear[i] + increment
                wear[i] = w
                effective = max(e - wear_weight * w, 0.0)
            # 3. Familiarity (Hill).
            familiarity = 0.0
            if effective > 0.0:
                ratio = effective * k_inverse
                if hill_s == 2.0:
                    powered = ratio * ratio
                else:
                    powered = ratio**hill_s
                familiarity = powered / (1.0 + powered)
            # 4. Word of mouth (kept up to date incrementally; it decays with its sources).
            if full_mixing_wom >= 0.0:
                heard = full_mixing_wom
            else:
                heard = wom[i]
                wom[i] = source_retention * heard
            # 5. Trust.
            logit = trust_shift + familiarity_weight * familiarity + wom_weight * heard + heterogeneity[i]
            t = 1.0 / (1.0 + math.exp(-logit))
            # 6.-7. Market spells and decisions.
            today = EVENT_NONE
            state = status[i]
            if state == OUT_OF_MARKET:
                if counter_uniform(key, day, STREAM_MARKET, i) < enter_probability:
                    status[i] = IN_MARKET
                    state = IN_MARKET
            elif state in (IN_MARKET, PENT_UP):
                decides = False
                if state == PENT_UP:
                    decides = counter_uniform(key, day, STREAM_DECISION, i) < pent_up_rate
                elif counter_uniform(key, day, STREAM_MARKET, i) < exit_probability:
                    status[i] = OUT_OF_MARKET
                    state = OUT_OF_MARKET
                else:
                    hazard = booking_rate * t + referral_rate * heard
                    decides = counter_uniform(key, day, STREAM_DECISION, i) < 1.0 - math.exp(-hazard)
                if decides:
                    if counter_uniform(key, day, STREAM_CHANNEL, i) < test_drive_share:
                        today = EVENT_TEST_DRIVE_INTENT
                    else:
                        today = EVENT_ONLINE_ORDER
                    status[i] = WAITING
                    state = WAITING
            event[i] = today
            if today != EVENT_NONE:
                event_consumers[chunk, n_events] = i
                n_events += 1
            if sightings_record.shape[0] > 0:
                sightings_record[i] = sightings
            # Recent sightings: the days of the three most recent ones.
            if sightings > 0:
                for _ in range(min(sightings, 3)):
                    recent_sightings[i, 2] = recent_sightings[i, 1]
                    recent_sightings[i, 1] = recent_sightings[i, 0]
                    recent_sightings[i, 0] = day
            if sightings > 0 or reached or heard > 0.0 or state == ADOPTED or today != EVENT_NONE:
                aware[i] = 1
            # KPI sums.
            kpi[KPI_AWARE] += aware[i]
            kpi[KPI_FAMILIARITY] += familiarity
            if familiarity >= 0.5:
                kpi[KPI_FAMILIAR] += 1.0
            kpi[KPI_TRUST] += t
            if recent_sightings[i, 0] >= recent_floor:
                kpi[KPI_REACH] += 1.0
            if recent_sightings[i, 2] >= recent_floor:
                kpi[KPI_EFFECTIVE_FREQUENCY] += 1.0
            if state in (IN_MARKET, WAITING, PENT_UP):
                kpi[KPI_IN_MARKET] += 1.0
            kpi[KPI_SIGHTINGS] += sightings
            if reached:
                kpi[KPI_MEDIA_CONTACTS] += 1.0
            if today == EVENT_TEST_DRIVE_INTENT:
                kpi[KPI_TEST_DRIVE_INTENTS] += 1.0
            elif today == EVENT_ONLINE_ORDER:
                kpi[KPI_ONLINE_ORDERS] += 1.0
        event_counts[chunk] = n_events

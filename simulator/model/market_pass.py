"""The market pass of the daily kernel: market spells and decisions of the consumers in the market.

Out of a chunk's consumers, about 1 % are in the market or pent up on a day of the Beijing
launch; only they have anything to draw. :func:`market_pass` finds them with one pass over
the status bytes (eight at a time) and draws their day (:func:`market_day`): leaving the
market with probability ``1 / duration``, else deciding with probability
``1 - exp(-(r T + q WOM))`` (pent up: ``pent_up_rate``), a decision being a test-drive intent
with probability ``test_drive_share``. It runs after the dense pass of the chunk
(:mod:`simulator.model.dense_pass`), whose stocks and word of mouth it reads while they are
still in cache. Deciders are listed per chunk, so that the model reads the day's decisions
without scanning every consumer.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from simulator.model.events import ENTRY_CAP, FLAG_ENTRY_CANDIDATE, FLAG_MARKET_CHANGED
from simulator.model.rng import STREAM_CHANNEL, STREAM_DECISION, STREAM_MARKET, counter_uniform

# Status codes of a consumer.
OUT_OF_MARKET = 0
IN_MARKET = 1
WAITING = 2  # decided: choosing a store, in a store's queue, or waiting for an online order
ADOPTED = 3  # bought
PENT_UP = 4  # in market for the launch: decides at the pent-up rate, whatever the trust
LOST_TO_RIVAL = 5  # booked a test drive at a rival's showroom: lost to the brand

# Status bytes as the market pass scans them (_listed_in_market).
_IN_MARKET_BITS = (1 << IN_MARKET) | (1 << WAITING) | (1 << PENT_UP)
_BYTES_ONE = np.uint64(0x0101010101010101)
_BYTES_HIGH = np.uint64(0x8080808080808080)
_BYTES_IN_MARKET = np.uint64(0x0101010101010101 * IN_MARKET)
_BYTES_PENT_UP = np.uint64(0x0101010101010101 * PENT_UP)

# Events written by the kernel.
EVENT_NONE = 0
EVENT_TEST_DRIVE_INTENT = 1
EVENT_ONLINE_ORDER = 2


@numba.njit(cache=True)
def market_day(i: int, state: int, entry_candidate: bool, day_inputs: Any, p: Any, consumers: Any) -> tuple[int, int]:
    """Consumer i's market spell and decision today: the new status and the day's event.

    Out of the market: enters with probability ``h`` (``u < h``, thinned with
    ``ENTRY_CAP``). In the market: leaves with probability ``1 / duration``, else decides
    with probability ``1 - exp(-(r T + q WOM))``; pent up: decides with ``pent_up_rate``.
    A decision is a test-drive intent with probability ``test_drive_share``.

    Since ``1 - exp(-x) <= x`` and ``T < 1``, a decision uniform at or above
    ``r + q WOM`` (with a relative margin against rounding) decides nothing whatever the
    trust, which is then not computed (for most of the in-market consumers, most days).
    """
    key, day = day_inputs.key, day_inputs.day
    if state == OUT_OF_MARKET:
        if entry_candidate:
            u = ENTRY_CAP * counter_uniform(key, day, STREAM_MARKET, i)
        elif p.enter_probability > ENTRY_CAP:
            u = ENTRY_CAP + (1.0 - ENTRY_CAP) * counter_uniform(key, day, STREAM_MARKET, i)
        else:
            return state, EVENT_NONE
        return (IN_MARKET if u < p.enter_probability else state), EVENT_NONE
    if state == PENT_UP:
        decides = counter_uniform(key, day, STREAM_DECISION, i) < p.pent_up_rate
    elif state == IN_MARKET:
        if counter_uniform(key, day, STREAM_MARKET, i) < p.exit_probability:
            return OUT_OF_MARKET, EVENT_NONE
        heard = max(day_inputs.full_mixing_wom, 0.0) + consumers.wom[i] / p.source_retention
        u = counter_uniform(key, day, STREAM_DECISION, i)
        if u > (p.booking_rate + p.referral_rate * heard) * (1.0 + 1e-9):
            return state, EVENT_NONE
        trust = _trust_today(i, heard, day_inputs, p, consumers)
        decides = u < -math.expm1(-(p.booking_rate * trust + p.referral_rate * heard))
    else:
        return state, EVENT_NONE
    if not decides:
        return state, EVENT_NONE
    if counter_uniform(key, day, STREAM_CHANNEL, i) < p.test_drive_share:
        return WAITING, EVENT_TEST_DRIVE_INTENT
    return WAITING, EVENT_ONLINE_ORDER


@numba.njit(inline="always", cache=True)
def _trust_today(i: int, heard: float, day_inputs: Any, p: Any, consumers: Any) -> float:
    """Consumer i's trust today, in float64, from its state after the dense pass and its word of mouth ``heard``.

    The stocks are today's; word of mouth has been decayed for tomorrow, so today's is
    ``wom / delta_S`` (as in :meth:`simulator.model.consumers.Consumers.trust_of`).
    """
    effective = consumers.stock[i]
    if p.wear_weight > 0.0:
        effective = max(effective - p.wear_weight * consumers.wear[i], 0.0)
    ratio = effective / p.hill_k
    powered = ratio * ratio if p.hill_s == 2.0 else ratio**p.hill_s
    familiarity = powered / (1.0 + powered)
    logit = (
        day_inputs.trust_shift + p.familiarity_weight * familiarity + p.wom_weight * heard + consumers.heterogeneity[i]
    )
    return 1.0 / (1.0 + math.exp(-logit))


@numba.njit(cache=True)
def _listed_in_market(status: np.ndarray, start: int, size: int, active: np.ndarray) -> tuple[int, int]:
    """List the chunk's consumers in the market or pent up (offsets into ``active``); count those in, waiting or pent up.

    The count is a vectorised pass over the status bytes; the list is built eight bytes at a
    time, looking into a word only when one of its bytes is ``IN_MARKET`` or ``PENT_UP``
    (SWAR: a byte of ``v`` is zero iff ``(v - 0x01..) & ~v & 0x80..`` has its top bit).
    """
    chunk_status = status[start : start + size]
    in_market = 0
    for k in range(size):
        in_market += (np.uint32(1) << np.uint32(chunk_status[k])) & np.uint32(_IN_MARKET_BITS) != 0
    n_active = 0
    whole = size - size % 8
    words = chunk_status[:whole].view(np.uint64)
    for word_index in range(words.shape[0]):
        word = words[word_index]
        x, y = word ^ _BYTES_IN_MARKET, word ^ _BYTES_PENT_UP
        if ((x - _BYTES_ONE) & ~x | (y - _BYTES_ONE) & ~y) & _BYTES_HIGH:
            for k in range(8 * word_index, 8 * word_index + 8):
                if chunk_status[k] == IN_MARKET or chunk_status[k] == PENT_UP:
                    active[n_active] = k
                    n_active += 1
    for k in range(whole, size):
        if chunk_status[k] == IN_MARKET or chunk_status[k] == PENT_UP:
            active[n_active] = k
            n_active += 1
    return in_market, n_active


@numba.njit(cache=True)
def market_pass(
    chunk: int,
    start: int,
    flags: np.ndarray,
    day_inputs: Any,
    parameters: Any,
    consumers: Any,
    tallies: Any,
) -> tuple[int, int, int]:
    """The chunk's market spells and decisions: returns the number in the market, intents and orders.

    Clears yesterday's events of the chunk (``tallies.event_consumers``), counts the
    consumers in the market (in, waiting or pent up) and lists those with something to draw
    (:func:`_listed_in_market`; with entries drawn densely, every consumer), then runs
    :func:`market_day` for the listed ones only. Today's deciders get their ``event``
    set, are listed in ``tallies.event_consumers`` (ascending) and become aware.
    """
    status, event, aware = consumers.status, consumers.event, consumers.aware
    listed = tallies.event_consumers[chunk]
    for m in range(tallies.event_counts[chunk]):
        event[listed[m]] = EVENT_NONE
    size = flags.shape[0]
    if parameters.enter_probability > ENTRY_CAP:
        active = np.arange(size)
        n_active = size
        in_market = 0
        for k in range(size):
            in_market += status[start + k] in (IN_MARKET, WAITING, PENT_UP)
    else:
        active = np.empty(size, dtype=np.int64)
        in_market, n_active = _listed_in_market(status, start, size, active)
    n_events = intents = orders = 0
    for a in range(n_active):
        k = active[a]
        i = start + k
        state = status[i]
        entry_candidate = flags[k] & FLAG_ENTRY_CANDIDATE != 0
        new_state, today = market_day(i, state, entry_candidate, day_inputs, parameters, consumers)
        if new_state != state:
            status[i] = new_state
            flags[k] |= FLAG_MARKET_CHANGED
            in_market += int(new_state == IN_MARKET) - int(new_state == OUT_OF_MARKET)
        if today != EVENT_NONE:
            event[i] = today
            listed[n_events] = i
            n_events += 1
            intents += today == EVENT_TEST_DRIVE_INTENT
            orders += today == EVENT_ONLINE_ORDER
            tallies.aware[chunk] += 1 - aware[i]
            aware[i] = 1
    tallies.event_counts[chunk] = n_events
    return in_market, intents, orders

r"""Consumer batches: the run's KPIs tallied over fixed subsets of consumers, for within-run SEs.

Consumer ``i`` belongs to batch :math:`b(i) = i \bmod B` (:data:`CONSUMER_BATCHES`). The
population is stored cell by cell, so each batch is a systematic sample of every
``B``-th consumer over the whole city: the batches are alike, and a KPI's batch totals
are (close to) independent draws of the same distribution. The batch-means estimator of
:mod:`simulator.results.batch_means` turns them into the standard error of a KPI, or of a
plan's difference to a baseline run under common random numbers, from one replication
(``docs/model.md``, section "Monte-Carlo error").

Tallying changes nothing that is simulated: it only counts, by batch, the events the model
already counts for the whole city.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.model.dynamics import RECENT_WINDOW_DAYS

CONSUMER_BATCHES = 32
r"""``B``: batches of consumers. A judgement: enough batches that the SE estimated from them
is itself uncertain by only about :math:`1/\sqrt{2(B-1)}` = 13 %, few enough that each
batch of a small run still holds many consumers."""

BATCH_COUNT_KPIS = (
    "test_drive_intents",
    "bookings_requested",
    "bookings_to_rivals",
    "intents_no_visit",
    "bookings_no_store",
    "test_drives",
    "bookings_lost",
    "online_orders",
    "purchases",
    "purchases_direct",
)
"""Counts over the horizon tallied per batch (columns of the ``batches`` table, simulated consumers)."""

BATCH_STATE_SUMS = (
    "aware",
    "familiar",
    "familiarity",
    "trust",
    "reach_28d",
    "effective_frequency_28d",
)
"""End-of-horizon sums per batch: consumers aware, familiar (F >= 0.5), reached in the last
28 days and with 3+ sightings in them; sums of familiarity and of trust."""


def consumer_batch(consumers: np.ndarray) -> np.ndarray:
    """The batch of each consumer index, ``i mod B``."""
    return np.asarray(consumers, dtype=np.int64) % CONSUMER_BATCHES


class BatchTallies:
    """Counts of the day's events per batch of consumers, summed over the horizon.

    Parameters
    ----------
    n : int
        Consumers of the run.
    """

    def __init__(self, n: int) -> None:
        self.consumers = n // CONSUMER_BATCHES + (np.arange(CONSUMER_BATCHES) < n % CONSUMER_BATCHES).astype(np.int64)
        self.counts = {kpi: np.zeros(CONSUMER_BATCHES, dtype=np.int64) for kpi in BATCH_COUNT_KPIS}

    def add(self, kpi: str, consumers: np.ndarray) -> None:
        """Count one event of ``kpi`` for each consumer index in ``consumers``."""
        if len(consumers):
            self.counts[kpi] += np.bincount(consumer_batch(consumers), minlength=CONSUMER_BATCHES)

    def table(self, state: dict[str, np.ndarray]) -> pd.DataFrame:
        """The ``batches`` table of one replication: one row per batch.

        Parameters
        ----------
        state : dict of str to numpy.ndarray
            Per-consumer end-of-horizon values, by name of :data:`BATCH_STATE_SUMS`
            (all of length ``n``); their sums per batch become the columns of those names.

        Returns
        -------
        pandas.DataFrame
            ``batch``, ``consumers``, the counts of :data:`BATCH_COUNT_KPIS` and the sums of
            :data:`BATCH_STATE_SUMS`.
        """
        frame = pd.DataFrame({"batch": np.arange(CONSUMER_BATCHES, dtype=np.int64), "consumers": self.consumers})
        for kpi in BATCH_COUNT_KPIS:
            frame[kpi] = self.counts[kpi]
        for name in BATCH_STATE_SUMS:
            frame[name] = batch_sums(np.asarray(state[name])).astype(np.float64)
        return frame


def batch_sums(values: np.ndarray) -> np.ndarray:
    """Sum of ``values[i]`` over the consumers ``i`` of each batch, without an index array.

    The whole rows of ``B`` consumers are summed as a ``(-1, B)`` view; the last, partial
    row adds to the first batches.
    """
    whole = len(values) // CONSUMER_BATCHES * CONSUMER_BATCHES
    sums = values[:whole].reshape(-1, CONSUMER_BATCHES).sum(axis=0, dtype=np.float64)
    sums[: len(values) - whole] += values[whole:]
    return sums


def end_state(
    familiarity: np.ndarray, trust: np.ndarray, aware: np.ndarray, recent_sightings: np.ndarray, last_day: int
) -> dict[str, np.ndarray]:
    """The per-consumer values of :data:`BATCH_STATE_SUMS` at the end of ``last_day``.

    Flags stay boolean and values in their own dtype (no full-size float copies: at the
    whole population each copy would be 175 MB). Reach and effective frequency read each consumer's latest and third latest sighting
    days (``recent_sightings[:, 0]`` and ``[:, 2]``): within the last ``RECENT_WINDOW_DAYS``
    days, as the kernel's window counts.
    """
    floor = last_day - RECENT_WINDOW_DAYS + 1
    return {
        "aware": aware,
        "familiar": familiarity >= 0.5,
        "familiarity": familiarity,
        "trust": trust,
        "reach_28d": recent_sightings[:, 0] >= floor,
        "effective_frequency_28d": recent_sightings[:, 2] >= floor,
    }

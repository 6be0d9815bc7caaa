"""Tables derived from a run's tables once per report, not once per figure.

The figures, the web map and the HTML report of a run each need the per-store totals
(:func:`simulator.results.store_totals`) and the zone and cell means over replications
(:func:`simulator.results.replication_means`). :func:`store_totals_of` and
:func:`replication_means_of` compute each once for the frames they are given (the same
frame objects: a report reads a :class:`~simulator.results.RunResult` without changing
it) and hand out copies. The figure workers are forked after :func:`prime` has filled
them, so they do not compute them again either.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable

import pandas as pd

from simulator.results import RunResult, replication_means, store_totals

_MEMO: dict[Hashable, tuple[tuple[weakref.ref, ...], pd.DataFrame]] = {}
"""Results by the ids of their input frames (and arguments), with weak references that
tell whether those frames are still the same objects."""

MEMO_SIZE = 16
"""Derived tables kept (the oldest are dropped first)."""


def _memoised(frames: tuple[pd.DataFrame, ...], extra: Hashable, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    key = (tuple(id(frame) for frame in frames), tuple(frame.shape for frame in frames), extra)
    found = _MEMO.get(key)
    if found is not None and all(ref() is frame for ref, frame in zip(found[0], frames, strict=True)):
        return found[1].copy()
    value = compute()
    if len(_MEMO) >= MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = (tuple(weakref.ref(frame) for frame in frames), value)
    return value.copy()


def store_totals_of(stores: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """:func:`simulator.results.store_totals` of these frames, computed once."""
    return _memoised((stores, plan), "store_totals", lambda: store_totals(stores, plan))


def replication_means_of(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """:func:`simulator.results.replication_means` of this frame by ``key``, computed once."""
    return _memoised((frame,), ("replication_means", key), lambda: replication_means(frame, key))


def prime(result: RunResult) -> None:
    """Compute the derived tables of ``result`` that its figures and report read."""
    store_totals_of(result.stores, result.plan)
    if len(result.zones):
        replication_means_of(result.zones, "zone_id")
    if len(result.cells):
        replication_means_of(result.cells, "cell_id")


def forget() -> None:
    """Drop every derived table kept."""
    _MEMO.clear()

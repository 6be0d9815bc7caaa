r"""The screening surrogate: familiarity-weighted reach times the store-choice share, vectorised.

From one population and the exposure rates of the fixed stores and every candidate
(:func:`simulator.model.build_exposure`), per consumer class :math:`c` (consumers sharing
home, work and commute mode; :math:`n_c` of them) and store :math:`j`:

* weighted sighting rate :math:`m_{cj} = (5 r^{wd}_{cj} w^{wd}_{cj} + 2 r^{we}_{cj} w^{we}_{cj})/7` per day;
* reach within a window of :math:`T` days, :math:`e_{cj} = 1 - e^{-T m_{cj}}`, and the
  class's reach by a plan :math:`S`, :math:`R_c(S) = 1 - \prod_{j \in S}(1 - e_{cj})`;
* the brand's store-choice share from home (the Huff model with rivals and the outside
  option, :func:`simulator.model.closed_forms.huff_with_outside_option`):
  :math:`P_c(S) = \sum_{j\in S} a_{cj} / (\sum_{j\in S} a_{cj} + \sum_k b_{ck} + a_0)`
  with :math:`a_{cj} = A_j \max(d_{cj}, d_{min})^{-\lambda}`, :math:`b_{ck}` the rival
  showrooms' attraction and :math:`a_0` the outside option's;
* the surrogate objective :math:`F(S) = \sum_c n_c\,(w_0 + (1 - w_0) R_c(S))\,P_c(S)`:
  intents that the brand's familiarity raises, times the share the plan's stores win.

A candidate's **surrogate score** is :math:`F(S_0 \cup \{j\}) - F(S_0)` with
:math:`S_0` the fixed stores. The **shortlist** is the greedy order on :math:`F` (each next
candidate the one that raises :math:`F` most, keeping the constraints), so that a
second site next to a chosen one, which mostly shares its consumers, ranks low.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix

from simulator.city import City
from simulator.model import Exposure, PlacedRivals, PlacedStores, Population
from simulator.model.access import outside_attraction, site_attraction

REACH_WINDOW_DAYS = 28.0
"""Window T of the surrogate's reach, the window of the ``reach_28d`` KPI (docs/model.md)."""

REACH_INDEPENDENT_SHARE = 0.5
"""w0: share of a class's intents that do not depend on sightings of the stores (media,
word of mouth, the other levers); a judgement, the surrogate only ranks candidates."""


@dataclasses.dataclass(frozen=True)
class SurrogateInputs:
    """Per class: size, reach of every store, attraction of every store, rivals plus outside option."""

    weight: np.ndarray  # (classes,)
    reach: np.ndarray  # (classes, stores)
    attraction: np.ndarray  # (classes, stores)
    competition: np.ndarray  # (classes,)


def surrogate_inputs(
    city: City, population: Population, stores: PlacedStores, rivals: PlacedRivals, exposure: Exposure, behaviour
) -> SurrogateInputs:
    """The surrogate's arrays from a population, the superset plan's stores and their exposure."""
    weight = np.bincount(exposure.consumer_class, minlength=exposure.n_classes).astype(np.float64)
    first = np.full(exposure.n_classes, -1, dtype=np.int64)
    first[exposure.consumer_class[::-1]] = np.arange(len(exposure.consumer_class))[::-1]
    home_xy = city.cell_xy[population.home_cell[np.maximum(first, 0)]]
    data = (
        5.0 * exposure.rate_weekday.astype(np.float64) * exposure.weight_weekday
        + 2.0 * exposure.rate_weekend.astype(np.float64) * exposure.weight_weekend
    ) / 7.0
    rates = csr_matrix((data, exposure.indices, exposure.indptr), shape=(exposure.n_classes, exposure.n_stores))
    reach = 1.0 - np.exp(-REACH_WINDOW_DAYS * rates.toarray())
    lam, d_min = float(behaviour.huff_lambda), float(behaviour.huff_min_distance_km)
    distance = np.hypot(home_xy[:, None, 0] - stores.xy[None, :, 0], home_xy[:, None, 1] - stores.xy[None, :, 1])
    attraction = site_attraction(stores.attractiveness, distance / 1000.0, lam, d_min)
    competition = np.full(
        len(weight), outside_attraction(float(behaviour.outside_option_km), lam, behaviour.outside_option)
    )
    if len(rivals):
        rival_distance = np.hypot(
            home_xy[:, None, 0] - rivals.xy[None, :, 0], home_xy[:, None, 1] - rivals.xy[None, :, 1]
        )
        competition += site_attraction(rivals.attractiveness, rival_distance / 1000.0, lam, d_min).sum(axis=1)
    return SurrogateInputs(weight, reach, attraction, competition)


def _objective(inputs: SurrogateInputs, miss: np.ndarray, pull: np.ndarray) -> np.ndarray:
    """F for plans given by their per-class ``prod(1 - e)`` and ``sum(a)`` (columns: plans)."""
    w0 = REACH_INDEPENDENT_SHARE
    share = np.divide(pull, pull + inputs.competition[:, None], out=np.zeros_like(pull), where=pull > 0)
    return inputs.weight @ ((w0 + (1.0 - w0) * (1.0 - miss)) * share)


def surrogate_scores(inputs: SurrogateInputs, fixed: Sequence[int], candidates: Sequence[int]) -> np.ndarray:
    """:math:`F(S_0 \\cup \\{j\\}) - F(S_0)` for every candidate column ``j``."""
    fixed, candidates = list(fixed), list(candidates)
    miss = np.prod(1.0 - inputs.reach[:, fixed], axis=1) if fixed else np.ones(len(inputs.weight))
    pull = inputs.attraction[:, fixed].sum(axis=1) if fixed else np.zeros(len(inputs.weight))
    base = _objective(inputs, miss[:, None], pull[:, None])[0]
    with_each = _objective(
        inputs, miss[:, None] * (1.0 - inputs.reach[:, candidates]), pull[:, None] + inputs.attraction[:, candidates]
    )
    return with_each - base


def surrogate_order(
    inputs: SurrogateInputs, fixed: Sequence[int], candidates: Sequence[int], count: int, feasible
) -> list[int]:
    """The greedy order of ``count`` candidate positions on F; ``feasible(chosen, k)`` keeps the constraints.

    Positions index ``candidates``; when the constraints stop the greedy order early, the
    rest follow by their individual score.
    """
    fixed, candidates = list(fixed), list(candidates)
    miss = np.prod(1.0 - inputs.reach[:, fixed], axis=1) if fixed else np.ones(len(inputs.weight))
    pull = inputs.attraction[:, fixed].sum(axis=1) if fixed else np.zeros(len(inputs.weight))
    reach, attraction = inputs.reach[:, candidates], inputs.attraction[:, candidates]
    chosen: list[int] = []
    while len(chosen) < min(count, len(candidates)):
        values = _objective(inputs, miss[:, None] * (1.0 - reach), pull[:, None] + attraction)
        allowed = [k for k in np.argsort(-values, kind="stable") if k not in chosen and feasible(frozenset(chosen), k)]
        if not allowed:
            break
        best = int(allowed[0])
        chosen.append(best)
        miss, pull = miss * (1.0 - reach[:, best]), pull + attraction[:, best]
    if len(chosen) < min(count, len(candidates)):
        scores = surrogate_scores(inputs, fixed, candidates)
        rest = [int(k) for k in np.argsort(-scores, kind="stable") if int(k) not in chosen]
        chosen += rest[: min(count, len(candidates)) - len(chosen)]
    return chosen

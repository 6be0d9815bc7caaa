r"""The search: greedy addition, then interchange, on simulated objectives under common random numbers.

Plans are sets of candidate indices (the fixed stores are always in every plan). The
search asks an evaluation function for the objective of a batch of plans, one value per
replication (the same seeds for every plan), and compares plans by their *paired*
differences: for plans :math:`A` and :math:`B`, :math:`d_r = f_r(A) - f_r(B)` and the
interval :math:`\bar d \pm t_{(1+c)/2,\,R-1}\, s_d/\sqrt R`
(:func:`simulator.experiments.compare.statistics.paired_interval`).

* **Greedy addition.** From the base plan :math:`S_0 = \varnothing`, every feasible
  shortlisted candidate :math:`j` is added in turn and :math:`S_{k+1} = S_k \cup \{j^*\}`
  with :math:`j^*` the largest mean gain; the search stops when that gain is not
  significantly positive (its interval's lower end :math:`\le 0`; with one replication,
  its mean :math:`\le 0`), or when no candidate fits the budget and the constraints.
* **Interchange.** Each chosen store, in the order it was added, is replaced in turn by
  the first ``swap_alternatives`` feasible unchosen candidates of the surrogate ranking;
  the best replacement is kept when it is significantly better; at most ``swap_passes``
  passes, fewer when a pass changes nothing.

The search is deterministic given the evaluation's values (ties go to the better
surrogate rank), so a search resumed from a journal of its simulations takes the same path.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simulator.experiments.compare.statistics import paired_interval

Plan = frozenset[int]
Evaluate = Callable[[Sequence[Plan]], list[np.ndarray]]
"""``evaluate(plans) -> [values of plan p, one per replication]``."""


@dataclasses.dataclass(frozen=True)
class SearchProblem:
    """The candidates (by index), their ranking, the budget and the constraints.

    Attributes
    ----------
    order : tuple of int
        The shortlisted candidates, best surrogate score first.
    xy, zone, cost : numpy.ndarray
        Of every candidate (indexed by candidate index).
    fixed_xy, fixed_zone : numpy.ndarray
        Of the fixed stores.
    """

    order: tuple[int, ...]
    xy: np.ndarray
    zone: np.ndarray
    cost: np.ndarray
    fixed_xy: np.ndarray
    fixed_zone: np.ndarray
    max_stores: int | None = None
    max_cost: float | None = None
    min_distance_m: float = 0.0
    max_per_district: int | None = None
    confidence: float = 0.95
    swap_alternatives: int = 3
    swap_passes: int = 1

    def feasible(self, plan: Plan, candidate: int) -> bool:
        """Whether ``plan`` plus ``candidate`` keeps the budget and the constraints."""
        if candidate in plan:
            return False
        if self.max_stores is not None and len(plan) + 1 > self.max_stores:
            return False
        if self.max_cost is not None and sum(self.cost[i] for i in plan) + self.cost[candidate] > self.max_cost + 1e-9:
            return False
        if self.min_distance_m > 0:
            others = np.vstack([self.fixed_xy.reshape(-1, 2), self.xy[sorted(plan)].reshape(-1, 2)])
            if len(others) and np.hypot(*(others - self.xy[candidate]).T).min() < self.min_distance_m:
                return False
        if self.max_per_district is not None:
            zone = self.zone[candidate]
            count = int((self.fixed_zone == zone).sum()) + sum(1 for i in plan if self.zone[i] == zone)
            if count + 1 > self.max_per_district:
                return False
        return True

    def satisfied(self, plan: Plan) -> bool:
        """Whether a whole plan keeps the budget and the constraints (added in any order)."""
        chosen: Plan = frozenset()
        for candidate in sorted(plan):
            if not self.feasible(chosen, candidate):
                return False
            chosen = chosen | {candidate}
        return True


@dataclasses.dataclass
class SearchResult:
    """The chosen plan, the path that led to it and every evaluated move.

    Attributes
    ----------
    plan : tuple of int
        Chosen candidates in the order they were added (swaps replace in place).
    values : numpy.ndarray
        Per-replication objective of the chosen plan.
    base_values : numpy.ndarray
        Per-replication objective of the base plan (fixed stores only).
    steps : list of dict
        One per greedy addition or accepted swap: ``kind``, ``added``, ``removed``,
        ``plan``, the gain (``gain``, ``gain_low``, ``gain_high``) and the plan's values.
    moves : list of dict
        Every evaluated move: ``kind`` (``add`` or ``swap``), ``step``, ``candidate``,
        ``removed`` and its paired gain.
    stop_reason : str
    """

    plan: tuple[int, ...]
    values: np.ndarray
    base_values: np.ndarray
    steps: list[dict[str, Any]]
    moves: list[dict[str, Any]]
    stop_reason: str


def significant(gain: dict[str, float]) -> bool:
    """A gain is significantly positive: its interval's lower end is above 0 (one replication: its mean)."""
    if gain["n"] < 2 or math.isnan(gain["ci_low"]):
        return gain["mean"] > 0
    return gain["ci_low"] > 0


def _gain(new: np.ndarray, old: np.ndarray, confidence: float) -> dict[str, float]:
    return paired_interval(np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64), confidence)


def _move(kind: str, step: int, candidate: int, removed: int | None, gain: dict[str, float]) -> dict[str, Any]:
    return {
        "kind": kind,
        "step": step,
        "candidate": candidate,
        "removed": removed,
        "gain": gain["mean"],
        "gain_low": gain["ci_low"],
        "gain_high": gain["ci_high"],
    }


def greedy(problem: SearchProblem, evaluate: Evaluate) -> SearchResult:
    """Greedy addition from the base plan (see the module's description)."""
    plan: tuple[int, ...] = ()
    base_values = evaluate([frozenset()])[0]
    values = base_values
    steps: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    stop = "budget spent"
    while True:
        options = [j for j in problem.order if problem.feasible(frozenset(plan), j)]
        if not options:
            stop = "budget spent" if _budget_spent(problem, plan) else "no candidate fits the budget and constraints"
            break
        results = evaluate([frozenset(plan) | {j} for j in options])
        gains = [_gain(result, values, problem.confidence) for result in results]
        moves += [_move("add", len(plan) + 1, j, None, gain) for j, gain in zip(options, gains)]
        best = max(range(len(options)), key=lambda k: (gains[k]["mean"], -k))
        if not significant(gains[best]):
            stop = "the best gain is not significantly positive"
            break
        plan = (*plan, options[best])
        values = results[best]
        steps.append(_step("add", options[best], None, plan, gains[best], values))
    return SearchResult(plan, values, base_values, steps, moves, stop)


def _budget_spent(problem: SearchProblem, plan: Sequence[int]) -> bool:
    return problem.max_stores is not None and len(plan) >= problem.max_stores


def _step(
    kind: str, added: int, removed: int | None, plan: Sequence[int], gain: dict[str, float], values: np.ndarray
) -> dict[str, Any]:
    return {
        "kind": kind,
        "added": added,
        "removed": removed,
        "plan": tuple(plan),
        "gain": gain["mean"],
        "gain_low": gain["ci_low"],
        "gain_high": gain["ci_high"],
        "values": np.asarray(values, dtype=np.float64),
    }


def interchange(problem: SearchProblem, evaluate: Evaluate, result: SearchResult) -> SearchResult:
    """Swap refinement of a greedy result (see the module's description)."""
    plan, values = list(result.plan), result.values
    for _pass in range(problem.swap_passes):
        changed = False
        for position in range(len(plan)):
            out = plan[position]
            rest = frozenset(plan) - {out}
            alternatives = [j for j in problem.order if j not in plan and problem.feasible(rest, j)]
            alternatives = alternatives[: problem.swap_alternatives]
            if not alternatives:
                continue
            results = evaluate([rest | {j} for j in alternatives])
            gains = [_gain(new, values, problem.confidence) for new in results]
            step = len(result.steps) + 1
            result.moves += [_move("swap", step, j, out, gain) for j, gain in zip(alternatives, gains)]
            best = max(range(len(alternatives)), key=lambda k: (gains[k]["mean"], -k))
            if significant(gains[best]):
                plan[position] = alternatives[best]
                values = results[best]
                result.steps.append(_step("swap", alternatives[best], out, plan, gains[best], values))
                changed = True
        if not changed:
            break
    result.plan, result.values = tuple(plan), values
    return result


def optimise_plan(problem: SearchProblem, evaluate: Evaluate) -> SearchResult:
    """Greedy addition, then interchange refinement."""
    return interchange(problem, evaluate, greedy(problem, evaluate))

"""Designs of a sweep (grid, Latin hypercube, Sobol'/Saltelli, Morris) and the runs they give.

A :class:`Design` holds the points in parameter units (and in the unit hypercube for the
sampling designs); :func:`plan_tasks` gives every run with its deterministic id and seed.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.experiments.sweep.parsing import Parameter, Sweep
from simulator.model import replication_seeds


@dataclass(frozen=True)
class Design:
    """The design points of a sweep.

    Attributes
    ----------
    kind : str
        ``grid``, ``lhs``, ``sobol`` or ``morris``.
    points : pandas.DataFrame
        One row per point (index = point number), one column per parameter key, in
        parameter units (integers rounded).
    unit : numpy.ndarray or None
        The sampling designs' points in the unit hypercube, shape (points, parameters),
        before the quantile transform (what SALib's analyses take).
    """

    kind: str
    points: pd.DataFrame
    unit: np.ndarray | None

    @property
    def size(self) -> int:
        return len(self.points)


def unit_problem(parameters: Sequence[Parameter]) -> dict[str, Any]:
    return {"num_vars": len(parameters), "names": [p.key for p in parameters], "bounds": [[0.0, 1.0]] * len(parameters)}


def build_design(sweep: Sweep) -> Design:
    """The design points of ``sweep``.

    grid: the Cartesian product of the parameters' values (the last parameter varies
    fastest). lhs: ``scipy.stats.qmc.LatinHypercube``. sobol: ``SALib.sample.sobol``
    (Saltelli's scheme on a scrambled Sobol' sequence). morris: ``SALib.sample.morris``.
    Sampling designs draw in [0, 1]^D with the design seed and map each column through
    the parameter's quantile function (:meth:`Parameter.from_unit`).
    """
    parameters = sweep.parameters
    design = sweep.spec.design
    columns = [p.key for p in parameters]
    if design.kind == "grid":
        rows = list(itertools.product(*(p.grid for p in parameters)))
        return Design("grid", pd.DataFrame(rows, columns=columns), None)
    if design.samples is None:
        raise ValueError(f"a {design.kind} design needs samples")
    samples = int(design.samples)
    problem = unit_problem(parameters)
    seed = sweep.design_seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if design.kind == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(len(parameters), rng=np.random.Generator(np.random.PCG64(seed))).random(samples)
        elif design.kind == "sobol":
            from SALib.sample import sobol as sobol_sample

            unit = sobol_sample.sample(problem, samples, calc_second_order=bool(design.second_order), seed=seed)
        else:
            from SALib.sample import morris as morris_sample

            unit = morris_sample.sample(problem, samples, num_levels=design.levels or 4, seed=seed)
    unit = np.asarray(unit, dtype=np.float64)
    points = pd.DataFrame({p.key: p.from_unit(unit[:, j]) for j, p in enumerate(parameters)}, columns=columns)
    return Design(design.kind, points, unit)


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: a design point, a replication and its seed.

    ``values`` maps each parameter key to its value at the point.
    """

    run_id: str
    point: int
    replication: int
    seed: int
    values: Mapping[str, Any]


def run_id(point: int, replication: int) -> str:
    """Deterministic run id ``p<point, 5 digits>-r<replication, 3 digits>`` (resume finds runs by it)."""
    return f"p{point:05d}-r{replication:03d}"


def _plain_value(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def plan_tasks(sweep: Sweep, design: Design) -> list[RunTask]:
    """Every run of the sweep, ordered by point then replication.

    Replication ``r`` of every point uses ``replication_seeds(root_seed, R)[r]``
    (common random numbers across points).
    """
    seeds = replication_seeds(sweep.root_seed, sweep.replications)
    records = design.points.to_dict("records")
    return [
        RunTask(
            run_id(point, replication),
            point,
            replication,
            int(seed),
            {str(k): _plain_value(v) for k, v in values.items()},
        )
        for point, values in enumerate(records)
        for replication, seed in enumerate(seeds)
    ]

"""Experiments: a scenario's replications, comparisons of plans, parameter sweeps, and the
executors (serial, local processes, Dask) they run on.

Modules: :mod:`.options` (the command line's changes to a scenario, :class:`RunOptions`),
:mod:`.run` (a scenario's replications), :mod:`.compare` (plans under common random numbers),
:mod:`.sweep` (parameter sweeps and sensitivity), :mod:`.executors` (where tasks run) and
:mod:`.cache` (what a worker process keeps between tasks).

The functions ``run`` and ``compare`` are not re-exported here (their names are those of
the modules): import them from :mod:`simulator.experiments.run` and
:mod:`simulator.experiments.compare`, or use the public API of :mod:`simulator`.

May import: ``simulator.model``, ``simulator.city``, ``simulator.config`` and the storage
layer ``simulator.results``; never ``simulator.reports`` or the CLI.
"""

from __future__ import annotations

from simulator.experiments.compare import (
    HEADLINE_KPIS,
    RUNS_DIR,
    ComparisonResult,
    ComparisonSpec,
    comparison_from_files,
    default_comparison_dir,
    load_comparison,
    write_comparison_tables,
)
from simulator.experiments.executors import ExecutorSpec, default_workers
from simulator.experiments.options import RunOptions, prepare_scenario, resolve_consumers
from simulator.experiments.run import ReplicationOutcome
from simulator.experiments.sweep import (
    KPI_LABELS,
    Sweep,
    SweepResult,
    load_sweep,
    run_sweep,
    run_sweep_file,
    sweep_from_file,
)

__all__ = [
    "HEADLINE_KPIS",
    "KPI_LABELS",
    "RUNS_DIR",
    "ComparisonResult",
    "ComparisonSpec",
    "ExecutorSpec",
    "ReplicationOutcome",
    "RunOptions",
    "Sweep",
    "SweepResult",
    "comparison_from_files",
    "default_comparison_dir",
    "default_workers",
    "load_comparison",
    "load_sweep",
    "prepare_scenario",
    "resolve_consumers",
    "run_sweep",
    "run_sweep_file",
    "sweep_from_file",
    "write_comparison_tables",
]

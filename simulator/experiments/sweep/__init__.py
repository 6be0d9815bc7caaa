"""Batch parameter sweeps: sweep files, designs, the run loop with resume, summary, sensitivity.

A sweep is many runs over a *design* of parameter values. The sweep file (TOML) names a
base scenario, the parameters to vary by dotted key path, the design (full ``grid``,
Latin hypercube ``lhs``, ``sobol`` with Saltelli's sampling, ``morris`` elementary
effects), the replications per design point and the KPIs to keep; see
``docs/sweeps.md``.

The engine is generic: :func:`run_sweep` takes an evaluation function
``evaluate(task: RunTask) -> {kpi: value}``. For a simulator sweep it is a
:class:`ScenarioEvaluator` (the base scenario with the point's values applied by
:func:`simulator.config.scenario.apply_overrides`, simulated for one seed); a test can pass any
picklable function (e.g. the Ishigami function) and goes through the same design,
execution, resume, summary and sensitivity code.

Sweep folder::

    sweep.json            the canonical sweep, base scenario and its hash, design points,
                          seeds and run ids; written first, checked on every restart
    runs/<run_id>.json        one file per finished run (atomic), run_id = p<point>-r<rep>
    runs/<run_id>.error.json  one file per failed run (retried on restart)
    summary.parquet       one row per run: point, replication, run_id, seed, parameters,
                          KPIs, status, error
    sensitivity.parquet   sensitivity indices per KPI and parameter with confidence intervals
    metadata.json         package versions, executor, timings, counts, analysis notes
    figures/*.png, report.html   drawn afterwards by simulator.reports.sweep_report

Seeds: replication ``r`` of every point runs with ``replication_seeds(root_seed, R)[r]``
(common random numbers across points), which is also the seed of replication ``r`` of
``footprint run --seed <root_seed> --replications R`` of that point's scenario.

Modules: :mod:`.spec` (the sweep file's schema), :mod:`.checks` and :mod:`.parsing` (from a
file to a :class:`Sweep`), :mod:`.design` (designs and runs), :mod:`.evaluation` (a run of
the simulator), :mod:`.folder` (the sweep folder, resume, summary), :mod:`.execution`
(:func:`run_sweep`), :mod:`.sensitivity` (the indices).
"""

from __future__ import annotations

from simulator.experiments.sweep.design import Design, RunTask, build_design, plan_tasks, run_id
from simulator.experiments.sweep.evaluation import ScenarioEvaluator, scenario_kpis
from simulator.experiments.sweep.execution import Evaluation, ProgressCallback, SweepResult, run_sweep, run_sweep_file
from simulator.experiments.sweep.folder import build_manifest, read_summary
from simulator.experiments.sweep.parsing import Parameter, Sweep, load_sweep, parse_sweep, sweep_from_file
from simulator.experiments.sweep.sensitivity import SENSITIVITY_COLUMNS, analyse_sensitivity, rbd_fast_harmonics
from simulator.experiments.sweep.spec import (
    AVAILABLE_KPIS,
    DEFAULT_KPIS,
    DESIGNS,
    KPI_LABELS,
    METADATA_FILE,
    REPORT_FILE,
    RUNS_DIR,
    SENSITIVITY_FILE,
    SUMMARY_FILE,
    SWEEP_FILE,
    SweepSpec,
)

__all__ = [
    "AVAILABLE_KPIS",
    "DEFAULT_KPIS",
    "DESIGNS",
    "KPI_LABELS",
    "METADATA_FILE",
    "REPORT_FILE",
    "RUNS_DIR",
    "SENSITIVITY_COLUMNS",
    "SENSITIVITY_FILE",
    "SUMMARY_FILE",
    "SWEEP_FILE",
    "Design",
    "Evaluation",
    "Parameter",
    "ProgressCallback",
    "RunTask",
    "ScenarioEvaluator",
    "Sweep",
    "SweepResult",
    "SweepSpec",
    "analyse_sensitivity",
    "build_design",
    "build_manifest",
    "load_sweep",
    "parse_sweep",
    "plan_tasks",
    "rbd_fast_harmonics",
    "read_summary",
    "run_id",
    "run_sweep",
    "run_sweep_file",
    "scenario_kpis",
    "sweep_from_file",
]

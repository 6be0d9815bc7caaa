"""Calibration: fit a scenario's uncertain parameters to observed figures, with honest uncertainty.

A calibration file (TOML) names a base scenario, the parameters to calibrate by dotted key
path with their priors (as a sweep's parameters), a file of observed targets (a KPI over a
period, for the city, a store or a district, with its standard error) and the method's
budget. :func:`run_calibration` runs waves of simulations on any executor, journaling
each as it finishes, fits Gaussian-process emulators, rules out implausible parameters
between waves (history matching) and samples the posterior by MCMC on the emulators; see
``docs/calibration.md``.

Calibration folder::

    calibration.json          what determines the simulations, and its fingerprint
    simulations/<sim_id>.json one file per finished simulation (sim_id = g<generation>-p<point>-r<rep>)
    simulations.parquet       every simulation: parameters, seed, target values
    posterior.parquet         the posterior sample (one column per parameter) and its log density
    intervals.parquet         per parameter: prior, posterior mean, median, sd, 90 % and 95 % intervals
    fit.parquet               per target: observed, simulated at posterior draws, emulated
    calibrated.toml           the base scenario with the posterior medians (``footprint run`` reads it)
    metadata.json             versions, executor, timings, notes
    figures/*.png, report.html, summary.xlsx   drawn by simulator.reports.calibrate_report

Modules: :mod:`.spec` (the file's schema), :mod:`.targets` (observed data), :mod:`.parsing`,
:mod:`.method` (emulators, history matching, MCMC), :mod:`.folder` (journal, TOML),
:mod:`.tables`, :mod:`.execution`.
"""

from __future__ import annotations

from simulator.experiments.calibrate.execution import (
    CalibrationEvaluator,
    CalibrationResult,
    run_calibration,
    run_calibration_file,
)
from simulator.experiments.calibrate.folder import write_scenario_toml
from simulator.experiments.calibrate.parsing import Calibration, calibration_from_file, parse_calibration
from simulator.experiments.calibrate.spec import (
    CALIBRATED_SCENARIO_FILE,
    CALIBRATION_FILE,
    REPORT_FILE,
    SUMMARY_WORKBOOK,
    CalibrationSpec,
    calibration_json_schema,
)
from simulator.experiments.calibrate.targets import Target, period_days

__all__ = [
    "CALIBRATED_SCENARIO_FILE",
    "CALIBRATION_FILE",
    "REPORT_FILE",
    "SUMMARY_WORKBOOK",
    "Calibration",
    "CalibrationEvaluator",
    "CalibrationResult",
    "CalibrationSpec",
    "Target",
    "calibration_from_file",
    "calibration_json_schema",
    "parse_calibration",
    "period_days",
    "run_calibration",
    "run_calibration_file",
    "write_scenario_toml",
]

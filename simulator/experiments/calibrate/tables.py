"""The calibration folder's tables: posterior sample, intervals, fit, simulations; the calibrated scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.config import Scenario, apply_overrides
from simulator.experiments.calibrate.method import Emulator, Observation
from simulator.experiments.calibrate.parsing import Calibration
from simulator.experiments.calibrate.spec import FIT_FILE, INTERVALS_FILE, POSTERIOR_FILE, SIMULATIONS_TABLE
from simulator.results import write_parquet

Z90 = 1.6448536269514722
"""Standard normal 95 % quantile: a central 90 % band is mean ± Z90 sd."""


def _prior_text(parameter: Any) -> str:
    if parameter.distribution == "normal":
        return f"normal(mean {parameter.mean:g}, sd {parameter.sd:g})"
    return f"{parameter.distribution}({parameter.low:g}, {parameter.high:g})"


def _intervals(calibration: Calibration, chain: np.ndarray, posterior: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: prior, posterior mean, median, sd and 90 % / 95 % intervals (quantiles mapped from the cube)."""
    rows = []
    levels = np.array([0.025, 0.05, 0.5, 0.95, 0.975])
    for d, parameter in enumerate(calibration.parameters):
        q025, q05, median, q95, q975 = parameter.from_unit(np.quantile(chain[:, d], levels))
        prior_q05, prior_q95 = parameter.from_unit(np.array([0.05, 0.95]))
        values = posterior[parameter.key].to_numpy(dtype=np.float64)
        width = prior_q95 - prior_q05
        rows.append(
            {
                "parameter": parameter.key,
                "label": parameter.label,
                "prior": _prior_text(parameter),
                "prior_q05": float(prior_q05),
                "prior_q95": float(prior_q95),
                "mean": float(values.mean()),
                "median": float(median),
                "sd": float(values.std(ddof=1)),
                "q05": float(q05),
                "q95": float(q95),
                "q025": float(q025),
                "q975": float(q975),
                "width_ratio": float((q95 - q05) / width) if width > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _back(values: np.ndarray, log: bool) -> np.ndarray:
    return np.expm1(values) if log else values


def _fit_table(
    calibration: Calibration, emulator: Emulator, observation: Observation, median_unit: np.ndarray, checks: np.ndarray
) -> pd.DataFrame:
    """Observed against simulated (checks at posterior draws) and emulated (at the calibrated point) per target."""
    targets = calibration.targets
    mean, variance = emulator.predict(median_unit[None, :])
    spread = np.sqrt(observation.total_variance(emulator, variance) - observation.s**2)[0]
    rows = []
    for j, target in enumerate(targets):
        column = checks[:, j] if checks.size else np.array([np.nan])
        rows.append(
            {
                "target": target.label,
                "kpi": target.kpi,
                "period": target.period,
                "store_id": target.store_id,
                "district": target.zone_id,
                "observed": target.value,
                "se": target.se,
                "simulated_median": float(np.median(column)),
                "simulated_q05": float(np.quantile(column, 0.05)),
                "simulated_q95": float(np.quantile(column, 0.95)),
                "emulated": float(_back(mean[0, j], target.log)),
                "emulated_q05": float(_back(mean[0, j] - Z90 * spread[j], target.log)),
                "emulated_q95": float(_back(mean[0, j] + Z90 * spread[j], target.log)),
            }
        )
    return pd.DataFrame(rows)


def calibration_tables(
    calibration: Calibration,
    emulator: Emulator,
    observation: Observation,
    chain: np.ndarray,
    log_density: np.ndarray,
    checks: np.ndarray,
    simulations: pd.DataFrame,
    notes: list[str],
) -> tuple[dict[str, pd.DataFrame], Scenario]:
    """The tables (``posterior``, ``intervals``, ``fit``, ``simulations``) and the calibrated scenario.

    The calibrated scenario is the base with every parameter at its posterior median
    (the median of the marginal posterior: a quantile, so it maps exactly through the
    prior's quantile function; integers are rounded).
    """
    posterior = pd.DataFrame({p.key: p.from_unit(chain[:, d]) for d, p in enumerate(calibration.parameters)})
    posterior["log_density"] = log_density
    intervals = _intervals(calibration, chain, posterior)
    median_unit = np.median(chain, axis=0)
    changes = {}
    for d, parameter in enumerate(calibration.parameters):
        value = parameter.from_unit(median_unit[d : d + 1])[0]
        changes.update(dict.fromkeys(parameter.targets, value))
    calibrated = apply_overrides(calibration.base, changes, source_name=f"{calibration.source_name}: calibrated")
    calibrated = apply_overrides(
        calibrated,
        {"name": f"{calibration.base.name}-calibrated", "replications": 1},
        source_name=f"{calibration.source_name}: calibrated",
    )
    fit = _fit_table(calibration, emulator, observation, median_unit, checks)
    return {"posterior": posterior, "intervals": intervals, "fit": fit, "simulations": simulations}, calibrated


def write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write the tables as Parquet files (atomically)."""
    names = {
        "posterior": POSTERIOR_FILE,
        "intervals": INTERVALS_FILE,
        "fit": FIT_FILE,
        "simulations": SIMULATIONS_TABLE,
    }
    for key, name in names.items():
        write_parquet(tables[key], folder / name)

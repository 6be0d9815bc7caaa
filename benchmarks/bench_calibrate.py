"""Wall time of a calibration: 4 parameters, 200 simulations of 100,000 consumers x 365 days, 2 processes.

Target (issue 15): at most 15 minutes on 2 local processes.

    python benchmarks/bench_calibrate.py [--jobs 2] [--simulations 200] [--consumers 100000] [--out FOLDER]

Runs ``scenarios/calibrate_beijing.toml`` (the illustration: booking rate, in-market rate,
trust intercept, pent-up share; 365 days) with :func:`simulator.experiments.calibrate.run_calibration`
on ``--jobs`` local worker processes into a fresh folder, then draws its report. Prints the
wall time, the CPU time of this process and its workers (user + sys) and the load average
before and after: on the shared 2-core machine, wall time under load is several times the
CPU time divided by the workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

TARGET_MINUTES = 15.0


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--consumers", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None, help="Calibration folder (default: a temporary one).")
    args = parser.parse_args()

    from simulator.experiments import ExecutorSpec, RunOptions
    from simulator.experiments.calibrate import calibration_from_file, run_calibration
    from simulator.reports.calibrate_report import write_calibration_outputs

    path = PROJECT / "scenarios" / "calibrate_beijing.toml"
    calibration = calibration_from_file(path, RunOptions(consumers=args.consumers))
    if args.simulations != calibration.spec.method.simulations:
        method = calibration.spec.method.model_copy(update={"simulations": args.simulations})
        calibration = dataclasses.replace(calibration, spec=calibration.spec.model_copy(update={"method": method}))
    load_before = os.getloadavg()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-calibrate-")) / "calibration"
    started, cpu = time.perf_counter(), _cpu_seconds()
    result = run_calibration(calibration, out, spec=ExecutorSpec(kind="processes", workers=args.jobs))
    write_calibration_outputs(result)
    wall = time.perf_counter() - started
    report = {
        "simulations": result.simulations_total,
        "simulations_executed": result.simulations_executed,
        "consumers": args.consumers,
        "days": calibration.base.horizon.days,
        "parameters": len(calibration.parameters),
        "jobs": args.jobs,
        "wall_minutes": round(wall / 60, 2),
        "cpu_minutes": round((_cpu_seconds() - cpu) / 60, 2),
        "target_minutes": TARGET_MINUTES,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "folder": str(out),
        "intervals": result.tables["intervals"][["parameter", "median", "q05", "q95"]].to_dict("records"),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

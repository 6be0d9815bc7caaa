"""Wall time of ``footprint optimise`` on the Beijing benchmark (issue 16): target at most 20 minutes.

Beijing, the launch network fixed, 34 malls and the 50 busiest stations as candidates,
K = 8 new stores, 100,000 consumers x 365 days, 4 replications, on 2 local processes:
``scenarios/optimise_beijing.toml`` as it is.

    python benchmarks/bench_optimise.py [--jobs 2] [--out DIR] [--consumers N] [--days D]

Prints the wall and CPU time (this process and its workers), the simulations run, the
chosen sites and the load average before and after; the machine is shared, so wall time
under load is longer than on an idle machine. The folder (default: a temporary one) is
removed afterwards unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

TARGET_SECONDS = 20 * 60


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    from simulator.experiments import ExecutorSpec, RunOptions
    from simulator.experiments.optimise import load_optimisation, run_optimisation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--consumers", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    arguments = parser.parse_args()
    load_before = os.getloadavg()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    optimisation = load_optimisation(
        PROJECT / "scenarios" / "optimise_beijing.toml", RunOptions(consumers=arguments.consumers, days=arguments.days)
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = arguments.out if arguments.out is not None else Path(scratch) / "optimise_beijing"
        result = run_optimisation(optimisation, out, spec=ExecutorSpec.from_options(jobs=arguments.jobs))
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    timings = result.metadata["timings"]
    print(
        f"candidates {len(optimisation.candidates)}, shortlist {len(result.metadata['shortlist'])}, K = {optimisation.store_budget}"
    )
    print(
        f"consumers {optimisation.base.population.consumers:,} x {optimisation.base.horizon.days} days, {optimisation.replications} replications, {result.metadata['executor']}"
    )
    print(f"simulations executed {timings['simulations_executed']}, reused {timings['simulations_reused']}")
    print(f"chosen ({len(result.chosen)}): {', '.join(result.chosen)}; stop: {result.metadata['stop_reason']}")
    gain = result.metadata["gain_over_base"]
    print(f"gain over the base plan: {gain['mean']:,.0f} [{gain['ci_low']:,.0f}, {gain['ci_high']:,.0f}]")
    print(
        f"wall {wall:.0f} s ({wall / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min: {'met' if wall <= TARGET_SECONDS else 'missed'}), CPU {cpu:.0f} s"
    )
    print(
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()

"""Time per sweep run after the first on one worker.

A sweep that varies behaviour or levers reuses, run after run, the replication's
population and the plan's exposure (:mod:`simulator.experiments.cache`); what is left per
run is the model's set-up, its days and the KPIs. Target: at most 30 ms per run at 5,000
consumers x 60 days.

    python benchmarks/bench_sweep.py [--consumers 5000] [--days 60] [--points 30] [--repeats 3]
    python benchmarks/bench_sweep.py --profile      # cProfile of the timed runs, by own time

The sweep is the Beijing launch with a grid over ``behaviour.hill_k`` and
``behaviour.adstock_half_life_days`` (``--points`` runs, one replication), run with
:func:`simulator.experiments.sweep.run_sweep` in this process on one thread (what one
worker of ``--jobs`` does). The first sweep (city, numba's compiled code) is timed apart.
Then ``--repeats`` sweeps, each into a fresh folder: every run is timed on its own (wall
and CPU time of the evaluation, :class:`TimedEvaluator`), and the first run of each sweep,
which builds the population and the exposure (a sweep empties the caches when it ends),
is reported apart from the others; the figures are medians. *Sweep CPU per run* is the
whole sweep's CPU time (writing run records, the summary) over its runs. The load
average is printed: on the shared 2-core machine, wall time under load is several times
the CPU time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

TARGET_MS = 30.0


def sweep_data(consumers: int, days: int, points: int) -> dict:
    hill = [2.0 + 0.25 * k for k in range(max(1, points // 5))]
    half_life = [14, 21, 28, 42, 56]
    return {
        "name": "bench_sweep",
        "scenario": "beijing_launch.toml",
        "replications": 1,
        "kpis": ["test_drives_scaled", "purchases_scaled", "share_familiar", "mean_store_utilisation"],
        "overrides": {"population.consumers": consumers, "horizon.days": days},
        "parameters": [
            {"key": "behaviour.hill_k", "values": hill},
            {"key": "behaviour.adstock_half_life_days", "values": half_life},
        ],
        "design": {"kind": "grid"},
    }


class TimedEvaluator:
    """The sweep's own evaluation, each call timed (wall and CPU seconds, in call order)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def __call__(self, task):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return self.inner(task)
        finally:
            self.walls.append(time.perf_counter() - wall)
            self.cpus.append(time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--points", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed runs")
    args = parser.parse_args()

    import numba

    numba.set_num_threads(1)
    from simulator.experiments.sweep import parse_sweep, run_sweep
    from simulator.experiments.sweep.execution import _scenario_evaluator

    print(f"load average at start: {os.getloadavg()}")
    sweep = parse_sweep(
        sweep_data(args.consumers, args.days, args.points), "bench_sweep.toml", base_dir=PROJECT / "scenarios"
    )
    first = dict(sweep_data(args.consumers, args.days, args.points), name="bench_first")
    first["parameters"] = [{"key": "behaviour.hill_k", "values": [1.5]}]
    first_sweep = parse_sweep(first, "bench_first.toml", base_dir=PROJECT / "scenarios")
    walls, cpus, first_walls, first_cpus, sweep_cpus = [], [], [], [], []
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as temporary:
        started = time.perf_counter()
        run_sweep(first_sweep, Path(temporary) / "first")
        first_seconds = time.perf_counter() - started
        for repeat in range(args.repeats):
            timed = TimedEvaluator(_scenario_evaluator(sweep))
            cpu = time.process_time()
            if profile is not None:
                profile.enable()
            result = run_sweep(sweep, Path(temporary) / f"timed-{repeat}", evaluate=timed)
            if profile is not None:
                profile.disable()
            runs = result.runs_executed
            sweep_cpus.append(1000.0 * (time.process_time() - cpu) / runs)
            first_walls.append(1000.0 * timed.walls[0])
            first_cpus.append(1000.0 * timed.cpus[0])
            walls += [1000.0 * w for w in timed.walls[1:]]
            cpus += [1000.0 * c for c in timed.cpus[1:]]
    wall_ms, cpu_ms = statistics.median(walls), statistics.median(cpus)
    print(f"{args.consumers:,} consumers x {args.days} days, {runs} runs per sweep, {args.repeats} sweeps")
    print(f"first sweep's run (city, compiled code, population, exposure): {first_seconds:.2f} s")
    print(
        f"first run of each timed sweep (population, exposure): wall {statistics.median(first_walls):.0f} ms, "
        f"CPU {statistics.median(first_cpus):.0f} ms"
    )
    print(f"per run after the first (median of {len(walls)} runs): wall {wall_ms:.1f} ms, CPU {cpu_ms:.1f} ms")
    print(f"sweep CPU per run (everything, first run included): {statistics.median(sweep_cpus):.1f} ms")
    verdict = "PASS" if wall_ms <= TARGET_MS else "MISS"
    print(f"target <= {TARGET_MS:.0f} ms per run (wall): {verdict}; CPU: {'PASS' if cpu_ms <= TARGET_MS else 'MISS'}")
    print(f"load average at end: {os.getloadavg()}")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()

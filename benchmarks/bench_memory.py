"""Peak memory of a comparison against the number of its runs.

A comparison of many runs should need about the memory of one run: finished models are
released (Mesa keeps every model alive in ``Agent._ids``, mesa#3179; see
``FootprintModel.release``), a replication's population and a plan's exposure are built
once and shared from bounded caches, and inner runs keep tables only. Target: a 32-run
comparison's peak resident memory within 20 % of a single run's.

    python benchmarks/bench_memory.py [--consumers 50000] [--days 120] [--replications 8]

Each case runs in a fresh process, which reports its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after importing, after loading the city
and at the end:

* ``run``: ``simulator.run`` of the comparison's baseline plan, one replication;
* ``compare 2``: the comparison's first two plans, one replication (2 runs);
* ``compare N``: every plan of the comparison, ``--replications`` each (4 plans x 8 = 32
  runs for ``scenarios/compare_beijing.toml``).

With ``--write`` each case also writes its folder (tables, figures, report), as the
command line does. Runs are serial in the one process (``--jobs`` would add worker
processes, each with its own memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.2

CHILD = r"""
import json, resource, sys, time

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

case, comparison, consumers, days, replications, out = sys.argv[1:7]
consumers, days, replications = int(consumers), int(days), int(replications)
started = time.perf_counter()
import numba
numba.set_num_threads(1)
from simulator.city import load_city
from simulator.experiments import load_comparison
from simulator.experiments.compare import compare
from simulator.experiments.run import run
report = {"imported_mb": peak_mb()}
spec = load_comparison(comparison, consumers=consumers, days=days, replications=replications)
city = load_city(spec.baseline.scenario.resolved_bundle)
report["city_mb"] = peak_mb()
write = out != "-"
if case == "run":
    result = run(spec.baseline.scenario, replications=1, city=city)
    runs = 1
    if write:
        from simulator.reports.publish import write_run
        write_run(result, out)
else:
    import dataclasses
    if case == "compare-2":
        spec = load_comparison(comparison, consumers=consumers, days=days, replications=1)
        spec = dataclasses.replace(spec, plans=spec.plans[:2])
    result = compare(spec, city=city)
    runs = len(spec.plans) * spec.replications
    if write:
        from simulator.reports.compare_report import write_comparison
        write_comparison(result, out)
report.update(case=case, runs=runs, peak_mb=peak_mb(), seconds=time.perf_counter() - started)
print(json.dumps(report))
"""


def measure(case: str, args: argparse.Namespace, folder: Path) -> dict:
    out = str(folder / case) if args.write else "-"
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    command = [sys.executable, "-c", CHILD, case, args.comparison, str(args.consumers), str(args.days)]
    command += [str(args.replications), out]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, env=environment, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{case}: failed\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparison", default="scenarios/compare_beijing.toml")
    parser.add_argument("--consumers", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--write", action="store_true", help="also write each folder (figures and report included)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as temporary:
        rows = [measure(case, args, Path(temporary)) for case in ("run", "compare-2", "compare-all")]
    print(f"{'case':<12} {'runs':>5} {'imported MB':>12} {'city MB':>9} {'peak MB':>9} {'seconds':>8}")
    for row in rows:
        print(
            f"{row['case']:<12} {row['runs']:>5} {row['imported_mb']:>12.0f} {row['city_mb']:>9.0f} "
            f"{row['peak_mb']:>9.0f} {row['seconds']:>8.1f}"
        )
    single, many = rows[0], rows[-1]
    ratio = many["peak_mb"] / single["peak_mb"]
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"peak of {many['runs']} runs / peak of 1 run: {ratio:.3f} (target <= {TARGET_RATIO}): {verdict}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

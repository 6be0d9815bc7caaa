"""Time writing a run folder from a finished run: the writing stage of `footprint run` alone.

    footprint run scenarios/beijing_launch.toml --out /tmp/default-run    # once
    python benchmarks/bench_writing.py /tmp/default-run [--repeats 3] [--workers N]

Each repetition reads the run folder's tables in a fresh process (so matplotlib's import
and first-draw caches are counted, as a user would see them), then times what
`footprint run` does after the simulation: the zone and cell frames and
``write_run`` (tables, GeoPackage, figures drawn in worker processes, report). Printed:
the median wall time and CPU time (the process and its figure workers) over the
repetitions, and the load average. The target (issue 12) is at most 1.5 s wall at the
default 400,000 consumers; on a shared machine only the CPU time means much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.5

CHILD = r"""
import json, os, sys, time
from simulator.city import cell_frame, load_city, zone_frame
from simulator.reports.publish import write_run
from simulator.results.daily_noise import add_daily_se
from simulator.results.run_folder import read_run

result = read_run(sys.argv[1])
if "purchases_se" not in result.daily.columns:  # a folder written before the daily SEs
    result.daily = add_daily_se(result.daily, int(result.metadata["consumers"]), result.consumer_weight)
city = load_city(result.metadata.get("city") or "beijing")
workers = None if sys.argv[3] == "auto" else int(sys.argv[3])

def cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

wall, used = time.perf_counter(), cpu()
write_run(result, sys.argv[2], zone_frame=zone_frame(city), cell_frame=cell_frame(city), figure_workers=workers)
print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": cpu() - used, "load": os.getloadavg()[0]}))
"""


def one(run_folder: Path, workers: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        output = subprocess.run(
            [sys.executable, "-c", CHILD, str(run_folder), str(Path(folder) / "run"), workers],
            check=True,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="auto", help="figure worker processes (default: by load)")
    options = parser.parse_args(argv)
    runs = []
    for repeat in range(options.repeats):
        runs.append(one(options.run_folder, options.workers))
        print(f"{repeat + 1}/{options.repeats}: {json.dumps(runs[-1])}")
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    loads = [r["load"] for r in runs]
    print(
        f"writing the run folder: wall {wall:.2f} s, CPU {cpu:.2f} s (medians of {len(runs)}; load average "
        f"{min(loads):.1f}-{max(loads):.1f}); target wall <= {TARGET_SECONDS} s: "
        f"{'met' if wall <= TARGET_SECONDS else 'MISSED'}; {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End-to-end benchmark of `footprint run` on the Beijing default.

Times what a user waits for: loading the city, building the population and the exposure
rates, the daily dynamics, and writing the run folder (tables, GeoPackage, figures,
report), at 100,000 consumers for 365 days by default. Target: under 60 s in all.

    python benchmarks/bench_run.py [--consumers 100000] [--days 365] [--repeats 3]

Each repetition runs in a fresh process (so imports and numba's cached compilation are
counted as a user would see them on a second run); the table shows the median of each
stage and the machine's load average.
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

from rich.console import Console
from rich.table import Table

PROJECT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0

CHILD = r"""
import json, sys, time
started = time.perf_counter()
from simulator.city import cell_frame, load_city, zone_frame
from simulator.experiments.run import run
from simulator.reports.publish import write_run
imported = time.perf_counter()
consumers, days, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
city = load_city("beijing")
result = run(sys.argv[4], consumers=consumers, days=days, city=city)
simulated = time.perf_counter()
write_run(result, out, zone_frame=zone_frame(city), cell_frame=cell_frame(city))
written = time.perf_counter()
timings = result.metadata["timings"]
print(json.dumps({
    "import_s": imported - started,
    "build_s": timings["build_s"],
    "dynamics_s": timings["dynamics_s"],
    "write_s": written - simulated,
    "total_s": written - started,
}))
"""


def one_run(consumers: int, days: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        output = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                str(consumers),
                str(days),
                str(Path(folder) / "run"),
                str(PROJECT / "scenarios" / "beijing_launch.toml"),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args(argv)
    console = Console()
    one_run(1000, 5)  # warm numba's on-disk cache so that compilation is not timed
    runs = []
    for repeat in range(options.repeats):
        runs.append(one_run(options.consumers, options.days))
        console.print(f"run {repeat + 1}/{options.repeats}: {runs[-1]['total_s']:.1f} s")
    table = Table(
        title=f"footprint run, Beijing default, {options.consumers:,} consumers x {options.days} days "
        f"(median of {options.repeats}; load average {os.getloadavg()[0]:.2f})"
    )
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    labels = {
        "import_s": "imports",
        "build_s": "population + exposure build",
        "dynamics_s": "daily dynamics",
        "write_s": "tables, GeoPackage, figures, report",
        "total_s": "total (incl. city loading)",
    }
    for key, label in labels.items():
        table.add_row(label, f"{statistics.median(r[key] for r in runs):.2f}")
    console.print(table)
    total = statistics.median(r["total_s"] for r in runs)
    rate = options.consumers * options.days / statistics.median(r["dynamics_s"] for r in runs) / 1e6
    console.print(
        f"dynamics: {rate:.1f} million consumer-days per second; "
        f"target total < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""End-to-end benchmark of `footprint run` on the Beijing default.

Times what a user waits for: loading the city, building the population and the exposure
rates, the daily dynamics, and writing the run folder (tables, GeoPackage, figures,
report), at the scenario's own size (400,000 consumers) for 365 days by default. Targets:
under 60 s in all; writing outputs at most 1.5 s.

    python benchmarks/bench_run.py [--consumers N|all] [--days 365] [--repeats 3]

Each repetition runs in a fresh process (so imports and numba's cached compilation are
counted as a user would see them on a second run); the table shows the median of each
stage and the machine's load average. "Writing outputs" is everything after the
simulation: the zone and cell frames, then ``write_run`` (figures drawn in worker
processes while the Parquet tables and the GeoPackage are written, then the report).
Its parts are timed by wrapping the functions ``write_run`` calls; *writing CPU* is the
CPU time of the process and its figure workers over the same span, which other jobs on
the machine change less than the wall time.
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
TARGET_WRITE_SECONDS = 1.5

CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
from simulator.city import cell_frame, load_city, zone_frame
from simulator.experiments.run import run
from simulator.reports import figure_pool, publish
imported = time.perf_counter()
parts = {"tables_s": 0.0, "figures_wait_s": 0.0, "report_s": 0.0}

def timed(function, key):
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            parts[key] += time.perf_counter() - begin
    return wrapper

publish.write_run_tables = timed(publish.write_run_tables, "tables_s")
publish.write_report_html = timed(publish.write_report_html, "report_s")
figure_pool.FigureRendering.wait = timed(figure_pool.FigureRendering.wait, "figures_wait_s")

def cpu():
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system

consumers = None if sys.argv[1] == "default" else sys.argv[1]
days, out = int(sys.argv[2]), sys.argv[3]
city = load_city("beijing")
result = run(sys.argv[4], consumers=consumers, days=days, city=city)
simulated, cpu_simulated = time.perf_counter(), cpu()
zones, cells = zone_frame(city), cell_frame(city)
framed = time.perf_counter()
publish.write_run(result, out, zone_frame=zones, cell_frame=cells)
written, cpu_written = time.perf_counter(), cpu()
timings = result.metadata["timings"]
print(json.dumps({
    "consumers": result.metadata.get("consumers"),
    "import_s": imported - started,
    "build_s": timings["build_s"],
    "dynamics_s": timings["dynamics_s"],
    "frames_s": framed - simulated,
    **parts,
    "write_s": written - simulated,
    "write_cpu_s": cpu_written - cpu_simulated,
    "total_s": written - started,
}))
"""


def one_run(consumers: str, days: int) -> dict[str, float]:
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
    parser.add_argument("--consumers", default="default", help="a count, 'all', or 'default' (the scenario's)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args(argv)
    console = Console()
    one_run("1000", 5)  # warm numba's on-disk cache so that compilation is not timed
    runs = []
    load_start = os.getloadavg()
    for repeat in range(options.repeats):
        runs.append(one_run(options.consumers, options.days))
        console.print(
            f"run {repeat + 1}/{options.repeats}: {runs[-1]['total_s']:.1f} s, writing outputs "
            f"{runs[-1]['write_s']:.2f} s (load {os.getloadavg()[0]:.2f})"
        )
    load_end = os.getloadavg()
    consumers = int(runs[0]["consumers"])
    table = Table(
        title=f"footprint run, Beijing default, {consumers:,} consumers x {options.days} days "
        f"(median of {options.repeats}; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end)"
    )
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    labels = {
        "import_s": "imports",
        "build_s": "population + exposure build",
        "dynamics_s": "daily dynamics",
        "write_s": "writing outputs",
        "frames_s": "  zone and cell frames",
        "tables_s": "  Parquet tables and GeoPackage (figures drawing meanwhile)",
        "figures_wait_s": "  waiting for the figures",
        "report_s": "  report.html",
        "write_cpu_s": "  writing outputs, CPU time (process and figure workers)",
        "total_s": "total (incl. city loading)",
    }
    for key, label in labels.items():
        table.add_row(label, f"{statistics.median(r[key] for r in runs):.2f}")
    console.print(table)
    total = statistics.median(r["total_s"] for r in runs)
    write = statistics.median(r["write_s"] for r in runs)
    rate = consumers * options.days / statistics.median(r["dynamics_s"] for r in runs) / 1e6
    console.print(
        f"dynamics: {rate:.1f} million consumer-days per second; "
        f"target total < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'MISSED'}; "
        f"writing outputs <= {TARGET_WRITE_SECONDS} s: {'met' if write <= TARGET_WRITE_SECONDS else 'MISSED'} "
        f"({write:.2f} s); {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

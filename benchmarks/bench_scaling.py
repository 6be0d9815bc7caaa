"""City-scale speed: build and daily dynamics from 10k to 2M consumers, against a per-agent Mesa model.

One command prints the whole table::

    python benchmarks/bench_scaling.py [--sizes 10000,100000,1000000,2000000] [--days 365]
                                       [--reference-consumers 2000] [--reference-days D] [--quick]
                                       [--large]

``--large`` adds 5M, 10M and every resident of the city (``all``: 21,893,095 in Beijing),
which take minutes each and up to several GB.

Each run of each size is a fresh subprocess (so that its peak resident memory,
``ru_maxrss``, is its own) on the scenario (default: the Beijing launch). In that subprocess:

* a tiny warm-up model runs a few days first, so that numba's compilation (or loading of
  its cache) is excluded from the timings and reported on its own;
* **build** = population synthesis (homes, workplaces, modes, contacts) + the production
  model's construction (store placement, routes and exposure rates, state arrays);
  the exposure part is read from the model's own diagnostics; loading the city is not
  included (it is reported once);
* **dynamics** = ``days`` calls of ``FootprintModel.step()``; throughput in consumer-days
  per second; the elapsed time is also read at a quarter, half and all of the horizon (days 91,
  182 and 365 of a year) for the growth in days;
* a breakdown of the day: the compiled consumer kernel, booking assignment, the stores'
  ``serve``, conversion, per-store rows, and the rest of ``step`` (Python bookkeeping);
* sizes up to 100k are repeated (``--repeats``, each repetition a new process with the next
  seed; medians reported, and the largest peak memory); ``--repeats-large`` above 100k;
* ``CPU/wall``: process CPU time over wall time during the dynamics, i.e. the cores the run
  actually had (1 on a machine whose other core is busy, about 2 when both are free).

Growth exponents are least-squares slopes of ``log(time)`` on ``log(consumers)`` (over all
sizes, and between the two largest; for the CPU time of build plus dynamics, the one with
the 1.05 target, over the sizes from 1M up, where fixed costs no longer flatter it) and on ``log(days)`` (checkpoints of the run at the size
closest to 1M). The per-agent reference (``benchmarks/reference_mesa.py``) runs in its own
subprocess at ``--reference-consumers`` for ``--reference-days`` days (default: the same
horizon, so that both simulate the same days of the plan); the speed-up column is each
size's consumer-days per second over the reference's, measured in the same invocation.

The table is printed with rich and written as JSON and Markdown to ``benchmarks/results/``
(git-ignored). The machine's load average is printed with it: the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
DEFAULT_SCENARIO = PROJECT / "scenarios" / "beijing_launch.toml"
RESULTS = HERE / "results"
CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)  # of the horizon: days 91, 182 and 365 of a year
ONE_MILLION = 1_000_000
TARGETS = {
    "dynamics_cd_per_s_1m": 25e6,
    "speedup_1m": 200.0,
    "build_s_1m": 60.0,
    "peak_rss_mb_1m": 1.5 * 1024,
    "exponent": 1.1,
    "exponent_cpu_large": 1.05,
}
LARGE_SIZES = ("5000000", "10000000", "all")
"""Sizes ``--large`` adds: 5M, 10M and every resident of the city (21,893,095 in Beijing)."""
LARGE_FROM = ONE_MILLION
"""The CPU-time exponent with the 1.05 target is fitted over the sizes from 1M up."""


# ----------------------------------------------------------------------------- workers
def _peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class _Timer:
    """Accumulates the wall time spent in wrapped callables, by name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed


def _instrument(model, timer: _Timer) -> None:
    """Time the parts of ``FootprintModel.step`` by wrapping the instance's methods (those that exist)."""
    for name in ("_run_kernel", "_assign_bookings", "_convert", "_record_stores", "_on_open_set_change"):
        if hasattr(model, name):
            setattr(model, name, timer.wrap(name.strip("_"), getattr(model, name)))
    for agent in getattr(model, "store_agents", []):
        if hasattr(agent, "serve"):
            agent.serve = timer.wrap("stores_serve", agent.serve)


def _load(scenario_path: str, consumers: int | str, days: int):
    """The scenario at ``consumers`` (a count, or ``"all"``: one per resident) and its city."""
    from simulator.city.bundle import load_city
    from simulator.experiments import RunOptions, prepare_scenario, resolve_consumers

    scenario = prepare_scenario(scenario_path, RunOptions(consumers=consumers, days=days))
    started = time.perf_counter()
    city = load_city(scenario.resolved_bundle)
    return resolve_consumers(scenario, city.population_total), city, time.perf_counter() - started


def worker_production(scenario_path: str, consumers: int | str, days: int, seed_offset: int, breakdown: bool) -> dict:
    """Time one build and one run of the production model at one size (in this process)."""
    import numba

    from simulator.experiments import RunOptions, prepare_scenario
    from simulator.model.footprint_model import FootprintModel
    from simulator.model.population import synthesize_population
    from simulator.model.rng import run_generators

    load_before = os.getloadavg()[0]
    scenario, city, city_s = _load(scenario_path, consumers, days)
    started = time.perf_counter()
    FootprintModel(prepare_scenario(scenario, RunOptions(consumers=1000, days=3)), city=city).run()
    warm_up_s = time.perf_counter() - started
    rss_after_warm_up = _peak_rss_mb()
    gc.collect()

    consumers = int(scenario.population.consumers)
    seed = scenario.seed + seed_offset
    started, build_cpu_started = time.perf_counter(), time.process_time()
    population = synthesize_population(city, scenario.population, run_generators(seed)[0])
    population_done, population_cpu_s = time.perf_counter(), time.process_time() - build_cpu_started
    model = FootprintModel(scenario, seed=seed, city=city, population=population)
    built, build_cpu_s = time.perf_counter(), time.process_time() - build_cpu_started
    timer = _Timer()
    if breakdown:
        _instrument(model, timer)
    checkpoint_days = {max(1, round(f * days)) for f in CHECKPOINT_FRACTIONS}
    checkpoints, checkpoints_cpu = {}, {}
    step_started, cpu_started = time.perf_counter(), time.process_time()
    while model.running:
        model.step()
        if model.day in checkpoint_days:
            checkpoints[model.day] = time.perf_counter() - step_started
            checkpoints_cpu[model.day] = time.process_time() - cpu_started
    dynamics_s = time.perf_counter() - step_started
    dynamics_cpu_s = time.process_time() - cpu_started
    exposure_s = model.exposure.diagnostics["timings"]["total_s"]
    exposure_cpu_s = model.exposure.diagnostics["timings"].get("total_cpu_s", math.nan)
    return {
        "kind": "production",
        "consumers": consumers,
        "days": days,
        "seed": seed,
        "city_s": city_s,
        "warm_up_s": warm_up_s,
        "numba_threads": numba.get_num_threads(),
        "population_s": population_done - started,
        "exposure_s": exposure_s,
        "population_cpu_s": population_cpu_s,
        "exposure_cpu_s": exposure_cpu_s,
        "model_init_s": built - population_done - exposure_s,
        "build_s": built - started,
        "build_cpu_s": build_cpu_s,
        "dynamics_s": dynamics_s,
        "dynamics_cpu_s": dynamics_cpu_s,
        "cores_used": dynamics_cpu_s / dynamics_s,
        "checkpoints": checkpoints,
        "checkpoints_cpu": checkpoints_cpu,
        "parts_s": dict(timer.seconds),
        "classes": model.exposure.n_classes,
        "exposure_entries": len(model.exposure.indices),
        "sightings_per_consumer_day": sum(r["sightings"] for r in model.daily_rows) / (consumers * days),
        "purchases": model.cumulative_purchases,
        "rss_after_warm_up_mb": rss_after_warm_up,
        "peak_rss_mb": _peak_rss_mb(),
        "load_before": load_before,
    }


def aggregate(runs: list[dict]) -> dict:
    """One row from repeated runs of a size: medians of the timings, the largest peak memory.

    The breakdown, checkpoints and load are those of the run with the median dynamics time.
    """
    median_run = sorted(runs, key=lambda r: r["dynamics_s"])[len(runs) // 2]
    row = dict(median_run)
    timings = (
        "population_s",
        "exposure_s",
        "population_cpu_s",
        "exposure_cpu_s",
        "model_init_s",
        "build_s",
        "build_cpu_s",
        "dynamics_s",
        "dynamics_cpu_s",
    )
    for name in (*timings, "warm_up_s", "city_s"):
        row[name] = statistics.median(r[name] for r in runs)
    row["repeats"] = len(runs)
    row["dynamics_all_s"] = [r["dynamics_s"] for r in runs]
    row["build_all_s"] = [r["build_s"] for r in runs]
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return row


def worker_reference(scenario_path: str, consumers: int, days: int) -> dict:
    """Time the per-agent reference model on the production model's inputs."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    from reference_mesa import reference_from

    from simulator.model.footprint_model import FootprintModel

    load_before = os.getloadavg()[0]
    scenario, city, _ = _load(scenario_path, consumers, days)
    inputs = FootprintModel(scenario, city=city)
    started = time.perf_counter()
    reference = reference_from(inputs, np.random.Generator(np.random.PCG64(scenario.seed)))
    built = time.perf_counter()
    reference.run()
    finished = time.perf_counter()
    return {
        "kind": "reference",
        "consumers": consumers,
        "days": days,
        "build_s": built - started,
        "dynamics_s": finished - built,
        "peak_rss_mb": _peak_rss_mb(),
        "load_before": load_before,
        "purchases": reference.cumulative_purchases,
    }


# ----------------------------------------------------------------------------- driver
def _subprocess(arguments: list[str]) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT)
    if completed.returncode != 0:
        raise SystemExit(f"benchmark worker failed: {' '.join(arguments)}\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ``log y`` on ``log x`` (the growth exponent); nan with < 2 points."""
    if len(x) < 2:
        return math.nan
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def summarise(rows: list[dict], reference: dict) -> dict:
    """Throughputs, speed-ups, growth exponents and the targets' verdicts.

    Exponents are given for wall time and for CPU time. On a shared machine the wall time of
    a size depends on whether the second core was free during its run (see ``CPU/wall``);
    the CPU time does not, so the linearity verdicts use it.
    """
    reference_rate = reference["consumers"] * reference["days"] / reference["dynamics_s"]
    for row in rows:
        row["cd_per_s"] = row["consumers"] * row["days"] / row["dynamics_s"]
        row["speedup"] = row["cd_per_s"] / reference_rate
        row["seconds_per_year"] = row["dynamics_s"] * 365.0 / row["days"]
    sizes = [r["consumers"] for r in rows]
    exponents = {}
    for clock, key in (("wall", "dynamics_s"), ("cpu", "dynamics_cpu_s")):
        exponents[f"dynamics_vs_consumers_{clock}"] = slope(sizes, [r[key] for r in rows])
        exponents[f"dynamics_vs_consumers_top_two_{clock}"] = slope(sizes[-2:], [r[key] for r in rows[-2:]])
    for row in rows:
        row["cpu_s"] = row.get("build_cpu_s", math.nan) + row["dynamics_cpu_s"]
    large = [r for r in rows if r["consumers"] >= LARGE_FROM]
    exponents["cpu_vs_consumers_all_sizes"] = slope(sizes, [r["cpu_s"] for r in rows])
    exponents["cpu_vs_consumers_large"] = slope([r["consumers"] for r in large], [r["cpu_s"] for r in large])
    exponents["large_sizes"] = [r["consumers"] for r in large]
    exponents["build_vs_consumers"] = slope(sizes, [r["build_s"] for r in rows])
    exponents["build_vs_consumers_top_two"] = slope(sizes[-2:], [r["build_s"] for r in rows[-2:]])
    days_row = min(rows, key=lambda r: abs(math.log(r["consumers"] / ONE_MILLION)))
    for clock, key in (("wall", "checkpoints"), ("cpu", "checkpoints_cpu")):
        points = sorted((int(d), t) for d, t in days_row[key].items())
        exponents[f"dynamics_vs_days_{clock}"] = slope([d for d, _ in points], [t for _, t in points])
        exponents[f"days_checkpoints_{clock}"] = {str(d): t for d, t in points}
    exponents["days_at_consumers"] = days_row["consumers"]
    verdicts = {}
    at_1m = next((r for r in rows if r["consumers"] == ONE_MILLION), None)
    if at_1m is not None:
        verdicts = {
            "dynamics at 1M >= 25 M consumer-days/s": at_1m["cd_per_s"] >= TARGETS["dynamics_cd_per_s_1m"],
            "speed-up at 1M >= 200x the per-agent reference": at_1m["speedup"] >= TARGETS["speedup_1m"],
            "build at 1M < 60 s": at_1m["build_s"] < TARGETS["build_s_1m"],
            "peak memory at 1M < 1.5 GB": at_1m["peak_rss_mb"] < TARGETS["peak_rss_mb_1m"],
        }
    if len(rows) >= 2:
        verdicts["dynamics CPU time exponent in consumers <= 1.1 (all sizes)"] = (
            exponents["dynamics_vs_consumers_cpu"] <= TARGETS["exponent"]
        )
        verdicts["dynamics CPU time exponent in consumers <= 1.1 (two largest)"] = (
            exponents["dynamics_vs_consumers_top_two_cpu"] <= TARGETS["exponent"]
        )
    if len(large) >= 3:
        verdicts["CPU time (build + dynamics) exponent in consumers <= 1.05 (sizes from 1M)"] = (
            exponents["cpu_vs_consumers_large"] <= TARGETS["exponent_cpu_large"]
        )
    if len(days_row["checkpoints"]) >= 2:
        verdicts["dynamics CPU time exponent in days <= 1.1"] = exponents["dynamics_vs_days_cpu"] <= TARGETS["exponent"]
    return {"reference_cd_per_s": reference_rate, "exponents": exponents, "verdicts": verdicts}


def _millions(value: float) -> str:
    return f"{value / 1e6:.2f}"


def table_rows(rows: list[dict], reference: dict) -> tuple[list[str], list[list[str]]]:
    header = [
        "consumers",
        "days",
        "population s",
        "exposure s",
        "pop. CPU s",
        "exp. CPU s",
        "build s",
        "dynamics s",
        "CPU s",
        "s/year",
        "M cons.-days/s",
        "vs Mesa",
        "peak RSS MB",
        "kernel",
        "CPU/wall",
        "load",
    ]
    body = []
    for r in rows:
        parts = r.get("parts_s", {})
        kernel = parts.get("run_kernel", math.nan) / r["dynamics_s"] if parts else math.nan
        body.append(
            [
                f"{r['consumers']:,}",
                str(r["days"]),
                f"{r['population_s']:.2f}",
                f"{r['exposure_s']:.2f}",
                f"{r.get('population_cpu_s', math.nan):.2f}",
                f"{r.get('exposure_cpu_s', math.nan):.2f}",
                f"{r['build_s']:.2f}",
                f"{r['dynamics_s']:.2f}",
                f"{r['cpu_s']:.1f}",
                f"{r['seconds_per_year']:.1f}",
                _millions(r["cd_per_s"]),
                f"{r['speedup']:.0f}x",
                f"{r['peak_rss_mb']:.0f}",
                f"{kernel:.0%}" if not math.isnan(kernel) else "-",
                f"{r['cores_used']:.2f}",
                f"{r['load_before']:.2f}",
            ]
        )
    ref_rate = reference["consumers"] * reference["days"] / reference["dynamics_s"]
    body.append(
        [
            f"Mesa {reference['consumers']:,}",
            str(reference["days"]),
            "-",
            "-",
            "-",
            "-",
            f"{reference['build_s']:.2f}",
            f"{reference['dynamics_s']:.2f}",
            "-",
            f"{reference['dynamics_s'] * 365 / reference['days']:.1f}",
            _millions(ref_rate),
            "1x",
            f"{reference['peak_rss_mb']:.0f}",
            "-",
            "-",
            f"{reference['load_before']:.2f}",
        ]
    )
    return header, body


def breakdown_rows(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Where a day's time goes, ns per consumer-day and % of the dynamics."""
    names = ["run_kernel", "assign_bookings", "stores_serve", "convert", "record_stores", "on_open_set_change"]
    labels = ["kernel", "bookings to stores", "stores serve", "conversion", "store rows", "open-set change"]
    header = ["consumers", *labels, "rest of step()", "rest, ms per day"]
    body = []
    for r in rows:
        parts = r.get("parts_s") or {}
        if not parts:
            continue
        consumer_days = r["consumers"] * r["days"]
        rest = r["dynamics_s"] - sum(parts.values())
        body.append(
            [f"{r['consumers']:,}"]
            + [f"{parts.get(n, 0.0) / consumer_days * 1e9:.1f}" for n in names]
            + [f"{rest / consumer_days * 1e9:.1f}", f"{rest / r['days'] * 1e3:.2f}"]
        )
    return header, body


def markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000,2000000", help="consumer counts, comma-separated")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reference-consumers", type=int, default=2000)
    parser.add_argument("--reference-days", type=int, help="days of the reference run (default: --days)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions for sizes up to 100k (median)")
    parser.add_argument("--repeats-large", type=int, default=1, help="repetitions for sizes above 100k (median)")
    parser.add_argument("--no-breakdown", action="store_true", help="do not time the parts of a day")
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    parser.add_argument("--quick", action="store_true", help="small sizes only: checks that the script works")
    parser.add_argument(
        "--large", action="store_true", help="add 5M, 10M and every resident ('all'): several minutes each"
    )
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", choices=("production", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--consumers", help=argparse.SUPPRESS)
    parser.add_argument("--seed-offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "production":
        consumers = args.consumers if args.consumers == "all" else int(args.consumers)
        run = worker_production(args.scenario, consumers, args.days, args.seed_offset, not args.no_breakdown)
        print(json.dumps(run))
        return 0
    if args.worker == "reference":
        print(json.dumps(worker_reference(args.scenario, int(args.consumers), args.days)))
        return 0

    from rich.console import Console
    from rich.table import Table

    if args.quick:
        args.sizes, args.days, args.reference_consumers, args.repeats = "5000,20000", 30, 300, 1
    if args.reference_days is None:
        args.reference_days = args.days
    requested = [s.strip() for s in args.sizes.split(",")] + (list(LARGE_SIZES) if args.large else [])
    sizes = sorted(dict.fromkeys(requested), key=lambda s: math.inf if s == "all" else int(s))
    console = Console(width=None if sys.stdout.isatty() else 150)
    load_start = os.getloadavg()
    started = time.perf_counter()
    rows = []
    for size in sizes:
        console.print(f"[dim]production model: {size} consumers x {args.days} days ...[/dim]")
        repeats = args.repeats if size != "all" and int(size) <= 100_000 else args.repeats_large
        extra = ["--no-breakdown"] if args.no_breakdown else []
        runs = [
            _subprocess(
                [
                    "--worker",
                    "production",
                    "--consumers",
                    str(size),
                    "--days",
                    str(args.days),
                    "--seed-offset",
                    str(repeat),
                    "--scenario",
                    args.scenario,
                    *extra,
                ]
            )
            for repeat in range(repeats)
        ]
        rows.append(aggregate(runs))
        row = rows[-1]
        console.print(
            f"[dim]  {row['consumers']:,}: build {row['build_s']:.1f} s, dynamics {row['dynamics_s']:.1f} s, "
            f"CPU {row['build_cpu_s'] + row['dynamics_cpu_s']:.1f} s, peak RSS {row['peak_rss_mb']:,.0f} MB, "
            f"load {row['load_before']:.2f}[/dim]"
        )
    console.print(
        f"[dim]per-agent Mesa reference: {args.reference_consumers:,} consumers x {args.reference_days} days ...[/dim]"
    )
    reference = _subprocess(
        [
            "--worker",
            "reference",
            "--consumers",
            str(args.reference_consumers),
            "--days",
            str(args.reference_days),
            "--scenario",
            args.scenario,
        ]
    )
    summary = summarise(rows, reference)
    load_end = os.getloadavg()

    header, body = table_rows(rows, reference)
    table = Table(title=f"Build and daily dynamics, {Path(args.scenario).name}")
    for name in header:
        table.add_column(name, justify="right")
    for row in body:
        table.add_row(*row)
    console.print(table)
    parts_header, parts_body = breakdown_rows(rows)
    if parts_body:
        parts = Table(title="Where a day's time goes (ns per consumer-day; 'rest' = Python in step())")
        for name in parts_header:
            parts.add_column(name, justify="right")
        for row in parts_body:
            parts.add_row(*row)
        console.print(parts)
    exponents = summary["exponents"]
    first = rows[0]
    notes = [
        "growth exponent of dynamics time in consumers, all sizes / two largest: "
        f"wall {exponents['dynamics_vs_consumers_wall']:.3f} / {exponents['dynamics_vs_consumers_top_two_wall']:.3f}, "
        f"CPU {exponents['dynamics_vs_consumers_cpu']:.3f} / {exponents['dynamics_vs_consumers_top_two_cpu']:.3f}",
        "growth exponent of CPU time (build + dynamics) in consumers: "
        f"{exponents['cpu_vs_consumers_large']:.3f} over the sizes from 1M "
        f"({', '.join(f'{c:,}' for c in exponents['large_sizes'])}), "
        f"{exponents['cpu_vs_consumers_all_sizes']:.3f} over all sizes",
        f"growth exponent of build time in consumers: {exponents['build_vs_consumers']:.3f} over all sizes, "
        f"{exponents['build_vs_consumers_top_two']:.3f} between the two largest",
        f"growth exponent of dynamics time in days ({exponents['days_at_consumers']:,} consumers; elapsed wall at days "
        + ", ".join(f"{d}: {t:.2f} s" for d, t in exponents["days_checkpoints_wall"].items())
        + f"): wall {exponents['dynamics_vs_days_wall']:.3f}, CPU {exponents['dynamics_vs_days_cpu']:.3f}",
        f"per-agent reference: {summary['reference_cd_per_s']:,.0f} consumer-days/s",
        f"numba threads {first['numba_threads']}; first call (compile or cache load) {first['warm_up_s']:.2f} s; "
        f"city load {first['city_s']:.2f} s (not in build)",
        f"load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, "
        f"at end {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f}; {os.cpu_count()} CPUs; "
        f"total {time.perf_counter() - started:.0f} s",
    ]
    for note in notes:
        console.print(note)
    for verdict, ok in summary["verdicts"].items():
        console.print(f"[{'green' if ok else 'red'}]{'PASS' if ok else 'MISS'}[/] {verdict}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    record = {
        "command": " ".join(["python", "benchmarks/bench_scaling.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "scenario": Path(args.scenario).name,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "rows": rows,
        "reference": reference,
        **summary,
    }
    (out / f"scaling-{stamp}.json").write_text(json.dumps(record, indent=2, default=str))
    text = [f"# Scaling benchmark {record['date']}", "", f"`{record['command']}`", "", markdown(header, body), ""]
    if parts_body:
        text += ["Where a day's time goes (ns per consumer-day):", "", markdown(parts_header, parts_body), ""]
    text += [f"- {note}" for note in notes]
    text += [f"- {'PASS' if ok else 'MISS'}: {verdict}" for verdict, ok in summary["verdicts"].items()]
    (out / f"scaling-{stamp}.md").write_text("\n".join(text) + "\n")
    console.print(f"[dim]written {out / f'scaling-{stamp}.json'} and .md[/dim]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

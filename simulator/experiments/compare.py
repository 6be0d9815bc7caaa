r"""Compare store-placement plans under common random numbers, with paired confidence intervals.

A *comparison* runs several plans on one synthetic population with the same random draws,
so that a difference between two plans comes from the plans and not from noise:

* every plan uses the same replication seeds, ``replication_seeds(root, R)``; the
  population is a deterministic function of a replication's seed and the population
  settings, so replication ``r`` of every plan sees the same consumers;
* the daily kernels draw from a counter-based stream (:mod:`simulator.model.rng`): consumer
  ``i`` on day ``t`` sees the same uniform number in every plan.

Plans are given either as two or more scenario files that may differ only in ``plan`` and
``levers`` (and ``name``, ``description``, ``replications``, ``run``), or as one
*comparison file* (TOML) that names a base scenario and the plans to put on it::

    name = "beijing_plans"
    base = "beijing_launch.toml"          # relative to the comparison file
    replications = 8                      # optional (default: the base scenario's)
    seed = 20240328                       # optional (default: the base scenario's)

    [[plans]]
    name = "launch 8"
    use_base_plan = true                  # the base scenario's stores

    [[plans]]
    name = "launch 8 + 8 malls"
    use_base_plan = true
    stores_file = "plans/malls_extra8.csv"   # base stores, then these

    [[plans]]
    name = "8 stations"
    stores = [{ id = "xizhimen", station = "西直门" }]
    levers = { founder_endorsement = { offset = 0.0 } }   # merged into the base's levers

The first plan is the *baseline*. For a KPI with per-replication values ``x_r`` (plan)
and ``b_r`` (baseline), the paired difference is ``d_r = x_r - b_r`` and its confidence
interval

.. math::

    \bar d \pm t_{0.975,\,R-1}\, s_d / \sqrt{R},
    \qquad s_d^2 = \frac{1}{R-1} \sum_r (d_r - \bar d)^2 .

With common random numbers ``s_d`` is much smaller than with independent seeds, because
the noise shared by both plans cancels in ``d_r``.

``compare(...)`` returns a :class:`ComparisonResult`; :func:`write_comparison` writes the
comparison folder (see ``docs/comparing-plans.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator
from scipy import stats

from simulator.city import City, load_city
from simulator.config import (
    Boolean,
    FootprintError,
    FrozenModel,
    Integer,
    Levers,
    LocatedError,
    Scenario,
    Store,
    Text,
    apply_overrides,
    canonical_json,
    format_key_path,
    parse_canonical_json,
    parse_scenario,
    plain_value,
    problem_lines,
    raise_problems,
    read_stores_file,
    read_toml_file,
    scenario_hash,
    show_value,
)
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.run import assemble_result, prepare_scenario, simulate_replication
from simulator.model import Population, place_stores, replication_seeds, run_generators, synthesize_population
from simulator.reports.publish import write_run
from simulator.results import (
    DAILY_COUNT_COLUMNS,
    GEOPACKAGE_CRS,
    REPORT_FILE,
    SCHEMA_VERSION,
    RunResult,
    atomic_path,
    gpkg_safe,
    package_versions,
    replication_means,
    store_totals,
    swap_into_place,
    to_jsonable,
    utc_now_iso,
    write_json,
    write_parquet,
)

CONFIDENCE_LEVEL = 0.95
"""Two-sided level of every confidence interval of a comparison."""

COMPARISON_KIND = "comparison"

HEADLINE_KPIS = (
    "bookings_requested_scaled",
    "test_drives_scaled",
    "bookings_lost_scaled",
    "purchases_scaled",
    "share_aware",
    "share_familiar",
    "mean_trust",
)
"""KPIs of the terminal table, the difference chart and the report's headline."""

SHORT_LABELS = {
    "bookings_requested_scaled": "Bookings requested",
    "test_drives_scaled": "Test drives",
    "bookings_lost_scaled": "Bookings lost in queues",
    "purchases_scaled": "Purchases",
    "share_aware": "Aware (end)",
    "share_familiar": "Familiar, F ≥ 0.5 (end)",
    "mean_trust": "Mean trust (end)",
}
"""Labels of the headline KPIs in the terminal table (counts: totals over the horizon, in people)."""

MARGINAL_KPIS = ("bookings_requested_scaled", "test_drives_scaled", "purchases_scaled", "share_familiar")
"""KPIs of the marginal contribution of each store (``--marginal``)."""

ZONE_DIFFERENCE_COLUMNS = (
    "mean_familiarity",
    "share_familiar",
    "bookings_requested_scaled",
    "bookings_requested_per_1000",
    "test_drives_per_1000",
    "purchases_per_1000",
)
"""Zone results whose difference to the baseline gets a paired confidence interval."""

AGREEMENT_EXEMPT_KEYS = ("name", "description", "plan", "levers", "replications", "run")
"""Top-level scenario keys in which the plans of a comparison may differ."""

TABLE_FILES = ("runs", "plans", "differences", "stores", "daily", "zones")
MARGINAL_FILES = ("marginal", "marginal_runs")
RUNS_DIR = "runs"
ZONES_GPKG = "zones.gpkg"

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(runs_done, runs_total)`` after every finished run."""


# --------------------------------------------------------------------------- comparison file


class ComparisonPlan(FrozenModel):
    """One plan of a comparison file: a name, its stores and optional lever changes."""

    name: Text = Field(min_length=1, description="Plan name, unique in the comparison (its slug names the run folder).")
    description: Text = Field("", description="Free text shown in reports.")
    use_base_plan: Boolean = Field(False, description="Start from the base scenario's stores.")
    stores: tuple[Store, ...] | None = Field(
        None, description="Stores (like `plan.stores` of a scenario), after the base plan's when `use_base_plan`."
    )
    stores_file: Text | None = Field(
        None,
        min_length=1,
        description="CSV or GeoJSON file of further stores, relative to the comparison file; after the inline ones.",
    )
    levers: dict[str, Any] | None = Field(
        None, description="Lever settings merged into the base scenario's `levers` (tables are merged key by key)."
    )

    @model_validator(mode="after")
    def _has_stores(self) -> ComparisonPlan:
        if not self.use_base_plan and self.stores is None and self.stores_file is None:
            raise ValueError(
                f"plan '{self.name}' has no stores: give use_base_plan = true, stores (may be []) or stores_file"
            )
        return self


class ComparisonFile(FrozenModel):
    """A comparison file: a base scenario and the plans to put on it (the first is the baseline)."""

    name: Text = Field("comparison", min_length=1, description="Comparison name (default: the file's stem).")
    description: Text = Field("", description="Free text shown in reports.")
    base: Text = Field(min_length=1, description="Base scenario file, relative to the comparison file.")
    seed: Integer | None = Field(None, ge=0, description="Root seed (default: the base scenario's).")
    replications: Integer | None = Field(None, ge=1, description="Replications (default: the base scenario's).")
    plans: tuple[ComparisonPlan, ...] = Field(description="The plans; the first one is the baseline.")

    @field_validator("plans")
    @classmethod
    def _at_least_two_unique(cls, plans: tuple[ComparisonPlan, ...]) -> tuple[ComparisonPlan, ...]:
        if len(plans) < 2:
            raise ValueError(f"a comparison needs at least 2 plans, got {len(plans)}")
        seen: dict[str, int] = {}
        for position, entry in enumerate(plans):
            slug = plan_slug(entry.name)
            if slug in seen:
                raise LocatedError(
                    (position, "name"),
                    f"plan name '{entry.name}' gives the same folder name '{slug}' as plans[{seen[slug]}]",
                )
            seen[slug] = position
        return plans


def plan_slug(name: str) -> str:
    """Folder-safe name of a plan: lower case, runs of other characters replaced by ``-``."""
    slug = re.sub(r"[^\w]+", "-", name.strip().lower(), flags=re.UNICODE).strip("-_")
    return slug or "plan"


# --------------------------------------------------------------------------- spec


@dataclasses.dataclass(frozen=True)
class PlanSpec:
    """One plan of a comparison: its display name, folder slug, full scenario and origin."""

    name: str
    slug: str
    scenario: Scenario
    source: str

    @property
    def n_stores(self) -> int:
        return len(self.scenario.plan.stores)


@dataclasses.dataclass(frozen=True)
class ComparisonSpec:
    """A validated comparison: plans (the first is the baseline), root seed and replications."""

    name: str
    description: str
    plans: tuple[PlanSpec, ...]
    seed: int
    replications: int
    sources: tuple[str, ...]
    mode: str  # "comparison_file" or "scenario_files"

    @property
    def baseline(self) -> PlanSpec:
        return self.plans[0]

    @property
    def seeds(self) -> list[int]:
        """Replication seeds shared by every plan (common random numbers)."""
        return replication_seeds(self.seed, self.replications)

    def n_runs(self, marginal: bool = False) -> int:
        """Number of runs (plan x replication, plus the marginal variants)."""
        runs = len(self.plans) * self.replications
        if marginal:
            runs += self.replications * sum(plan.n_stores + 1 for plan in self.plans if plan.n_stores > 0)
        return runs

    def comparison_hash(self) -> str:
        """SHA-256 of the plans' scenario hashes, in order (hex)."""
        payload = json.dumps([[plan.name, scenario_hash(plan.scenario)] for plan in self.plans])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def is_comparison_data(data: Mapping[str, Any]) -> bool:
    """True for the parsed TOML of a comparison file (it has ``base`` or ``plans``)."""
    return "base" in data or "plans" in data


def _deep_merge(base: Any, changes: Any) -> Any:
    """``changes`` merged into ``base``: tables key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(changes, Mapping):
        merged = dict(base)
        for key, value in changes.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return plain_value(changes) if isinstance(changes, (dict, list, tuple)) else changes


def _file_stores(entry: ComparisonPlan, folder: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Validated stores of a plan's ``stores_file`` as (origin label, store dict) pairs."""
    assert entry.stores_file is not None
    validated, problems = read_stores_file(entry.stores_file, folder)
    return [(f"{entry.stores_file} {row_label}", store.model_dump()) for row_label, store in validated], problems


def _plan_scenario(
    entry: ComparisonPlan, position: int, base: Scenario, comparison: ComparisonFile, source: str, folder: Path
) -> Scenario:
    """The full scenario of one plan of a comparison file: the base with the plan's stores and levers."""
    where = f"plans[{position}]"
    base_data = plain_value(base.model_dump(mode="python"))
    labelled: list[tuple[str, dict[str, Any]]] = []
    if entry.use_base_plan:
        labelled += [(f"the base plan ({store['id']})", store) for store in base_data["plan"]["stores"]]
    if entry.stores is not None:
        labelled += [(f"{where}.stores[{i}]", store.model_dump()) for i, store in enumerate(entry.stores)]
    problems: list[str] = []
    if entry.stores_file is not None:
        from_file, file_problems = _file_stores(entry, folder)
        labelled += from_file
        problems += file_problems
    first_seen: dict[str, str] = {}
    for label, store in labelled:
        if store["id"] in first_seen:
            problems.append(
                f"{source}: {where}: duplicate store id '{store['id']}' ({label}; also {first_seen[store['id']]})"
            )
        else:
            first_seen[store["id"]] = label
    levers = base_data["levers"]
    if entry.levers is not None:
        levers = _deep_merge(levers, entry.levers)
        try:
            Levers.model_validate(levers)
        except ValidationError as exception:
            problems += problem_lines(exception, source, Levers, prefix=f"{where}.levers.")
    if problems:
        raise_problems(problems)
    stores_file = entry.stores_file or (base.plan.stores_file if entry.use_base_plan else None)
    data = {
        **base_data,
        "name": entry.name,
        "description": entry.description or base.description,
        "plan": {"name": entry.name, "stores": [store for _label, store in labelled], "stores_file": stores_file},
        "levers": levers,
    }
    if comparison.seed is not None:
        data["seed"] = comparison.seed
    if comparison.replications is not None:
        data["replications"] = comparison.replications
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source, Scenario, prefix=f"{where}: "))
    scenario._base_dir = base.base_dir
    return scenario


def _load_comparison_file(path: Path, data: Mapping[str, Any]) -> tuple[ComparisonFile, list[PlanSpec]]:
    source = path.name or str(path)
    data = dict(data)
    data.setdefault("name", path.stem or "comparison")
    try:
        comparison = ComparisonFile.model_validate(data)
    except ValidationError as exception:
        raise_problems(problem_lines(exception, source, ComparisonFile))
    folder = path.parent.absolute()
    base_path = Path(comparison.base).expanduser()
    if not base_path.is_absolute():
        base_path = folder / base_path
    if not base_path.is_file():
        raise_problems([f"{source}: base: scenario file not found ({base_path})"])
    base_data = read_toml_file(base_path)
    if is_comparison_data(base_data):
        raise_problems([f"{source}: base: {base_path.name} is a comparison file, not a scenario"])
    base = parse_scenario(base_data, base_path.name, base_dir=base_path.parent.absolute())
    plans = [
        PlanSpec(
            name=entry.name,
            slug=plan_slug(entry.name),
            scenario=_plan_scenario(entry, position, base, comparison, source, folder),
            source=f"{source} plans[{position}]",
        )
        for position, entry in enumerate(comparison.plans)
    ]
    return comparison, plans


def _plans_from_scenario_files(paths: Sequence[Path]) -> list[PlanSpec]:
    scenarios = []
    for path in paths:
        data = read_toml_file(path)
        source = path.name or str(path)
        if is_comparison_data(data):
            raise_problems([f"{source}: is a comparison file: give it alone, or give two or more scenario files"])
        scenarios.append((source, parse_scenario(data, source, base_dir=path.parent.absolute())))
    plan_names = [scenario.plan.name for _source, scenario in scenarios]
    use_plan_names = len(set(plan_names)) == len(plan_names) and "plan" not in plan_names
    plans: list[PlanSpec] = []
    seen: dict[str, str] = {}
    for source, scenario in scenarios:
        name = scenario.plan.name if use_plan_names else scenario.name
        slug = plan_slug(name)
        if slug in seen:
            raise_problems(
                [
                    f"{source}: plan '{name}' has the same name (folder '{slug}') as the plan of {seen[slug]}; "
                    "give the scenarios different names or plan.name"
                ]
            )
        seen[slug] = source
        plans.append(PlanSpec(name=name, slug=slug, scenario=scenario, source=source))
    return plans


def _comparable(scenario: Scenario) -> dict[str, Any]:
    """The scenario's canonical data without the keys plans may differ in, bundle resolved."""
    data = json.loads(canonical_json(scenario))
    for key in AGREEMENT_EXEMPT_KEYS:
        data.pop(key, None)
    bundle = scenario.resolved_bundle
    data["city"]["bundle"] = str(Path(bundle).absolute()) if isinstance(bundle, Path) else bundle
    return data


def first_difference(first: Any, second: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], Any, Any] | None:
    """The first key path (sorted keys, depth first) where two JSON-like values differ.

    Returns
    -------
    tuple or None
        ``(path, value in first, value in second)``, or None when they are equal.
    """
    if isinstance(first, dict) and isinstance(second, dict):
        for key in sorted(set(first) | set(second)):
            if key not in first or key not in second:
                return path + (key,), first.get(key, "(not set)"), second.get(key, "(not set)")
            found = first_difference(first[key], second[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(first, list) and isinstance(second, list):
        if len(first) != len(second):
            return path, f"{len(first)} items", f"{len(second)} items"
        for index, (a, b) in enumerate(zip(first, second)):
            found = first_difference(a, b, path + (index,))
            if found is not None:
                return found
        return None
    return None if first == second else (path, first, second)


def check_agreement(plans: Sequence[PlanSpec]) -> None:
    """Refuse plans whose scenarios differ in anything but plan and levers.

    The canonical scenarios are compared with the keys of :data:`AGREEMENT_EXEMPT_KEYS`
    removed and ``city.bundle`` resolved to a path.

    Raises
    ------
    ScenarioError
        Naming the plan's file, the first differing key path and both values.
    """
    baseline = plans[0]
    reference = _comparable(baseline.scenario)
    for plan in plans[1:]:
        found = first_difference(reference, _comparable(plan.scenario))
        if found is not None:
            path, expected, got = found
            raise_problems(
                [
                    f"{plan.source}: {format_key_path(path)}: differs from the baseline {baseline.source} "
                    f"({show_value(got)} vs {show_value(expected)}); the plans of a comparison may differ only in plan and levers"
                ]
            )


def load_comparison(
    files: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    consumers: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ComparisonSpec:
    """Read a comparison: one comparison file, or two or more scenario files.

    Parameters
    ----------
    files : path or sequence of paths
        One comparison file (TOML with ``base`` and ``[[plans]]``), or two or more
        scenario files that differ only in ``plan`` and ``levers``.
    consumers, days, seed, replications : int, optional
        Overrides applied to every plan (``population.consumers``, ``horizon.days``,
        the root seed, the number of replications).
    overrides : mapping, optional
        Further overrides by dotted key path, applied to every plan's scenario last.

    Returns
    -------
    ComparisonSpec

    Raises
    ------
    ScenarioError
        A file is invalid, a single scenario file is given, or the plans' scenarios
        differ in anything but plan and levers (the message names the key path).
    """
    paths = [Path(files)] if isinstance(files, (str, os.PathLike)) else [Path(f) for f in files]
    if not paths:
        raise_problems(["compare: give one comparison file or two or more scenario files"])
    comparison: ComparisonFile | None = None
    if len(paths) == 1:
        data = read_toml_file(paths[0])
        source = paths[0].name or str(paths[0])
        if not is_comparison_data(data):
            raise_problems(
                [
                    f"{source}: is a scenario file, and one plan cannot be compared: give two or more scenario "
                    "files, or a comparison file (a base scenario and its plans)"
                ]
            )
        comparison, plans = _load_comparison_file(paths[0], data)
    else:
        plans = _plans_from_scenario_files(paths)
    prepared = [
        dataclasses.replace(
            plan,
            scenario=prepare_scenario(
                plan.scenario, consumers=consumers, days=days, seed=seed, replications=replications, overrides=overrides
            ),
        )
        for plan in plans
    ]
    check_agreement(prepared)
    baseline = prepared[0].scenario
    common = {"replications": baseline.replications, "run": baseline.run.model_dump()}
    prepared = [dataclasses.replace(p, scenario=apply_overrides(p.scenario, common)) for p in prepared]
    if comparison is not None:
        name, description = comparison.name, comparison.description
    else:
        name = "-vs-".join(plan_slug(p.scenario.name) for p in prepared)
        name = name if len(name) <= 60 else name[:60].rstrip("-")
        description = f"Scenarios {', '.join(p.source for p in prepared)} compared"
    return ComparisonSpec(
        name=name,
        description=description,
        plans=tuple(prepared),
        seed=int(baseline.seed),
        replications=int(baseline.replications),
        sources=tuple(str(p) for p in paths),
        mode="comparison_file" if comparison is not None else "scenario_files",
    )


# --------------------------------------------------------------------------- tasks


@dataclasses.dataclass(frozen=True)
class _RunTask:
    """One run: a plan (or a variant of it) and one replication."""

    plan_index: int
    variant: str  # "" = the plan; a store id = the plan without that store; NO_STORES = without any store
    replication: int
    seed: int
    scenario_json: str
    bundle: str | Path
    full_tables: bool


NO_STORES = "*no stores*"
"""Variant of a plan without any store (the reference of the plan's total effect)."""

_CITY_CACHE: dict[str, City] = {}
_POPULATION_CACHE: dict[tuple, Population] = {}


def _cached_city(bundle: str | Path) -> City:
    key = str(bundle)
    if key not in _CITY_CACHE:
        _CITY_CACHE[key] = load_city(bundle)
    return _CITY_CACHE[key]


def _cached_population(bundle: str | Path, city: City, scenario: Scenario, seed: int) -> Population:
    """The replication's population (one kept per process: tasks come replication by replication)."""
    key = (str(bundle), int(seed), scenario.population.model_dump_json())
    if key not in _POPULATION_CACHE:
        _POPULATION_CACHE.clear()
        population_rng, _model_rng, _key = run_generators(seed)
        _POPULATION_CACHE[key] = synthesize_population(city, scenario.population, population_rng)
    return _POPULATION_CACHE[key]


def _run_task(task: _RunTask) -> dict[str, Any]:
    """Run one plan (or variant) for one replication seed; return its tables."""
    scenario = parse_canonical_json(task.scenario_json, "comparison task")
    city = _cached_city(task.bundle)
    population = _cached_population(task.bundle, city, scenario, task.seed)
    outcome = simulate_replication(scenario, task.seed, city, population=population)
    if not task.full_tables:
        return {"daily": outcome["daily"], "weight": outcome["weight"], "timings": outcome["timings"]}
    return outcome


def _variant_scenario(scenario: Scenario, keep: Sequence[int], suffix: str) -> Scenario:
    """The scenario with only the stores at ``keep`` (same everything else)."""
    data = plain_value(scenario.model_dump(mode="python"))
    data["plan"]["stores"] = [data["plan"]["stores"][i] for i in keep]
    data["plan"]["name"] = f"{scenario.plan.name} {suffix}"
    variant = Scenario.model_validate(data)
    variant._base_dir = scenario.base_dir
    return variant


def _bundle_key(scenario: Scenario) -> str | Path:
    bundle = scenario.resolved_bundle
    return Path(bundle).absolute() if isinstance(bundle, Path) else bundle


# --------------------------------------------------------------------------- statistics


def paired_interval(differences: np.ndarray, confidence: float = CONFIDENCE_LEVEL) -> dict[str, float]:
    r"""Mean of paired differences and its Student-t confidence interval.

    .. math:: \bar d \pm t_{(1+c)/2,\,R-1}\, s_d / \sqrt{R}

    Parameters
    ----------
    differences : array_like
        ``d_r = x_r - b_r``, one per replication.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    dict
        ``mean``, ``std`` (ddof=1), ``se`` (``std / sqrt(R)``), ``ci_low``, ``ci_high``,
        ``n``. With one replication the spread and the interval are NaN; when every
        difference is equal the interval is that value exactly.
    """
    values = np.asarray(differences, dtype=np.float64)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "std": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n}
    if np.all(values == values[0]):
        return {
            "mean": float(values[0]),
            "std": 0.0,
            "se": 0.0,
            "ci_low": float(values[0]),
            "ci_high": float(values[0]),
            "n": n,
        }
    std = float(values.std(ddof=1))
    se = std / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * se
    return {"mean": mean, "std": std, "se": se, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def _grouped_paired(frame: pd.DataFrame, keys: list[str], column: str, confidence: float) -> pd.DataFrame:
    """Vectorised :func:`paired_interval` of ``frame[column]`` per group of ``keys``."""
    grouped = frame.groupby(keys, sort=False)[column]
    summary = grouped.agg(["mean", "std", "count", "min", "max"])
    n = summary["count"].to_numpy(dtype=float)
    std = np.where(summary["min"].to_numpy() == summary["max"].to_numpy(), 0.0, summary["std"].to_numpy(dtype=float))
    std = np.where(n >= 2, std, np.nan)
    t = np.where(n >= 2, stats.t.ppf(0.5 + confidence / 2.0, np.maximum(n - 1, 1)), np.nan)
    half = t * std / np.sqrt(np.maximum(n, 1))
    mean = np.where(std == 0.0, summary["min"].to_numpy(dtype=float), summary["mean"].to_numpy(dtype=float))
    return pd.DataFrame({"mean": mean, "ci_low": mean - half, "ci_high": mean + half}, index=summary.index)


# --------------------------------------------------------------------------- result


@dataclasses.dataclass
class ComparisonResult:
    """Everything a comparison produces (the tables of the comparison folder).

    Attributes
    ----------
    spec : ComparisonSpec
        The plans, root seed and replications.
    runs : dict of str to RunResult
        The run of each plan (all replications), by plan name, baseline first.
    run_kpis : pandas.DataFrame
        ``runs.parquet``: one row per plan and replication with its seed and the
        end-of-horizon KPIs (totals over the horizon for counts, last-day values for
        shares and means).
    plans : pandas.DataFrame
        ``plans.parquet``: per plan and KPI the mean, ``ci_low``, ``ci_high`` over replications.
    differences : pandas.DataFrame
        ``differences.parquet``: per non-baseline plan and KPI the mean paired difference
        to the baseline with its confidence interval.
    stores : pandas.DataFrame
        ``stores.parquet``: per plan and store the totals, utilisation and queue.
    daily : pandas.DataFrame
        ``daily.parquet``: the daily KPIs of every plan and replication.
    zones : pandas.DataFrame
        ``zones.parquet``: per plan and zone the replication means and the paired
        differences to the baseline.
    marginal, marginal_runs : pandas.DataFrame or None
        With ``marginal=True``: per plan and store the marginal contribution (plan minus
        the plan without the store) with paired intervals, and the KPIs of those runs.
    metadata : dict
        ``metadata.json``.
    city : City
        The city (for maps and the GeoPackage).
    """

    spec: ComparisonSpec
    runs: dict[str, RunResult]
    run_kpis: pd.DataFrame
    plans: pd.DataFrame
    differences: pd.DataFrame
    stores: pd.DataFrame
    daily: pd.DataFrame
    zones: pd.DataFrame
    marginal: pd.DataFrame | None
    marginal_runs: pd.DataFrame | None
    metadata: dict[str, Any]
    city: City

    @property
    def baseline(self) -> str:
        return self.spec.baseline.name

    @property
    def plan_names(self) -> list[str]:
        return [plan.name for plan in self.spec.plans]

    @property
    def consumer_weight(self) -> float:
        return float(self.metadata.get("consumer_weight", 1.0))


# --------------------------------------------------------------------------- compare


def compare(
    comparison: ComparisonSpec | Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    consumers: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    marginal: bool = False,
    jobs: int | None = None,
    executor: ExecutorSpec | None = None,
    city: City | None = None,
    progress: ProgressCallback | None = None,
    command: str | None = None,
    confidence: float = CONFIDENCE_LEVEL,
) -> ComparisonResult:
    """Run every plan of a comparison under common random numbers and compare them.

    Parameters
    ----------
    comparison : ComparisonSpec, path or paths
        A spec from :func:`load_comparison`, or what it reads (one comparison file, or
        two or more scenario files).
    consumers, days, seed, replications, overrides
        Overrides applied to every plan (ignored when a spec is given).
    marginal : bool
        Also run each plan without each of its stores, and without any store, with the
        same seeds: the marginal contribution of every store of every plan.
    jobs : int, optional
        Local worker processes (``--jobs``); ``executor`` gives any other executor.
    city : City, optional
        The already loaded city of the plans.
    progress : callable, optional
        ``progress(runs_done, runs_total)``.
    command : str, optional
        Command line recorded in the metadata.
    confidence : float
        Level of the confidence intervals.

    Returns
    -------
    ComparisonResult
        Identical for any number of jobs: every run carries its own seed.
    """
    started = time.perf_counter()
    spec = (
        comparison
        if isinstance(comparison, ComparisonSpec)
        else load_comparison(
            comparison, consumers=consumers, days=days, seed=seed, replications=replications, overrides=overrides
        )
    )
    executor = executor if executor is not None else ExecutorSpec.from_options(jobs=jobs)
    bundle = _bundle_key(spec.baseline.scenario)
    if city is None:
        city = load_city(bundle)
    for plan in spec.plans:
        place_stores(plan.scenario, city, source_name=plan.source)
    seeds = spec.seeds
    tasks = _build_tasks(spec, seeds, bundle, marginal)
    prepared = time.perf_counter()
    outcomes: dict[int, Any] = {}
    cpu_seconds = 0.0
    _CITY_CACHE[str(bundle)] = city
    try:
        for done, outcome in enumerate(execute(_run_task, tasks, executor), start=1):
            if not outcome.ok:
                task = tasks[outcome.index]
                where = f"plan '{spec.plans[task.plan_index].name}'"
                if task.variant:
                    where += f" without {'any store' if task.variant == NO_STORES else repr(task.variant)}"
                message = f"{where}, replication {task.replication}: {outcome.error}"
                if "\n" in (outcome.error or ""):
                    raise RuntimeError(message)
                raise FootprintError(message)
            outcomes[outcome.index] = outcome.value
            cpu_seconds += outcome.seconds
            if progress is not None:
                progress(done, len(tasks))
    finally:
        _CITY_CACHE.clear()
        _POPULATION_CACHE.clear()
    simulated = time.perf_counter()
    runs = _assemble_runs(spec, seeds, tasks, outcomes, city, command)
    result = _aggregate(spec, runs, tasks, outcomes, city, confidence, marginal)
    finished = time.perf_counter()
    timings = {
        "setup_s": prepared - started,
        "simulate_s": simulated - prepared,
        "aggregate_s": finished - simulated,
        "total_s": finished - started,
        "task_seconds_sum": cpu_seconds,
    }
    result.metadata = _comparison_metadata(spec, runs, city, marginal, executor, timings, command, confidence)
    return result


def _build_tasks(spec: ComparisonSpec, seeds: Sequence[int], bundle: str | Path, marginal: bool) -> list[_RunTask]:
    """Tasks replication by replication (so a process can reuse the replication's population)."""
    variants: list[tuple[int, str, str]] = []
    for index, plan in enumerate(spec.plans):
        variants.append((index, "", canonical_json(plan.scenario)))
    if marginal:
        for index, plan in enumerate(spec.plans):
            n = plan.n_stores
            if n == 0:
                continue
            for j, store in enumerate(plan.scenario.plan.stores):
                keep = [k for k in range(n) if k != j]
                variants.append(
                    (index, store.id, canonical_json(_variant_scenario(plan.scenario, keep, f"without {store.id}")))
                )
            variants.append((index, NO_STORES, canonical_json(_variant_scenario(plan.scenario, [], "without stores"))))
    return [
        _RunTask(index, variant, replication, seed, text, bundle, full_tables=(variant == ""))
        for replication, seed in enumerate(seeds)
        for index, variant, text in variants
    ]


def _assemble_runs(
    spec: ComparisonSpec,
    seeds: Sequence[int],
    tasks: Sequence[_RunTask],
    outcomes: Mapping[int, Any],
    city: City,
    command: str | None,
) -> dict[str, RunResult]:
    """One RunResult per plan from its replications (as :func:`simulator.experiments.run.run` builds it)."""
    by_plan: dict[int, dict[int, dict[str, Any]]] = {}
    for position, task in enumerate(tasks):
        if task.variant == "":
            by_plan.setdefault(task.plan_index, {})[task.replication] = outcomes[position]
    runs: dict[str, RunResult] = {}
    for index, plan in enumerate(spec.plans):
        outcomes = [by_plan[index][replication] for replication in range(len(seeds))]
        runs[plan.name] = assemble_result(
            plan.scenario,
            list(seeds),
            outcomes,
            city,
            command=command,
            extra={"comparison": spec.name, "plan": plan.name},
        )
        runs[plan.name].metadata["seed"] = spec.seed
    return runs


def _with_plan(frame: pd.DataFrame, plan: PlanSpec) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "plan_slug", plan.slug)
    frame.insert(0, "plan", plan.name)
    return frame


def _aggregate(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    tasks: Sequence[_RunTask],
    outcomes: Mapping[int, Any],
    city: City,
    confidence: float,
    marginal: bool,
) -> ComparisonResult:
    baseline = spec.baseline
    kpis = {plan.name: runs[plan.name].replication_kpis() for plan in spec.plans}
    seeds = spec.seeds
    run_kpis = pd.concat(
        [
            _with_plan(kpis[plan.name].reset_index().assign(seed=lambda f: [seeds[r] for r in f["replication"]]), plan)
            for plan in spec.plans
        ],
        ignore_index=True,
    )
    ordered = ["plan", "plan_slug", "replication", "seed"]
    run_kpis = run_kpis[ordered + [c for c in run_kpis.columns if c not in ordered]]
    plans = pd.concat(
        [
            _with_plan(runs[plan.name].summary(confidence), plan).assign(
                is_baseline=plan is baseline, n_stores=plan.n_stores
            )
            for plan in spec.plans
        ],
        ignore_index=True,
    )
    labels = plans.drop_duplicates("kpi").set_index("kpi")[["label", "unit"]]
    differences = difference_table(spec, kpis, labels, confidence)
    daily = pd.concat([_with_plan(runs[plan.name].daily, plan) for plan in spec.plans], ignore_index=True)
    stores = _stores_table(spec, runs)
    zones = _zones_table(spec, runs, city, confidence)
    marginal_table = marginal_runs = None
    if marginal:
        marginal_table, marginal_runs = _marginal_tables(spec, runs, kpis, tasks, outcomes, labels, confidence)
    return ComparisonResult(
        spec=spec,
        runs=dict(runs),
        run_kpis=run_kpis,
        plans=plans,
        differences=differences,
        stores=stores,
        daily=daily,
        zones=zones,
        marginal=marginal_table,
        marginal_runs=marginal_runs,
        metadata={},
        city=city,
    )


def difference_table(
    spec: ComparisonSpec, kpis: Mapping[str, pd.DataFrame], labels: pd.DataFrame, confidence: float = CONFIDENCE_LEVEL
) -> pd.DataFrame:
    """Paired differences of every non-baseline plan to the baseline, per KPI.

    Parameters
    ----------
    spec : ComparisonSpec
    kpis : mapping of plan name to DataFrame
        :meth:`RunResult.replication_kpis` of each plan (index ``replication``).
    labels : pandas.DataFrame
        ``label`` and ``unit`` by KPI.
    confidence : float

    Returns
    -------
    pandas.DataFrame
        Columns ``plan``, ``plan_slug``, ``baseline``, ``kpi``, ``label``, ``unit``,
        ``plan_mean``, ``baseline_mean``, ``difference`` (mean of ``d_r``),
        ``relative_difference`` (``difference / baseline_mean``), ``std``, ``se``,
        ``ci_low``, ``ci_high``, ``se_unpaired`` (``sqrt(s_x^2/R + s_b^2/R)``: what
        the standard error would be with independent seeds), ``n_replications`` and
        ``significant`` (the interval excludes 0).
    """
    baseline = spec.baseline
    reference = kpis[baseline.name]
    rows = []
    for plan in spec.plans[1:]:
        values = kpis[plan.name]
        for kpi in reference.columns:
            x = values[kpi].to_numpy(dtype=float)
            b = reference.loc[values.index, kpi].to_numpy(dtype=float)
            paired = paired_interval(x - b, confidence)
            n = len(x)
            unpaired = math.sqrt(x.var(ddof=1) / n + b.var(ddof=1) / n) if n >= 2 else math.nan
            baseline_mean = float(b.mean())
            rows.append(
                {
                    "plan": plan.name,
                    "plan_slug": plan.slug,
                    "baseline": baseline.name,
                    "kpi": kpi,
                    "label": labels.loc[kpi, "label"] if kpi in labels.index else kpi,
                    "unit": labels.loc[kpi, "unit"] if kpi in labels.index else "",
                    "plan_mean": float(x.mean()),
                    "baseline_mean": baseline_mean,
                    "difference": paired["mean"],
                    "relative_difference": paired["mean"] / baseline_mean if baseline_mean != 0 else math.nan,
                    "std": paired["std"],
                    "se": paired["se"],
                    "ci_low": paired["ci_low"],
                    "ci_high": paired["ci_high"],
                    "se_unpaired": unpaired,
                    "n_replications": n,
                    "significant": bool(n >= 2 and (paired["ci_low"] > 0 or paired["ci_high"] < 0)),
                }
            )
    columns = [
        "plan",
        "plan_slug",
        "baseline",
        "kpi",
        "label",
        "unit",
        "plan_mean",
        "baseline_mean",
        "difference",
        "relative_difference",
        "std",
        "se",
        "ci_low",
        "ci_high",
        "se_unpaired",
        "n_replications",
        "significant",
    ]
    return pd.DataFrame(rows, columns=columns)


def _stores_table(spec: ComparisonSpec, runs: Mapping[str, RunResult]) -> pd.DataFrame:
    """Per plan and store: totals (mean over replications), utilisation, queue, change vs baseline."""
    frames = []
    for plan in spec.plans:
        run = runs[plan.name]
        weight = run.consumer_weight
        totals = store_totals(run.stores, run.plan)
        stores = run.stores
        if len(stores):
            open_rows = stores[stores["is_open"].astype(bool)] if "is_open" in stores else stores
            queue = open_rows.groupby("store_id", sort=False)["queue_length"].agg(queue_mean="mean", queue_max="max")
            queue.index = queue.index.astype(str)
            totals = totals.merge(queue, left_on="store_id", right_index=True, how="left")
        else:
            totals = totals.assign(queue_mean=np.nan, queue_max=np.nan)
        for column in (
            "sightings",
            "bookings_requested",
            "test_drives",
            "bookings_lost",
            "purchases",
            "queue_mean",
            "queue_max",
        ):
            if column in totals.columns:
                totals[f"{column}_scaled"] = totals[column].astype(float) * weight
        frames.append(_with_plan(totals, plan))
    table = pd.concat(frames, ignore_index=True)
    base = table[table["plan"] == spec.baseline.name].set_index("store_id")["bookings_requested_scaled"]
    table["bookings_requested_scaled_baseline"] = table["store_id"].map(base)
    table["in_baseline"] = table["store_id"].isin(base.index)
    return table


def _zones_table(spec: ComparisonSpec, runs: Mapping[str, RunResult], city: City, confidence: float) -> pd.DataFrame:
    """Per plan and zone: replication means and paired differences to the baseline."""

    def per_replication(run: RunResult) -> pd.DataFrame:
        zones = run.zones.copy()
        zones["zone_id"] = zones["zone_id"].astype(str)
        zones["bookings_requested_scaled"] = zones["bookings_requested"].astype(float) * run.consumer_weight
        return zones

    baseline = per_replication(runs[spec.baseline.name])
    names = pd.DataFrame(
        {
            "zone_id": np.asarray(city.zone_ids).astype(str),
            "zone_name": city.zone_names,
            "zone_name_en": city.zone_names_en,
        }
    )
    frames = []
    for plan in spec.plans:
        zones = per_replication(runs[plan.name])
        means = replication_means(zones, "zone_id")
        paired = zones.merge(baseline, on=["replication", "zone_id"], suffixes=("", "_base"))
        for column in ZONE_DIFFERENCE_COLUMNS:
            paired[f"{column}_difference"] = paired[column].astype(float) - paired[f"{column}_base"].astype(float)
            stats_frame = _grouped_paired(paired, ["zone_id"], f"{column}_difference", confidence)
            means = means.merge(
                stats_frame.rename(
                    columns={
                        "mean": f"{column}_difference",
                        "ci_low": f"{column}_difference_ci_low",
                        "ci_high": f"{column}_difference_ci_high",
                    }
                ),
                left_on="zone_id",
                right_index=True,
                how="left",
            )
        means = names.merge(means, on="zone_id", how="right")
        frames.append(_with_plan(means, plan))
    return pd.concat(frames, ignore_index=True)


def _marginal_tables(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    kpis: Mapping[str, pd.DataFrame],
    tasks: Sequence[_RunTask],
    outcomes: Mapping[int, Any],
    labels: pd.DataFrame,
    confidence: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Marginal contribution of each store: KPI(plan) - KPI(plan without the store), paired."""
    variant_rows = []
    for position, task in enumerate(tasks):
        if task.variant == "":
            continue
        outcome = outcomes[position]
        daily = outcome["daily"].copy()
        weight = float(outcome["weight"])
        for column in DAILY_COUNT_COLUMNS:
            daily[f"{column}_scaled"] = daily[column] * weight
        daily.insert(0, "seed", task.seed)
        daily.insert(0, "replication", task.replication)
        one = RunResult(
            daily=daily,
            stores=pd.DataFrame(),
            zones=pd.DataFrame(),
            cells=pd.DataFrame(),
            plan=pd.DataFrame(),
            metadata={},
        )
        values = one.replication_kpis().iloc[0].to_dict()
        plan = spec.plans[task.plan_index]
        variant_rows.append(
            {
                "plan": plan.name,
                "plan_slug": plan.slug,
                "removed": "all stores" if task.variant == NO_STORES else task.variant,
                "variant": "no_stores" if task.variant == NO_STORES else "without_store",
                "replication": task.replication,
                "seed": task.seed,
                **values,
            }
        )
    marginal_runs = pd.DataFrame(variant_rows)
    rows = []
    for plan in spec.plans:
        if plan.n_stores == 0:
            continue
        full = kpis[plan.name]
        mine = marginal_runs[marginal_runs["plan"] == plan.name]
        none = mine[mine["variant"] == "no_stores"].set_index("replication").sort_index()
        frame = runs[plan.name].plan.set_index("store_id")
        for store in plan.scenario.plan.stores:
            without = mine[mine["removed"] == store.id].set_index("replication").sort_index()
            for kpi in MARGINAL_KPIS:
                if kpi not in full.columns:
                    continue
                plan_values = full.loc[without.index, kpi].to_numpy(dtype=float)
                paired = paired_interval(plan_values - without[kpi].to_numpy(dtype=float), confidence)
                effect = float(
                    np.mean(full.loc[none.index, kpi].to_numpy(dtype=float) - none[kpi].to_numpy(dtype=float))
                )
                rows.append(
                    {
                        "plan": plan.name,
                        "plan_slug": plan.slug,
                        "store_id": store.id,
                        "store_name": store.name,
                        "format": store.format,
                        "zone_id": str(frame.loc[store.id, "zone_id"]) if store.id in frame.index else "",
                        "kpi": kpi,
                        "label": labels.loc[kpi, "label"] if kpi in labels.index else kpi,
                        "unit": labels.loc[kpi, "unit"] if kpi in labels.index else "",
                        "contribution": paired["mean"],
                        "std": paired["std"],
                        "se": paired["se"],
                        "ci_low": paired["ci_low"],
                        "ci_high": paired["ci_high"],
                        "n_replications": paired["n"],
                        "significant": bool(paired["n"] >= 2 and (paired["ci_low"] > 0 or paired["ci_high"] < 0)),
                        "plan_value": float(plan_values.mean()),
                        "plan_effect": effect,
                        "share_of_plan_effect": paired["mean"] / effect if effect != 0 else math.nan,
                    }
                )
    return pd.DataFrame(rows), marginal_runs


def _comparison_metadata(
    spec: ComparisonSpec,
    runs: Mapping[str, RunResult],
    city: City,
    marginal: bool,
    executor: ExecutorSpec,
    timings: Mapping[str, float],
    command: str | None,
    confidence: float,
) -> dict[str, Any]:
    baseline = spec.baseline.scenario
    weight = runs[spec.baseline.name].consumer_weight
    return to_jsonable(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": COMPARISON_KIND,
            "name": spec.name,
            "description": spec.description,
            "mode": spec.mode,
            "sources": list(spec.sources),
            "comparison_hash": spec.comparison_hash(),
            "baseline": spec.baseline.name,
            "plans": [
                {
                    "name": plan.name,
                    "slug": plan.slug,
                    "source": plan.source,
                    "stores": plan.n_stores,
                    "scenario_hash": scenario_hash(plan.scenario),
                    "scenario": json.loads(canonical_json(plan.scenario)),
                    "run_folder": f"{RUNS_DIR}/{plan.slug}",
                }
                for plan in spec.plans
            ],
            "seed": spec.seed,
            "replications": spec.replications,
            "replication_seeds": spec.seeds,
            "common_random_numbers": True,
            "confidence_level": confidence,
            "marginal": marginal,
            "executor": executor.describe(),
            "consumers": baseline.population.consumers,
            "consumer_weight": weight,
            "population_total": float(city.population_total),
            "city": city.name,
            "horizon_days": baseline.horizon.days,
            "start_date": baseline.horizon.start_date,
            "package_versions": package_versions(),
            "timings": dict(timings),
            "created_utc": utc_now_iso(),
            "command": command,
        }
    )


# --------------------------------------------------------------------------- terminal rows


def format_difference(value: float, unit: str) -> str:
    """A signed difference: people with thousands separators, shares in percentage points.

    A value that shows as zero gets no sign (``0``, not ``-0``).
    """
    if value is None or not math.isfinite(value):
        return "–"
    if unit in ("people", "consumers", "count"):
        text = f"{value:+,.0f}"
    elif unit in ("share", "percent"):
        text = f"{100.0 * value:+.2f} pp"
    elif unit == "index":
        text = f"{value:+.3f}"
    else:
        text = f"{value:+,.4g}"
    return text.lstrip("+-") if not any(c in "123456789" for c in text) else text


def difference_rows(result: ComparisonResult, kpis: Sequence[str] = HEADLINE_KPIS) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the terminal table: baseline value, then each plan's difference and CI."""
    from simulator.reports.figures import format_number

    headers = ["KPI", f"{result.baseline} (baseline)"] + [f"{name} − baseline" for name in result.plan_names[1:]]
    baseline_values = result.plans[result.plans["plan"] == result.baseline].set_index("kpi")
    differences = result.differences.set_index(["plan", "kpi"])
    rows = []
    for kpi in kpis:
        if kpi not in baseline_values.index:
            continue
        row = baseline_values.loc[kpi]
        cells = [SHORT_LABELS.get(kpi, str(row["label"])), format_number(float(row["mean"]), str(row["unit"]))]
        for name in result.plan_names[1:]:
            difference = differences.loc[(name, kpi)]
            text = format_difference(float(difference["difference"]), str(row["unit"]))
            if math.isfinite(float(difference["ci_low"])):
                text += (
                    f" [{format_difference(float(difference['ci_low']), str(row['unit']))}, "
                    f"{format_difference(float(difference['ci_high']), str(row['unit']))}]"
                )
            cells.append(text)
        rows.append(cells)
    return headers, rows


# --------------------------------------------------------------------------- writing


def default_comparison_dir(results_root: str | os.PathLike[str], spec: ComparisonSpec) -> Path:
    """``<results_root>/compare-<name>-<YYYYmmdd-HHMMSS>-<hash8>`` (a fresh path; nothing created)."""
    from simulator.results import default_run_dir

    return default_run_dir(results_root, f"compare-{spec.name}", spec.comparison_hash())


def write_comparison(
    result: ComparisonResult,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    run_reports: bool = True,
) -> Path:
    """Write the comparison folder, atomically.

    The folder is built as a hidden sibling ``.<name>.partial-<random>`` and renamed onto
    ``out_dir`` when complete (as :func:`simulator.results.run_folder.write_run` does). Contents:
    ``metadata.json``; ``runs.parquet``, ``plans.parquet``, ``differences.parquet``,
    ``stores.parquet``, ``daily.parquet``, ``zones.parquet`` (and ``marginal.parquet``,
    ``marginal_runs.parquet`` with ``--marginal``); ``zones.gpkg`` (layers ``zones``,
    long by plan, and ``stores``); ``figures/*.png``; ``report.html``; and the runs of
    each plan as ordinary run folders under ``runs/<plan-slug>/``.

    Parameters
    ----------
    result : ComparisonResult
    out_dir : path-like
    overwrite : bool
        Replace an existing non-empty folder (only after the new one is complete).
    run_reports : bool
        Write the figures and ``report.html`` of every run folder too (slower).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    import simulator.reports.compare_report as compare_report
    from simulator.city import cell_frame, zone_frame
    from simulator.config import ResultsError

    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise ResultsError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ResultsError(f"{target}: comparison folder exists and is not empty (use --overwrite or another --out)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{secrets.token_hex(6)}"
    partial.mkdir()
    try:
        zones_gdf = zone_frame(result.city)
        cells_gdf = cell_frame(result.city)
        write_json(result.metadata, partial / "metadata.json")
        tables = {name: getattr(result, "run_kpis" if name == "runs" else name) for name in TABLE_FILES}
        if result.marginal is not None:
            tables["marginal"] = result.marginal
            tables["marginal_runs"] = result.marginal_runs
        for name, table in tables.items():
            write_parquet(_parquet_safe(table), partial / f"{name}.parquet")
        _write_zones_gpkg(result, zones_gdf, partial / ZONES_GPKG)
        figures = compare_report.save_comparison_figures(result, partial, zone_gdf=zones_gdf)
        compare_report.write_comparison_html(result, figures, partial / REPORT_FILE)
        (partial / RUNS_DIR).mkdir()
        for plan in result.spec.plans:
            write_run(
                result.runs[plan.name],
                partial / RUNS_DIR / plan.slug,
                zone_frame=zones_gdf,
                cell_frame=cells_gdf,
                figures=run_reports,
                report=run_reports,
            )
        swap_into_place(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Dates as calendar dates and object columns as text (so pyarrow infers one type)."""
    table = table.copy()
    if "date" in table.columns and len(table):
        table["date"] = pd.to_datetime(table["date"]).dt.date
    for column in table.columns:
        if table[column].dtype == object and column != "date":
            table[column] = table[column].map(
                lambda v: v if v is None or isinstance(v, (str, bool, int, float)) else str(v)
            )
    return table


def _write_zones_gpkg(result: ComparisonResult, zones_gdf: Any, path: Path) -> None:
    """``zones.gpkg``: per plan and zone results and differences (layer ``zones``) and every plan's stores."""
    import geopandas as gpd
    import pyogrio

    geometry = zones_gdf[["zone_id", zones_gdf.geometry.name]].assign(zone_id=lambda f: f["zone_id"].astype(str))
    zones = geometry.merge(result.zones, on="zone_id", how="inner").to_crs(GEOPACKAGE_CRS)
    plans = []
    for plan in result.spec.plans:
        frame = result.runs[plan.name].plan.copy()
        frame["store_id"] = frame["store_id"].astype(str)
        totals = result.stores[result.stores["plan"] == plan.name].drop(
            columns=[c for c in ("store_name", "format", "capacity", "plan", "plan_slug") if c in result.stores.columns]
        )
        plans.append(_with_plan(frame.merge(totals, on="store_id", how="left"), plan))
    stores = pd.concat(plans, ignore_index=True)
    layers = {"zones": gpd.GeoDataFrame(zones, geometry=zones_gdf.geometry.name, crs=GEOPACKAGE_CRS)}
    if len(stores):
        layers["stores"] = gpd.GeoDataFrame(
            stores, geometry=gpd.points_from_xy(stores["lon"], stores["lat"]), crs=GEOPACKAGE_CRS
        )
    with atomic_path(path) as temporary, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(filename extension|non conformant file extension).*")
        for layer, frame in layers.items():
            pyogrio.write_dataframe(gpkg_safe(frame), temporary, layer=layer, driver="GPKG")


__all__ = [
    "AGREEMENT_EXEMPT_KEYS",
    "CONFIDENCE_LEVEL",
    "HEADLINE_KPIS",
    "MARGINAL_KPIS",
    "ComparisonFile",
    "ComparisonPlan",
    "ComparisonResult",
    "ComparisonSpec",
    "PlanSpec",
    "check_agreement",
    "compare",
    "default_comparison_dir",
    "difference_rows",
    "difference_table",
    "first_difference",
    "format_difference",
    "is_comparison_data",
    "load_comparison",
    "paired_interval",
    "plan_slug",
    "write_comparison",
]

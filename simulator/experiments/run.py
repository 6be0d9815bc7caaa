"""Experiments: a scenario's replications (``run``); comparisons and sweeps build on it.

A run is one scenario and one seed; a scenario's replications differ only in their seeds,
spawned from the scenario's root seed (:func:`simulator.model.rng.replication_seeds`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.city import City, load_city
from simulator.config import FootprintError, Scenario
from simulator.experiments.cache import PreparedRun
from simulator.experiments.executors import ExecutorSpec, execute
from simulator.experiments.options import RunOptions, prepare_scenario, resolve_consumers
from simulator.experiments.trade_area_tables import booking_table, trade_area_table
from simulator.model import (
    STORE_DAY_COLUMNS,
    WEEK_DAYS,
    FootprintModel,
    Population,
    replication_seeds,
    scenario_warnings,
)
from simulator.model.batches import end_state
from simulator.model.group_sums import (
    add_at_least_by_group,
    add_by_group,
    add_squares_by_group,
    count_by_group,
    in_blocks,
)
from simulator.model.population import consumer_count
from simulator.results import DAILY_COUNT_COLUMNS, TRADE_AREA_COUNTS, RunResult, build_metadata
from simulator.results.daily_noise import add_daily_se, add_weekly_se
from simulator.results.uncertainty import add_within_run_se, mean_se_from_moments, se_name

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(days_done, days_total)`` after every simulated day."""


PACKED_TABLES = ("stores", "cells", "trade_areas", "bookings")
"""The tables :meth:`ReplicationOutcome.packed_tables` compresses by default (the large ones)."""


@dataclasses.dataclass(frozen=True)
class ReplicationOutcome:
    """What one replication produces: its tables (without replication columns) and more.

    Attributes
    ----------
    daily, stores, zones, cells, rivals, weekly : pandas.DataFrame
        The run tables of this replication (see :class:`simulator.results.RunResult`),
        without the ``replication`` and ``seed`` columns and the ``_scaled`` twins.
    plan : pandas.DataFrame
        The placed stores.
    weight : float
        People of the real population one simulated consumer stands for.
    timings : dict
        ``build_s`` and ``dynamics_s``.
    diagnostics : dict
        ``population`` and ``exposure`` diagnostics of the model.
    """

    daily: pd.DataFrame
    stores: pd.DataFrame
    zones: pd.DataFrame
    cells: pd.DataFrame
    plan: pd.DataFrame
    weight: float
    timings: dict[str, float]
    diagnostics: dict[str, Any]
    rivals: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    mean_store_utilisation: float = float("nan")
    """Mean over the stores with capacity of their utilisation on open days
    (:meth:`simulator.model.FootprintModel.store_utilisation`); NaN without such a store."""

    packed: dict[str, bytes] = dataclasses.field(default_factory=dict)
    """Tables held as compressed Parquet bytes by :meth:`packed_tables` (their frames are empty)."""

    weekly: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """Each zone's familiarity at the end of every week (:func:`_weekly_table`)."""

    trade_areas: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """Bookings, test drives and purchases by store and home cell (:func:`trade_area_table`)."""

    bookings: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """Every booking: ``day``, ``consumer``, ``store_id`` (a rival's: ``rival:<id>``); see
    :meth:`simulator.model.FootprintModel.bookings`. Kept in memory for comparisons."""

    batches: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    """The horizon's KPIs per batch of consumers (:func:`_batch_table`), for within-run SEs."""

    def daily_only(self) -> ReplicationOutcome:
        """This outcome with the daily table only (what a run kept only for its KPIs needs)."""
        empty = pd.DataFrame()
        return dataclasses.replace(
            self,
            stores=empty,
            zones=empty,
            cells=empty,
            plan=empty,
            rivals=empty,
            weekly=empty,
            trade_areas=empty,
            bookings=empty,
            batches=empty,
            diagnostics={},
            packed={},
        )

    def packed_tables(self, names: Collection[str] = PACKED_TABLES) -> ReplicationOutcome:
        """This outcome with the tables ``names`` held as zstd-compressed Parquet bytes.

        What a comparison keeps of each finished run until it assembles the plan's result:
        the cell table, the largest, takes about a quarter of its memory so (exact: Parquet
        keeps values and dtypes). :meth:`unpacked` gives the tables back.
        """
        packed = dict(self.packed)
        frames: dict[str, Any] = {}
        for name in names:
            if name not in packed:
                packed[name] = _to_parquet_bytes(getattr(self, name))
                frames[name] = pd.DataFrame()
        return dataclasses.replace(self, packed=packed, **frames)

    def unpacked(self) -> ReplicationOutcome:
        """This outcome with its packed tables as data frames again."""
        if not self.packed:
            return self
        frames: dict[str, Any] = {name: _from_parquet_bytes(data) for name, data in self.packed.items()}
        return dataclasses.replace(self, packed={}, **frames)

    def scaled_daily(self) -> pd.DataFrame:
        """The daily table with the ``_scaled`` twins of the counts (counts times :attr:`weight`)."""
        daily = self.daily.copy()
        for column in DAILY_COUNT_COLUMNS:
            daily[f"{column}_scaled"] = daily[column] * self.weight
        return daily

    def kpis(self) -> dict[str, float]:
        """End-of-horizon KPIs, as :meth:`simulator.results.RunResult.replication_kpis` gives them.

        Totals over the horizon for counts, last-day values for shares and means.
        """
        daily = self.scaled_daily()
        daily.insert(0, "replication", 0)
        empty = pd.DataFrame()
        per_run = RunResult(
            daily=daily, stores=empty, zones=empty, cells=empty, plan=empty, metadata={}
        ).replication_kpis()
        return {str(name): float(per_run[name].iloc[0]) for name in per_run.columns}


def _to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, compression="zstd")
    return bytes(sink.getvalue())


def _from_parquet_bytes(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(data)).to_pandas()


ALL_TABLES = frozenset(
    {"daily", "stores", "zones", "cells", "rivals", "plan", "weekly", "trade_areas", "bookings", "batches"}
)
"""The tables of a :class:`ReplicationOutcome`; :func:`simulate_replication` can build fewer."""


def simulate_replication(
    scenario: Scenario,
    seed: int,
    city: City,
    *,
    population: Population | None = None,
    prepared: PreparedRun | None = None,
    tables: Collection[str] = ALL_TABLES,
    progress: ProgressCallback | None = None,
) -> ReplicationOutcome:
    """Run one replication to the horizon and return its tables (without replication columns).

    Parameters
    ----------
    population : Population, optional
        The replication's population, already synthesised.
    prepared : PreparedRun, optional
        Population, stores, rivals and exposure already built for this scenario and seed
        (:func:`simulator.experiments.cache.prepared_run`); the model only reads them.
    tables : collection of str
        The tables to build (of :data:`ALL_TABLES`); the others are left empty. ``daily``
        is always built.
    progress : callable, optional
        ``progress(days_done, days_total)``.
    """
    started = time.perf_counter()
    unknown = set(tables) - ALL_TABLES
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; expected some of {sorted(ALL_TABLES)}")
    prebuilt: dict[str, Any] = {}
    if prepared is not None:
        population = prepared.population
        prebuilt = {
            "stores": prepared.stores,
            "rivals": prepared.rivals,
            "exposure": prepared.exposure,
            "followers": prepared.followers,
        }
    model = FootprintModel(scenario, seed=seed, city=city, population=population, collect_data=False, **prebuilt)
    if "stores" not in tables:
        model.store_days = "none"
    built = time.perf_counter()
    try:
        while model.running:
            model.step()
            if progress is not None:
                progress(model.day, model.horizon_days)
        finished = time.perf_counter()
        timings = {"build_s": built - started, "dynamics_s": finished - built}
        return _outcome(model, city, timings, frozenset(tables))
    finally:
        model.release()


def _outcome(
    model: FootprintModel, city: City, timings: dict[str, float], tables: frozenset[str] = ALL_TABLES
) -> ReplicationOutcome:
    """The tables of a finished model (those not in ``tables`` empty)."""
    empty = pd.DataFrame()
    zones, cells = _zone_tables(model) if tables & {"zones", "cells"} else (empty, empty)
    rivals = empty
    if "rivals" in tables:
        rivals = model.rivals.to_frame(city)
        rivals["bookings"] = model.rival_bookings
    return ReplicationOutcome(
        rivals=rivals,
        daily=pd.DataFrame(model.daily_rows),
        stores=pd.DataFrame(model.store_rows, columns=list(STORE_DAY_COLUMNS)) if "stores" in tables else empty,
        zones=zones if "zones" in tables else empty,
        cells=cells if "cells" in tables else empty,
        plan=model.stores.to_frame(city) if "plan" in tables else empty,
        weekly=_weekly_table(model) if "weekly" in tables else empty,
        trade_areas=trade_area_table(model) if "trade_areas" in tables else empty,
        bookings=booking_table(model) if "bookings" in tables else empty,
        batches=_batch_table(model) if "batches" in tables else empty,
        weight=float(model.population.weight),
        mean_store_utilisation=_mean_utilisation(model.store_utilisation()),
        timings=timings,
        diagnostics={"population": model.population.diagnostics, "exposure": model.exposure.diagnostics},
    )


def _mean_utilisation(per_store: np.ndarray) -> float:
    with_capacity = per_store[~np.isnan(per_store)]
    return float(with_capacity.mean()) if len(with_capacity) else float("nan")


def _zone_tables(model: FootprintModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """End-of-horizon results per cell and per zone."""
    city = model.city
    population = model.population
    n_cells = len(city.cell_xy)
    cell = population.home_cell
    consumers = count_by_group(cell, n_cells)

    def per_cell(add: Callable[..., None], values: np.ndarray, *extra: float) -> np.ndarray:
        out = np.zeros(n_cells)
        add(cell, values, *extra, out)
        return out

    # one float64 array of every consumer at a time: familiarity's sums, then trust's
    familiarity = in_blocks(population.n, model.familiarity)
    mean_familiarity = float(familiarity.mean())
    familiarity_sums = {
        "familiarity": per_cell(add_by_group, familiarity),
        "familiar": per_cell(add_at_least_by_group, familiarity, 0.5),
        # sums of squared deviations from the overall mean give the within-area spread of the
        # means (their Monte-Carlo SE); centring keeps the difference of sums accurate
        "familiarity_squares": per_cell(add_squares_by_group, familiarity, mean_familiarity),
    }
    del familiarity
    trust = in_blocks(population.n, lambda part: model.trust_of(part, model.horizon_days - 1))
    mean_trust = float(trust.mean())
    trust_sums = {
        "trust": per_cell(add_by_group, trust),
        "trust_squares": per_cell(add_squares_by_group, trust, mean_trust),
    }
    del trust
    access = model.choice.cell_access(city.cell_xy)
    nearest_km = np.where(np.isfinite(access.nearest_store_km), access.nearest_store_km, np.nan)
    sums = {
        **familiarity_sums,
        **trust_sums,
        "aware": per_cell(add_by_group, model.aware),
        "brand_access": consumers * access.brand_share,
        "rival_access": consumers * access.rival_share,
        "nearest_store_km": consumers * nearest_km,
        "brand_access_squares": consumers * (access.brand_share - _centre(access.brand_share, consumers)) ** 2,
        "rival_access_squares": consumers * (access.rival_share - _centre(access.rival_share, consumers)) ** 2,
        "nearest_store_km_squares": consumers * (nearest_km - _centre(nearest_km, consumers)) ** 2,
    }
    counts = {
        "consumers": consumers,
        "test_drive_intents": model.cell_intents,
        "bookings_requested": model.cell_bookings,
        "bookings_to_rivals": model.cell_bookings_to_rivals,
        "test_drives": model.cell_test_drives,
        "purchases": model.cell_purchases,
    }
    centres = {
        "familiarity": mean_familiarity,
        "trust": mean_trust,
        "brand_access": _centre(access.brand_share, consumers),
        "rival_access": _centre(access.rival_share, consumers),
        "nearest_store_km": _centre(nearest_km, consumers),
    }
    cells = _results_frame(sums, counts, population.weight, centres)
    cells.insert(0, "cell_id", city.cell_ids)
    cells.insert(1, "zone_id", city.zone_ids[city.cell_zone])
    cells = cells[cells["consumers"] > 0].reset_index(drop=True)

    zone = np.asarray(city.cell_zone)
    n_zones = len(city.zone_ids)
    zone_sums = {k: np.bincount(zone, weights=v, minlength=n_zones) for k, v in sums.items()}
    zone_counts = {k: np.bincount(zone, weights=v, minlength=n_zones).astype(np.int64) for k, v in counts.items()}
    zones = _results_frame(zone_sums, zone_counts, population.weight, centres)
    zones.insert(0, "zone_id", city.zone_ids)
    return zones, cells


def _centre(per_cell_value: np.ndarray, consumers: np.ndarray) -> float:
    """Consumer-weighted mean of a per-cell value over the cells with consumers (0 if none is finite)."""
    finite = np.isfinite(per_cell_value) & (consumers > 0)
    return float(np.average(per_cell_value[finite], weights=consumers[finite])) if finite.any() else 0.0


def _batch_table(model: FootprintModel) -> pd.DataFrame:
    """The horizon's counts and end-of-horizon sums per batch of consumers (:mod:`simulator.model.batches`)."""
    last_day = model.day - 1
    familiarity = model.familiarity()
    trust = model.trust_of(np.arange(model.population.n), last_day)
    arrays = model.consumers.arrays
    return model.batch_tallies.table(end_state(familiarity, trust, arrays.aware, arrays.recent_sightings, last_day))


def _weekly_table(model: FootprintModel) -> pd.DataFrame:
    """The zones' familiarity at the end of every week (and of the horizon), long by (week, zone).

    ``mean_familiarity`` = sum of F_i / consumers and ``share_familiar`` = #{F_i >= 0.5} /
    consumers over the consumers living in the zone (NaN where it has none).
    """
    zone_ids = model.city.zone_ids
    n_zones = len(zone_ids)
    consumers = count_by_group(model.consumer_zone, n_zones).astype(np.float64)
    safe = np.maximum(consumers, 1.0)
    days = np.repeat(np.asarray(model.weekly_days, dtype=np.int64), n_zones)
    sums = np.asarray(model.weekly_familiarity, dtype=np.float64).reshape(-1, 2, n_zones)
    return pd.DataFrame(
        {
            "week": days // WEEK_DAYS + 1,
            "day": days,
            "zone_id": np.tile(zone_ids, len(model.weekly_days)),
            "consumers": np.tile(consumers.astype(np.int64), len(model.weekly_days)),
            "mean_familiarity": np.where(consumers > 0, sums[:, 0, :] / safe, np.nan).ravel(),
            "share_familiar": np.where(consumers > 0, sums[:, 1, :] / safe, np.nan).ravel(),
        }
    )


def _results_frame(sums: dict, counts: dict, weight: float, centres: Mapping[str, float]) -> pd.DataFrame:
    consumers = counts["consumers"].astype(np.float64)
    safe = np.maximum(consumers, 1.0)
    frame = pd.DataFrame(
        {
            "consumers": counts["consumers"].astype(np.int64),
            "population_represented": consumers * weight,
            "mean_familiarity": np.where(consumers > 0, sums["familiarity"] / safe, np.nan),
            "share_familiar": np.where(consumers > 0, sums["familiar"] / safe, np.nan),
            "mean_trust": np.where(consumers > 0, sums["trust"] / safe, np.nan),
            "share_aware": np.where(consumers > 0, sums["aware"] / safe, np.nan),
            "brand_access": np.where(consumers > 0, sums["brand_access"] / safe, np.nan),
            "rival_access": np.where(consumers > 0, sums["rival_access"] / safe, np.nan),
            "nearest_store_km": np.where(consumers > 0, sums["nearest_store_km"] / safe, np.nan),
        }
    )
    for name in ("test_drive_intents", "bookings_requested", "bookings_to_rivals", "test_drives", "purchases"):
        frame[name] = counts[name].astype(np.int64)
        frame[f"{name}_per_1000"] = np.where(consumers > 0, 1000.0 * counts[name] / safe, np.nan)
    for mean, total in MEAN_SUMS.items():
        centred = sums[total] - consumers * centres[total]
        frame[se_name(mean)] = mean_se_from_moments(centred, sums[f"{total}_squares"], consumers)
    return add_within_run_se(frame)


MEAN_SUMS = {
    "mean_familiarity": "familiarity",
    "mean_trust": "trust",
    "brand_access": "brand_access",
    "rival_access": "rival_access",
    "nearest_store_km": "nearest_store_km",
}
"""Zone and cell means of per-consumer quantities and the sums they come from."""


STORE_COUNT_COLUMNS = ("sightings", "bookings_requested", "test_drives", "bookings_lost", "queue_length", "purchases")


def run(
    scenario: Scenario | str | Path,
    *,
    consumers: int | str | None = None,
    days: int | None = None,
    seed: int | None = None,
    replications: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    city: City | None = None,
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> RunResult:
    """Run a scenario's replications and return the results.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario, or the path of a scenario file.
    consumers, days, seed, replications : int, optional
        Overrides of ``population.consumers`` (an integer, or ``"all"``: one per resident),
        ``horizon.days``, ``seed``, ``replications``.
    overrides : mapping, optional
        Further overrides by dotted key path (``{"behaviour.hill_k": 4}``); see :class:`RunOptions`.
    city : City, optional
        An already loaded city (default: the scenario's bundle).
    progress : callable, optional
        ``progress(days_done, days_total)`` over all replications.

    Returns
    -------
    RunResult
        Tables with ``replication`` and ``seed`` columns, and the metadata.
    """
    started = time.perf_counter()
    options = RunOptions(consumers, days, seed, replications, dict(overrides or {}))
    scenario = prepare_scenario(scenario, options)
    city = city if city is not None else load_city(scenario.resolved_bundle)
    scenario = resolve_consumers(scenario, city.population_total)
    city_loaded = time.perf_counter()
    seeds = replication_seeds(scenario.seed, scenario.replications)
    horizon = scenario.horizon.days
    workers = min(scenario.run.workers, len(seeds))
    if workers > 1:
        outcomes = _replications_in_processes(scenario, seeds, city, workers, progress)
    else:
        outcomes = []
        for replication, replication_seed in enumerate(seeds):
            done_before = replication * horizon

            def replication_progress(done: int, total: int, offset: int = done_before) -> None:
                if progress is not None:
                    progress(offset + done, horizon * len(seeds))

            outcomes.append(simulate_replication(scenario, replication_seed, city, progress=replication_progress))
    timings = {"city_s": city_loaded - started, "total_s": time.perf_counter() - started}
    return assemble_result(scenario, seeds, outcomes, city, timings=timings, command=command)


def _replication_task(task: tuple[Scenario, int, City]) -> ReplicationOutcome:
    scenario, seed, city = task
    return simulate_replication(scenario, seed, city)


def _replications_in_processes(
    scenario: Scenario, seeds: list[int], city: City, workers: int, progress: ProgressCallback | None
) -> list[ReplicationOutcome]:
    """Replications on ``workers`` local processes (``run.workers``); same results as in series."""
    outcomes: dict[int, ReplicationOutcome] = {}
    tasks = [(scenario, seed, city) for seed in seeds]
    for done, outcome in enumerate(execute(_replication_task, tasks, ExecutorSpec("processes", workers=workers)), 1):
        if outcome.error is not None:
            raise FootprintError(f"{scenario.name}: replication {outcome.index}: {outcome.error.splitlines()[0]}")
        outcomes[outcome.index] = outcome.value
        if progress is not None:
            progress(done * scenario.horizon.days, len(seeds) * scenario.horizon.days)
    return [outcomes[index] for index in range(len(seeds))]


def assemble_result(
    scenario: Scenario,
    seeds: list[int],
    outcomes: Sequence[ReplicationOutcome],
    city: City,
    *,
    timings: Mapping[str, float] | None = None,
    command: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> RunResult:
    """One :class:`RunResult` from the outcomes of :func:`simulate_replication`, in replication order.

    Adds the ``replication`` and ``seed`` columns, the ``_scaled`` twins of the counts, the
    within-run SEs of the daily and weekly rows (:mod:`simulator.results.daily_noise`) and
    the metadata; build and dynamics times are summed over the replications.
    """
    tables = {
        name: _stacked(name, seeds, outcomes)
        for name in ("daily", "stores", "zones", "cells", "rivals", "weekly", "trade_areas", "bookings", "batches")
    }
    weight = float(outcomes[-1].weight)
    daily = tables["daily"]
    for column in DAILY_COUNT_COLUMNS:
        daily[f"{column}_scaled"] = daily[column] * weight
    stores = tables["stores"]
    for column in STORE_COUNT_COLUMNS:
        stores[f"{column}_scaled"] = stores[column] * weight
    consumers = consumer_count(scenario.population.consumers, city.population_total)
    daily = add_daily_se(daily, consumers, weight)
    rivals = tables["rivals"]
    if "bookings" in rivals.columns:
        rivals["bookings_scaled"] = rivals["bookings"] * weight
    trade_areas = tables["trade_areas"]
    for column in TRADE_AREA_COUNTS:
        if column in trade_areas.columns:
            trade_areas[f"{column}_scaled"] = trade_areas[column] * weight
    all_timings = {
        "build_s": sum(o.timings["build_s"] for o in outcomes),
        "dynamics_s": sum(o.timings["dynamics_s"] for o in outcomes),
        **(timings or {}),
    }
    metadata = build_metadata(
        scenario,
        seed=scenario.seed,
        replication_seeds=list(seeds),
        consumers=consumers,
        consumer_weight=weight,
        population_total=float(city.population_total),
        city=city.name,
        horizon_days=scenario.horizon.days,
        start_date=scenario.horizon.start_date,
        timings=all_timings,
        command=command,
        extra={"diagnostics": [o.diagnostics for o in outcomes], **(extra or {})},
        warnings=scenario_warnings(scenario, city),
    )
    return RunResult(
        daily=daily,
        stores=stores,
        zones=tables["zones"],
        cells=tables["cells"],
        plan=outcomes[-1].plan,
        metadata=metadata,
        rivals=rivals,
        weekly=add_weekly_se(tables["weekly"]),
        trade_areas=trade_areas,
        bookings=tables["bookings"],
        batches=tables["batches"],
    )


def _stacked(name: str, seeds: Sequence[int], outcomes: Sequence[ReplicationOutcome]) -> pd.DataFrame:
    """The outcomes' ``name`` tables one below the other, led by ``replication`` and ``seed`` columns.

    Concatenated first and labelled after, so that no per-replication copy is made.
    """
    frames = [getattr(outcome, name) for outcome in outcomes]
    stacked = pd.concat(frames, ignore_index=True)
    lengths = [len(frame) for frame in frames]
    stacked.insert(0, "seed", np.repeat(np.asarray(list(seeds)[: len(frames)], dtype=np.int64), lengths))
    stacked.insert(0, "replication", np.repeat(np.arange(len(frames), dtype=np.int64), lengths))
    return stacked

"""Where runs execute: in this process, in local worker processes, or on a Dask cluster.

One interface for all: :func:`execute` maps a picklable function over tasks and yields an
:class:`Outcome` per task *as it finishes* (so callers can write each result at once and
never hold them all). A task that raises does not stop the others: its outcome carries the
error message. Results do not depend on the executor, because every task carries its own
seed (see :mod:`simulator.model.rng`).

Dask: ``ExecutorSpec(kind="dask", address="tcp://host:8786")`` connects to a running
scheduler (started with ``dask scheduler`` and ``dask worker``); ``kind="dask-local"``
starts a ``LocalCluster`` bound to loopback for the duration of the call.

Local worker processes die with the command: each sets a parent-death signal (Linux
``prctl(PR_SET_PDEATHSIG, SIGKILL)``, :func:`simulator.config.processes.start_worker`) and
ignores Ctrl-C (the command stops them), so a command killed even by SIGKILL leaves no
worker behind. More workers than the machine's
cores are capped at the cores (:func:`capped_workers`), with a warning.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from simulator.config import FootprintError
from simulator.config.processes import start_worker

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT = "10s"  # how long to wait for a Dask scheduler before giving up


@dataclass(frozen=True)
class ExecutorSpec:
    """How to execute tasks.

    Attributes
    ----------
    kind : {"serial", "processes", "dask", "dask-local"}
    workers : int
        Worker processes for ``processes`` and ``dask-local``.
    address : str, optional
        Scheduler address for ``dask`` (``tcp://host:port``).
    """

    kind: str = "serial"
    workers: int = 1
    address: str | None = None
    warning: str | None = field(default=None, compare=False)

    @classmethod
    def from_options(
        cls, jobs: int | None = None, scheduler: str | None = None, cluster: str | None = None
    ) -> ExecutorSpec:
        """Build a spec from the command line's ``--jobs``, ``--scheduler`` and ``--cluster local:N``."""
        chosen = [
            name for name, value in (("--jobs", jobs), ("--scheduler", scheduler), ("--cluster", cluster)) if value
        ]
        if len(chosen) > 1:
            raise FootprintError(f"{' and '.join(chosen)}: choose one way to execute, not several")
        if scheduler:
            if "://" not in scheduler:
                raise FootprintError(f"--scheduler: expected an address like tcp://127.0.0.1:8786, got '{scheduler}'")
            return cls(kind="dask", address=scheduler)
        if cluster:
            kind, _, count = cluster.partition(":")
            if kind != "local" or not count.isdigit() or int(count) < 1:
                raise FootprintError(f"--cluster: expected local:N with N >= 1 (for example local:2), got '{cluster}'")
            workers, warning = capped_workers(int(count), "--cluster")
            return cls(kind="dask-local", workers=workers, warning=warning)
        if jobs is not None and jobs < 1:
            raise FootprintError(f"--jobs: must be >= 1, got {jobs}")
        if jobs and jobs > 1:
            workers, warning = capped_workers(jobs, "--jobs")
            return cls(kind="processes", workers=workers, warning=warning) if workers > 1 else cls(warning=warning)
        return cls()

    def describe(self) -> str:
        if self.kind == "dask":
            return f"dask scheduler {self.address}"
        if self.kind == "dask-local":
            return f"local dask cluster of {self.workers} workers"
        if self.kind == "processes":
            return f"{self.workers} local processes"
        return "this process"


@dataclass(frozen=True)
class Outcome:
    """The outcome of one task: its index, its value or its error, and its duration."""

    index: int
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _call(function: Callable, index: int, task: Any, single_threaded: bool) -> Outcome:
    """Run one task, capturing any exception as a one-line message (with the traceback)."""
    started = time.perf_counter()
    if single_threaded:
        import numba

        numba.set_num_threads(1)
    try:
        value = function(task)
    except Exception as error:  # a failing run is recorded, never fatal to the others
        first = f"{type(error).__name__}: {error}".splitlines()[0]
        detail = "" if isinstance(error, FootprintError) else "\n" + traceback.format_exc()
        return Outcome(index, error=first + detail, seconds=time.perf_counter() - started)
    return Outcome(index, value=value, seconds=time.perf_counter() - started)


def execute(
    function: Callable[[Any], Any], tasks: Sequence[Any], spec: ExecutorSpec = ExecutorSpec()
) -> Iterator[Outcome]:
    """Apply ``function`` to every task; yield outcomes as they complete.

    Parameters
    ----------
    function : callable
        A module-level (picklable) function of one task.
    tasks : sequence
        Picklable task descriptions.
    spec : ExecutorSpec
        Where to run.

    Yields
    ------
    Outcome
        In completion order (index says which task).
    """
    if not tasks:
        return
    if spec.kind == "serial":
        for index, task in enumerate(tasks):
            yield _call(function, index, task, False)
    elif spec.kind == "processes":
        yield from _execute_processes(function, tasks, spec.workers)
    elif spec.kind in ("dask", "dask-local"):
        yield from _execute_dask(function, tasks, spec)
    else:
        raise FootprintError(f"executor: unknown kind '{spec.kind}'")


def _execute_processes(function: Callable, tasks: Sequence[Any], workers: int) -> Iterator[Outcome]:
    # "spawn" is what Mesa sets at import anyway; it also keeps numba's threads sane.
    context = get_context("spawn")
    count = max(1, min(workers, len(tasks), default_workers()))
    with ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=start_worker, initargs=(os.getpid(),)
    ) as pool:
        pending = {pool.submit(_call, function, i, task, True) for i, task in enumerate(tasks)}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()
            if pending:  # stopped early (Ctrl-C, an error): do not wait for the runs in progress
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()


def _execute_dask(function: Callable, tasks: Sequence[Any], spec: ExecutorSpec) -> Iterator[Outcome]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if spec.kind == "dask-local":
            cluster = LocalCluster(
                n_workers=spec.workers,
                threads_per_worker=1,
                processes=True,
                host=LOOPBACK,
                dashboard_address=None,
                silence_logs=40,
            )
            client = Client(cluster)
        else:
            try:
                client = Client(spec.address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as error:
                raise FootprintError(f"--scheduler: cannot reach {spec.address}: {error}") from None
        with client:
            futures = [client.submit(_call, function, i, task, True, pure=False) for i, task in enumerate(tasks)]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                client.cancel(futures)
    finally:
        if cluster is not None:
            cluster.close()


def capped_workers(requested: int, option: str = "--jobs") -> tuple[int, str | None]:
    """``requested`` worker processes capped at the machine's cores, and a warning when capped.

    More processes than cores only add memory (each holds its own city and population)
    and no speed.
    """
    cores = default_workers()
    if requested <= cores:
        return requested, None
    return cores, f"{option} {requested}: more than the {cores} cores of this machine; using {cores} worker processes"


def default_workers() -> int:
    """Number of cores available to this process."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

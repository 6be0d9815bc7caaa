"""Figures drawn in worker processes while the caller goes on writing other files.

Drawing a run's figures is most of the time spent writing a run folder, and each figure
is independent of the others. :class:`FigureRendering` starts drawing a list of
:class:`~simulator.reports.figures.FigureJob` as soon as it is created, in forked worker
processes (they inherit the jobs' data, so nothing is pickled but the job's index and the
key it returns), costliest first; :meth:`FigureRendering.wait` returns the paths once all
are written. The files are the same bytes as when drawn in this process: the same code
draws them with the same fonts. Where ``fork`` is not available, with one core, or with
``workers=1``, the jobs are drawn in this process by :meth:`~FigureRendering.wait`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from simulator.reports.figures import FigureJob, cjk_font_family, save_figure_jobs

_INHERITED: Sequence[FigureJob] = ()
"""The jobs of the rendering being started; forked workers find them here."""


def _run_inherited(index: int) -> str:
    job = _INHERITED[index]
    job.run()
    return job.key


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(n_jobs: int) -> int:
    """Worker processes for ``n_jobs`` figures: one per idle core, at most one per job.

    Idle cores are ``available_cores() - (load - 1)`` with ``load`` the one-minute load
    average (this process counts in it). On a busy machine extra processes only add
    their start-up and copying to the wait (measured at load 6 on 2 cores: 2 workers took
    19–22 s of wall time where drawing in this process took 15 s), so there they drop to 1.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load = 0.0
    idle = int(available_cores() - max(load - 1.0, 0.0))
    return max(1, min(idle, n_jobs))


class FigureRendering:
    """Figures being drawn in the background; :meth:`wait` for their paths.

    Parameters
    ----------
    jobs : sequence of FigureJob
        The figures; their keys must be distinct.
    workers : int, optional
        Worker processes (default :func:`default_workers`). With 1, or where the ``fork``
        start method does not exist, nothing starts before :meth:`wait`, which draws the
        jobs in this process.

    Notes
    -----
    Use it as a context manager (or call :meth:`close`) so that the workers stop, and
    unstarted jobs are dropped, if the caller fails before waiting.
    """

    def __init__(self, jobs: Sequence[FigureJob], workers: int | None = None) -> None:
        global _INHERITED
        self._jobs = list(jobs)
        if len({job.key for job in self._jobs}) != len(self._jobs):
            raise ValueError("figure jobs need distinct keys")
        workers = default_workers(len(self._jobs)) if workers is None else max(1, min(workers, len(self._jobs)))
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[str]] = []
        self._written: dict[str, Path] | None = None
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        order = sorted(range(len(self._jobs)), key=lambda index: -self._jobs[index].cost)
        cjk_font_family()  # fill the per-process cache once here (an fc-list call) rather than in each worker
        _INHERITED = self._jobs
        try:
            # With fork, the pool starts all its workers at the first submit: they inherit the jobs.
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
            self._futures = [self._pool.submit(_run_inherited, index) for index in order]
        finally:
            _INHERITED = ()

    @property
    def in_background(self) -> bool:
        """True when worker processes draw the figures."""
        return self._pool is not None

    def wait(self) -> dict[str, Path]:
        """Wait until every figure is written (or draw them here); return the paths by key, in job order.

        Raises
        ------
        Exception
            The first error raised while drawing a figure (the other jobs are cancelled).
        """
        if self._written is not None:
            return dict(self._written)
        if self._pool is None:
            self._written = save_figure_jobs(self._jobs)
            return dict(self._written)
        try:
            for future in self._futures:
                future.result()
        finally:
            self.close()
        self._written = {job.key: job.path for job in self._jobs}
        return dict(self._written)

    def close(self) -> None:
        """Stop the workers, dropping jobs that have not started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FigureRendering:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

"""Whole run folders: the stored tables with their figures and report, written atomically.

Storage (:mod:`simulator.results`) writes tables only; this module, in the presentation
layer, puts a run folder together: tables, ``figures/*.png`` and ``report.html``; the
figures are drawn in worker processes while the tables are written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simulator.reports.run_figures import start_figures
from simulator.reports.run_report import write_report_html
from simulator.results import REPORT_FILE, RunResult, atomic_folder, validate_run, write_run_tables

__all__ = ["write_run"]


def write_run(
    result: RunResult,
    out_dir: str | os.PathLike[str],
    *,
    zone_frame: Any = None,
    cell_frame: Any = None,
    figures: bool = True,
    report: bool = True,
    overwrite: bool = False,
    geopackage: bool = True,
    figure_workers: int | None = None,
) -> Path:
    """Write a complete run folder, atomically.

    The folder is built as a hidden sibling ``.<name>.partial-<random>`` and renamed to
    ``out_dir`` only when every file is written; on any failure the partial folder is
    removed and the exception propagates. With ``overwrite=True`` an existing folder is
    replaced only after the new one is complete.

    Parameters
    ----------
    result : RunResult
        Tables and metadata of the run.
    out_dir : path-like
        Run folder to create (its parent is created if needed).
    zone_frame, cell_frame : geopandas.GeoDataFrame, optional
        Zone and cell geometries with ``zone_id`` / ``cell_id`` columns (any CRS,
        e.g. ``simulator.city.zone_frame(city)``). They give the ``zones`` / ``cells``
        layers of ``zones.gpkg`` and the familiarity map.
    figures : bool
        Write ``figures/*.png``.
    report : bool
        Write ``report.html`` (with the figures embedded when ``figures`` is true).
    overwrite : bool
        Replace an existing non-empty ``out_dir``.
    geopackage : bool
        Write ``zones.gpkg``.
    figure_workers : int, optional
        Processes drawing the figures while the tables are written (default: one per
        available core; 1 draws them in this process after the tables). The files are
        the same either way (:mod:`simulator.reports.figure_pool`).

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ResultsError
        ``out_dir`` exists and is not empty (and ``overwrite`` is false), is a file,
        or the result does not follow the table contract.
    """
    validate_run(result)
    target = Path(out_dir)
    with atomic_folder(target, overwrite=overwrite, what="run folder") as partial:
        figure_paths: dict[str, Path] = {}
        if figures:
            with start_figures(result, partial, zone_frame, cell_frame, workers=figure_workers) as rendering:
                write_run_tables(result, partial, zone_frame=zone_frame, cell_frame=cell_frame, geopackage=geopackage)
                figure_paths = rendering.wait()
        else:
            write_run_tables(result, partial, zone_frame=zone_frame, cell_frame=cell_frame, geopackage=geopackage)
        if report:
            write_report_html(result, figure_paths, partial / REPORT_FILE, zone_frame=zone_frame)
    return target

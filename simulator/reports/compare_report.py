"""The comparison folder: a comparison's tables, figures, ``report.html`` and run folders, atomically.

Storage (:func:`simulator.experiments.compare.write_comparison_tables`) writes the tables;
this module, in the presentation layer, puts the whole folder together: the figures of
:mod:`simulator.reports.compare_figures`, :mod:`simulator.reports.compare_store_figures` and
:mod:`simulator.reports.compare_maps` (:func:`save_comparison_figures`), the report of
:mod:`simulator.reports.compare_html` and one run folder per plan
(:func:`simulator.reports.publish.write_run`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from simulator.city import cell_frame, zone_frame
from simulator.config.atomic import atomic_folder
from simulator.experiments.compare import RUNS_DIR, ComparisonResult, write_comparison_tables
from simulator.reports.compare_figures import difference_over_time_figure, differences_figure, funnel_comparison_figure
from simulator.reports.compare_html import write_comparison_html
from simulator.reports.compare_maps import zone_difference_map
from simulator.reports.compare_store_figures import marginal_figure, stores_comparison_figure
from simulator.reports.figures import save_png
from simulator.reports.publish import write_run
from simulator.results import FIGURES_DIR, REPORT_FILE

__all__ = ["save_comparison_figures", "write_comparison"]


def write_comparison(
    result: ComparisonResult,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    run_reports: bool = False,
) -> Path:
    """Write the comparison folder, atomically.

    The folder is built as a hidden sibling ``.<name>.partial-<random>`` and renamed onto
    ``out_dir`` when complete (:func:`simulator.config.atomic.atomic_folder`). Contents:
    ``metadata.json``; ``runs.parquet``, ``plans.parquet``, ``differences.parquet``,
    ``stores.parquet``, ``daily.parquet``, ``zones.parquet`` (and ``marginal.parquet``,
    ``marginal_runs.parquet`` with ``--marginal``); ``zones.gpkg`` (layers ``zones``,
    long by plan, and ``stores``); ``figures/*.png``; ``report.html``; and the runs of
    each plan as run folders of tables only under ``runs/<plan-slug>/`` (metadata and
    Parquet tables; the comparison's report and ``zones.gpkg`` cover every plan).

    Parameters
    ----------
    result : ComparisonResult
    out_dir : path-like
    overwrite : bool
        Replace an existing non-empty folder (only after the new one is complete).
    run_reports : bool
        Write the figures, ``report.html`` and ``zones.gpkg`` of every run folder too
        (slower; by default the run folders hold tables only).

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ResultsError
        ``out_dir`` is a file, or a non-empty folder and ``overwrite`` is false.
    """
    target = Path(out_dir)
    with atomic_folder(
        target, overwrite=overwrite, what="comparison folder", hint="use --overwrite or another --out"
    ) as partial:
        zones_gdf = zone_frame(result.city)
        cells_gdf = cell_frame(result.city)
        write_comparison_tables(result, partial, zone_frame=zones_gdf)
        figures = save_comparison_figures(result, partial, zone_gdf=zones_gdf)
        write_comparison_html(result, figures, partial / REPORT_FILE)
        (partial / RUNS_DIR).mkdir()
        for plan in result.spec.plans:
            write_run(
                result.runs[plan.name],
                partial / RUNS_DIR / plan.slug,
                zone_frame=zones_gdf,
                cell_frame=cells_gdf,
                figures=run_reports,
                report=run_reports,
                geopackage=run_reports,
            )
    return target


def save_comparison_figures(
    result: ComparisonResult, out_dir: str | os.PathLike[str], zone_gdf: Any = None
) -> dict[str, Path]:
    """Write the comparison's figures under ``<out_dir>/figures/``; return their paths by key."""
    folder = Path(out_dir) / FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure | None] = {
        "differences": differences_figure(result),
        "funnel": funnel_comparison_figure(result),
        "difference_over_time": difference_over_time_figure(result),
        "stores": stores_comparison_figure(result),
    }
    if zone_gdf is not None:
        figures["familiarity_difference_map"] = zone_difference_map(
            result,
            zone_gdf,
            "mean_familiarity",
            title="Mean familiarity at the end of the horizon: difference to the baseline by zone",
            colour_label="difference in mean familiarity (0–1 scale)",
        )
        figures["bookings_difference_map"] = zone_difference_map(
            result,
            zone_gdf,
            "bookings_requested_per_1000",
            title="Test-drive bookings requested per 1,000 residents over the horizon: difference to the baseline by zone",
            colour_label="difference in bookings per 1,000 residents",
            value_format="{:+.2f}",
        )
    if result.marginal is not None and len(result.marginal):
        figures["marginal"] = marginal_figure(result)
    return {key: save_png(figure, folder / f"{key}.png") for key, figure in figures.items() if figure is not None}

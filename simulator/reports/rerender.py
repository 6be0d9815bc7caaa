"""Drawing a finished folder's figures and ``report.html`` again from its tables (``footprint report``).

A run, comparison or sweep folder holds every table its report is drawn from; this module
reads them back (:func:`simulator.results.read_run`,
:func:`simulator.experiments.compare.reading.read_comparison`, the sweep's Parquet tables)
and calls the same writers as the commands that made the folder, so a report drawn with
newer code, or lost, comes back without running anything again. The figures and the report
are replaced file by file, atomically, while the folder is locked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simulator.city import City, cell_frame, load_city, zone_frame
from simulator.config import FootprintError, ResultsError
from simulator.config.scenario import resolve_bundle
from simulator.experiments.compare.reading import read_comparison, read_folder_metadata
from simulator.experiments.compare.result import COMPARISON_KIND
from simulator.experiments.sweep import KPI_LABELS, REPORT_FILE, SENSITIVITY_FILE, SWEEP_FILE, read_summary
from simulator.reports.compare_html import write_comparison_html
from simulator.reports.compare_report import save_comparison_figures
from simulator.reports.run_figures import start_figures
from simulator.reports.run_report import write_report_html
from simulator.reports.sweep_figures import save_sweep_figures
from simulator.reports.sweep_report import write_sweep_report
from simulator.results import folder_lock, read_run

__all__ = ["folder_kind", "rerender_report"]


def folder_kind(folder: str | os.PathLike[str]) -> str:
    """``"run"``, ``"comparison"`` or ``"sweep"``, from the folder's files.

    Raises
    ------
    ResultsError
        The folder is none of them.
    """
    target = Path(folder)
    if (target / SWEEP_FILE).is_file():
        return "sweep"
    metadata = read_folder_metadata(target)
    if metadata.get("kind") == COMPARISON_KIND:
        return "comparison"
    if "scenario" in metadata and (target / "daily.parquet").is_file():
        return "run"
    raise ResultsError(f"{target}: not a run, comparison or sweep folder (no daily.parquet or sweep.json)")


def _bundle_of(metadata: dict[str, Any], kind: str) -> str:
    """The city bundle a folder's metadata names."""
    scenario = metadata.get("scenario") if kind == "run" else ((metadata.get("plans") or [{}])[0]).get("scenario")
    city = scenario.get("city") if isinstance(scenario, dict) else None
    bundle = (city.get("bundle") if isinstance(city, dict) else None) or metadata.get("city")
    if not bundle:
        raise ResultsError("metadata.json: scenario.city.bundle: missing (give the bundle with --city)")
    return str(bundle)


def _city(folder: Path, kind: str, city: str | os.PathLike[str] | None) -> City:
    """The folder's city: ``city`` when given, else the bundle its metadata names (a name, or a path from here)."""
    if city is not None:
        return load_city(city)
    bundle = _bundle_of(read_folder_metadata(folder), kind)
    try:
        return load_city(resolve_bundle(bundle, None))
    except FootprintError as error:
        raise ResultsError(f"{error} (the folder's city; give its bundle with --city)") from None


def rerender_report(folder: str | os.PathLike[str], *, city: str | os.PathLike[str] | None = None) -> tuple[str, Path]:
    """Draw the figures and ``report.html`` of a run, comparison or sweep folder again from its tables.

    Parameters
    ----------
    folder : path-like
        The folder.
    city : str or path-like, optional
        The city bundle (name or GeoPackage) of a run or comparison, when the one its
        ``metadata.json`` names cannot be found from the current folder.

    Returns
    -------
    (str, pathlib.Path)
        The folder's kind and the report written.

    Raises
    ------
    ResultsError
        The folder is not a finished run, comparison or sweep folder, or a table is
        missing or unreadable; nothing is changed then.
    CityError
        The city bundle cannot be loaded.
    """
    target = Path(folder)
    kind = folder_kind(target)
    with folder_lock(target, what=f"{kind} folder"):
        if kind == "sweep":
            return kind, _sweep_report(target)
        loaded = _city(target, kind, city)
        if kind == "comparison":
            result = read_comparison(target, loaded)
            zones = zone_frame(loaded)
            figures = save_comparison_figures(result, target, zone_gdf=zones)
            return kind, write_comparison_html(result, figures, target / REPORT_FILE)
        run = read_run(target)
        zones, cells = zone_frame(loaded), cell_frame(loaded)
        with start_figures(run, target, zones, cells, workers=1) as rendering:
            figures = rendering.wait()
        return kind, write_report_html(run, figures, target / REPORT_FILE, zone_frame=zones)


def _sweep_report(folder: Path) -> Path:
    """The sweep's figures and report from ``sweep.json``, ``metadata.json`` and its two tables."""
    try:
        manifest = json.loads((folder / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{folder / SWEEP_FILE}: cannot be read: {error}".splitlines()[0]) from None
    metadata = read_folder_metadata(folder)
    summary = read_summary(folder)
    sensitivity_path = folder / SENSITIVITY_FILE
    if not sensitivity_path.is_file():
        raise ResultsError(f"{sensitivity_path}: missing (not a finished sweep folder?)")
    import pandas as pd

    sensitivity = pd.read_parquet(sensitivity_path)
    figures = save_sweep_figures(folder, manifest, summary, sensitivity, KPI_LABELS)
    return write_sweep_report(folder / REPORT_FILE, manifest, metadata, summary, sensitivity, figures, KPI_LABELS)

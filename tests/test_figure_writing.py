"""Writing a run folder fast: one-draw PNGs, figures from worker processes, vectorised map paths.

The run folder must keep every file of the contract (``simulator.results.contract``) and
the same bytes whether its figures are drawn in this process or in forked workers.
"""

from __future__ import annotations

import io
import multiprocessing
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from PIL import Image
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon
from test_results import synthetic_frames, synthetic_result

from simulator.reports.cell_raster import polygon_paths
from simulator.reports.figure_pool import FigureRendering
from simulator.reports.figures import FIGURE_DPI, FigureJob, new_figure, save_png
from simulator.reports.publish import write_run
from simulator.reports.run_figures import funnel_figure
from simulator.results import (
    FIGURES_DIR,
    GEOPACKAGE_FILE,
    METADATA_FILE,
    REPORT_FILE,
    SUMMARY_TABLES,
    SUMMARY_WORKBOOK_FILE,
    TABLE_NAMES,
    RunResult,
)

RUN_FIGURES = ("funnel", "stores", "familiarity_map", "intent_funnel", "rival_share", "access", "launch_rush")
needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")


@pytest.fixture(scope="module")
def result() -> RunResult:
    return synthetic_result(n_replications=2, n_days=40)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_save_png_writes_the_pixels_of_savefig(tmp_path: Path, result: RunResult) -> None:
    reference = funnel_figure(result.daily)
    buffer = io.BytesIO()
    reference.savefig(buffer, format="png", dpi=reference.dpi, facecolor="white")
    figure = funnel_figure(result.daily)  # a fresh one: a second layout may move things by a pixel
    facecolor = figure.get_facecolor()
    path = save_png(figure, tmp_path / "funnel.png")
    with Image.open(buffer) as expected, Image.open(path) as written:
        assert written.mode == "RGB" and expected.size == written.size  # opaque: stored without alpha
        assert np.array_equal(np.asarray(expected.convert("RGB")), np.asarray(written))
        assert written.info["Software"].startswith("Matplotlib")
    assert figure.get_facecolor() == facecolor  # the white background is only for the file


def test_save_png_keeps_transparency_when_there_is_some(tmp_path: Path) -> None:
    def transparent_figure():
        figure = new_figure(3.0, 2.0)
        figure.subplots().plot([0, 1], [0, 1])
        figure.patch.set_visible(False)  # no background: the margins stay transparent
        return figure

    buffer = io.BytesIO()
    transparent_figure().savefig(buffer, format="png", dpi=FIGURE_DPI, facecolor="white")
    path = save_png(transparent_figure(), tmp_path / "clear.png")
    with Image.open(buffer) as expected, Image.open(path) as written:
        assert written.mode == "RGBA"
        pixels = np.asarray(written)
        assert (pixels[..., 3] == 0).any()
        assert np.array_equal(np.asarray(expected), pixels)


def test_run_folder_holds_every_contracted_file(tmp_path: Path, result: RunResult) -> None:
    zones, cells = synthetic_frames()
    out = write_run(result, tmp_path / "run", zone_frame=zones, cell_frame=cells)
    expected = {
        METADATA_FILE,
        GEOPACKAGE_FILE,
        REPORT_FILE,
        SUMMARY_WORKBOOK_FILE,
        *(f"{name}.parquet" for name in (*TABLE_NAMES, *SUMMARY_TABLES)),
        *(f"{FIGURES_DIR}/{key}.png" for key in RUN_FIGURES),
    }
    assert _files(out) == expected
    document = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert document.count("data:image/png;base64,") == len(RUN_FIGURES)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no partial folder left


@needs_fork
def test_figures_from_workers_are_the_figures_drawn_here(tmp_path: Path, result: RunResult) -> None:
    zones, cells = synthetic_frames()
    here = write_run(result, tmp_path / "here", zone_frame=zones, cell_frame=cells, figure_workers=1)
    workers = write_run(result, tmp_path / "workers", zone_frame=zones, cell_frame=cells, figure_workers=2)
    assert _files(here) == _files(workers)
    for key in RUN_FIGURES:
        name = f"{FIGURES_DIR}/{key}.png"
        assert (here / name).read_bytes() == (workers / name).read_bytes(), key
    assert (here / REPORT_FILE).read_bytes() == (workers / REPORT_FILE).read_bytes()


def _broken_figure() -> None:
    raise RuntimeError("cannot draw this figure")


@needs_fork
def test_a_failing_figure_fails_the_run_folder(tmp_path: Path, result: RunResult, monkeypatch) -> None:
    import simulator.reports.run_figures as run_figures_module

    monkeypatch.setattr(run_figures_module, "stores_figure", lambda *_args, **_kwargs: _broken_figure())
    zones, cells = synthetic_frames()
    with pytest.raises(RuntimeError, match="cannot draw this figure"):
        write_run(result, tmp_path / "run", zone_frame=zones, cell_frame=cells, figure_workers=2)
    assert list(tmp_path.iterdir()) == []  # the partial folder is removed, no run folder appears


@needs_fork
def test_rendering_returns_paths_in_job_order_and_runs_in_workers(tmp_path: Path, result: RunResult) -> None:
    jobs = [
        FigureJob("cheap", partial(funnel_figure, result.daily), tmp_path / "cheap.png", 1.0),
        FigureJob("dear", partial(funnel_figure, result.daily), tmp_path / "dear.png", 5.0),
    ]
    with FigureRendering(jobs, workers=2) as rendering:
        assert rendering.in_background
        written = rendering.wait()
    assert list(written) == ["cheap", "dear"]
    assert np.array_equal(_pixels(written["cheap"]), _pixels(written["dear"]))
    assert rendering.wait() == written  # waiting again draws nothing more


def test_rendering_with_one_worker_draws_in_this_process(tmp_path: Path, result: RunResult) -> None:
    job = FigureJob("funnel", partial(funnel_figure, result.daily), tmp_path / "funnel.png")
    with FigureRendering([job], workers=1) as rendering:
        assert not rendering.in_background
        assert not job.path.exists()
        assert rendering.wait() == {"funnel": job.path}
    assert job.path.exists()
    with pytest.raises(ValueError, match="distinct keys"):
        FigureRendering([job, job])


def _path_of(geometry) -> MplPath:
    """The path built ring by ring, as the map drew pieces before :func:`polygon_paths`."""
    vertices, codes = [], []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.geom_type != "Polygon" or polygon.is_empty:
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            xy = np.asarray(ring.coords, dtype=float)
            ring_codes = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            ring_codes[0], ring_codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            vertices.append(xy)
            codes.append(ring_codes)
    if not vertices:
        return MplPath(np.zeros((1, 2)), [MplPath.MOVETO])
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


def test_polygon_paths_are_the_ring_by_ring_paths() -> None:
    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)], [[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]])
    triangle = Polygon([(2, 2), (3, 2), (3, 3)])
    geometries = [
        square,
        MultiPolygon([square, triangle]),
        Polygon(),
        GeometryCollection([LineString([(0, 0), (1, 1)]), triangle]),
        Point(1, 1),
        GeometryCollection(),
        Polygon([(5, 5), (6, 5), (6, 6), (5, 6)]),
    ]
    paths = polygon_paths(np.array(geometries, dtype=object))
    assert len(paths) == len(geometries)
    for geometry, path in zip(geometries, paths, strict=True):
        expected = _path_of(geometry)
        assert np.array_equal(path.vertices, expected.vertices), geometry.wkt
        assert np.array_equal(path.codes, expected.codes), geometry.wkt

"""The figure toolkit shared by every report: fonts, labels, number formats, styles, PNG files.

Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas
(:func:`new_figure`); pyplot and its global state are never used, so drawing works
offline and without a display. :func:`cjk_font_family`, :func:`renderable` and
:func:`display_label` choose text the installed fonts can draw (Chinese only with a CJK
font); :func:`format_number` and :func:`thousands_formatter` format values for people;
:data:`FORMAT_STYLES` gives each store format its marker and colour; :func:`save_png`
writes a figure atomically; a :class:`FigureJob` is a figure still to draw and write
(:func:`save_figure_jobs` draws them in turn, :mod:`simulator.reports.figure_pool` in
worker processes).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage
from PIL import PngImagePlugin

from simulator.results import atomic_path

FIGURE_DPI = 130
"""Resolution of the report figures (dots per inch)."""

ROLLING_DAYS = 7
"""Window of the trailing rolling mean of daily counts in time series."""

NO_DATA_COLOUR = "#dddddd"
"""Fill of map areas without consumers."""

PNG_COMPRESSION = 3
"""zlib level of the figures' PNG files (Pillow's default is 6: 2 % smaller files, 40 % slower)."""

LINE_COLOUR = "#1f4e79"
"""Colour of a time series' main line."""

FORMAT_STYLES: dict[str, tuple[str, str]] = {
    "mall": ("o", "#d62728"),
    "street": ("s", "#ff7f0e"),
    "flagship": ("*", "#e377c2"),
    "popup": ("^", "#8c564b"),
    "delivery_centre": ("D", "#17becf"),
}
"""Marker and colour of each store format (maps and store charts)."""


_OTHER_FORMAT_STYLE = ("P", "#7f7f7f")


@functools.lru_cache(maxsize=1)
def cjk_font_family() -> str | None:
    """Name of a font family matplotlib can use for Chinese text, or None.

    Asks fontconfig (``fc-list :lang=zh family``) which installed families cover Chinese
    and returns the first one matplotlib also knows. Without one, figures use English
    names (or identifiers) so that no glyph renders as a missing box.
    """
    from matplotlib import font_manager

    executable = shutil.which("fc-list")
    if executable is None:
        return None
    try:
        completed = subprocess.run(
            [executable, ":lang=zh", "family"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    families = {name.strip() for line in completed.stdout.splitlines() for name in line.split(",") if name.strip()}
    known = {entry.name for entry in font_manager.fontManager.ttflist}
    for family in sorted(families):
        if family in known:
            return family
    return None


def renderable(text: str) -> bool:
    """True if ``text`` can be drawn with the available fonts (CJK only with a CJK font)."""
    if cjk_font_family() is not None:
        return True
    return all(ord(character) < 0x2E80 for character in text)


def display_label(*candidates: Any) -> str:
    """First candidate that is a non-empty string the fonts can render (else the last one, stringified).

    Typical use: ``display_label(name_en, name, zone_id)``.
    """
    for candidate in candidates:
        if candidate is None or (isinstance(candidate, float) and math.isnan(candidate)):
            continue
        text = str(candidate).strip()
        if text and renderable(text):
            return text
    return str(candidates[-1]) if candidates else ""


def font_kwargs() -> dict[str, Any]:
    """Keyword arguments for matplotlib text that may hold Chinese (a CJK fallback font, if any)."""
    family = cjk_font_family()
    return {"fontfamily": ["DejaVu Sans", family]} if family else {}


def format_number(value: float, unit: str) -> str:
    """Format a KPI value for people: thousands separators for counts, % for shares.

    ``unit`` is one of ``people``, ``consumers`` (counts), ``share`` (0-1, shown in %),
    ``index`` (0-1, three decimals), ``percent`` (0-1 shown in %, no space rules).
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if unit in ("people", "consumers", "count"):
        return f"{value:,.0f}"
    if unit in ("share", "percent"):
        return f"{100.0 * value:.1f} %"
    if unit == "index":
        return f"{value:.3f}"
    return f"{value:,.4g}"


def thousands_formatter() -> ticker.FuncFormatter:
    """Axis tick formatter for counts: ``950``, ``12.5 k``, ``1.25 M`` (trailing zeros dropped)."""

    def trimmed(text: str) -> str:
        return text.rstrip("0").rstrip(".") if "." in text else text

    def format_tick(value: float, _position: int) -> str:
        if abs(value) >= 1e6:
            return trimmed(f"{value / 1e6:,.2f}") + " M"
        if abs(value) >= 1e4:
            return trimmed(f"{value / 1e3:,.1f}") + " k"
        return trimmed(f"{value:,.2f}") or "0"

    return ticker.FuncFormatter(format_tick)


def new_figure(width: float, height: float, *, dpi: int = FIGURE_DPI, constrained: bool = True) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, constrained layout.

    ``constrained=False`` leaves the layout to the caller (fixed margins,
    :func:`fixed_grid_margins`): constrained layout measures every tick label twice per
    draw, a third of the time of a figure of many panels.
    """
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def fixed_grid_margins(
    figure: Figure,
    rows: int,
    columns: int,
    *,
    left: float = 0.75,
    right: float = 0.15,
    top: float = 0.95,
    bottom: float = 0.4,
    between_rows: float = 0.65,
    between_columns: float = 0.85,
) -> None:
    """Place a grid of panels with fixed margins in inches (a figure made with ``constrained=False``).

    ``top`` leaves room for a two-line title, ``between_rows`` for a panel's title above
    the tick labels of the panel over it, ``left`` and ``between_columns`` for tick labels
    and a y label.
    """
    width, height = figure.get_size_inches()
    axes_height = (height - top - bottom - between_rows * (rows - 1)) / rows
    axes_width = (width - left - right - between_columns * (columns - 1)) / columns
    figure.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        top=1.0 - top / height,
        bottom=bottom / height,
        hspace=between_rows / axes_height,
        wspace=between_columns / axes_width,
    )


def time_axis(daily: pd.DataFrame) -> tuple[str, bool]:
    """Column to use on the x axis and whether it holds dates."""
    if "date" in daily.columns and daily["date"].notna().all():
        return "date", True
    return "day", False


def format_style(store_format: Any) -> tuple[str, str]:
    """Marker and colour of a store format (:data:`FORMAT_STYLES`; a grey plus for others)."""
    return FORMAT_STYLES.get(str(store_format), _OTHER_FORMAT_STYLE)


def save_png(figure: Figure, path: str | os.PathLike[str], *, dpi: int = FIGURE_DPI) -> Path:
    """Write ``figure`` as a PNG on a white background, atomically, and return its path.

    The folder of ``path`` must exist. At the figure's own resolution the figure is drawn
    once, its layout engine running inside that draw, and the canvas written as it is
    (:func:`render_png`); ``Figure.savefig`` would draw it twice, once without output to
    run the layout and once more to render, for the same pixels.
    """
    target = Path(path)
    with atomic_path(target) as temporary:
        if dpi == figure.dpi and isinstance(figure.canvas, FigureCanvasAgg):
            render_png(figure, temporary)
        else:
            figure.savefig(temporary, format="png", dpi=dpi, facecolor="white")
    return target


def render_png(figure: Figure, path: str | os.PathLike[str]) -> None:
    """Draw ``figure`` once on its Agg canvas, white background, and write the pixels as a PNG.

    The pixels are those ``figure.savefig(path, format="png", facecolor="white")`` writes
    at the figure's resolution, drawn once instead of twice. An opaque figure (all of
    them, on their white background) is stored as RGB rather than RGBA, with zlib level
    :data:`PNG_COMPRESSION`: the same image in about the same bytes, encoded faster.
    """
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        raise TypeError("render_png needs a figure on an Agg canvas (new_figure)")
    facecolor = figure.get_facecolor()
    figure.set_facecolor("white")
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
    finally:
        figure.set_facecolor(facecolor)
    pixels = np.ascontiguousarray(rgba[..., :3]) if bool((rgba[..., 3] == 255).all()) else rgba
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    PILImage.fromarray(pixels).save(
        path, format="png", dpi=(figure.dpi, figure.dpi), pnginfo=info, compress_level=PNG_COMPRESSION
    )


@dataclasses.dataclass(frozen=True)
class FigureJob:
    """A figure still to draw and write as a PNG.

    Attributes
    ----------
    key : str
        Name of the figure in the report (``funnel``, ``familiarity_map``, ...).
    draw : callable
        Draws the figure from data it holds: ``draw() -> Figure``.
    path : pathlib.Path
        PNG file to write (through :func:`save_png`).
    cost : float
        Relative drawing time, a scheduling hint only: the costliest figures start first
        when several processes draw them.
    """

    key: str
    draw: Callable[[], Figure]
    path: Path
    cost: float = 1.0

    def run(self) -> Path:
        """Draw the figure and write it; return its path."""
        return save_png(self.draw(), self.path)


def save_figure_jobs(jobs: Iterable[FigureJob]) -> dict[str, Path]:
    """Draw and write each job in turn, in this process; return the paths by key."""
    return {job.key: job.run() for job in jobs}

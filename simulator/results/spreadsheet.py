"""``summary.xlsx``: the main tables of a results folder as one spreadsheet (openpyxl).

Every kind of folder (run, comparison, sweep, calibration, optimisation) writes its
spreadsheet through :func:`write_summary_workbook`, so sheets look the same everywhere:
a bold, frozen header row, columns wide enough for their values, and numbers stored as
numbers (never as formatted text), so a strategist can paste or chart them directly.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.config import ResultsError
from simulator.config.atomic import atomic_path

SUMMARY_WORKBOOK_FILE = "summary.xlsx"
MAX_SHEET_NAME = 31
MAX_SHEET_ROWS = 1_048_575
_FORBIDDEN_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\]")
_MAX_COLUMN_WIDTH = 60


def sheet_name(title: str) -> str:
    """A valid Excel sheet name for ``title``: forbidden characters dropped, at most 31 characters.

    Parameters
    ----------
    title : str
        The wanted name, e.g. ``"store summary"``.

    Returns
    -------
    str
        ``title`` without ``[ ] : * ? / \\`` and cut to 31 characters.
    """
    cleaned = _FORBIDDEN_SHEET_CHARACTERS.sub("", title).strip()
    return cleaned[:MAX_SHEET_NAME] or "Sheet"


def write_summary_workbook(
    path: str | os.PathLike[str],
    sheets: Mapping[str, pd.DataFrame],
    *,
    about: Mapping[str, object] | None = None,
) -> Path:
    """Write ``sheets`` as one workbook, atomically, one sheet per table in the given order.

    Parameters
    ----------
    path : path-like
        Target ``.xlsx`` file (usually ``<folder>/summary.xlsx``).
    sheets : mapping of str to pandas.DataFrame
        Sheet title -> table. Titles are made valid with :func:`sheet_name`; two titles
        that become the same name are an error. Indexes are dropped.
    about : mapping, optional
        Key -> value pairs written first, on a sheet named ``about`` (run id, scenario,
        seed, what the numbers are: e.g. ``"counts": "scaled to the city's people"``).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ResultsError
        If two sheet titles collide or a table has more rows than a sheet holds.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    target = Path(path)
    named: dict[str, pd.DataFrame] = {}
    if about:
        named["about"] = pd.DataFrame({"key": list(about), "value": [_cell_value(v) for v in about.values()]})
    for title, frame in sheets.items():
        name = sheet_name(title)
        if name in named:
            raise ResultsError(f"{target}: two sheets are both named {name!r}")
        if len(frame) > MAX_SHEET_ROWS:
            raise ResultsError(f"{target}: sheet {name!r} has {len(frame):,} rows; a sheet holds {MAX_SHEET_ROWS:,}")
        named[name] = frame
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for name, frame in named.items():
        sheet = workbook.create_sheet(name)
        columns = [str(column) for column in frame.columns]
        sheet.append(columns)
        for cell in sheet[1]:
            cell.font = bold
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_cell_value(value) for value in row])
        sheet.freeze_panes = "A2"
        for index, column in enumerate(columns, start=1):
            values = frame.iloc[:200, index - 1].map(_display_width) if len(frame) else pd.Series([], dtype=int)
            width = max([len(column), *values.tolist()]) + 2
            sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = min(width, _MAX_COLUMN_WIDTH)
    with atomic_path(target) as temporary:
        workbook.save(temporary)
    return target


def _cell_value(value: object) -> object:
    """A value openpyxl stores natively: numpy scalars unwrapped, NaN/NA as empty, timestamps as datetimes."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _display_width(value: object) -> int:
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    return len(str(value))

"""``summary.xlsx``: the one workbook writer every results folder uses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from simulator.config import ResultsError
from simulator.results import sheet_name, write_summary_workbook


def test_workbook_holds_the_same_numbers_as_the_tables(tmp_path) -> None:
    stores = pd.DataFrame(
        {
            "store_id": ["BJ-M01", "[x]"],
            "bookings": np.array([2189.5, 12.0]),
            "test_drives": np.array([10, 3], dtype=np.int64),
            "share": [0.25, float("nan")],
        }
    )
    days = pd.DataFrame({"date": pd.to_datetime(["2024-03-28", "2024-03-29"]), "bookings": [1, 2]})
    path = write_summary_workbook(tmp_path / "summary.xlsx", {"stores": stores, "daily": days}, about={"seed": 7})
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["about", "stores", "daily"]
    rows = list(workbook["stores"].values)
    assert rows[0] == ("store_id", "bookings", "test_drives", "share")
    assert rows[1] == ("BJ-M01", 2189.5, 10, 0.25)
    assert rows[2] == ("[x]", 12.0, 3, None)
    assert workbook["stores"].freeze_panes == "A2"
    assert list(workbook["about"].values)[1] == ("seed", 7)
    assert [row[1] for row in list(workbook["daily"].values)[1:]] == [1, 2]
    assert not list(tmp_path.glob("*.tmp*"))


def test_sheet_names_are_valid_and_collisions_are_an_error(tmp_path) -> None:
    assert sheet_name("a/b [c]:*?") == "ab c"
    assert len(sheet_name("x" * 40)) == 31
    with pytest.raises(ResultsError, match="two sheets are both named 'ab'"):
        write_summary_workbook(tmp_path / "s.xlsx", {"a/b": pd.DataFrame(), "ab": pd.DataFrame()})
    assert not (tmp_path / "s.xlsx").exists()

"""Attribute columns of bundle layers: ``;``-separated lists and optional text columns."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["optional_texts", "split_list"]


def optional_texts(frame: pd.DataFrame, column: str) -> list[str]:
    """Values of an optional text column as ``str`` ("" when missing or null)."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [
        ""
        if (value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA)
        else str(value).strip()
        for value in frame[column]
    ]


def split_list(text: str) -> list[str]:
    """The non-blank items of a ``;``-separated list, stripped (``"S1; S2;"`` -> ``["S1", "S2"]``)."""
    return [part.strip() for part in str(text).split(";") if part.strip()]

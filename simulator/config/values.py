"""Typed values of scenario files and how values are shown in error messages.

TOML already gives typed values, so the value types here (:data:`Integer`,
:data:`Number`, :data:`NumberOrInfinity`, :data:`Text`, :data:`Boolean`, :data:`Day`)
accept only what a user would write for them and never coerce silently from text or
booleans. :func:`show_value`, :func:`show_number` and :func:`kind_of` render a user's value
for a one-line error message.
"""

import math
import numbers
import reprlib
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BeforeValidator

from simulator.config.limits import INT64_MAX

__all__ = [
    "Boolean",
    "Day",
    "Integer",
    "Number",
    "NumberOrInfinity",
    "Text",
    "kind_of",
    "show_number",
    "show_value",
]

_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlevel = 2
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 4


def show_value(value: Any) -> str:
    """Short one-line rendering of a user value for an error message."""
    try:
        text = _SHOW.repr(value)
    except Exception:  # a user object whose repr fails must not crash the error report
        text = f"<{type(value).__name__}>"
    return text.replace("\n", "\\n").replace("\r", "\\r")


def show_number(value: Any) -> str:
    """Like :func:`show_value`, but an integral float is shown without ``.0`` (``-5``, not ``-5.0``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return show_value(value)


def kind_of(value: Any) -> str:
    """Name of a value's type as a TOML user would say it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (date, datetime)):
        return "a date"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _to_integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {kind_of(value)} ({show_value(value)})")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        number = int(math.trunc(value))  # the value is integral, so truncating is exact
    else:
        raise ValueError(f"must be an integer, got {show_value(value)}")
    if abs(number) > INT64_MAX:
        raise ValueError(f"must be an integer between -{INT64_MAX} and {INT64_MAX}, got {show_number(value)}")
    return number


def _to_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"must be a number, got {kind_of(value)} ({show_value(value)})")
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        raise ValueError(f"must be a number, got {show_value(value)} (out of range)") from None


_INFINITY_WORDS = {"inf", "+inf", "infinity", "+infinity"}


def _to_number_or_infinity(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _INFINITY_WORDS:
        return math.inf
    return _to_number(value)


def _to_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {kind_of(value)} ({show_value(value)})")
    return value


def _to_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {show_value(value)}")
    return value


def _to_date(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date()
        raise ValueError(f"must be a date without a time of day, got {show_value(value)}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be a date (YYYY-MM-DD), got {show_value(value)}")


Integer = Annotated[int, BeforeValidator(_to_integer)]
Number = Annotated[float, BeforeValidator(_to_number)]
NumberOrInfinity = Annotated[float, BeforeValidator(_to_number_or_infinity)]
Text = Annotated[str, BeforeValidator(_to_text)]
Boolean = Annotated[bool, BeforeValidator(_to_bool)]
Day = Annotated[date, BeforeValidator(_to_date)]

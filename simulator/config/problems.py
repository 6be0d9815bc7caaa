"""One-line problem reports: key paths, "did you mean" hints, pydantic errors in plain words.

A problem reads ``<file>: <key path>: <problem>``. :func:`problem_lines` turns a pydantic
``ValidationError`` into such lines (with :func:`format_key_path` and the hints of
:func:`unknown_key_message`); :func:`raise_problems` raises them all as one
:class:`~simulator.config.errors.ScenarioError`. A validator raises :class:`LocatedError`
to point at a key below the object it validates.
"""

import difflib
import json
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.config.errors import ScenarioError
from simulator.config.schema_base import is_model, unwrap_annotation
from simulator.config.values import kind_of, show_number, show_value

__all__ = [
    "MAX_PROBLEMS_SHOWN",
    "LocatedError",
    "format_key_path",
    "problem_lines",
    "raise_problems",
    "unknown_key_message",
]

#: At most this many problems are spelt out in one error message; the rest are counted.
MAX_PROBLEMS_SHOWN = 8


class LocatedError(ValueError):
    """A validator error that points below the validated object (e.g. ``[3].id``)."""

    def __init__(self, loc_suffix: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc_suffix = loc_suffix


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_key_path(loc: Iterable[Any]) -> str:
    """``("plan", "stores", 3, "id")`` -> ``plan.stores[3].id``."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _BARE_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return text


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by walking ``loc`` down from ``root`` (None if not a model)."""
    current: Any = root
    pending_list = False
    for part in loc:
        if pending_list:
            if not isinstance(part, int):
                return None
            pending_list = False
            continue
        if not is_model(current) or not isinstance(part, str) or part not in current.model_fields:
            return None
        inner, is_list, _ = unwrap_annotation(current.model_fields[part].annotation)
        current, pending_list = inner, is_list
    return current if is_model(current) and not pending_list else None


def unknown_key_message(key: Any, allowed: Iterable[str], what: str = "key") -> str:
    """``unknown key`` with a "did you mean" hint, or the allowed names when they are few."""
    allowed = list(allowed)
    matches = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if matches:
        return f"unknown {what} (did you mean '{matches[0]}'?)"
    if allowed and len(allowed) <= 8:
        return f"unknown {what} (expected one of: {', '.join(allowed)})"
    return f"unknown {what}"


def _error_message(error: Mapping[str, Any], root: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location, problem text)."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    context = error.get("ctx") or {}
    value = error.get("input")
    if kind == "value_error" and isinstance(context.get("error"), Exception):
        exception = context["error"]
        if isinstance(exception, LocatedError):
            loc = loc + exception.loc_suffix
        return loc, str(exception)
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model is not None else []
        return loc, unknown_key_message(loc[-1] if loc else "", allowed)
    if kind == "missing":
        return loc, "required key is missing"
    bounds = {
        "greater_than": (">", "gt"),
        "greater_than_equal": (">=", "ge"),
        "less_than": ("<", "lt"),
        "less_than_equal": ("<=", "le"),
    }
    if kind in bounds:
        symbol, name = bounds[kind]
        return loc, f"must be {symbol} {show_number(context.get(name))}, got {show_number(value)}"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "literal_error":
        expected = context.get("expected", "")
        choices = re.findall(r"'([^']*)'", str(expected))
        hint = ""
        if isinstance(value, str):
            matches = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            if matches:
                hint = f" (did you mean '{matches[0]}'?)"
        return loc, f"must be one of {', '.join(repr(c) for c in choices)}, got {show_value(value)}{hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a table, got {kind_of(value)} ({show_value(value)})"
    if kind in ("tuple_type", "list_type", "iterable_type"):
        return loc, f"must be a list, got {kind_of(value)} ({show_value(value)})"
    if kind == "finite_number":
        return loc, f"must be a finite number, got {show_value(value)}"
    if kind == "invalid_key":
        return loc, f"keys must be strings, got {show_value(value)}"
    message = str(error.get("msg", "invalid value"))
    return loc, (message[:1].lower() + message[1:]).replace("\n", " ")


def problem_lines(exception: ValidationError, source: str, root: type[BaseModel], prefix: str = "") -> list[str]:
    """One line ``<source>: <prefix><key path>: <problem>`` per error of ``exception``.

    ``root`` is the model that was validated; it supplies the allowed keys of the
    "did you mean" hints.
    """
    problems = []
    for error in exception.errors(include_url=False):
        loc, message = _error_message(error, root)
        path = format_key_path(loc)
        where = f"{prefix}{path}: " if path else prefix
        problems.append(f"{source}: {where}{message}")
    return problems


def raise_problems(problems: list[str]) -> typing.NoReturn:
    """Raise one :class:`ScenarioError` for ``problems`` (duplicates dropped, first few spelt out).

    The message joins the first :data:`MAX_PROBLEMS_SHOWN` problems with ``"; "`` and
    counts the rest; the error's ``problems`` holds them all.
    """
    unique = list(dict.fromkeys(problems))
    shown = unique[:MAX_PROBLEMS_SHOWN]
    message = "; ".join(shown)
    if len(unique) > len(shown):
        message += f" (and {len(unique) - len(shown)} more)"
    raise ScenarioError(message, unique)

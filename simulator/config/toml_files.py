"""Reading TOML files and TOML values, with one-line errors.

:func:`read_toml_file` reads scenario, comparison and sweep files alike (missing file,
folder, unreadable bytes, text that is not UTF-8, invalid TOML with line and column);
:func:`parse_override_value` reads one value written as TOML (``--set`` values, CSV cells).
"""

import re
import tomllib
from pathlib import Path
from typing import Any

from simulator.config.problems import raise_problems
from simulator.config.values import show_value

__all__ = [
    "file_path_problem",
    "not_utf8_message",
    "parse_override_value",
    "read_toml_file",
    "toml_error_message",
]


def not_utf8_message(raw: bytes, exception: UnicodeDecodeError) -> str:
    """``not UTF-8 text`` with the line and column of the first bad byte of ``raw``."""
    line = raw.count(b"\n", 0, exception.start) + 1
    column = exception.start - (raw.rfind(b"\n", 0, exception.start) + 1) + 1
    return f"not UTF-8 text (first bad byte at line {line}, column {column})"


def toml_error_message(exception: tomllib.TOMLDecodeError) -> str:
    """``invalid TOML at line L, column C: <problem>`` from a ``tomllib`` error."""
    text = str(exception)
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", text, flags=re.DOTALL)
    if match:
        problem = match.group(1)
        return f"invalid TOML at line {match.group(2)}, column {match.group(3)}: {problem[:1].lower() + problem[1:]}"
    match = re.fullmatch(r"(.*) \(at end of document\)", text, flags=re.DOTALL)
    if match:
        problem = match.group(1)
        return f"invalid TOML at end of document: {problem[:1].lower() + problem[1:]}"
    return f"invalid TOML: {text}"


def file_path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a file to read (``file not found (path)``, ...), or None if it is a file.

    Unlike ``Path.is_file``, a path the system refuses to look at (a name too long, a
    component that is a file) is a problem, not an exception.
    """
    try:
        if path.is_file():
            return None
        return f"is a folder, not a file ({path})" if path.is_dir() else f"file not found ({path})"
    except (OSError, ValueError) as exception:
        reason = exception.strerror if isinstance(exception, OSError) and exception.strerror else str(exception)
        return f"cannot read the file ({show_value(reason)}: {show_value(str(path))})"


def read_toml_file(path: Path, what: str = "a TOML file") -> dict[str, Any]:
    """Read a TOML file into a table; every problem is a one-line :class:`ScenarioError`.

    Used for scenario, comparison and sweep files alike: missing file, a folder, unreadable
    bytes, text that is not UTF-8, invalid TOML (with line and column). A UTF-8 byte-order
    mark at the start is ignored.
    """
    source_name = path.name or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise_problems([f"{source_name}: file not found ({path})"])
    except IsADirectoryError:
        raise_problems([f"{source_name}: is a folder, not {what} ({path})"])
    except (OSError, ValueError) as exception:
        raise_problems(
            [f"{source_name}: cannot read the file ({type(exception).__name__}: {show_value(str(exception))})"]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exception:
        raise_problems([f"{source_name}: {not_utf8_message(raw, exception)}"])
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some Windows editors write it
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exception:
        raise_problems([f"{source_name}: {toml_error_message(exception)}"])
    except RecursionError:
        raise_problems([f"{source_name}: invalid TOML: nested too deeply"])


def parse_override_value(text: str) -> Any:
    """Parse an override value as a TOML value when possible, else keep the text.

    ``"4"`` -> 4, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"[1, 2]"`` -> [1, 2],
    ``"2024-04-01"`` -> date, ``"inf"`` -> inf, ``"{walk = 0.2}"`` -> dict, ``"abc"`` -> "abc".
    """
    try:
        parsed = tomllib.loads(f"value = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    if set(parsed) != {"value"}:
        return text
    return parsed["value"]

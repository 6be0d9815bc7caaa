"""Domain errors: one line that names the file, the key and what is wrong.

The command line prints ``str(error)`` and exits with code 1; it never shows a
traceback for these.
"""

from __future__ import annotations


class FootprintError(Exception):
    """Base class of every error a user can cause with bad input."""


class ScenarioError(FootprintError):
    """A scenario, comparison or sweep file is malformed or inconsistent.

    ``problems`` lists every problem found, one line each; the message spells out the
    first few of them.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) if problems is not None else [message]


class CityError(FootprintError):
    """A city bundle (or its raw input) is missing, malformed or invalid."""


class PlanError(FootprintError):
    """A store plan cannot be placed on the city (unknown mall, store outside the city, ...)."""


class ResultsError(FootprintError):
    """A results folder cannot be written or read."""

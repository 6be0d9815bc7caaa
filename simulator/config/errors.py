"""Domain errors: one line that names the file, the key and what is wrong.

The command line prints ``str(error)`` and exits with code 1; it never shows a
traceback for these.
"""

from __future__ import annotations


class FootprintError(Exception):
    """Base class of every error a user can cause with bad input."""


class ScenarioError(FootprintError):
    """A scenario, comparison or sweep file is malformed or inconsistent."""


class CityError(FootprintError):
    """A city bundle (or its raw input) is missing, malformed or invalid."""


class PlanError(FootprintError):
    """A store plan cannot be placed on the city (unknown mall, store outside the city, ...)."""


class ResultsError(FootprintError):
    """A results folder cannot be written or read."""

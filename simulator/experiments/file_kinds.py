"""The kinds of input file the simulator reads, with their JSON Schemas: one registry.

``footprint schema --kind KIND`` prints :func:`file_json_schema` of a kind; editors use it
for completion and checks, and a JSON Schema validator rejects a single value out of range
as ``footprint validate`` does (:func:`simulator.config.model_json_schema`). A new kind of
file (calibration, optimisation) registers its pydantic model once with
:func:`register_file_kind`::

    register_file_kind("calibration", CalibrationSpec, "a calibration file: targets and the parameters to fit")
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from simulator.config import FootprintError, Scenario, model_json_schema
from simulator.experiments.compare.spec import ComparisonFile
from simulator.experiments.sweep.spec import SweepSpec

__all__ = ["FILE_KINDS", "FileKind", "file_json_schema", "register_file_kind"]


@dataclasses.dataclass(frozen=True)
class FileKind:
    """A kind of input file: its name, the pydantic model that validates it and one line about it."""

    name: str
    model: type[BaseModel]
    description: str

    def json_schema(self) -> dict[str, Any]:
        """The kind's JSON Schema (draft 2020-12) with its numeric bounds, titled by the kind."""
        schema = model_json_schema(self.model)
        schema.setdefault("description", self.description)
        return {**schema, "x-file-kind": self.name}


FILE_KINDS: dict[str, FileKind] = {}
"""Registered kinds of input file, by name, in registration order."""


def register_file_kind(name: str, model: type[BaseModel], description: str) -> FileKind:
    """Register a kind of input file (its name must be new); returns it.

    Raises
    ------
    ValueError
        ``name`` is already registered with another model.
    """
    existing = FILE_KINDS.get(name)
    if existing is not None and existing.model is not model:
        raise ValueError(f"file kind {name!r} is already registered with {existing.model.__name__}")
    kind = FileKind(name, model, description)
    FILE_KINDS[name] = kind
    return kind


def file_json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a registered kind of file.

    Raises
    ------
    FootprintError
        ``kind`` is not registered (the message lists the kinds).
    """
    if kind not in FILE_KINDS:
        raise FootprintError(f"--kind {kind}: unknown file kind; expected one of {', '.join(FILE_KINDS)}")
    return FILE_KINDS[kind].json_schema()


register_file_kind("scenario", Scenario, "A scenario file: city, population, plan, behaviour, levers and horizon.")
register_file_kind("comparison", ComparisonFile, "A comparison file: a base scenario and the plans to put on it.")
register_file_kind("sweep", SweepSpec, "A sweep file: a base scenario, the parameters to vary, design and KPIs.")

"""What every schema model shares, and how the schema is looked into.

:class:`FrozenModel` is the base of every scenario model (unknown keys rejected, frozen,
no NaN or infinity unless a field allows it); :class:`SchemaExtra` documents defaults that
a validator resolves; :func:`unwrap_annotation` and :func:`is_model` let the error
reports, the stores-file reader and the reference generator walk the schema.
"""

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "RESOLVED_BY_VALIDATOR",
    "FrozenModel",
    "SchemaExtra",
    "is_model",
    "unwrap_annotation",
]

#: Default of a field whose value a ``mode="before"`` validator always fills in (by the
#: store's format, say). Typed ``Any`` so that the field keeps its real type; the field is
#: not required, and its :class:`SchemaExtra` says in the docs what the default is.
RESOLVED_BY_VALIDATOR: Any = None


class SchemaExtra:
    """``json_schema_extra`` for fields whose default is resolved by a validator.

    Keeps the text shown in the reference docs (``default_text``, ``constraint``) and
    writes it into the JSON Schema as ``x-default`` / ``x-constraint``.
    """

    def __init__(self, default_text: str | None = None, constraint: str | None = None) -> None:
        self.default_text = default_text
        self.constraint = constraint

    def __call__(self, schema: dict[str, Any]) -> None:
        if self.default_text is not None:
            schema.pop("default", None)
            schema["x-default"] = self.default_text
        if self.constraint is not None:
            schema["x-constraint"] = self.constraint


class FrozenModel(BaseModel):
    """Base of the scenario models: unknown keys are errors, instances are frozen, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def unwrap_annotation(annotation: Any) -> tuple[Any, bool, bool]:
    """Return (inner type, is a list, is optional) of a field annotation."""
    is_list = optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            optional = True
            if len(arguments) != 1:
                return annotation, is_list, optional
            annotation = arguments[0]
        elif origin in (tuple, list) and not is_list:
            is_list = True
            annotation = typing.get_args(annotation)[0]
        else:
            return annotation, is_list, optional


def is_model(annotation: Any) -> bool:
    """True when ``annotation`` is a pydantic model class (a TOML table of the schema)."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)

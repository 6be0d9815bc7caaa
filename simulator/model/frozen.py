"""Read-only inputs: the arrays the kernels only read are always passed with the same flags.

numba compiles one specialisation of a kernel per argument type, and a read-only array is a
different type from a writable one. The specialisations may vectorise their float sums
differently, so a run on cached (read-only) inputs and a run on freshly built (writable)
ones would differ in the last bits. Every input the model only reads is therefore made
read-only, whether it was built by the model or taken from a cache.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import numpy as np

Value = TypeVar("Value")


def read_only(value: Value) -> Value:
    """Make every numpy array of ``value`` (an array, a dataclass or tuple of them) read-only; return it."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            read_only(getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for item in value:
            read_only(item)
    return value

"""Hypothesis strategies for the fuzz harness (tests/test_fuzz.py): files and command lines.

Inputs start from valid documents for the tiny test city (tests/cityfixtures.py) and are
mutated the way users and broken tools get them wrong: a value of the wrong type, out of
range or huge (3e9, 10**12, 2**64), NaN and infinity, a key missing or unknown (at a key
path of the real schema, :func:`schema_key_paths`), empty and duplicate store ids, stores
outside the city, bad ``crs`` strings; then the text: a byte-order mark, invalid UTF-8,
truncation, a duplicated line, NUL bytes. Command lines combine options with bad values,
``--set`` with bad keys and values, extreme ``--consumers``, ``--days`` and ``--jobs``, and
``--out`` at a file, under a file, in /proc or /sys, or at a folder that is not empty.

Documents are plain dicts written with :func:`toml_text`; :class:`FileSet` is what an
example writes to its folder before the command runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from typing import Any

from hypothesis import strategies as st

from simulator.config import Scenario

# Inside the tiny city (lon 116.35-116.47, lat 39.88-39.95): see tests/cityfixtures.py.
INSIDE = (116.40, 39.915)
OUTSIDE = [(121.47, 31.23), (0.0, 0.0), (116.40, 45.0), (-116.40, 39.915), (446_000.0, 4_419_000.0)]

CITY = "@CITY"  # the tiny city's path, filled in when an example's files are written
SCENARIO_FILE = "scenario.toml"
STORES_FILE = "stores.csv"
COMPARISON_FILE = "comparison.toml"
SWEEP_FILE = "sweep.toml"

HUGE_INTEGERS = [3_000_000_000, 10**12, 2**31, 2**31 - 1, 2**63 - 1, 2**63, 2**64 + 1, -(2**63), 10**30]
SMALL_INTEGERS = [0, -1, 1, 2, 99, 100, 365, 366, 3650]
ODD_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.5, 3e9, 1e12]
ODD_TEXTS = ["", " ", "\ufeff", "\x00", "x" * 5000, "中心", "../../etc/passwd", "EPSG:3857", "all", "nan", "1e3", "\\"]
BAD_CRS = [
    "",
    "wgs",
    "WGS84 ",
    "gcj02",
    "bd09",
    "EPSG:",
    "EPSG:0",
    "EPSG:3857",
    "EPSG:4978",
    "EPSG:5773",
    "EPSG:999999999999",
    "epsg:4326",
    "+proj=longlat",
    "EPSG:4326:1",
    "urn:ogc:def:crs:EPSG::4326",
]
STORE_KEYS = ["id", "name", "mall", "station", "lon", "lat", "crs", "format", "open_day", "close_day"]

SUBSTITUTES = st.one_of(
    st.sampled_from(HUGE_INTEGERS + SMALL_INTEGERS),
    st.integers(),
    st.sampled_from(ODD_FLOATS),
    st.floats(),
    st.sampled_from(ODD_TEXTS + BAD_CRS),
    st.text(max_size=20),
    st.booleans(),
    st.dates(),
    st.just(datetime(2024, 3, 28, 12, 30)),
    st.lists(st.integers(-5, 5), max_size=3),
    st.just({}),
    st.just({"x": 1}),
    st.just([{}]),
)
"""Values put where a scenario, comparison or sweep expects something else."""


def tiny_scenario(bundle: str) -> dict[str, Any]:
    """A valid scenario on the tiny city: three stores (mall, station, lon/lat), levers, 3 days."""
    return {
        "name": "fuzz",
        "seed": 3,
        "replications": 1,
        "city": {"bundle": bundle},
        "population": {"consumers": 200, "commuter_share": 0.6, "contacts_per_consumer": 4},
        "plan": {
            "name": "three",
            "stores": [
                {"id": "A", "mall": "M1", "capacity_per_day": 20},
                {"id": "B", "station": "S1", "format": "street", "open_day": 1},
                {"id": "C", "lon": INSIDE[0], "lat": INSIDE[1], "crs": "wgs84", "close_day": 3},
            ],
        },
        "behaviour": {"hill_k": 3.0, "adstock_half_life_days": 28.0},
        "levers": {
            "founder_endorsement": {
                "offset": 0.2,
                "events": [{"kind": "shock", "day": 1, "size": -0.5, "half_life_days": 10.0}],
            },
            "sales_announcements": {"announcements": [{"day": 1, "cumulative_orders": 400}]},
        },
        "horizon": {"days": 3, "start_date": date(2024, 3, 28)},
        "run": {"workers": 1},
    }


def tiny_comparison() -> dict[str, Any]:
    """A valid comparison file over ``scenario.toml``: the base plan, one store more, a stores file."""
    return {
        "name": "fuzzcmp",
        "base": SCENARIO_FILE,
        "replications": 1,
        "plans": [
            {"name": "base", "use_base_plan": True},
            {"name": "more", "use_base_plan": True, "stores": [{"id": "X", "mall": "M2"}]},
            {"name": "file", "stores_file": STORES_FILE, "levers": {"founder_endorsement": {"offset": 0.5}}},
        ],
    }


def tiny_sweep(kind: str) -> dict[str, Any]:
    """A valid sweep file over ``scenario.toml`` with a small design of the given kind."""
    ranged = [
        {"key": "behaviour.hill_k", "low": 2.0, "high": 4.0},
        {"key": "plan.stores[*].capacity_per_day", "low": 10, "high": 40, "distribution": "loguniform"},
    ]
    designs = {
        "grid": ({"kind": "grid"}, [{"key": "behaviour.hill_k", "values": [2.0, 4.0]}]),
        "lhs": ({"kind": "lhs", "samples": 3}, ranged),
        "sobol": ({"kind": "sobol", "samples": 2}, ranged),
        "morris": ({"kind": "morris", "samples": 2, "levels": 4}, ranged),
    }
    design, parameters = designs[kind]
    return {
        "name": f"fuzz{kind}",
        "scenario": SCENARIO_FILE,
        "replications": 1,
        "kpis": ["purchases_scaled", "mean_trust"],
        "overrides": {"population.consumers": 200, "horizon.days": 2},
        "parameters": parameters,
        "design": design,
        "analysis": {"resamples": 10},
    }


STORES_CSV = "id,mall,station,lon,lat,open_day,capacity_per_day\nF1,M3,,,,0,10\nF2,,,116.42,39.92,1,\n"


# --------------------------------------------------------------------------------------
# Key paths and edits
# --------------------------------------------------------------------------------------


def key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a document (tables, lists and values), depth first."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += key_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += key_paths(item, prefix + (index,))
    return paths


def schema_key_paths() -> list[tuple[Any, ...]]:
    """Key paths of the real scenario schema (of its defaults), so that mutations reach every section."""
    return [path for path in key_paths(Scenario().model_dump(mode="python")) if "stores" not in path]


SCHEMA_PATHS = schema_key_paths()


def copy_document(value: Any) -> Any:
    """A deep copy of a document of dicts, lists and scalars."""
    if isinstance(value, dict):
        return {key: copy_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_document(item) for item in value]
    return value


def set_at(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path``, creating the tables on the way; a path through a non-table is skipped."""
    container: Any = document
    for key in path[:-1]:
        if isinstance(container, dict):
            container = container.setdefault(key, {}) if not isinstance(key, int) else None
        elif isinstance(container, list) and isinstance(key, int) and key < len(container):
            container = container[key]
        else:
            return
    last = path[-1]
    if (isinstance(container, dict) and not isinstance(last, int)) or (
        isinstance(container, list) and isinstance(last, int) and last < len(container)
    ):
        container[last] = value


def delete_at(document: dict[str, Any], path: tuple[Any, ...]) -> None:
    """Remove the key or list item at ``path`` (nothing if it is not there)."""
    container: Any = document
    for key in path[:-1]:
        try:
            container = container[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(container, dict):
        container.pop(path[-1], None)
    elif isinstance(container, list) and isinstance(path[-1], int) and path[-1] < len(container):
        del container[path[-1]]


def tables_of(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Key paths of every table of a document (the root is ``()``)."""
    return [prefix] + [
        path
        for key, item in (
            document.items()
            if isinstance(document, dict)
            else enumerate(document)
            if isinstance(document, list)
            else []
        )
        for path in tables_of(item, prefix + (key,))
        if isinstance(item, (dict, list))
    ]


def get_at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _value_at(document: Any, path: tuple[Any, ...]) -> Any:
    try:
        return get_at(document, path)
    except (KeyError, IndexError, TypeError):
        return None


def substitute_for(value: Any) -> st.SearchStrategy[Any]:
    """A value to put in place of ``value``: often of the same type but out of range, else anything."""
    if isinstance(value, bool):
        like = st.sampled_from([0, 1, "true", "yes"])
    elif isinstance(value, int):
        like = st.sampled_from(HUGE_INTEGERS + SMALL_INTEGERS) | st.floats() | st.sampled_from(["3", "all", "1e12"])
    elif isinstance(value, float):
        like = st.sampled_from(ODD_FLOATS + HUGE_INTEGERS) | st.floats()
    elif isinstance(value, str):
        like = st.sampled_from(ODD_TEXTS + BAD_CRS) | st.text(max_size=20)
    elif isinstance(value, list):
        like = st.sampled_from([[], [None.__class__.__name__], [1, "a"], [{}] * 3])
    else:
        return SUBSTITUTES
    return st.one_of(like, like, SUBSTITUTES)


@st.composite
def mutated_document(draw: st.DrawFn, document: dict[str, Any], extra_paths: list[tuple[Any, ...]]) -> Any:
    """``document`` with 0-3 edits: a value replaced, a key removed or an unknown key added."""
    document = copy_document(document)
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(["replace", "replace", "delete", "unknown", "wrong_root"]))
        paths = key_paths(document) + extra_paths
        if edit == "replace" and paths:
            path = draw(st.sampled_from(paths))
            # copies: a drawn dict or list may be a shared constant that a later edit would change
            set_at(document, path, copy_document(draw(substitute_for(_value_at(document, path)))))
        elif edit == "delete" and paths:
            delete_at(document, draw(st.sampled_from(paths)))
        elif edit == "unknown":
            table = get_at(document, draw(st.sampled_from(tables_of(document))))
            key = draw(st.sampled_from(["colour", "adstok_half_life_days", "Stores", "id ", "", "\ufeffname"]))
            if isinstance(table, dict):
                table[key] = copy_document(draw(SUBSTITUTES))
        elif edit == "wrong_root" and draw(st.integers(0, 9)) == 0:
            return copy_document(draw(SUBSTITUTES))
    return document


@st.composite
def store_edits(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """Edits of ``plan.stores``: duplicate or empty ids, positions outside the city, bad crs, far days."""
    stores = document.get("plan", {}).get("stores")
    if not isinstance(stores, list) or not stores or not all(isinstance(s, dict) for s in stores):
        return document
    index = draw(st.integers(0, len(stores) - 1))
    store = stores[index]
    edit = draw(
        st.sampled_from(["duplicate", "empty_id", "outside", "crs", "two_positions", "days", "many", "unknown_site"])
    )
    if edit == "duplicate":
        stores.append(dict(store))
    elif edit == "empty_id":
        store["id"] = draw(st.sampled_from(["", " ", "\ufeff", "A" * 1000]))
    elif edit == "outside":
        for key in ("mall", "station"):
            store.pop(key, None)
        store["lon"], store["lat"] = draw(st.sampled_from(OUTSIDE))
    elif edit == "crs":
        store["crs"] = draw(st.sampled_from(BAD_CRS))
        store.setdefault("lon", INSIDE[0])
        store.setdefault("lat", INSIDE[1])
        for key in ("mall", "station"):
            store.pop(key, None)
    elif edit == "two_positions":
        store.update({"mall": "M1", "lon": INSIDE[0], "lat": INSIDE[1]})
    elif edit == "days":
        key = draw(st.sampled_from(["open_day", "close_day", "capacity_per_day"]))
        store[key] = draw(st.sampled_from(HUGE_INTEGERS + SMALL_INTEGERS))
    elif edit == "many":
        stores.extend({**store, "id": f"{store.get('id')}-{i}"} for i in range(draw(st.integers(2, 60))))
    else:
        store.pop("lon", None), store.pop("lat", None)
        store["mall" if "mall" in store else "station"] = draw(st.sampled_from(["M9", "S99", "", "中心广场", "国贸"]))
    return document


# --------------------------------------------------------------------------------------
# TOML text and bytes
# --------------------------------------------------------------------------------------


def _string(text: str) -> str:
    """A TOML basic string (every control character escaped)."""
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) == 0x7F else c for c in escaped) + '"'


def _key(key: Any) -> str:
    text = str(key)
    return text if text and all(c.isascii() and (c.isalnum() or c in "-_") for c in text) else _string(text)


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(document: Any) -> str:
    """TOML for a document: top-level values, then one ``[section]`` per table (nested tables inline).

    A document that is not a table is written as ``value = ...`` (a file that is not a scenario).
    """
    if not isinstance(document, dict):
        return f"value = {_inline(document)}\n"
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for key, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{_key(key)}]")
            lines += [f"{_key(k)} = {_inline(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@st.composite
def damaged_bytes(draw: st.DrawFn, text: str) -> bytes:
    """The UTF-8 bytes of ``text``, most often intact; else with a BOM, bad bytes, a cut, a repeated line."""
    data = text.encode("utf-8")
    edit = draw(st.sampled_from(["none"] * 6 + ["bom", "bad_utf8", "truncate", "repeat_line", "nul", "crlf", "empty"]))
    if edit == "bom":
        return b"\xef\xbb\xbf" + data
    if edit == "bad_utf8":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + data[at:]
    if edit == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if edit == "repeat_line":
        lines = data.split(b"\n")
        line = draw(st.sampled_from(lines))
        return data + b"\n" + line + b"\n"
    if edit == "nul":
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\x00" + data[at:]
    if edit == "crlf":
        return data.replace(b"\n", b"\r\n")
    if edit == "empty":
        return b""
    return data


# --------------------------------------------------------------------------------------
# Whole inputs: the files of an example
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class FileSet:
    """Files an example writes to its folder (name -> bytes; ``None`` writes a folder of that name)."""

    files: dict[str, bytes | None]
    main: str


@st.composite
def stores_csv(draw: st.DrawFn) -> bytes:
    """The stores file: valid, or with a bad cell, a BOM, an unknown column, bad bytes."""
    text = STORES_CSV
    edit = draw(st.sampled_from(["none", "none", "cell", "column", "header_only", "duplicate"]))
    if edit == "cell":
        cell = draw(st.sampled_from(["3000000000", "1e12", "nan", "inf", "-1", "x", '"', "", "M9", "EPSG:3857"]))
        text = text.replace(",0,10", f",{cell},10") if draw(st.booleans()) else text.replace("116.42", cell)
    elif edit == "column":
        text = text.replace("capacity_per_day", draw(st.sampled_from(["capacity", "crs", "", "id"])))
    elif edit == "header_only":
        text = text.splitlines()[0] + "\n"
    elif edit == "duplicate":
        text = text + text.splitlines()[1] + "\n"
    return draw(damaged_bytes(text))


@st.composite
def scenario_files(draw: st.DrawFn, bundle: str = CITY, stores_file: bool | None = None) -> FileSet:
    """A mutated scenario file, maybe with a stores file (also mutated), a missing one or a folder."""
    document: Any = tiny_scenario(bundle)
    if stores_file if stores_file is not None else draw(st.booleans()):
        document["plan"]["stores_file"] = STORES_FILE
    document = draw(store_edits(document)) if draw(st.booleans()) else document
    document = draw(mutated_document(document, SCHEMA_PATHS))
    files: dict[str, bytes | None] = {SCENARIO_FILE: draw(damaged_bytes(toml_text(document)))}
    stores = draw(st.sampled_from(["csv", "csv", "missing", "folder"]))
    if stores == "csv":
        files[STORES_FILE] = draw(stores_csv())
    elif stores == "folder":
        files[STORES_FILE] = None
    return FileSet(files, SCENARIO_FILE)


@st.composite
def comparison_files(draw: st.DrawFn, bundle: str = CITY) -> FileSet:
    """A mutated comparison file over a (mostly valid) base scenario and stores file."""
    document = draw(mutated_document(tiny_comparison(), []))
    base = draw(scenario_files(bundle, stores_file=False)) if draw(st.integers(0, 4)) == 0 else None
    files: dict[str, bytes | None] = {
        COMPARISON_FILE: draw(damaged_bytes(toml_text(document))),
        SCENARIO_FILE: base.files[SCENARIO_FILE] if base else toml_text(tiny_scenario(bundle)).encode(),
        STORES_FILE: draw(stores_csv()),
    }
    return FileSet(files, COMPARISON_FILE)


@st.composite
def sweep_files(draw: st.DrawFn, bundle: str = CITY) -> FileSet:
    """A mutated sweep file (grid, lhs, sobol or morris) over a (mostly valid) base scenario."""
    document = draw(mutated_document(tiny_sweep(draw(st.sampled_from(["grid", "lhs", "sobol", "morris"]))), []))
    base = draw(scenario_files(bundle, stores_file=False)) if draw(st.integers(0, 4)) == 0 else None
    files: dict[str, bytes | None] = {
        SWEEP_FILE: draw(damaged_bytes(toml_text(document))),
        SCENARIO_FILE: base.files[SCENARIO_FILE] if base else toml_text(tiny_scenario(bundle)).encode(),
    }
    return FileSet(files, SWEEP_FILE)

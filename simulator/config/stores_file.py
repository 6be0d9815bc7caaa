"""Site files: CSV or GeoJSON files of further stores of a plan, or of rival showrooms.

:func:`read_sites_file` reads and validates one against a site model (``Store`` or
``RivalShowroom``), naming the CSV row (its line number, the header being row 1) or the
GeoJSON feature of each problem; :func:`merge_stores_file` appends the stores of a
scenario's ``plan.stores_file`` to its inline stores, :func:`merge_rivals_file` the
showrooms of ``rivals.file`` to the inline ones.

Coordinates: a row's ``crs`` column (or property) says its system; rows without one take
the file's (``plan.stores_file_crs``, ``rivals.file_crs``), else WGS84. A GeoJSON's
declared ``crs`` member (e.g. ``urn:ogc:def:crs:EPSG::3857``, as GDAL writes it) applies to
its Point geometries, which are reprojected to WGS84 longitude and latitude when read.
"""

import csv
import io
import json
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from simulator.config.coordinates import WGS84, convertible, normalise_crs, to_wgs84
from simulator.config.problems import problem_lines, unknown_key_message
from simulator.config.schema_base import FrozenModel, unwrap_annotation
from simulator.config.schema_market import RivalShowroom
from simulator.config.schema_plan import Store
from simulator.config.toml_files import not_utf8_message, parse_override_value
from simulator.config.values import show_value

__all__ = [
    "merge_rivals_file",
    "merge_stores_file",
    "read_sites_file",
    "read_store_rows",
    "read_stores_file",
]


def _text_columns(model: type[FrozenModel]) -> frozenset[str]:
    """Columns of a site model whose cells stay text (ids and names are never parsed as numbers)."""
    text_columns = set()
    for name, field in model.model_fields.items():
        inner, _, _ = unwrap_annotation(field.annotation)
        if inner is str or typing.get_origin(inner) is Literal:
            text_columns.add(name)
    return frozenset(text_columns)


def read_store_rows(
    path: Path, label: str, model: type[FrozenModel] = Store, crs: str | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Read a CSV or GeoJSON site file into (row label, raw site dict) pairs and problems.

    ``crs`` (normalised) is the file's coordinate system: rows with ``lon``/``lat`` and no
    ``crs`` of their own take it.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        return [], [f"{label}: unsupported stores file type '{path.suffix}' (use .csv or .geojson)"]
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], [f"{label}: stores file not found ({path})"]
    except (OSError, ValueError) as exception:
        return [], [f"{label}: cannot read the stores file ({type(exception).__name__}: {show_value(str(exception))})"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exception:
        return [], [f"{label}: {not_utf8_message(raw, exception)}"]
    if suffix == ".csv":
        rows, problems = _csv_store_rows(text, label, model)
    else:
        rows, problems = _geojson_store_rows(text, label, crs)
    if crs is not None:
        for _row_label, row in rows:
            if "crs" not in row and ("lon" in row or "lat" in row):
                row["crs"] = crs
    return rows, problems


def _csv_store_rows(
    text: str, label: str, model: type[FrozenModel]
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    text_columns = _text_columns(model)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return [], [f"{label}: empty file (expected a header row)"]
        header = [column.strip() for column in header]
        problems = []
        for column_number, column in enumerate(header, start=1):
            if column not in model.model_fields:
                problems.append(
                    f"{label}: column {column_number} '{column}': "
                    + unknown_key_message(column, model.model_fields, "column")
                )
        repeated = sorted({column for column in header if header.count(column) > 1})
        if repeated:
            problems.append(f"{label}: column '{repeated[0]}' appears more than once")
        if problems:
            return [], problems
        rows = []
        for cells in reader:
            row_label = f"row {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                problems.append(f"{label}: {row_label}: {len(cells)} cells but the header has {len(header)}")
                continue
            store: dict[str, Any] = {}
            for column, cell in zip(header, cells):
                cell = cell.strip()
                if cell == "":
                    continue
                store[column] = cell if column in text_columns else parse_override_value(cell)
            rows.append((row_label, store))
        return rows, problems
    except csv.Error as exception:
        return [], [f"{label}: invalid CSV: {exception}"]


_DECLARED_EPSG = re.compile(r"(?:urn:ogc:def:crs:)?epsg:(?:[0-9.]*:)?(\d+)", re.IGNORECASE)
_DECLARED_CRS84 = re.compile(r"(?:urn:ogc:def:crs:ogc:(?:1\.3:)?)?crs:?84", re.IGNORECASE)


def _declared_crs(document: Mapping[str, Any], label: str) -> tuple[str | None, str | None]:
    """A GeoJSON's declared ``crs`` member as a normalised crs (None: not declared), or a problem."""
    member = document.get("crs")
    if member is None:
        return None, None
    properties = member.get("properties") if isinstance(member, dict) else None
    kind = member.get("type") if isinstance(member, dict) else None
    if kind == "EPSG" and isinstance(properties, dict) and isinstance(properties.get("code"), int):
        name = f"EPSG:{properties['code']}"
    elif kind == "name" and isinstance(properties, dict) and isinstance(properties.get("name"), str):
        name = properties["name"].strip()
    else:
        return None, f'{label}: crs: must be {{"type": "name", "properties": {{"name": "EPSG:<code>"}}}}'
    if _DECLARED_CRS84.fullmatch(name):
        return WGS84, None
    match = _DECLARED_EPSG.fullmatch(name)
    if match is None:
        return None, f"{label}: crs: unsupported declared coordinate system {show_value(name)} (use an EPSG code)"
    try:
        return normalise_crs(f"EPSG:{match.group(1)}"), None
    except ValueError as exception:
        return None, f"{label}: crs: {exception}"


def _geojson_store_rows(
    text: str, label: str, file_crs: str | None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exception:
        where = (
            f" at line {exception.lineno}, column {exception.colno}"
            if isinstance(exception, json.JSONDecodeError)
            else ""
        )
        return [], [f"{label}: invalid GeoJSON{where}: {getattr(exception, 'msg', 'nested too deeply')}"]
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        return [], [f"{label}: must be a GeoJSON FeatureCollection"]
    declared, problem = _declared_crs(document, label)
    if problem is not None:
        return [], [problem]
    if declared not in (None, WGS84) and file_crs not in (None, WGS84, declared):
        return [], [f"{label}: crs: the file declares {declared} for its geometries, but its crs is set to {file_crs}"]
    features = document.get("features")
    if not isinstance(features, list):
        return [], [f"{label}: features: must be a list"]
    rows, problems = [], []
    located: list[dict[str, Any]] = []
    for position, feature in enumerate(features):
        row_label = f"features[{position}]"
        if not isinstance(feature, dict):
            problems.append(f"{label}: {row_label}: must be a GeoJSON Feature")
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            problems.append(f"{label}: {row_label}.properties: must be an object")
            continue
        store = dict(properties)
        geometry = feature.get("geometry")
        if geometry is not None:
            coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if not isinstance(geometry, dict) or geometry.get("type") != "Point":
                kind = geometry.get("type") if isinstance(geometry, dict) else None
                problems.append(f"{label}: {row_label}.geometry: must be a Point, got {show_value(kind)}")
                continue
            if not isinstance(coordinates, list) or len(coordinates) < 2:
                problems.append(f"{label}: {row_label}.geometry.coordinates: must be [lon, lat]")
                continue
            if "lon" in store or "lat" in store:
                problems.append(f"{label}: {row_label}: lon/lat given both as properties and as the Point geometry")
                continue
            store["lon"], store["lat"] = coordinates[0], coordinates[1]
            if declared not in (None, WGS84):
                if "crs" in store:
                    problems.append(
                        f"{label}: {row_label}.properties.crs: the file declares {declared} for its geometries; "
                        "remove the crs property"
                    )
                    continue
                located.append(store)
        rows.append((row_label, store))
    if declared not in (None, WGS84):
        _reproject(located, declared)
    return rows, problems


def _reproject(stores: list[dict[str, Any]], crs: str) -> None:
    """Reproject the ``lon``/``lat`` of geometry-located rows from ``crs`` to WGS84 in place (marked ``crs = wgs84``).

    Coordinates that are not numbers, or that do not convert (:func:`convertible`), stay
    as they are, marked with ``crs``, for the site model to report.
    """
    numeric = [
        store
        for store in stores
        if all(isinstance(store[key], (int, float)) and not isinstance(store[key], bool) for key in ("lon", "lat"))
    ]
    if not numeric:
        return
    x = [store["lon"] for store in numeric]
    y = [store["lat"] for store in numeric]
    lon, lat = to_wgs84(x, y, crs)
    for store, ok, converted_lon, converted_lat in zip(numeric, convertible(x, y, crs), lon, lat):
        if ok:
            store["lon"], store["lat"], store["crs"] = float(converted_lon), float(converted_lat), WGS84
        else:
            store["crs"] = crs


SiteModel = TypeVar("SiteModel", bound=FrozenModel)


def read_sites_file(
    sites_file: str, base_dir: Path | None, model: type[SiteModel], crs: str | None = None
) -> tuple[list[tuple[str, SiteModel]], list[str]]:
    """Read and validate the sites (stores or rival showrooms) of a CSV or GeoJSON file.

    A relative path is resolved against ``base_dir`` (the scenario or comparison file's
    folder); ``crs`` (normalised) is the coordinate system of rows that give none.
    Returns ``(row label, site)`` pairs and one-line problems naming the file, the row
    and the column.
    """
    path = Path(sites_file).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    rows, problems = read_store_rows(path, sites_file, model, crs)
    sites = []
    for row_label, row in rows:
        try:
            sites.append((row_label, model.model_validate(row)))
        except ValidationError as exception:
            problems.extend(problem_lines(exception, sites_file, model, prefix=f"{row_label}: "))
        except RecursionError:
            problems.append(f"{sites_file}: {row_label}: nested too deeply")
    return sites, problems


def read_stores_file(
    stores_file: str, base_dir: Path | None, crs: str | None = None
) -> tuple[list[tuple[str, Store]], list[str]]:
    """Read and validate the stores of a CSV or GeoJSON stores file (see :func:`read_sites_file`)."""
    return read_sites_file(stores_file, base_dir, Store, crs)


def _merge_sites_file(
    data: dict[str, Any],
    source_name: str,
    base_dir: Path | None,
    section: str,
    keys: tuple[str, str, str],
    model: type[FrozenModel],
    noun: str,
) -> tuple[dict[str, Any], list[str]]:
    """Read ``<section>.<file key>`` and append its validated sites to ``<section>.<list key>``.

    The file's rows without a ``crs`` take ``<section>.<crs key>``; when that is not a
    valid coordinate system the file is not read (the schema reports the key).
    """
    list_key, file_key, crs_key = keys
    table = data.get(section)
    if not isinstance(table, Mapping):
        return data, []
    sites_file = table.get(file_key)
    if isinstance(sites_file, str) and not sites_file.strip():
        return data, [f"{source_name}: {section}.{file_key}: the file name is blank"]
    if not isinstance(sites_file, str):
        return data, []
    file_crs = table.get(crs_key)
    if file_crs is not None:
        try:
            file_crs = normalise_crs(file_crs) if isinstance(file_crs, str) else None
        except ValueError:
            file_crs = None
        if file_crs is None:
            return data, []
    label = sites_file
    validated, problems = read_sites_file(sites_file, base_dir, model, file_crs)

    inline = table.get(list_key, [])
    seen: dict[str, str] = {}
    if isinstance(inline, list):
        for position, site in enumerate(inline):
            if isinstance(site, Mapping) and isinstance(site.get("id"), str):
                seen.setdefault(site["id"], f"{section}.{list_key}[{position}] in {source_name}")
    file_sites = []
    for row_label, site in validated:
        dumped = site.model_dump()
        site_id = str(dumped["id"])
        if site_id in seen:
            problems.append(f"{label}: {row_label}: id: duplicate {noun} id '{site_id}' (also {seen[site_id]})")
            continue
        seen[site_id] = f"{label} {row_label}"
        file_sites.append(dumped)
    if isinstance(inline, list):
        data = dict(data)
        data[section] = {**table, list_key: list(inline) + file_sites}
    return data, problems


def merge_stores_file(
    data: dict[str, Any], source_name: str, base_dir: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """Read ``plan.stores_file`` and append its validated stores to ``plan.stores``."""
    keys = ("stores", "stores_file", "stores_file_crs")
    return _merge_sites_file(data, source_name, base_dir, "plan", keys, Store, "store")


def merge_rivals_file(
    data: dict[str, Any], source_name: str, base_dir: Path | None
) -> tuple[dict[str, Any], list[str]]:
    """Read ``rivals.file`` and append its validated showrooms to ``rivals.showrooms``."""
    keys = ("showrooms", "file", "file_crs")
    return _merge_sites_file(data, source_name, base_dir, "rivals", keys, RivalShowroom, "showroom")

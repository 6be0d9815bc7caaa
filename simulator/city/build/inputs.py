"""The arguments of a build, checked before anything is read: names, paths, zone size, build date."""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from simulator.config import CityError

__all__ = ["BuildInputs", "check_inputs"]


@dataclass(frozen=True)
class BuildInputs:
    """What :func:`simulator.city.build.build_city_bundle` was asked to build (see its parameters)."""

    name: str
    osm_path: Path
    population_path: Path
    population_column: str | None
    population_layer: str | None
    boundary_path: Path | None
    out: Path
    overwrite: bool
    zone_size_m: float | None
    build_date: str
    population_source: str | None
    population_licence: str | None


def check_inputs(
    name: str,
    osm_path: str | os.PathLike,
    population_path: str | os.PathLike,
    *,
    population_column: str | None = None,
    population_layer: str | None = None,
    boundary_path: str | os.PathLike | None = None,
    out_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    zone_size_m: float | None = None,
    build_date: str | None = None,
    population_source: str | None = None,
    population_licence: str | None = None,
) -> BuildInputs:
    """The build's arguments as paths and values; the output defaults to ``./<name>.gpkg``, the date to today (UTC).

    Raises
    ------
    CityError
        A name that cannot name a file, an output that is not a ``.gpkg`` or exists
        without ``overwrite``, a negative zone size, a malformed date, a missing extract.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name or ""):
        raise CityError(f"{name!r}: city name must be letters, digits, '-' or '_' (it names the file)")
    osm = Path(osm_path)
    out = Path(out_path) if out_path is not None else Path.cwd() / f"{name}.gpkg"
    if out.suffix.lower() != ".gpkg":
        raise CityError(f"{out.name}: the bundle must be a .gpkg file")
    if out.exists() and not overwrite:
        raise CityError(f"{out}: file exists (use --overwrite or another --out)")
    if zone_size_m is not None and (not math.isfinite(zone_size_m) or zone_size_m < 0):
        raise CityError(f"zone size: must be >= 0 metres, got {zone_size_m}")
    if build_date is None:
        build_date = _dt.datetime.now(_dt.UTC).date().isoformat()
    elif not re.fullmatch(r"\d{4}-\d{2}-\d{2}", build_date):
        raise CityError(f"build date: expected YYYY-MM-DD, got {build_date!r}")
    if not osm.exists():
        raise CityError(f"{osm.name}: OpenStreetMap extract not found")
    return BuildInputs(
        name=name,
        osm_path=osm,
        population_path=Path(population_path),
        population_column=population_column,
        population_layer=population_layer,
        boundary_path=Path(boundary_path) if boundary_path is not None else None,
        out=out,
        overwrite=overwrite,
        zone_size_m=zone_size_m,
        build_date=build_date,
        population_source=population_source,
        population_licence=population_licence,
    )

"""The build of a city bundle as a sequence of named steps (:func:`build_city_bundle`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import shapely

from simulator.city.build.cells import CityCells, city_cells
from simulator.city.build.inputs import BuildInputs, check_inputs
from simulator.city.build.jobs import Jobs, cell_jobs
from simulator.city.build.osm import OsmExtract, read_osm
from simulator.city.build.population import PopulationLayer, read_population
from simulator.city.build.report import BuildReport, LayerCount
from simulator.city.build.sites import build_malls, build_sites
from simulator.city.build.transit import Transit, build_transit
from simulator.city.build.write import bundle_layers, sources_table, write_bundle
from simulator.city.build.zones import Zones, build_zones
from simulator.config import CityError

__all__ = ["build_city_bundle"]


def build_city_bundle(
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
) -> BuildReport:
    """Build a city bundle from an OpenStreetMap extract and a population layer.

    Parameters
    ----------
    name
        City name (letters, digits, ``-`` and ``_``): the default file name.
    osm_path
        ``.osm.pbf`` (or ``.osm`` XML) extract covering the city.
    population_path
        Vector file (GeoPackage, GeoJSON, Shapefile, ...) of population polygons
        or points, in any CRS it declares.
    population_column
        Column of residents; guessed from common names when not given.
    population_layer
        Layer of a multi-layer population file.
    boundary_path
        Polygon(s) of the city; default: the union of the population cells. Two or
        more polygons become the zones (unless ``zone_size_m`` is given).
    out_path
        GeoPackage to write; default ``./<name>.gpkg``.
    overwrite
        Replace an existing file.
    zone_size_m
        Side of the square zones in metres; 0 = one zone per cell; None = automatic.
    build_date
        ``YYYY-MM-DD`` written to ``sources`` (default: today, UTC). Give it for
        byte-identical rebuilds.
    population_source, population_licence
        Provenance of the population layer, written to ``sources``.

    Returns
    -------
    BuildReport
        What was found, repaired, skipped and dropped, per layer.

    Raises
    ------
    CityError
        Missing or unreadable inputs, a population layer without CRS or without
        a population column, an extract without features or not overlapping the
        population, an existing output without ``overwrite``.
    """
    started = time.perf_counter()
    inputs = check_inputs(
        name,
        osm_path,
        population_path,
        population_column=population_column,
        population_layer=population_layer,
        boundary_path=boundary_path,
        out_path=out_path,
        overwrite=overwrite,
        zone_size_m=zone_size_m,
        build_date=build_date,
        population_source=population_source,
        population_licence=population_licence,
    )
    return _build(inputs, started)


def _build(inputs: BuildInputs, started: float) -> BuildReport:
    """The steps of the build: population, cells, extract, sites, transit, jobs, zones, layers, file, report."""
    population = read_population(inputs.population_path, inputs.population_column, inputs.population_layer)
    cells = city_cells(population, inputs.boundary_path)
    osm = read_osm(inputs.osm_path, population.metric_crs)
    _check_overlap(osm, cells, inputs)
    covered, coverage_notes = _coverage(osm, cells)
    counts = _LayerCounts()
    malls = build_malls(osm, cells.inside, counts.malls)
    mall_footprints = [g for g in malls["footprint"] if g is not None]
    sites = build_sites(osm, cells.inside, mall_footprints, counts.shops, counts.sites)
    transit = build_transit(osm, cells.inside, counts.stations, counts.lines)
    jobs = cell_jobs(osm, cells, covered)
    zones = build_zones(cells, jobs.per_cell, osm, inputs.zone_size_m)
    sources = sources_table(inputs, population, zones.rule, jobs.note)
    layers = bundle_layers(population.metric_crs, cells, zones, jobs, malls, sites, transit, sources)
    write_bundle(inputs.out, layers, inputs.overwrite)
    return BuildReport(
        name=inputs.name,
        out_path=inputs.out,
        metric_crs=population.metric_crs,
        population_file=inputs.population_path.name,
        population_column=population.column,
        population_crs=population.crs_text + (" (reprojected)" if population.reprojected else ""),
        population_found=population.total_found,
        population_kept=int(cells.population.sum()),
        jobs_total=int(jobs.per_cell.sum()),
        zone_rule=zones.rule,
        counts=counts.by_layer(population, cells, osm, zones, jobs, transit),
        notes=[*population.notes, *cells.notes, *coverage_notes, *transit.notes, jobs.note],
        rows_written={layer: len(frame) for layer, frame, _ in layers},
        seconds=time.perf_counter() - started,
        file_bytes=inputs.out.stat().st_size,
    )


@dataclass
class _LayerCounts:
    """The counts filled by the site and transit steps."""

    malls: LayerCount = field(default_factory=LayerCount)
    shops: LayerCount = field(default_factory=LayerCount)
    sites: LayerCount = field(default_factory=LayerCount)
    stations: LayerCount = field(default_factory=LayerCount)
    lines: LayerCount = field(default_factory=LayerCount)

    def by_layer(
        self,
        population: PopulationLayer,
        cells: CityCells,
        osm: OsmExtract,
        zones: Zones,
        jobs: Jobs,
        transit: Transit,
    ) -> dict[str, LayerCount]:
        """Every count of the build, in the order of the report's table."""
        counts = {"population": population.count}
        if cells.boundary is not None:
            counts["boundary polygons"] = cells.boundary.count
        counts.update(osm.counts)
        counts.update(
            {
                "zones": zones.count,
                "malls": self.malls,
                "shops": self.shops,
                "street sites": self.sites,
                "workplaces": jobs.count,
                "stations": self.stations,
                "lines": self.lines,
            }
        )
        links = transit.links
        transfers = int((links["kind"] == "transfer").sum()) // 2 if len(links) else 0
        if transfers:
            counts["transfers"] = LayerCount(found=transfers, kept=transfers, note="walks between nearby stations")
        return counts


def _check_overlap(osm: OsmExtract, cells: CityCells, inputs: BuildInputs) -> None:
    """Raise unless some feature of the extract lies in the city area."""
    for frame in (osm.points, osm.areas, osm.routes):
        present = [g for g in frame["geometry"] if g is not None]
        if present and shapely.intersects(cells.area, np.asarray(present, dtype=object)).any():
            return
    raise CityError(
        f"{inputs.osm_path.name}: none of the extract's features lies in the population area of "
        f"{inputs.population_path.name} (wrong extract, or layers of different places?)"
    )


def _coverage(osm: OsmExtract, cells: CityCells) -> tuple[np.ndarray, list[str]]:
    """Whether the extract (the convex hull of its nodes) covers each cell, and a note when it does not cover all."""
    anchors = cells.anchors
    if osm.extent is not None:
        covered = shapely.contains_xy(osm.extent, anchors[:, 0], anchors[:, 1])
    else:
        covered = np.zeros(len(anchors), dtype=bool)
    if covered.all():
        return covered, []
    share = cells.population[covered].sum() / max(int(cells.population.sum()), 1)
    return covered, [
        f"the extract covers {int(covered.sum())} of {len(covered)} cells ({share:.0%} of residents): "
        "no malls, shops or stations are known in the rest"
    ]

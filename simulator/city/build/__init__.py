"""Build a city bundle from an OpenStreetMap extract and a population layer.

:func:`build_city_bundle` turns a ``.osm.pbf`` (or ``.osm`` XML) extract, read with
GDAL's OSM driver through pyogrio, and a population layer (polygons, or points
taken as the centres of grid cells) into a GeoPackage in the "City bundle format"
of ``docs/architecture.md``. It checks the result with
:func:`simulator.city.validation.validate_bundle` before renaming it into place, so a bundle
that exists passed the same validation as Beijing's. ``docs/new-city.md`` walks
a newcomer through it; the rules are summed up here.

Inputs are messy, so nothing in them is fatal except what makes a bundle
impossible (no CRS, no population column, nothing in the extract):

* geometries GEOS cannot even read (a ring of two points, an unclosed ring) are
  rebuilt from their WKB without the degenerate parts; invalid ones are repaired
  with :func:`shapely.make_valid`; what has no usable geometry left is skipped.
  Both are counted per input layer (:class:`LayerCount`);
* a population layer in another CRS is reprojected; one without a CRS is refused;
* everything is computed in the UTM zone of the population's centroid
  (:func:`simulator.city.projection.utm_epsg`) and stored in EPSG:4326 on a 1e-6 degree grid.

Modules, in the order of the build (``pipeline`` runs the steps): ``inputs`` (the arguments, checked),
``features`` and ``wkb`` (reading a layer, salvaging its geometries),
``population`` (the population layer), ``cells`` (the city area and its cells),
``osm`` (the extract), ``sites`` (malls and street sites), ``stations`` and
``transit`` (stations, lines, links), ``jobs`` (modelled jobs), ``zones``
(districts), ``write`` (the layers, the sources table, the file) and ``report``
(the counts of :class:`BuildReport`).

Layers built
------------
``population_cells``
    One cell per population polygon, or a square of the inferred grid spacing
    (median nearest-neighbour distance) around each population point. A cell is
    kept when a point inside it (its centroid for a square) lies inside the
    boundary: the ``--boundary`` polygons, or by default the cells' union with
    gaps narrower than :data:`.cells.CLOSE_GAP_CELLS` cells closed and holes filled
    (:func:`default_boundary`). A population grid lists only inhabited cells, so
    the parts of the city area without a cell (a station square, a park) get
    cells without residents continuing the grid (:func:`fill_cells`, column
    ``filled``): shops, stations and jobs can lie there. Residents: the layer's
    column, rounded to integers by the largest-remainder rule when it holds
    fractions (the total is kept). Jobs are MODELLED (see :func:`model_jobs`).
``districts`` (the zones)
    With a ``--boundary`` of two or more polygons: one zone per boundary
    feature. Otherwise the cells are grouped into squares of ``zone_size_m``
    (automatic: the smallest of :data:`.zones.ZONE_SIZES_M` at least twice the cell side
    that gives at most :data:`.zones.MAX_AUTO_ZONES` zones; 0 = one zone per cell); a
    zone is the union of its cells and is named after the most prominent OSM
    ``place`` node inside it (suburb before quarter before neighbourhood), else
    by its grid id.
``malls``
    ``shop=mall`` and ``shop=department_store`` polygons and nodes inside the
    city. ``attractiveness = clip(area / median(area), 0.5, 10)`` over the
    footprints; a node without footprint gets 1 (the median). A node inside (or
    within :data:`.sites.DUPLICATE_MALL_DISTANCE_M` of) a footprint is the same mall.
``street_sites``
    Clusters of the other ``shop=*`` features (outside malls): densest first,
    a cluster takes every unassigned shop within :data:`.sites.SITE_RADIUS_M` of the
    shop with the most unassigned neighbours; clusters of at least
    :data:`.sites.SITE_MIN_SHOPS` become sites, placed at the member shop nearest the
    members' mean; ``attractiveness = clip(shops / median(shops), 0.5, 10)``.
``subway_*``
    Rail stations (``railway=station|halt``, ``public_transport=station``,
    ``station=*``) and route relations (``route=subway|light_rail|train|tram|
    monorail``). GDAL does not expose relation members, so a route's stations
    are the stations of a compatible mode within :data:`.transit.STATION_SNAP_M` of its
    track, ordered along the merged track piece that holds the most of them;
    distances are along the track (at least the straight line). Routes with the
    same station sequence (directions, lines sharing a track) become one line.
    Stations closer than :data:`.transit.TRANSFER_RADIUS_M` on different lines get a
    walking transfer. Only the largest connected network is kept; stations on
    no line and smaller networks are dropped and counted. No transit is valid.
"""

from __future__ import annotations

from simulator.city.build.cells import default_boundary, fill_cells
from simulator.city.build.jobs import JOBS_ACTIVITY_SHARE, JOBS_PER_RESIDENT, model_jobs
from simulator.city.build.osm import parse_other_tags
from simulator.city.build.pipeline import build_city_bundle
from simulator.city.build.population import PopulationLayer, guess_population_column, largest_remainder
from simulator.city.build.report import BuildReport, LayerCount
from simulator.city.build.wkb import salvage_wkb
from simulator.city.projection import STORAGE_CRS

__all__ = [
    "JOBS_ACTIVITY_SHARE",
    "JOBS_PER_RESIDENT",
    "STORAGE_CRS",
    "BuildReport",
    "LayerCount",
    "PopulationLayer",
    "build_city_bundle",
    "default_boundary",
    "fill_cells",
    "guess_population_column",
    "largest_remainder",
    "model_jobs",
    "parse_other_tags",
    "salvage_wkb",
]

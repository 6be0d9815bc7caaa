"""A tiny synthetic city bundle in the exact bundle format, with optional corruptions.

The city is laid out in metres in UTM zone 50N (origin near lon 116.34, lat 39.88)
and written in EPSG:4326 like a real bundle:

* two districts of 5 km x 8 km side by side (west ``Z01``, east ``Z02``);
* 80 population cells of 1 km, densest at the centre (5 km, 4 km);
* line ``L1`` west-east along y = 4 km (5 stations, 2 km apart) and line ``L2``
  south-north along x = 5 km (5 stations, 1.5 km apart) crossing at the transfer
  station ``S3`` 中心 (transfer walk 120 s); official distances are a few percent
  longer than the straight lines;
* three malls next to stations with attractiveness 4, 2 and 1, two street sites.

Coordinates in metres are relative to :data:`ORIGIN_UTM50N`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

ORIGIN_UTM50N = (445_000.0, 4_415_000.0)
WIDTH_M, HEIGHT_M = 10_000.0, 8_000.0
CELL_M = 1_000.0
TRANSFER_WALK_SECONDS = 120.0
# (from line, to line, walk seconds) at S3 when line_pair_transfers is set
LINE_PAIR_TRANSFER_SECONDS = (("L1", "L2", 90.0), ("L2", "L1", 200.0))

# station id -> (name, name_en, x, y) in metres from the origin
STATIONS = {
    "S1": ("西门", "Ximen", 1000.0, 4000.0),
    "S2": ("木樨地", "Muxidi", 3000.0, 4000.0),
    "S3": ("中心", "Zhongxin", 5000.0, 4000.0),
    "S4": ("东桥", "Dongqiao", 7000.0, 4000.0),
    "S5": ("东门", "Dongmen", 9000.0, 4000.0),
    "S6": ("南苑", "Nanyuan", 5000.0, 1000.0),
    "S7": ("南桥", "Nanqiao", 5000.0, 2500.0),
    "S8": ("北桥", "Beiqiao", 5000.0, 5500.0),
    "S9": ("北苑", "Beiyuan", 5000.0, 7000.0),
}
# line id -> (name, name_en, colour, stations, official distances in metres)
LINES = {
    "L1": ("1号线", "Line 1", "#C23A30", ["S1", "S2", "S3", "S4", "S5"], [2100.0, 2050.0, 2080.0, 2120.0]),
    "L2": ("2号线", "Line 2", "#006098", ["S6", "S7", "S3", "S8", "S9"], [1550.0, 1600.0, 1580.0, 1620.0]),
}
# mall id -> (name, name_en, station it sits by, attractiveness)
MALLS = {
    "M1": ("中心广场", "Central Plaza", "S3", 4.0),
    "M2": ("木樨地购物中心", "Muxidi Mall", "S2", 2.0),
    "M3": ("北桥商场", "Beiqiao Mall", "S8", 1.0),
}
SITES = {
    "K1": ("东街店", 8000.0, 6000.0, 1.0),
    "K2": ("南街店", 3000.0, 1500.0, 0.5),
}

_TO_LONLAT = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def _lonlat(geoms):
    """Shift local metres by the origin and convert UTM 50N -> lon/lat."""

    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = _TO_LONLAT.transform(coords[:, 0] + ORIGIN_UTM50N[0], coords[:, 1] + ORIGIN_UTM50N[1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), transform)


def cell_population(x: float, y: float) -> int:
    """Modelled residents of the cell centred at (x, y) metres: 1,000 + 9,000 at the centre."""
    squared = (x - WIDTH_M / 2) ** 2 + (y - HEIGHT_M / 2) ** 2
    return int(round(1000 + 9000 * np.exp(-squared / (2 * 2500.0**2))))


def tiny_city_frames(
    *,
    negative_population: bool = False,
    invalid_polygon: bool = False,
    disconnected: bool = False,
    station_outside: bool = False,
    no_transit: bool = False,
    line_pair_transfers: bool = False,
) -> dict[str, pd.DataFrame]:
    """The layers of the tiny city (geometries in EPSG:4326), keyed by layer name."""
    stations = {k: list(v) for k, v in STATIONS.items()}
    lines = {k: (v[0], v[1], v[2], list(v[3]), list(v[4])) for k, v in LINES.items()}
    if station_outside:
        stations["S5"][2] = WIDTH_M + 5000.0
    if disconnected:
        stations["S10"] = ["中心南", "Zhongxin South", 5000.0, 3800.0]
        lines["L2"][3][2] = "S10"

    cell_rows = []
    for ix in range(int(WIDTH_M // CELL_M)):
        for iy in range(int(HEIGHT_M // CELL_M)):
            x0, y0 = ix * CELL_M, iy * CELL_M
            population = cell_population(x0 + CELL_M / 2, y0 + CELL_M / 2)
            cell_rows.append(
                {
                    "cell_id": f"c{ix:02d}{iy:02d}",
                    "zone_id": "Z01" if x0 < WIDTH_M / 2 else "Z02",
                    "population": population,
                    "jobs": 0.4 * population,
                    "geometry": shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M),
                }
            )
    cells = pd.DataFrame(cell_rows)
    cells["population"] = cells["population"].astype("int64")
    if negative_population:
        cells.loc[5, "population"] = -50
    if invalid_polygon:
        x0, y0 = 0.0, 0.0  # bow-tie over cell c0000
        cells.at[0, "geometry"] = shapely.Polygon(
            [(x0, y0), (x0 + CELL_M, y0 + CELL_M), (x0 + CELL_M, y0), (x0, y0 + CELL_M)]
        )

    per_zone = cells.groupby("zone_id")["population"].sum()
    districts = pd.DataFrame(
        {
            "zone_id": ["Z01", "Z02"],
            "name": ["西区", "东区"],
            "name_en": ["West", "East"],
            "population": [int(per_zone["Z01"]), int(per_zone["Z02"])],
            "geometry": [shapely.box(0, 0, WIDTH_M / 2, HEIGHT_M), shapely.box(WIDTH_M / 2, 0, WIDTH_M, HEIGHT_M)],
        }
    )
    districts["population"] = districts["population"].astype("int64")

    station_lines: dict[str, list[str]] = {sid: [] for sid in stations}
    for line_id, (_, _, _, members, _) in lines.items():
        for sid in members:
            station_lines[sid].append(line_id)
    station_table = pd.DataFrame(
        {
            "station_id": list(stations),
            "name": [v[0] for v in stations.values()],
            "name_en": [v[1] for v in stations.values()],
            "lines": [";".join(station_lines[sid]) for sid in stations],
            "geometry": [shapely.Point(v[2], v[3]) for v in stations.values()],
        }
    )
    line_table = pd.DataFrame(
        {
            "line_id": list(lines),
            "name": [v[0] for v in lines.values()],
            "name_en": [v[1] for v in lines.values()],
            "is_loop": [False] * len(lines),
            "stations": [";".join(v[3]) for v in lines.values()],
            "distances_m": [";".join(f"{d:g}" for d in v[4]) for v in lines.values()],
            "color": [v[2] for v in lines.values()],
            "geometry": [shapely.LineString([(stations[s][2], stations[s][3]) for s in v[3]]) for v in lines.values()],
        }
    )
    link_rows = []
    for line_id, (_, _, _, members, distances) in lines.items():
        for a, b, d in zip(members[:-1], members[1:], distances):
            link_rows.append(
                {
                    "from_station": a,
                    "to_station": b,
                    "line_id": line_id,
                    "kind": "ride",
                    "distance_m": d,
                    "walk_seconds": 0.0,
                }
            )
    if not disconnected:
        link_rows.append(
            {
                "from_station": "S3",
                "to_station": "S3",
                "line_id": "",
                "kind": "transfer",
                "distance_m": 150.0,
                "walk_seconds": TRANSFER_WALK_SECONDS,
            }
        )
    links = pd.DataFrame(link_rows)
    if line_pair_transfers:
        # per-direction times at S3 in the optional columns from_line / to_line
        links["from_line"] = links["line_id"]
        links["to_line"] = links["line_id"]
        transfer = links["kind"] == "transfer"
        links = links[~transfer]
        links = pd.concat(
            [
                links,
                pd.DataFrame(
                    [
                        {
                            "from_station": "S3",
                            "to_station": "S3",
                            "line_id": "",
                            "kind": "transfer",
                            "distance_m": 150.0,
                            "walk_seconds": seconds,
                            "from_line": a,
                            "to_line": b,
                        }
                        for a, b, seconds in LINE_PAIR_TRANSFER_SECONDS
                    ]
                ),
            ],
            ignore_index=True,
        )

    malls = pd.DataFrame(
        {
            "mall_id": list(MALLS),
            "name": [v[0] for v in MALLS.values()],
            "name_en": [v[1] for v in MALLS.values()],
            "attractiveness": [v[3] for v in MALLS.values()],
            "position_accuracy_m": [500.0] * len(MALLS),
            "geometry": [shapely.Point(STATIONS[v[2]][2] + 60.0, STATIONS[v[2]][3] + 60.0) for v in MALLS.values()],
        }
    )
    sites = pd.DataFrame(
        {
            "site_id": list(SITES),
            "name": [v[0] for v in SITES.values()],
            "attractiveness": [v[3] for v in SITES.values()],
            "geometry": [shapely.Point(v[1], v[2]) for v in SITES.values()],
        }
    )
    if no_transit:
        station_table = station_table.iloc[0:0]
        line_table = line_table.iloc[0:0]
        links = links.iloc[0:0]

    sources = pd.DataFrame(
        {
            "layer": ["districts", "population_cells", "subway_*", "malls", "street_sites"],
            "source": ["synthetic test city"] * 5,
            "licence": ["CC0"] * 5,
            "build_date": ["2024-01-01"] * 5,
            "crs_note": ["EPSG:4326, built in UTM 50N"] * 5,
        }
    )
    frames: dict[str, pd.DataFrame] = {}
    for layer, table in (
        ("districts", districts),
        ("population_cells", cells),
        ("subway_stations", station_table),
        ("subway_lines", line_table),
        ("malls", malls),
        ("street_sites", sites),
    ):
        geometry = gpd.GeoSeries(_lonlat(table["geometry"].to_numpy()), crs="EPSG:4326")
        frames[layer] = gpd.GeoDataFrame(table.drop(columns="geometry"), geometry=geometry.values, crs="EPSG:4326")
    frames["subway_links"] = links.reset_index(drop=True)
    frames["sources"] = sources
    return frames


def write_tiny_city(
    path: Path,
    *,
    drop_layer: str | None = None,
    no_crs_layer: str | None = None,
    negative_population: bool = False,
    invalid_polygon: bool = False,
    disconnected: bool = False,
    station_outside: bool = False,
    no_transit: bool = False,
    line_pair_transfers: bool = False,
    drop_column: tuple[str, str] | None = None,
) -> Path:
    """Write the tiny city bundle to ``path`` (a ``.gpkg``), with optional corruptions.

    Parameters
    ----------
    drop_layer
        Leave this layer out.
    no_crs_layer
        Write this geometry layer without a CRS.
    negative_population
        Cell ``c0005`` gets -50 residents.
    invalid_polygon
        Cell ``c0000`` becomes a self-intersecting bow-tie.
    disconnected
        Line L2 crosses L1 at its own station ``S10`` (no transfer to ``S3``).
    station_outside
        Station ``S5`` moves 5 km east of the city.
    no_transit
        The subway layers are empty (zero rows, same columns).
    line_pair_transfers
        The transfer at ``S3`` is given per direction in the optional columns
        ``from_line`` / ``to_line`` (see :data:`LINE_PAIR_TRANSFER_SECONDS`).
    drop_column
        ``(layer, column)`` to remove.
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    frames = tiny_city_frames(
        negative_population=negative_population,
        invalid_polygon=invalid_polygon,
        disconnected=disconnected,
        station_outside=station_outside,
        no_transit=no_transit,
        line_pair_transfers=line_pair_transfers,
    )
    for layer, frame in frames.items():
        if layer == drop_layer:
            continue
        if drop_column is not None and drop_column[0] == layer:
            frame = frame.drop(columns=drop_column[1])
        if isinstance(frame, gpd.GeoDataFrame):
            if layer == no_crs_layer:
                frame = frame.set_crs(None, allow_override=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided"
                pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
        else:
            pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    return path

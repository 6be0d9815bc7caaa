"""Candidate sites: malls and department stores, and street sites made of clusters of shops.

Malls are the ``shop=mall`` and ``shop=department_store`` polygons and nodes inside
the city; ``attractiveness = clip(area / median(area), 0.5, 10)`` over the
footprints, 1 (the median) for a node without footprint; a node inside (or within
:data:`DUPLICATE_MALL_DISTANCE_M` of) a footprint is the same mall. Street sites
are densest-first clusters of the other ``shop=*`` features outside malls
(:func:`cluster_shops`); ``attractiveness = clip(shops / median(shops), 0.5, 10)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from simulator.city.build.osm import OsmExtract, features_inside, tag_name, tag_name_en
from simulator.city.build.report import LayerCount

__all__ = [
    "ATTRACTIVENESS_RANGE",
    "NOT_SHOPS",
    "SITE_MIN_SHOPS",
    "SITE_RADIUS_M",
    "build_malls",
    "build_sites",
    "cluster_shops",
]

MALL_SHOP_VALUES = ("mall", "department_store")
ATTRACTIVENESS_RANGE = (0.5, 10.0)
#: Position accuracy of a mall known only as a node.
POINT_MALL_ACCURACY_M = 50.0
MIN_MALL_ACCURACY_M = 10.0
#: A mall node this close to a mall footprint is the same mall.
DUPLICATE_MALL_DISTANCE_M = 30.0
#: Shop values that are not a shop.
NOT_SHOPS = frozenset({"vacant", "no", "disused"})
SITE_RADIUS_M = 100.0
SITE_MIN_SHOPS = 10


def build_malls(osm: OsmExtract, inside: Callable[[shapely.Geometry], bool], count: LayerCount) -> pd.DataFrame:
    """Malls and department stores inside the city (metric points), sorted by id.

    Columns: mall_id, name, name_en, kind, area_m2, footprint (metric polygon or
    None), x, y, attractiveness, position_accuracy_m.
    """
    rows = [
        {
            "mall_id": key,
            "name": tag_name(tags),
            "name_en": tag_name_en(tags),
            "kind": tags["shop"],
            "area_m2": float(shapely.area(footprint)) if footprint is not None else float("nan"),
            "footprint": footprint,
            "x": point.x,
            "y": point.y,
        }
        for key, tags, point, footprint in features_inside(
            osm, ("areas", "points"), lambda tags: tags.get("shop") in MALL_SHOP_VALUES, inside, count
        )
    ]
    malls = pd.DataFrame(rows, columns=["mall_id", "name", "name_en", "kind", "area_m2", "footprint", "x", "y"])
    malls = _drop_nodes_of_footprints(malls, count)
    with_area = malls["footprint"].notna().to_numpy()
    attractiveness = np.ones(len(malls))
    if with_area.any():
        attractiveness[with_area] = _clip_ratio(malls.loc[with_area, "area_m2"].to_numpy())
    malls["attractiveness"] = attractiveness
    malls["position_accuracy_m"] = np.where(
        with_area,
        np.maximum(np.round(np.sqrt(np.nan_to_num(malls["area_m2"].to_numpy()) / np.pi)), MIN_MALL_ACCURACY_M),
        POINT_MALL_ACCURACY_M,
    )
    unnamed = malls["name"] == ""
    malls.loc[unnamed, "name"] = malls.loc[unnamed, "kind"].str.replace("_", " ") + " " + malls.loc[unnamed, "mall_id"]
    malls.loc[malls["name_en"] == "", "name_en"] = malls.loc[malls["name_en"] == "", "name"]
    malls = malls.sort_values("mall_id", kind="stable").reset_index(drop=True)
    count.kept = len(malls)
    return malls


def build_sites(
    osm: OsmExtract,
    inside: Callable[[shapely.Geometry], bool],
    mall_footprints: list[shapely.Geometry],
    shop_count: LayerCount,
    site_count: LayerCount,
) -> pd.DataFrame:
    """Street sites: clusters of at least :data:`SITE_MIN_SHOPS` shops outside malls (metric points).

    Columns: site_id, name (the most common street of the members, else "shops
    near" the site's shop), attractiveness, shops, seed_osm, x, y.
    """
    shops = _shops_outside_malls(osm, inside, mall_footprints, shop_count)
    clusters = cluster_shops(shops[["x", "y"]].to_numpy(), SITE_RADIUS_M, SITE_MIN_SHOPS)
    sizes = np.array([len(members) for _, members in clusters], dtype=float)
    attractiveness = _clip_ratio(sizes)
    site_rows = []
    name_use: dict[str, int] = {}
    for k, ((site_shop, members), value) in enumerate(zip(clusters, attractiveness), start=1):
        base = _site_name(shops, members, site_shop, k)
        name_use[base] = name_use.get(base, 0) + 1
        name = base if name_use[base] == 1 else f"{base} ({name_use[base]})"  # "Annankatu 2" reads as an address
        site_rows.append(
            {
                "site_id": f"site-{k:02d}",
                "name": name,
                "attractiveness": float(value),
                "shops": len(members),
                "seed_osm": shops["osm"].iloc[site_shop],
                "x": shops["x"].iloc[site_shop],
                "y": shops["y"].iloc[site_shop],
            }
        )
    in_sites = int(sizes.sum()) if len(sizes) else 0
    site_count.found = len(clusters)
    site_count.kept = len(clusters)
    site_count.note = (
        f"{in_sites} of {len(shops)} shops in clusters of >= {SITE_MIN_SHOPS} within {SITE_RADIUS_M:.0f} m"
    )
    return pd.DataFrame(site_rows, columns=["site_id", "name", "attractiveness", "shops", "seed_osm", "x", "y"])


def cluster_shops(xy: np.ndarray, radius: float, min_shops: int) -> list[tuple[int, np.ndarray]]:
    """Densest-first clusters: (index of the site's shop, member indices), largest first.

    Repeatedly the unassigned shop with the most unassigned shops within
    ``radius`` (ties: the earlier one) takes all of them; stops when the best
    has fewer than ``min_shops`` (itself included).
    """
    if len(xy) == 0:
        return []
    tree = cKDTree(xy)
    neighbours = tree.query_ball_point(xy, r=radius)
    neighbours = [np.asarray(sorted(n), dtype=np.int64) for n in neighbours]
    free = np.ones(len(xy), dtype=bool)
    counts = np.array([len(n) for n in neighbours], dtype=np.int64)
    clusters = []
    while free.any():
        candidates = np.where(free, counts, -1)
        seed = int(np.argmax(candidates))
        if candidates[seed] < min_shops:
            break
        members = neighbours[seed][free[neighbours[seed]]]
        free[members] = False
        touched = np.unique(np.concatenate([neighbours[m] for m in members]))
        for t in touched:
            counts[t] = int(free[neighbours[t]].sum())
        centre = xy[members].mean(axis=0)
        site_shop = int(members[np.argmin(np.linalg.norm(xy[members] - centre, axis=1))])
        clusters.append((site_shop, members))
    return clusters


def _is_shop(tags: dict[str, str]) -> bool:
    value = tags.get("shop")
    return bool(value) and value not in NOT_SHOPS and value not in MALL_SHOP_VALUES


def _clip_ratio(values: np.ndarray) -> np.ndarray:
    """``clip(values / median(values), *ATTRACTIVENESS_RANGE)``; all ones when the median is not positive."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return values
    median = float(np.median(values))
    if median <= 0:
        return np.ones(len(values))
    return np.clip(values / median, *ATTRACTIVENESS_RANGE)


def _drop_nodes_of_footprints(malls: pd.DataFrame, count: LayerCount) -> pd.DataFrame:
    """Malls without the nodes that lie within :data:`DUPLICATE_MALL_DISTANCE_M` of a footprint."""
    with_area = malls["footprint"].notna().to_numpy()
    if not ((~with_area).any() and with_area.any()):
        return malls
    footprints = shapely.STRtree(list(malls.loc[with_area, "footprint"]))
    nodes = shapely.points(malls.loc[~with_area, ["x", "y"]].to_numpy())
    hit, _ = footprints.query(nodes, predicate="dwithin", distance=DUPLICATE_MALL_DISTANCE_M)
    duplicate_rows = malls.index[~with_area][np.unique(hit)]
    if len(duplicate_rows) == 0:
        return malls
    count.dropped += len(duplicate_rows)
    count.note = f"{len(duplicate_rows)} nodes inside a mapped footprint (same mall)"
    return malls.drop(index=duplicate_rows).reset_index(drop=True)


def _shops_outside_malls(
    osm: OsmExtract,
    inside: Callable[[shapely.Geometry], bool],
    mall_footprints: list[shapely.Geometry],
    count: LayerCount,
) -> pd.DataFrame:
    """Shops inside the city and outside every mall footprint: osm, x, y, name, street."""
    rows = [
        {"osm": key, "x": point.x, "y": point.y, "name": tag_name(tags), "street": tags.get("addr:street", "")}
        for key, tags, point, _ in features_inside(osm, ("points", "areas"), _is_shop, inside, count)
    ]
    shops = pd.DataFrame(rows, columns=["osm", "x", "y", "name", "street"])
    if len(shops) and mall_footprints:
        tree = shapely.STRtree(mall_footprints)
        hit, _ = tree.query(shapely.points(shops[["x", "y"]].to_numpy()), predicate="within")
        in_mall = np.unique(hit)
        if len(in_mall):
            count.dropped = len(in_mall)
            count.note = f"{len(in_mall)} inside malls (they count for the mall)"
            shops = shops.drop(index=shops.index[in_mall]).reset_index(drop=True)
    count.kept = len(shops)
    return shops


def _site_name(shops: pd.DataFrame, members: np.ndarray, site_shop: int, number: int) -> str:
    """The most common ``addr:street`` of the members (ties: alphabetical), else "shops near <site shop>"."""
    streets = shops["street"].iloc[members]
    streets = streets[streets != ""]
    if len(streets):
        return str(streets.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[0])
    return f"shops near {shops['name'].iloc[site_shop] or f'site {number}'}"

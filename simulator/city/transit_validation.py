"""Validation rules of the transit layers: stations, lines and links refer to each other and form one network.

Part of :func:`simulator.city.validation.check_bundle`; :func:`check_transit` also
returns each line's station indices and hop distances, parsed once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from simulator.city.columns import optional_texts, split_list
from simulator.city.schema import ErrorReporter

__all__ = ["check_transit"]


def check_transit(
    report: ErrorReporter, frames: dict[str, pd.DataFrame]
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Stations, lines and links refer to each other and form one connected network.

    Returns, per line, the station indices in order, the metres per hop (closing hop
    last for a loop) and whether it is a loop.
    """
    stations = frames["subway_stations"]
    lines = frames["subway_lines"]
    links = frames["subway_links"]
    station_position = {sid: i for i, sid in enumerate(stations["station_id"])}
    line_ids = list(lines["line_id"])
    _check_station_lines(report, stations, set(line_ids))
    line_stations: list[np.ndarray] = []
    line_distances: list[np.ndarray] = []
    for line_id, is_loop, members_text, distances_text in zip(
        lines["line_id"], lines["is_loop"], lines["stations"], lines["distances_m"]
    ):
        members = _check_line_stations(report, line_id, members_text, station_position)
        line_distances.append(_check_line_distances(report, line_id, bool(is_loop), distances_text, len(members)))
        line_stations.append(np.array([station_position[m] for m in members], dtype=np.int64))
    _check_every_station_on_a_line(report, stations, line_stations)
    if len(links):
        _check_link_references(report, links, station_position, line_ids)
        _check_transfer_lines(report, links, stations, line_ids, line_stations)
    if len(stations) > 1:
        _check_connected(report, stations, line_stations, links, station_position)
    is_loop = lines["is_loop"].to_numpy(dtype=bool) if len(lines) else np.zeros(0, dtype=bool)
    return line_stations, line_distances, is_loop


def _check_station_lines(report: ErrorReporter, stations: pd.DataFrame, line_set: set[str]) -> None:
    """The ``lines`` column of each station names existing lines."""
    for row, text in enumerate(stations["lines"]):
        unknown = [part for part in split_list(text) if part not in line_set]
        if unknown:
            raise report.fail(
                "subway_stations",
                f"column 'lines' names unknown line {unknown[0]!r} (station {stations['station_id'].iloc[row]!r})",
            )


def _check_line_stations(report: ErrorReporter, line_id: str, text: str, station_position: dict[str, int]) -> list[str]:
    """The station ids of a line's ``stations`` column: at least 2, all existing."""
    members = split_list(text)
    if len(members) < 2:
        raise report.fail("subway_lines", f"line {line_id!r}: column 'stations' lists fewer than 2 stations")
    unknown = [m for m in members if m not in station_position]
    if unknown:
        raise report.fail(
            "subway_lines",
            f"line {line_id!r}: column 'stations' names {len(unknown)} unknown station(s) (first: {unknown[0]!r})",
        )
    return members


def _check_line_distances(report: ErrorReporter, line_id: str, is_loop: bool, text: str, n_members: int) -> np.ndarray:
    """The hop distances of a line's ``distances_m`` column: one positive number per hop."""
    parts = split_list(text)
    try:
        distances = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise report.fail(
            "subway_lines", f"line {line_id!r}: column 'distances_m' is not a ';'-list of numbers"
        ) from None
    expected = n_members if is_loop else n_members - 1
    if distances.size != expected:
        raise report.fail(
            "subway_lines",
            f"line {line_id!r}: column 'distances_m' has {distances.size} values, expected {expected} "
            f"for {n_members} stations ({'loop' if is_loop else 'not a loop'})",
        )
    bad = ~np.isfinite(distances) | (distances <= 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise report.fail(
            "subway_lines",
            f"line {line_id!r}: column 'distances_m' has {int(bad.sum())} non-positive or non-finite "
            f"values (first: hop {first} = {distances[first]})",
        )
    return distances


def _check_every_station_on_a_line(
    report: ErrorReporter, stations: pd.DataFrame, line_stations: list[np.ndarray]
) -> None:
    on_line = np.zeros(len(stations), dtype=bool)
    for members in line_stations:
        on_line[members] = True
    if len(stations) and not on_line.all():
        first = int(np.flatnonzero(~on_line)[0])
        raise report.fail(
            "subway_stations",
            f"{int((~on_line).sum())} station(s) on no line (first: {stations['station_id'].iloc[first]!r} "
            f"{stations['name'].iloc[first]!r})",
        )


def _check_link_references(
    report: ErrorReporter, links: pd.DataFrame, station_position: dict[str, int], line_ids: list[str]
) -> None:
    """Links are rides or transfers between existing stations; a ride names an existing line."""
    kinds = links["kind"].to_numpy()
    bad_kind = ~np.isin(kinds, ["ride", "transfer"])
    if bad_kind.any():
        first = int(np.flatnonzero(bad_kind)[0])
        raise report.fail(
            "subway_links", f"column 'kind' must be 'ride' or 'transfer', got {kinds[first]!r} (row {first})"
        )
    for column in ("from_station", "to_station"):
        unknown = ~links[column].isin(list(station_position)).to_numpy()
        if unknown.any():
            first = int(np.flatnonzero(unknown)[0])
            raise report.fail(
                "subway_links",
                f"column '{column}' has {int(unknown.sum())} unknown station ids "
                f"(first: {links[column].iloc[first]!r}, row {first})",
            )
    unknown_line = (kinds == "ride") & ~links["line_id"].isin(line_ids).to_numpy()
    if unknown_line.any():
        first = int(np.flatnonzero(unknown_line)[0])
        raise report.fail(
            "subway_links",
            f"ride link with unknown line_id {links['line_id'].iloc[first]!r} (row {first})",
        )


def _check_transfer_lines(
    report: ErrorReporter,
    links: pd.DataFrame,
    stations: pd.DataFrame,
    line_ids: list[str],
    line_stations: list[np.ndarray],
) -> None:
    """The optional ``from_line`` / ``to_line`` of a transfer name a line serving its station."""
    served = {
        (sid, line_ids[line])
        for line, members in enumerate(line_stations)
        for sid in stations["station_id"].iloc[members]
    }
    line_set = set(line_ids)
    for side in ("from", "to"):
        named = optional_texts(links, f"{side}_line")
        for row, (station, line) in enumerate(zip(links[f"{side}_station"], named)):
            if line and links["kind"].iloc[row] == "transfer" and (station, line) not in served:
                problem = "unknown line" if line not in line_set else f"line that does not serve station {station!r}"
                raise report.fail("subway_links", f"column '{side}_line' names {problem} {line!r} (row {row})")


def _check_connected(
    report: ErrorReporter,
    stations: pd.DataFrame,
    line_stations: list[np.ndarray],
    links: pd.DataFrame,
    station_position: dict[str, int],
) -> None:
    """Rides and links join every station into one network."""
    n_stations = len(stations)
    sources, targets = _transit_pairs(line_stations, links, station_position)
    adjacency = sp.coo_matrix((np.ones(sources.size), (sources, targets)), shape=(n_stations, n_stations)).tocsr()
    count, labels = connected_components(adjacency, directed=False)
    if count > 1:
        sizes = np.bincount(labels)
        main = int(np.argmax(sizes))
        stray = int(np.flatnonzero(labels != main)[0])
        raise report.fail(
            "subway_links",
            f"transit network is not connected: {count} components; station "
            f"{stations['station_id'].iloc[stray]!r} {stations['name'].iloc[stray]!r} is in a component of "
            f"{int(sizes[labels[stray]])} station(s) cut off from the main one of {int(sizes[main])}",
        )


def _transit_pairs(
    line_stations: list[np.ndarray], links: pd.DataFrame, station_position: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Station index pairs joined by a ride hop or any link (for connectivity)."""
    sources: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    targets: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for members in line_stations:
        sources.append(members[:-1])
        targets.append(members[1:])
    if len(links):
        sources.append(links["from_station"].map(station_position).to_numpy(dtype=np.int64))
        targets.append(links["to_station"].map(station_position).to_numpy(dtype=np.int64))
    return np.concatenate(sources), np.concatenate(targets)

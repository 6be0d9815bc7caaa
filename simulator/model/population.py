"""Population synthesis: homes, workplaces, commute modes, heterogeneity and contacts.

Works on the plain arrays of a :class:`simulator.city.bundle.City` and returns arrays. Consumers
are ordered by home cell, and cells along a Z-order (Morton) curve, so that consumers who
live close together sit close together in memory (contacts are mostly local).

Steps, with the rules used:

* **homes**: ``counts ~ Multinomial(n, population_c / total)`` over the population cells;
* **commuters**: each consumer commutes with probability ``commuter_share``;
* **workplaces**: a doubly aggregated gravity model. Cells are grouped into square blocks;
  ``P(block d | block o) ∝ jobs_d exp(-dist_od / beta)`` and then a cell inside ``d``
  with probability proportional to its jobs. ``beta`` is solved (Brent's method) so that the
  expected commute distance equals ``mean_commute_km``;
* **modes**: a multinomial logit over subway, bus, car and active travel with utilities in
  the commute distance and in the walking distance to the nearest stations at both ends;
  the alternative-specific constants are calibrated (iterated ``c_m += log(target_m /
  share_m)``) until the synthetic shares match ``mode_shares``;
* **heterogeneity**: ``z_i ~ N(0, 1)``, scaled by the behaviour's standard deviation;
* **contacts**: a small-world network (Watts & Strogatz 1998 in spirit): each consumer has
  ``contacts_per_consumer`` contacts, each one a neighbour in the home ordering (within a
  window) or, with probability ``random_contact_share``, anyone in the city.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from simulator.model.population_kernels import (
    cells_in_blocks,
    choose_modes,
    distinct_pairs,
    fill_contacts,
    gravity_row_means,
    mode_cumulative,
    relative_exp_utilities,
    search_rows,
    transpose_contacts,
    weighted_mode_shares,
)

MODE_NONE = 0
MODE_SUBWAY = 1
MODE_BUS = 2
MODE_CAR = 3
MODE_ACTIVE = 4
MODE_NAMES = ("none", "subway", "bus", "car", "active")

GRAVITY_BLOCKS_TARGET = 2500  # about this many blocks for the gravity model
SAME_BLOCK_DISTANCE_FACTOR = 0.52  # mean distance between two points of a square / side
CONTACT_WINDOW_MIN = 50
MODE_LOGIT_ITERATIONS = 200
DRAW_BLOCK = 1 << 20  # random numbers drawn at a time (the stream does not depend on it)

# Mode utilities (per km): what makes each mode likelier for a given trip.
ACTIVE_PER_KM = -0.9
SUBWAY_ACCESS_PER_KM = -1.6
BUS_PER_KM = -0.04
CAR_PER_KM = 0.03


@dataclass(frozen=True)
class Population:
    """Synthetic consumers as arrays (length ``n`` unless stated).

    Attributes
    ----------
    n : int
        Number of simulated consumers.
    weight : float
        Real people represented by one consumer: ``population_total / n``.
    home_cell, work_cell : numpy.ndarray of int32
        Population-cell index of home and workplace (-1 for non-commuters).
    mode : numpy.ndarray of int8
        Commute mode code (``MODE_*``; ``MODE_NONE`` for non-commuters).
    cell_station : numpy.ndarray of int32, shape (cells,)
        Nearest station to each cell centroid (-1 without transit); a subway commuter's
        stations are those of their home and work cells (:attr:`home_station`,
        :attr:`work_station`).
    standard_normal : numpy.ndarray of float32
        ``z_i``: individual trust heterogeneity before scaling.
    contact_indptr, contact_indices : numpy.ndarray
        Contacts in CSR form: the contacts of i are
        ``contact_indices[contact_indptr[i]:contact_indptr[i+1]]``.
    diagnostics : dict
        Achieved mean commute (km), gravity decay beta (km), achieved mode shares.
    """

    n: int
    weight: float
    home_cell: np.ndarray
    work_cell: np.ndarray
    mode: np.ndarray
    cell_station: np.ndarray
    standard_normal: np.ndarray
    contact_indptr: np.ndarray
    contact_indices: np.ndarray
    diagnostics: dict = field(default_factory=dict)

    @property
    def commuter(self) -> np.ndarray:
        """Boolean mask of commuters."""
        return self.work_cell >= 0

    @property
    def home_station(self) -> np.ndarray:
        """Station nearest to each subway commuter's home cell, -1 for the others (int32, computed on demand)."""
        return np.where(self.mode == MODE_SUBWAY, self.cell_station[self.home_cell], -1).astype(np.int32)

    @property
    def work_station(self) -> np.ndarray:
        """Station nearest to each subway commuter's work cell, -1 for the others (int32, computed on demand)."""
        work = np.maximum(self.work_cell, 0)
        return np.where(self.mode == MODE_SUBWAY, self.cell_station[work], -1).astype(np.int32)


def morton_order(xy: np.ndarray, bits: int = 16) -> np.ndarray:
    """Indices that sort points along a Z-order (Morton) curve.

    Coordinates are scaled to ``[0, 2**bits)`` and their bits interleaved.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    low = xy.min(axis=0)
    span = np.maximum(xy.max(axis=0) - low, 1e-9)
    scaled = ((xy - low) / span * (2**bits - 1)).astype(np.uint64)
    code = np.zeros(len(xy), dtype=np.uint64)
    for bit in range(bits):
        mask = np.uint64(1 << bit)
        code |= ((scaled[:, 0] & mask) << np.uint64(bit)) | ((scaled[:, 1] & mask) << np.uint64(bit + 1))
    return np.argsort(code, kind="stable")


def consumer_count(consumers: int | str, population_total: float) -> int:
    """Number of simulated consumers for a ``population.consumers`` setting.

    ``"all"`` means one consumer per resident: the city's population total rounded to the
    nearest integer (``round``, halves to even), so that the consumer weight is 1 (up to
    that rounding). An integer is returned as it is.
    """
    if isinstance(consumers, str):
        return int(round(float(population_total)))
    return int(consumers)


def synthesize_population(city, settings, rng: np.random.Generator) -> Population:
    """Build the synthetic population of a city.

    Parameters
    ----------
    city : simulator.city.bundle.City
        The city arrays (metric CRS).
    settings : simulator.config.scenario.PopulationSettings
        Number of consumers (``"all"``: one per resident, see :func:`consumer_count`),
        commuter share, mean commute, mode shares, contacts.
    rng : numpy.random.Generator
        The run's population generator.

    Returns
    -------
    Population

    Notes
    -----
    Random numbers are drawn in blocks of ``DRAW_BLOCK`` (the same stream as one large draw),
    so no float64 array the size of the population is kept; the draws come in this order:
    homes, commuters, workplaces, modes, heterogeneity, contacts.
    """
    n = consumer_count(settings.consumers, city.population_total)
    cell_xy = np.asarray(city.cell_xy, dtype=np.float64)
    cell_population = np.asarray(city.cell_population, dtype=np.float64)
    order = morton_order(cell_xy).astype(np.int32)
    counts_in_order = rng.multinomial(n, cell_population[order] / cell_population.sum())
    home_cell = np.repeat(order, counts_in_order)

    commuter = _uniform_below(rng, n, settings.commuter_share)
    commuter_home = home_cell[commuter]
    gravity = _gravity_workplaces(city, commuter_home, settings.mean_commute_km, rng)
    work_cell = np.full(n, -1, dtype=np.int32)
    work_cell[commuter] = gravity["work_cell"]

    station_of_cell = _nearest_station_of_cells(city)
    mode_result = _commuter_modes(
        city, commuter_home, gravity["work_cell"], station_of_cell[1], settings.mode_shares, rng
    )
    del commuter_home
    mode = np.zeros(n, dtype=np.int8)
    mode[commuter] = mode_result["mode"]

    standard_normal = np.empty(n, dtype=np.float32)
    for first in range(0, n, DRAW_BLOCK):
        standard_normal[first : first + DRAW_BLOCK] = rng.standard_normal(min(DRAW_BLOCK, n - first))
    contact_indptr, contact_indices = small_world_contacts(
        n, settings.contacts_per_consumer, settings.random_contact_share, rng
    )
    commuters = int(np.count_nonzero(commuter))
    mode_counts = np.bincount(mode, minlength=len(MODE_NAMES))
    diagnostics = {
        "mean_commute_km_target": float(settings.mean_commute_km),
        "mean_commute_km_expected": gravity["expected_km"],
        "mean_commute_km_sampled": mode_result["mean_commute_km"],
        "gravity_beta_km": gravity["beta_km"],
        "gravity_note": gravity["note"],
        "commuter_share": commuters / n if n else 0.0,
        "mode_shares": {
            MODE_NAMES[m]: float(mode_counts[m] / commuters) if commuters else 0.0
            for m in (MODE_SUBWAY, MODE_BUS, MODE_CAR, MODE_ACTIVE)
        },
        "mode_pairs": mode_result["pairs"],
    }
    return Population(
        n=n,
        weight=float(city.population_total) / n,
        home_cell=home_cell,
        work_cell=work_cell,
        mode=mode,
        cell_station=station_of_cell[0],
        standard_normal=standard_normal,
        contact_indptr=contact_indptr,
        contact_indices=contact_indices,
        diagnostics=diagnostics,
    )


def _uniform_below(rng: np.random.Generator, n: int, probability: float) -> np.ndarray:
    """``rng.random(n) < probability`` drawn block by block (the same draws, no float64 array of n)."""
    out = np.empty(n, dtype=bool)
    for first in range(0, n, DRAW_BLOCK):
        np.less(rng.random(min(DRAW_BLOCK, n - first)), probability, out=out[first : first + DRAW_BLOCK])
    return out


def _commuter_modes(
    city, home: np.ndarray, work: np.ndarray, access_km: np.ndarray, targets, rng: np.random.Generator
) -> dict:
    """Modes of the commuters, from the logit on their distinct (home cell, work cell) pairs.

    Returns the modes (int8, one per commuter), the sampled mean commute (km) and the
    number of distinct pairs.
    """
    pair_of, pair_home, pair_work, pair_count = distinct_pairs(home, work, len(city.cell_xy))
    cell_xy = np.asarray(city.cell_xy, dtype=np.float64)
    commute_km = np.linalg.norm(cell_xy[pair_home] - cell_xy[pair_work], axis=1) / 1000.0
    result = _choose_modes(
        commute_km=commute_km,
        home_access_km=access_km[pair_home],
        work_access_km=access_km[pair_work],
        targets=targets,
        has_transit=len(city.station_xy) > 0,
        rng=rng,
        weights=pair_count,
        pair_of=pair_of,
    )
    total = int(pair_count.sum())
    mean_km = float(pair_count @ commute_km / total) if total else 0.0
    return {"mode": result["mode"], "mean_commute_km": mean_km, "pairs": len(pair_count)}


def _nearest_station_of_cells(city) -> tuple[np.ndarray, np.ndarray]:
    """Nearest station of each cell centroid and its distance in km (-1, inf without transit)."""
    n_cells = len(city.cell_xy)
    if len(city.station_xy) == 0:
        return np.full(n_cells, -1, dtype=np.int32), np.full(n_cells, np.inf)
    distance, index = cKDTree(city.station_xy).query(city.cell_xy)
    return index.astype(np.int32), distance / 1000.0


def _blocks(city) -> tuple[np.ndarray, float]:
    """Block index of every cell for the gravity model, and the block side in metres."""
    xy = np.asarray(city.cell_xy)
    xmin, ymin = xy.min(axis=0)
    xmax, ymax = xy.max(axis=0)
    cell_side = float(np.median(city.cell_half_size) * 2.0)
    area = max((xmax - xmin) * (ymax - ymin), cell_side**2)
    side = max(cell_side, float(np.sqrt(area / GRAVITY_BLOCKS_TARGET)))
    column = np.floor((xy[:, 0] - xmin) / side).astype(np.int64)
    row = np.floor((xy[:, 1] - ymin) / side).astype(np.int64)
    key = row * (column.max() + 1) + column
    _, block = np.unique(key, return_inverse=True)
    return block.astype(np.int64), side


def _gravity_workplaces(city, home_cells: np.ndarray, mean_commute_km: float, rng: np.random.Generator) -> dict:
    """Draw a workplace cell for each commuter with a distance-decay gravity model.

    ``P(d | o) = J_d exp(-D_od / beta) / sum_k J_k exp(-D_ok / beta)`` over blocks, with
    ``beta`` chosen so that ``sum_o w_o sum_d P(d|o) D_od = mean_commute_km`` (``w_o``: the
    commuters' share in block o). When the target is outside what the city allows (a small
    city), the nearest feasible beta is used and the note says so.
    """
    jobs = np.asarray(city.cell_jobs, dtype=np.float64)
    if jobs.sum() <= 0:
        jobs = np.asarray(city.cell_population, dtype=np.float64)
    block, side = _blocks(city)
    n_blocks = int(block.max()) + 1
    xy = np.asarray(city.cell_xy)
    block_jobs = np.bincount(block, weights=jobs, minlength=n_blocks)
    weights_for_centre = np.where(jobs > 0, jobs, 1e-9)
    block_centre = (
        np.column_stack([np.bincount(block, weights=xy[:, k] * weights_for_centre, minlength=n_blocks) for k in (0, 1)])
        / np.bincount(block, weights=weights_for_centre, minlength=n_blocks)[:, None]
    )
    commuters_in_cell = np.bincount(home_cells, minlength=len(block))
    origin_weight = np.bincount(block, weights=commuters_in_cell, minlength=n_blocks)
    origins = np.flatnonzero(origin_weight > 0)
    destinations = np.flatnonzero(block_jobs > 0)
    distance_km = (
        np.linalg.norm(block_centre[origins][:, None, :] - block_centre[destinations][None, :, :], axis=2) / 1000.0
    )
    same = origins[:, None] == destinations[None, :]
    distance_km[same] = SAME_BLOCK_DISTANCE_FACTOR * side / 1000.0
    log_jobs = np.log(block_jobs[destinations])
    share = origin_weight[origins] / max(origin_weight.sum(), 1.0)

    def expected_km(beta: float) -> float:
        return float(share @ gravity_row_means(log_jobs, distance_km, beta))

    note = "calibrated"
    low_beta, high_beta = 0.05, 5000.0
    if len(origins) == 0:
        return {
            "work_cell": np.zeros(0, dtype=np.int32),
            "beta_km": float("nan"),
            "expected_km": 0.0,
            "note": "no commuters",
        }
    if expected_km(high_beta) <= mean_commute_km:
        beta, note = high_beta, "target above what the city allows: jobs drawn without distance decay"
    elif expected_km(low_beta) >= mean_commute_km:
        beta, note = low_beta, "target below what the city allows: strongest distance decay used"
    else:
        beta = brentq(lambda b: expected_km(b) - mean_commute_km, low_beta, high_beta, xtol=1e-4)
    probabilities = _gravity_probabilities(log_jobs, distance_km, beta)

    origin_row = np.full(n_blocks, -1, dtype=np.int64)
    origin_row[origins] = np.arange(len(origins))
    row_of_cell = origin_row[block]
    work_block = _draw_from_rows(np.cumsum(probabilities, axis=1), row_of_cell, home_cells, rng)
    np.take(destinations.astype(np.int32), work_block, out=work_block)
    return {
        "work_cell": _job_cells_in_blocks(block, jobs, work_block, rng),
        "beta_km": float(beta),
        "expected_km": expected_km(beta),
        "note": note,
    }


def _gravity_probabilities(log_jobs: np.ndarray, distance_km: np.ndarray, beta: float) -> np.ndarray:
    """Origins x destinations ``P(d | o) ∝ J_d exp(-D_od / beta)``, rows summing to 1."""
    logits = log_jobs[None, :] - distance_km / beta
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities


def _job_cells_in_blocks(
    block: np.ndarray, jobs: np.ndarray, work_block: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A cell inside each chosen block, with probability proportional to its jobs (int32)."""
    n_blocks = int(block.max()) + 1
    cells_by_block = np.argsort(block, kind="stable")
    sorted_blocks = block[cells_by_block]
    sorted_jobs = jobs[cells_by_block]
    starts = np.searchsorted(sorted_blocks, np.arange(n_blocks))
    cumulative = np.cumsum(sorted_jobs)
    before = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    totals = np.bincount(sorted_blocks, weights=sorted_jobs, minlength=n_blocks)
    ends = np.r_[starts[1:], len(sorted_blocks)]
    cells = cells_by_block.astype(np.int32)
    out = np.empty(len(work_block), dtype=np.int32)
    for first in range(0, len(work_block), DRAW_BLOCK):
        part = slice(first, first + DRAW_BLOCK)
        uniforms = rng.random(len(work_block[part]))
        cells_in_blocks(cumulative, before, totals, starts, ends, cells, work_block[part], uniforms, out[part])
    return out


def _draw_from_rows(
    cumulative_rows: np.ndarray, row_of_cell: np.ndarray, cells: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One draw per entry of ``cells`` from the CDF row ``row_of_cell[cell]`` (int32 column indices).

    Inverse CDF with rows laid end to end (row r's CDF shifted by r), as one
    ``searchsorted`` over the flattened rows would find it, in a compiled loop.
    """
    n_rows, width = cumulative_rows.shape
    cdf = cumulative_rows / cumulative_rows[:, -1:]
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    out = np.empty(len(cells), dtype=np.int32)
    for first in range(0, len(cells), DRAW_BLOCK):
        part = slice(first, first + DRAW_BLOCK)
        rows = row_of_cell[cells[part]]
        search_rows(flat, width, rows, rng.random(len(rows)), out[part])
    return out


def _choose_modes(
    commute_km: np.ndarray,
    home_access_km: np.ndarray,
    work_access_km: np.ndarray,
    targets,
    has_transit: bool,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    pair_of: np.ndarray | None = None,
) -> dict:
    """Commute modes from a multinomial logit calibrated to the target shares.

    ``V_subway = c_s + b_a (a_home + a_work)``, ``V_bus = c_b + b_b d``,
    ``V_car = c_c + b_c d``, ``V_active = c_a + b_w d`` (d commute km, a access km).
    Without transit the subway is unavailable and the other targets are rescaled.

    The rows are trips: one per commuter (``weights`` and ``pair_of`` not given), or one per
    distinct (home cell, work cell) pair with ``weights`` its commuters and ``pair_of`` the
    pair of each commuter. The shares are the weighted means ``S_m = sum_p w_p P_pm /
    sum_p w_p``, so both give the same constants; the constants are iterated,
    ``c_m += log(target_m / S_m)``, until every share is within 1e-5 of its target.

    Returns
    -------
    dict
        ``mode``: int8 code per commuter; ``constants``: the calibrated ``c`` (subway, bus,
        car, active); ``iterations``.
    """
    rows = len(commute_km)
    weights = np.ones(rows) if weights is None else np.asarray(weights, dtype=np.float64)
    pair_of = np.arange(rows, dtype=np.int32) if pair_of is None else pair_of
    target = np.array([targets.subway, targets.bus, targets.car, targets.active], dtype=np.float64)
    if not has_transit:
        target[0] = 0.0
    target = target / target.sum()
    utility = np.column_stack(
        [
            SUBWAY_ACCESS_PER_KM * (home_access_km + work_access_km) if has_transit else np.full(rows, -np.inf),
            BUS_PER_KM * commute_km,
            CAR_PER_KM * commute_km,
            ACTIVE_PER_KM * commute_km,
        ]
    )
    available = target > 0
    utility[:, ~available] = -np.inf
    constants = np.zeros(4)
    relative_exp = relative_exp_utilities(utility) if rows else utility
    iterations = 0
    while rows and iterations < MODE_LOGIT_ITERATIONS:
        iterations += 1
        shares = weighted_mode_shares(relative_exp, weights, np.exp(constants))
        if np.allclose(shares[available], target[available], atol=1e-5):
            break
        constants[available] += np.log(target[available] / np.maximum(shares[available], 1e-12))
    cumulative = mode_cumulative(relative_exp, np.exp(constants))
    del relative_exp, utility
    codes = np.array([MODE_SUBWAY, MODE_BUS, MODE_CAR, MODE_ACTIVE], dtype=np.int8)
    mode = np.empty(len(pair_of), dtype=np.int8)
    for first in range(0, len(pair_of), DRAW_BLOCK):
        part = slice(first, first + DRAW_BLOCK)
        choose_modes(cumulative, pair_of[part], rng.random(len(pair_of[part])), codes, mode[part])
    return {"mode": mode, "constants": constants, "iterations": iterations}


def small_world_contacts(
    n: int, contacts_per_consumer: int, random_share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Directed small-world contacts in CSR form.

    Each consumer gets ``k`` contacts; each is, with probability ``random_share``, a
    uniformly random consumer, otherwise a neighbour at offset ``±1..window`` in the home
    ordering (reflected at the ends), ``window = max(50, 2k)``. Self-contacts are moved to
    the next consumer. One uniform ``u`` per contact decides both (see
    :func:`simulator.model.population_kernels.fill_contacts`); they are drawn in blocks,
    the same stream as one draw of ``n k``.

    Returns
    -------
    indptr : numpy.ndarray of int64, shape (n + 1,)
    indices : numpy.ndarray of int32, shape (n * k,)
    """
    k = int(contacts_per_consumer)
    if n < 2 or k == 0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    window = max(CONTACT_WINDOW_MIN, 2 * k)
    indices = np.empty(n * k, dtype=np.int32)
    block = max(1, DRAW_BLOCK // k) * k
    for first in range(0, n * k, block):
        uniforms = rng.random(min(block, n * k - first))
        fill_contacts(first // k, n, k, window, float(random_share), uniforms, indices[first : first + len(uniforms)])
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    return indptr, indices


def contact_followers(n: int, contact_indptr: np.ndarray, contact_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transpose of the contact graph, by a counting sort: who has ``j`` among their contacts.

    Returns
    -------
    follower_indptr : numpy.ndarray of int64, shape (n + 1,)
        ``follower_indptr[j + 1] - follower_indptr[j]`` is the in-degree of ``j``.
    follower_indices : numpy.ndarray of int32
        The followers of each consumer in increasing order (what a stable argsort of the
        contact indices gives), in O(n k) time and without an int64 copy of the edges.
    """
    return transpose_contacts(
        int(n), np.asarray(contact_indptr, dtype=np.int64), np.asarray(contact_indices, dtype=np.int32)
    )

"""Compiled loops of population synthesis (numba, one thread, so results never depend on threads).

Each kernel replaces a numpy expression that built full-size temporaries (one float64 or
int64 per consumer or per contact) with one pass that writes only its int32 output:

* :func:`search_rows` and :func:`cells_in_blocks`: the inverse-CDF draws of the gravity
  model (the same comparisons as ``np.searchsorted`` on the flattened rows);
* :func:`distinct_pairs`: the distinct (home cell, work cell) pairs of the commuters with
  their counts, without a sort (commuters come grouped by home cell);
* :func:`weighted_mode_shares`, :func:`mode_cumulative` and :func:`choose_modes`: the mode
  logit on those pairs;
* :func:`fill_contacts` and :func:`transpose_contacts`: the small-world contacts and their
  transpose (a counting sort).
"""

from __future__ import annotations

import numba
import numpy as np

N_MODES = 4
SHARE_CHUNK = 1 << 16  # rows per partial sum of the mode shares


@numba.njit(cache=True)
def gravity_row_means(log_jobs: np.ndarray, distance_km: np.ndarray, beta: float) -> np.ndarray:
    """Mean distance of each origin row under ``P(d | o) ∝ J_d exp(-D_od / beta)``.

    ``sum_d P(d|o) D_od = sum_d e_od D_od / sum_d e_od`` with ``e_od = exp(l_od - max_d l_od)``,
    ``l_od = log J_d - D_od / beta``: one pass per row, no origins x destinations temporaries.
    """
    rows, width = distance_km.shape
    out = np.empty(rows)
    decay = 1.0 / beta
    logits = np.empty(width)
    for o in range(rows):
        top = -np.inf
        for d in range(width):
            logits[d] = log_jobs[d] - distance_km[o, d] * decay
            top = max(top, logits[d])
        total = 0.0
        weighted = 0.0
        for d in range(width):
            e = np.exp(logits[d] - top)
            total += e
            weighted += e * distance_km[o, d]
        out[o] = weighted / total
    return out


@numba.njit(cache=True)
def search_rows(flat: np.ndarray, width: int, rows: np.ndarray, uniforms: np.ndarray, out: np.ndarray) -> None:
    """Inverse-CDF draw in row ``rows[i]`` of CDF rows laid end to end, into ``out``.

    ``flat[r * width + j] = cdf[r, j] + r``; the draw is the first ``j`` with
    ``flat[r * width + j] > r + u_i`` (``np.searchsorted(..., side="right")`` restricted to
    the row, which finds the same position), capped at ``width - 1``.
    """
    for i in range(len(rows)):
        row = rows[i]
        key = row + uniforms[i]
        first = row * width
        low, high = first, first + width
        while low < high:
            middle = (low + high) >> 1
            if flat[middle] <= key:
                low = middle + 1
            else:
                high = middle
        out[i] = min(low - first, width - 1)


@numba.njit(cache=True)
def cells_in_blocks(
    cumulative: np.ndarray,
    before: np.ndarray,
    totals: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    cells_by_block: np.ndarray,
    work_block: np.ndarray,
    uniforms: np.ndarray,
    out: np.ndarray,
) -> None:
    """A cell in each chosen block with probability proportional to its jobs, into ``out``.

    Target ``before[b] + u_i totals[b]`` on the running sum of jobs over the cells sorted by
    block; the first position above it inside the block's range ``[starts[b], ends[b])``,
    capped at its last cell.
    """
    for i in range(len(work_block)):
        block = work_block[i]
        target = before[block] + uniforms[i] * totals[block]
        low, high = starts[block], ends[block]
        while low < high:
            middle = (low + high) >> 1
            if cumulative[middle] <= target:
                low = middle + 1
            else:
                high = middle
        out[i] = cells_by_block[min(low, ends[block] - 1)]


@numba.njit(cache=True)
def distinct_pairs(home: np.ndarray, work: np.ndarray, n_cells: int):
    """Distinct (home, work) pairs, the pair of each commuter and the commuters per pair.

    One pass with a slot per work cell, reset at each change of home cell: no sort. When
    commuters are grouped by home cell (as synthesis orders them) every pair appears once;
    otherwise a pair may appear more than once, which weighted sums do not mind.

    Returns
    -------
    pair_of : numpy.ndarray of int32, shape (m,)
    pair_home, pair_work : numpy.ndarray of int32, shape (pairs,)
    pair_count : numpy.ndarray of int64, shape (pairs,)
    """
    m = len(home)
    slot = np.full(n_cells, -1, dtype=np.int32)
    touched = np.empty(n_cells, dtype=np.int32)
    pair_of = np.empty(m, dtype=np.int32)
    n_pairs = 0
    n_touched = 0
    current = -1
    for i in range(m):
        if home[i] != current:
            for t in range(n_touched):
                slot[touched[t]] = -1
            n_touched = 0
            current = home[i]
        pair = slot[work[i]]
        if pair < 0:
            pair = n_pairs
            slot[work[i]] = pair
            touched[n_touched] = work[i]
            n_touched += 1
            n_pairs += 1
        pair_of[i] = pair
    pair_home = np.empty(n_pairs, dtype=np.int32)
    pair_work = np.empty(n_pairs, dtype=np.int32)
    pair_count = np.zeros(n_pairs, dtype=np.int64)
    for i in range(m):
        pair = pair_of[i]
        pair_home[pair] = home[i]
        pair_work[pair] = work[i]
        pair_count[pair] += 1
    return pair_of, pair_home, pair_work, pair_count


@numba.njit(cache=True)
def relative_exp_utilities(utility: np.ndarray) -> np.ndarray:
    """``exp(V_pm - max_m V_pm)`` for each row (0 for an unavailable mode, ``V = -inf``)."""
    out = np.zeros_like(utility)
    for p in range(utility.shape[0]):
        top = -np.inf
        for m in range(utility.shape[1]):
            top = max(top, utility[p, m])
        for m in range(utility.shape[1]):
            if utility[p, m] > -np.inf:
                out[p, m] = np.exp(utility[p, m] - top)
    return out


@numba.njit(cache=True)
def weighted_mode_shares(relative_exp: np.ndarray, weights: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Logit shares ``sum_p w_p P_pm / sum_p w_p`` with ``P_pm ∝ relative_exp[p, m] factors[m]`` (4 modes).

    ``factors = exp(c)`` (the alternative-specific constants), so no exp is taken per row.
    Partial sums over chunks of ``SHARE_CHUNK`` rows, added in chunk order (less rounding
    error than one running sum over millions of rows).
    """
    rows = relative_exp.shape[0]
    chunks = (rows + SHARE_CHUNK - 1) // SHARE_CHUNK
    partial = np.zeros((chunks, N_MODES + 1))
    f0, f1, f2, f3 = factors[0], factors[1], factors[2], factors[3]
    for chunk in range(chunks):
        s0 = s1 = s2 = s3 = weight_sum = 0.0
        for p in range(chunk * SHARE_CHUNK, min(rows, (chunk + 1) * SHARE_CHUNK)):
            t0 = relative_exp[p, 0] * f0
            t1 = relative_exp[p, 1] * f1
            t2 = relative_exp[p, 2] * f2
            t3 = relative_exp[p, 3] * f3
            scale = weights[p] / (t0 + t1 + t2 + t3)
            s0 += t0 * scale
            s1 += t1 * scale
            s2 += t2 * scale
            s3 += t3 * scale
            weight_sum += weights[p]
        partial[chunk, 0] = s0
        partial[chunk, 1] = s1
        partial[chunk, 2] = s2
        partial[chunk, 3] = s3
        partial[chunk, 4] = weight_sum
    totals = np.zeros(N_MODES + 1)
    for chunk in range(chunks):
        totals += partial[chunk]
    return totals[:N_MODES] / max(totals[N_MODES], 1e-300)


@numba.njit(cache=True)
def mode_cumulative(relative_exp: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Cumulative logit probabilities per row, ``P_pm ∝ relative_exp[p, m] factors[m]``, as running sums."""
    rows, width = relative_exp.shape
    out = np.empty((rows, width))
    for p in range(rows):
        total = 0.0
        for m in range(width):
            total += relative_exp[p, m] * factors[m]
        running = 0.0
        for m in range(width):
            running += relative_exp[p, m] * factors[m] / total
            out[p, m] = running
    return out


@numba.njit(cache=True)
def choose_modes(
    cumulative: np.ndarray, pair_of: np.ndarray, uniforms: np.ndarray, codes: np.ndarray, out: np.ndarray
) -> None:
    """Mode of each commuter: the number of cumulative probabilities of its pair below ``u_i``, capped at 3."""
    width = cumulative.shape[1]
    for i in range(len(pair_of)):
        pair = pair_of[i]
        choice = 0
        for m in range(width):
            if uniforms[i] > cumulative[pair, m]:
                choice += 1
        out[i] = codes[min(choice, width - 1)]


@numba.njit(cache=True)
def fill_contacts(
    first: int, n: int, k: int, window: int, random_share: float, uniforms: np.ndarray, out: np.ndarray
) -> None:
    """Contacts of consumers ``first, first + 1, ...`` (``k`` each), one uniform per contact.

    With ``u < s`` (``s = random_share``) the contact is consumer ``floor(u / s * n)``;
    otherwise ``j = floor((u - s) / (1 - s) * 2 window)`` gives the offset
    ``(j // 2 + 1)``, negative for odd ``j``, reflected at both ends. A self-contact moves
    to the next consumer.
    """
    count = len(uniforms) // k
    for i in range(count):
        me = first + i
        for c in range(k):
            u = uniforms[i * k + c]
            if u < random_share:
                contact = min(int(u / random_share * n), n - 1)
            else:
                j = min(int((u - random_share) / (1.0 - random_share) * (2 * window)), 2 * window - 1)
                offset = j // 2 + 1
                contact = me - offset if j % 2 == 1 else me + offset
                if contact < 0:
                    contact = -contact
                if contact >= n:
                    contact = 2 * (n - 1) - contact
                contact = min(max(contact, 0), n - 1)
            if contact == me:
                contact = (contact + 1) % n
            out[i * k + c] = contact


@numba.njit(cache=True)
def transpose_contacts(n: int, indptr: np.ndarray, indices: np.ndarray):
    """Transpose of a CSR graph by a counting sort: the followers of each consumer.

    Returns ``(follower_indptr, follower_indices)``: the consumers that list ``j`` among
    their contacts are ``follower_indices[follower_indptr[j]:follower_indptr[j + 1]]``, in
    increasing order (the sort is stable). ``follower_indptr`` is int64, the indices int32.
    """
    follower_indptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(len(indices)):
        follower_indptr[indices[e] + 1] += 1
    for j in range(n):
        follower_indptr[j + 1] += follower_indptr[j]
    position = follower_indptr[:-1].copy()
    follower_indices = np.empty(len(indices), dtype=np.int32)
    for owner in range(n):
        for e in range(indptr[owner], indptr[owner + 1]):
            target = indices[e]
            follower_indices[position[target]] = owner
            position[target] += 1
    return follower_indptr, follower_indices

"""Seeds and the counter-based random stream used inside the daily kernels.

Every random number of a run flows from the scenario's seed:

* ``replication_seeds(root, n)`` spawns one seed per replication with
  ``numpy.random.SeedSequence(root).spawn(n)``; the same list is used for every plan
  of a comparison (common random numbers) and written into every result row;
* a run turns its replication seed into ``numpy.random.Generator`` objects, one per
  purpose (population synthesis, model), with ``run_generators``;
* the daily kernels draw from a *counter-based* stream: a uniform number is a hash of
  ``(key, day, stream, consumer)``, where ``key`` comes from the run's Generator.
  The value of a draw therefore does not depend on the order in which consumers are
  visited, on the number of threads, or on what other consumers drew. That gives
  results identical on every executor and thread count, and makes common random numbers
  exact across plans: consumer *i* on day *t* sees the same uniform in every plan.

The hash is SplitMix64's finaliser (Steele, Lea & Flood 2014) applied to a Weyl-sequence
combination of the counters; it passes BigCrush as a generator of this form.
"""

from __future__ import annotations

import numba
import numpy as np

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
DAY_MULTIPLIER = np.uint64(0xD1B54A32D192ED03)
STREAM_MULTIPLIER = np.uint64(0xAEF17502108EF2D9)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

# Named streams: one per kind of draw, so that adding a draw never shifts another.
STREAM_SIGHTINGS = 0
STREAM_MARKET = 1
STREAM_DECISION = 2
STREAM_CHANNEL = 3
STREAM_CONVERSION = 5
STREAM_INITIAL_MARKET = 6
STREAM_CAPACITY = 7
STREAM_QUEUE_ORDER = 8
STREAM_MEDIA = 9
STREAM_PENT_UP = 10
STREAM_ONLINE_CONVERSION = 11
STREAM_MEDIA_GAP = 12  # gaps between media-contact candidates (simulator.model.events)
STREAM_SIGHTING_GAP = 13  # gaps between sighting candidates
STREAM_ENTRY_GAP = 14  # gaps between market-entry candidates
STREAM_SPLIT_BASE = 16  # sighting k of a consumer on one day uses stream 16 + k


def replication_seeds(root_seed: int, replications: int) -> list[int]:
    """Seeds of the replications of a scenario.

    Parameters
    ----------
    root_seed : int
        The scenario's seed.
    replications : int
        Number of replications.

    Returns
    -------
    list of int
        ``SeedSequence(root_seed).spawn(replications)``, each reduced to one 63-bit integer
        so that it can be written into result tables and passed back as a seed.
    """
    children = np.random.SeedSequence(root_seed).spawn(replications)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]


def run_generators(seed: int) -> tuple[np.random.Generator, np.random.Generator, int]:
    """Generators of one run: (population, model) and the kernel stream key.

    Parameters
    ----------
    seed : int
        The replication seed.

    Returns
    -------
    population_rng, model_rng : numpy.random.Generator
        Independent generators for population synthesis and for the model.
    kernel_key : int
        64-bit key of the counter-based stream of the daily kernels, drawn from the model
        generator.
    """
    population_seq, model_seq = np.random.SeedSequence(seed).spawn(2)
    population_rng = np.random.Generator(np.random.PCG64(population_seq))
    model_rng = np.random.Generator(np.random.PCG64(model_seq))
    kernel_key = int(model_rng.integers(0, 2**63 - 1, dtype=np.int64))
    return population_rng, model_rng, kernel_key


@numba.njit(inline="always", cache=True)
def counter_uniform(key: np.uint64 | int, day: int, stream: int, index: int) -> float:
    """Uniform number in [0, 1) addressed by ``(key, day, stream, index)`` (compiled).

    ``z = key + index * gamma + day * c1 + stream * c2``, then SplitMix64's finaliser
    ``z ^= z >> 30; z *= m1; z ^= z >> 27; z *= m2; z ^= z >> 31`` and the top 53 bits.
    """
    z = (
        np.uint64(key)
        + np.uint64(index) * GOLDEN_GAMMA
        + np.uint64(day) * DAY_MULTIPLIER
        + np.uint64(stream) * STREAM_MULTIPLIER
    )
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * TO_UNIT


def counter_uniforms(key: int, day: int, stream: int, indices: np.ndarray) -> np.ndarray:
    """Vectorised :func:`counter_uniform` for an array of indices (the same values).

    Compiled: the model draws a few dozen small batches a day (store choice, queue order,
    capacity, conversion), where numpy's dozen temporaries per call cost more than the draws.
    """
    return _counter_uniforms(np.uint64(key), int(day), int(stream), np.asarray(indices, dtype=np.int64))


@numba.njit(cache=True)
def _counter_uniforms(key: np.uint64, day: int, stream: int, indices: np.ndarray) -> np.ndarray:
    out = np.empty(indices.shape[0], dtype=np.float64)
    for i in range(indices.shape[0]):
        out[i] = counter_uniform(key, day, stream, indices[i])
    return out

r"""The inference: Gaussian-process emulators, history matching between waves, MCMC on the emulator.

Parameters live in the unit cube: a point :math:`u \in [0, 1]^D` maps to parameter values
through each prior's quantile function (:meth:`Parameter.from_unit`), so the prior is
uniform on the cube. Each target :math:`j` is emulated on the scale
:math:`y_j = \log(1 + v_j)` for counts (else :math:`y_j = v_j`) by a Gaussian process
(scikit-learn: constant x anisotropic RBF + white noise, the white noise being the
simulation's seed-to-seed noise of a point's mean over :math:`R` replications).

History matching (Vernon, Goldstein & Bower 2010; Andrianakis et al. 2015): a point is
ruled out when its implausibility

.. math:: I(u) = \max_j \frac{|z_j - m_j(u)|}{\sqrt{V_j(u) + (R - 1)\,\tau_j^2 + s_j^2}}

exceeds the cut-off (3 by Pukelsheim's three-sigma rule), where :math:`z_j` is the observed
value, :math:`s_j` its standard error, :math:`m_j, V_j` the emulator's mean and predictive
variance (with the noise :math:`\tau_j^2` of a mean over :math:`R` simulations) and
:math:`(R - 1)\tau_j^2` the rest of one realisation's noise. The posterior
:math:`p(u \mid z) \propto \prod_j N(z_j;\, m_j(u),\, V_j(u) + (R - 1)\tau_j^2 + s_j^2)` on the
cube is sampled by emcee's affine-invariant ensemble sampler (Foreman-Mackey et al. 2013).

Everything here is a deterministic function of its inputs and seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

POOL_SIZE = 4096
"""Candidate points per wave from which the non-implausible ones are taken."""
BURN_STEPS = 400
"""MCMC steps discarded at the start (the walkers start at the best candidates)."""
THIN = 5
"""Keep every 5th MCMC step."""


def wave_sizes(points: int, waves: int) -> list[int]:
    """Points per wave: half in the first (the space-filling design), the rest split evenly."""
    waves = max(1, min(waves, points // 4 or 1))
    if waves == 1:
        return [points]
    first = math.ceil(points / 2)
    rest = points - first
    return [first] + [rest // (waves - 1) + (1 if i < rest % (waves - 1) else 0) for i in range(waves - 1)]


def generation_seeds(root_seed: int, generation: int, replications: int) -> list[int]:
    """Seeds of a generation's simulations: the same for every point of the generation (common random numbers)."""
    state = np.random.SeedSequence([int(root_seed), 0xCA11B, int(generation)]).generate_state(replications)
    return [int(s) for s in state]


def latin_hypercube(dims: int, count: int, seed: int, generation: int) -> np.ndarray:
    """A Latin hypercube sample of ``count`` points in :math:`[0, 1]^D` (scipy.stats.qmc)."""
    from scipy.stats import qmc

    rng = np.random.default_rng([int(seed), int(generation)])
    return qmc.LatinHypercube(d=dims, rng=rng).random(count)


def transform(values: np.ndarray, logs: Sequence[bool]) -> np.ndarray:
    """Values (..., J) on the emulators' scale: :math:`\\log(1 + \\max(v, 0))` where ``logs``, else as they are."""
    values = np.asarray(values, dtype=np.float64)
    mask = np.asarray(logs, dtype=bool)
    return np.where(mask, np.log1p(np.clip(values, 0.0, None)), values)


def observed_scale(values: np.ndarray, errors: np.ndarray, logs: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    r"""Observed values and standard errors on the emulators' scale (delta method: :math:`s / (1 + z)`)."""
    mask = np.asarray(logs, dtype=bool)
    z = transform(values, logs)
    s = np.where(mask, errors / (1.0 + np.clip(values, 0.0, None)), errors)
    return z, s


@dataclass
class Emulator:
    """One Gaussian process per target, fitted on points of the unit cube and their (transformed) outputs.

    Attributes
    ----------
    models : list
        Fitted ``sklearn.gaussian_process.GaussianProcessRegressor`` per target.
    centre, scale : ndarray (J,)
        Standardisation of each target's outputs.
    noise : ndarray (J,)
        Fitted white-noise variance (of a point's mean output), on the outputs' scale.
    """

    models: list
    centre: np.ndarray
    scale: np.ndarray
    noise: np.ndarray

    @classmethod
    def fit(cls, points: np.ndarray, outputs: np.ndarray, seed: int) -> Emulator:
        """Fit the emulators (one thread: deterministic and not slowed by a busy machine)."""
        with threadpool_limits(limits=1):  # small matrices: threads only contend (and may reorder sums)
            return cls._fit(points, outputs, seed)

    @classmethod
    def _fit(cls, points: np.ndarray, outputs: np.ndarray, seed: int) -> Emulator:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        dims = points.shape[1]
        centre = outputs.mean(axis=0)
        scale = outputs.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        models, noise = [], []
        for j in range(outputs.shape[1]):
            kernel = ConstantKernel(1.0, (1e-3, 1e2)) * RBF(np.full(dims, 0.5), (0.02, 50.0)) + WhiteKernel(
                1e-2, (1e-8, 1.0)
            )
            model = GaussianProcessRegressor(kernel, n_restarts_optimizer=1, random_state=int(seed) + j)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(points, (outputs[:, j] - centre[j]) / scale[j])
            models.append(model)
            noise.append(float(model.kernel_.k2.noise_level) * scale[j] ** 2)
        return cls(models, centre, scale, np.asarray(noise))

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Mean and predictive variance (with the white noise) at ``points`` (m, D): two arrays (m, J).

        The fitted processes' formulas, evaluated directly (what ``GaussianProcessRegressor.predict``
        computes, without its per-call checks): :math:`k_* = c\,\exp(-\tfrac12 \lVert (u - x_i)/\ell \rVert^2)`,
        mean :math:`k_*^\top \alpha`, variance :math:`c + \sigma^2 - \lVert L^{-1} k_* \rVert^2`.
        """
        from scipy.linalg import solve_triangular

        points = np.atleast_2d(points)
        means, variances = [], []
        for j, model in enumerate(self.models):
            constant = float(model.kernel_.k1.k1.constant_value)
            scales = np.atleast_1d(model.kernel_.k1.k2.length_scale)
            white = float(model.kernel_.k2.noise_level)
            scaled = points / scales
            train = model.X_train_ / scales
            distance = (scaled**2).sum(1)[:, None] + (train**2).sum(1)[None, :] - 2.0 * scaled @ train.T
            cross = constant * np.exp(-0.5 * np.clip(distance, 0.0, None))
            mean = cross @ model.alpha_
            solved = solve_triangular(model.L_, cross.T, lower=True, check_finite=False)
            variance = np.clip(constant + white - (solved**2).sum(0), 1e-12, None)
            means.append(mean * self.scale[j] + self.centre[j])
            variances.append(variance * self.scale[j] ** 2)
        return np.stack(means, axis=1), np.stack(variances, axis=1)

    def length_scales(self) -> np.ndarray:
        """Fitted RBF length scales (J, D) in unit-cube units (large: the target ignores the parameter)."""
        return np.stack([np.atleast_1d(m.kernel_.k1.k2.length_scale) for m in self.models])


@dataclass(frozen=True)
class Observation:
    r"""The observed targets on the emulators' scale, the replications per point and the seed noise.

    ``seed_covariance`` (J, J) is :math:`T`, the covariance of one simulation's outputs
    between seeds at a fixed point, pooled over the replications of every point (when
    there are two or more). A seed moves several targets together (its population, its
    early adopters), so the likelihood uses the whole matrix:
    :math:`z \sim N(m(u),\, T + \mathrm{diag}(V(u) + s^2))`. With common random numbers within
    a wave, the emulator's white noise sees only the seeds' differences between waves and
    underestimates :math:`T`; the replications measure it. Without replications the
    emulator's white noise stands in for its diagonal.
    """

    z: np.ndarray
    s: np.ndarray
    replications: int
    seed_covariance: np.ndarray | None = None

    def total_variance(self, emulator: Emulator, variance: np.ndarray) -> np.ndarray:
        """Per target :math:`V_j(u) + T_{jj} + s_j^2` (:math:`V` includes the emulator's white noise)."""
        if self.seed_covariance is not None:
            return variance + np.diag(self.seed_covariance) + self.s**2
        return variance + (self.replications - 1) * emulator.noise + self.s**2

    def implausibility(self, emulator: Emulator, points: np.ndarray) -> np.ndarray:
        """:math:`I(u)` at ``points`` (m, D)."""
        mean, variance = emulator.predict(points)
        return np.max(np.abs(self.z - mean) / np.sqrt(self.total_variance(emulator, variance)), axis=1)

    def log_posterior(self, emulator: Emulator, points: np.ndarray) -> np.ndarray:
        """Log posterior density (up to a constant) at ``points`` (m, D); -inf outside the cube."""
        points = np.atleast_2d(points)
        inside = np.all((points >= 0.0) & (points <= 1.0), axis=1)
        result = np.full(points.shape[0], -np.inf)
        if not inside.any():
            return result
        mean, variance = emulator.predict(points[inside])
        residual = self.z - mean
        if self.seed_covariance is None:
            total = self.total_variance(emulator, variance)
            result[inside] = -0.5 * np.sum(residual**2 / total + np.log(total), axis=1)
            return result
        diagonal = variance + self.s**2
        covariance = self.seed_covariance[None, :, :] + diagonal[:, :, None] * np.eye(len(self.z))[None, :, :]
        sign, log_det = np.linalg.slogdet(covariance)
        solved = np.linalg.solve(covariance, residual[:, :, None])[:, :, 0]
        result[inside] = np.where(sign > 0, -0.5 * (np.sum(residual * solved, axis=1) + log_det), -np.inf)
        return result


def next_wave(
    emulator: Emulator, observation: Observation, count: int, cutoff: float, seed: int, generation: int
) -> tuple[np.ndarray, float]:
    """The next wave's points: the first ``count`` non-implausible points of a Latin hypercube pool.

    Returns the points and the share of the pool not ruled out. When fewer than ``count``
    points survive, the least implausible fill the wave.
    """
    dims = emulator.length_scales().shape[1]
    pool = latin_hypercube(dims, max(POOL_SIZE, 20 * count), seed, generation)
    with threadpool_limits(limits=1):
        measure = observation.implausibility(emulator, pool)
    kept = np.flatnonzero(measure <= cutoff)
    share = kept.size / pool.shape[0]
    if kept.size >= count:
        return pool[kept[:count]], share
    order = np.argsort(measure, kind="stable")
    return pool[order[:count]], share


def sample_posterior(
    emulator: Emulator, observation: Observation, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """A posterior sample (samples, D) in the unit cube by emcee, its log densities and the mean acceptance.

    The walkers start at the best points of a Latin hypercube pool (by posterior density)
    with a little jitter; ``BURN_STEPS`` steps are dropped and every ``THIN``-th kept.
    """
    with threadpool_limits(limits=1):
        return _sample_posterior(emulator, observation, samples, seed)


def _sample_posterior(
    emulator: Emulator, observation: Observation, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    import emcee

    dims = emulator.length_scales().shape[1]
    walkers = max(32, 4 * dims + (4 * dims) % 2)
    pool = latin_hypercube(dims, POOL_SIZE, seed, 10_000)
    density = observation.log_posterior(emulator, pool)
    start = pool[np.argsort(-density, kind="stable")[:walkers]]
    rng = np.random.default_rng([int(seed), 10_001])
    start = np.clip(start + rng.normal(0.0, 0.01, start.shape), 1e-6, 1 - 1e-6)
    sampler = emcee.EnsembleSampler(walkers, dims, lambda u: observation.log_posterior(emulator, u), vectorize=True)
    sampler.random_state = np.random.RandomState(int(seed) % 2**32).get_state()
    steps = BURN_STEPS + THIN * math.ceil(samples / walkers)
    sampler.run_mcmc(start, steps, progress=False)
    chain = sampler.get_chain(discard=BURN_STEPS, thin=THIN, flat=True)[:samples]
    log_density = sampler.get_log_prob(discard=BURN_STEPS, thin=THIN, flat=True)[:samples]
    return chain, log_density, float(np.mean(sampler.acceptance_fraction))

"""How much a fit owes to its noise and to the SC alone.

- :func:`fresh_seed_fc`: the fitted model re-simulated with noise it never
  saw during the fit (``K`` fresh seeds, vmapped): the FC correlation of each
  realisation with the empirical FC. A fit that only matched its own noise
  realisation scores lower here than in the final simulation.
- :func:`sc_fc_correlation`: the Pearson correlation between the SC weights
  and the empirical FC (upper triangles): the baseline a network model has
  to beat, since the SC alone already predicts part of the FC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import losses
from .observations import fc as fc_of


def fresh_seeds(base_seed: int, k: int) -> list[int]:
    """The ``k`` fresh noise seeds of an experiment whose seed is ``base_seed``:
    ``base_seed + 1 ... base_seed + k``.

    The fit draws its noise from ``jax.random.key(base_seed)`` and keys folded
    in from it, so ``jax.random.key(s)`` of these seeds give realisations the
    fit never used.
    """
    if int(k) < 1:
        raise ValueError(f"the number of fresh seeds must be at least 1, got {k}")
    return [int(base_seed) + 1 + i for i in range(int(k))]


def fresh_seed_fc(problem, state: Mapping, seeds: Sequence[int]) -> dict:
    """FC correlation (and RMSE) of the model at ``state`` over fresh noise seeds.

    Args:
        problem: A :class:`~tvbo_pipe.fit.problem.FitProblem` (its model,
            Bold monitor, transient and empirical FC are used).
        state: The simulation state (parameters) to simulate, e.g. the fitted one.
        seeds: Integer seeds; realisation ``i`` uses ``jax.random.key(seeds[i])``
            with the noise drawn inside the time loop. The realisations are
            simulated together with ``jax.vmap``.

    Returns:
        ``{"Seeds": [...], "FCCorrelation": [...], "FCRMSE": [...],
        "FCCorrelationMean": x, "FCCorrelationStd": x}`` (correlations
        dimensionless; the standard deviation is the population one, ``ddof=0``).
        A realisation without a finite value (NaN, silent regions) is ``None``
        and makes the mean and standard deviation ``None``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("fresh_seed_fc needs at least one seed")
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    fc_emp = problem.fc_emp

    def one(key):
        bold = problem.model(state, key)[problem.monitor].data[problem.transient :, 0]
        fc_sim = fc_of(bold)
        return jnp.stack([losses.fc_corr(fc_sim, fc_emp), losses.fc_rmse(fc_sim, fc_emp)])

    metrics = np.asarray(jax.vmap(one)(keys), dtype=float)
    r = metrics[:, 0]
    finite = bool(np.all(np.isfinite(r)))
    return {
        "Seeds": seeds,
        "FCCorrelation": [_json_float(v) for v in r],
        "FCRMSE": [_json_float(v) for v in metrics[:, 1]],
        "FCCorrelationMean": float(np.mean(r)) if finite else None,
        "FCCorrelationStd": float(np.std(r)) if finite else None,
    }


def _json_float(x: float) -> float | None:
    """``x``, or ``None`` (JSON null) when it is not finite."""
    return float(x) if np.isfinite(x) else None


def sc_fc_correlation(weights: np.ndarray, fc_emp: np.ndarray) -> float:
    """Pearson correlation between the SC weights and the empirical FC.

    Both upper triangles without the diagonal (the ``n (n - 1) / 2`` region
    pairs), as every FC comparison of the pipeline; dimensionless. NaN when
    either triangle is constant.
    """
    w, f = np.asarray(weights, dtype=float), np.asarray(fc_emp, dtype=float)
    if w.shape != f.shape or w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"SC {w.shape} and FC {f.shape} must be square and of one shape")
    iu = np.triu_indices(w.shape[0], k=1)
    a, b = w[iu] - w[iu].mean(), f[iu] - f[iu].mean()
    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / den) if den > 0 else float("nan")


__all__ = ["fresh_seed_fc", "fresh_seeds", "sc_fc_correlation"]

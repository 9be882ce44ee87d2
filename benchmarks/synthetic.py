"""Set-up shared by the benchmark scripts: a synthetic connectome."""

from __future__ import annotations

import numpy as np


def synthetic_connectome(
    n: int, rng: np.random.Generator, density: float = 0.3
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A distance-dependent random connectome on two hemispheres.

    Regions on a sphere of radius 70 mm, split at x = 0 (5 mm gap); weights
    ``exp(-d / 25 mm)`` times a log-normal factor, symmetric, the weakest
    ``1 - density`` of them set to zero, no self-connections.

    Args:
        n: Regions.
        rng: Random generator (drawn from, so a caller can go on drawing).
        density: Fraction of the weights kept.

    Returns:
        ``(weights, tract_lengths_mm, labels)``: weights not normalised,
        lengths ``1.2 d`` (mm), labels ``L000``... then ``R000``....
    """
    half = n // 2
    xyz = rng.normal(size=(n, 3))
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    xyz *= 70.0
    xyz[:half, 0] = -np.abs(xyz[:half, 0]) - 5
    xyz[half:, 0] = np.abs(xyz[half:, 0]) + 5
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    w = np.exp(-d / 25.0) * rng.lognormal(0, 1, (n, n))
    w = (w + w.T) / 2
    w[w < np.quantile(w, 1.0 - density)] = 0.0
    np.fill_diagonal(w, 0.0)
    labels = [f"{'L' if i < half else 'R'}{i % half:03d}" for i in range(n)]
    return w, 1.2 * d, labels

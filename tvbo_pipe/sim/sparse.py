"""Sparse long-range coupling without delays.

Without delays the coupling sum ``sum_j w_ij pre(x_j)`` is a dense
matrix-vector product, ``n^2`` multiply-adds per step whatever the density.
When few connections are nonzero, reading each target's padded list of
sources (``n K`` values, ``K`` = most sources of any target) is cheaper; the
crossover was measured on this kind of machine (benchmarks/README.md,
"Scaling"): :data:`SPARSE_DENSITY` is the density below which
:func:`plan_sparse` chooses the lists.

The sum then runs over the nonzero connections only, so the gradient with
respect to ``network.weights`` is zero at the entries that are zero in the
connectome (as with delays, where the lists are always used).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Densities (nonzero fraction of the weight matrix) at or below which the
#: coupling sum reads per-target source lists instead of a dense product.
SPARSE_DENSITY = 0.05
#: Below this many nodes the dense product is always used (it fits in cache).
SPARSE_MIN_NODES = 256


@dataclass(frozen=True, eq=False)
class SparsePlan:
    """Padded per-target source lists (NumPy arrays, ``(n, K)`` each).

    Attributes:
        src: Source node of each entry.
        edge: Flat index ``i * n + j`` into the weight matrix.
        mask: True for real connections (padding reads node 0 with weight 0).
    """

    src: np.ndarray
    edge: np.ndarray
    mask: np.ndarray

    @property
    def n_entries(self) -> int:
        return int(self.src.shape[1])


def padded_sources(nonzero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nonzero columns as a padded list.

    Args:
        nonzero: Boolean (n, n) matrix, row i = target, column j = source.

    Returns:
        ``(src, mask)``, both (n, k) with k the largest row count (at least 1):
        row i's source indices, padded with 0, and which entries are real.
    """
    n = nonzero.shape[0]
    k = max(1, int(nonzero.sum(axis=1).max()))
    src = np.zeros((n, k), dtype=np.int32)
    mask = np.zeros((n, k), dtype=bool)
    for i in range(n):
        cols = np.flatnonzero(nonzero[i])
        src[i, : cols.size] = cols
        mask[i, : cols.size] = True
    return src, mask


def density(weights: np.ndarray) -> float:
    """Fraction of nonzero entries of ``weights``."""
    w = np.asarray(weights)
    return float(np.count_nonzero(w)) / max(1, w.size)


def plan_sparse(weights: np.ndarray, sparse: bool | None = None) -> SparsePlan | None:
    """Source lists of the nonzero connections, or ``None`` for the dense product.

    Args:
        weights: ``(n, n)`` weight matrix (target, source).
        sparse: True / False forces the choice; ``None`` chooses lists when the
            network has at least :data:`SPARSE_MIN_NODES` nodes and a density
            at or below :data:`SPARSE_DENSITY`.
    """
    w = np.asarray(weights)
    n = w.shape[0]
    if sparse is None:
        sparse = n >= SPARSE_MIN_NODES and density(w) <= SPARSE_DENSITY
    if not sparse:
        return None
    src, mask = padded_sources(w != 0)
    edge = (np.arange(n)[:, None] * n + src).astype(np.int32)
    return SparsePlan(src, edge, mask)

"""Observations computed from region time series: FC and FCD.

All functions are pure JAX, differentiable and usable on empirical data
(NumPy arrays) and on simulated BOLD alike, so both sides of a fit are
computed by the same code.

Conventions: time series are ``(n_time, n_regions)``; FC is the Pearson
correlation matrix ``(n_regions, n_regions)`` with ones on the diagonal;
"upper triangle" always means the entries strictly above the diagonal
(``k=1``), i.e. ``n (n - 1) / 2`` values.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jnp.ndarray


def fc(ts: Array, *, eps: float = 1e-12) -> Array:
    """Functional connectivity: Pearson correlation between regions.

    Args:
        ts: Time series ``(n_time, n_regions)``.
        eps: Guards the division for a constant region (its correlations are 0).

    Returns:
        ``(n_regions, n_regions)`` correlation matrix.
    """
    x = ts - jnp.mean(ts, axis=0, keepdims=True)
    ss = jnp.sum(x * x, axis=0)
    z = x / jnp.sqrt(jnp.maximum(ss, eps))
    c = z.T @ z
    return c.at[jnp.diag_indices(c.shape[0])].set(1.0)


def upper_triangle(m: Array) -> Array:
    """The entries strictly above the diagonal, row by row (``k=1``)."""
    i, j = jnp.triu_indices(m.shape[-1], k=1)
    return m[..., i, j]


def fisher_z_mean(fcs: Array, *, clip: float = 1.0 - 1e-7) -> Array:
    """Combine several FC matrices by averaging their Fisher z-transforms.

    ``tanh(mean_k arctanh(FC_k))``, correlations clipped to ``[-clip, clip]``
    first so that the diagonal (exactly 1) stays finite; the diagonal of the
    result is set to 1. This is the rule for combining runs of one subject and
    session.

    Args:
        fcs: ``(n_runs, n, n)`` correlation matrices.
    """
    z = jnp.arctanh(jnp.clip(fcs, -clip, clip))
    out = jnp.tanh(jnp.mean(z, axis=0))
    return out.at[jnp.diag_indices(out.shape[0])].set(1.0)


def sliding_windows(n_time: int, window: int, step: int) -> tuple[int, ...]:
    """Start indices of the windows ``[s, s + window)`` that fit in ``n_time``."""
    if window < 2 or step < 1:
        raise ValueError(f"FCD window must be >= 2 samples and step >= 1; got {window}, {step}")
    if window > n_time:
        raise ValueError(f"FCD window of {window} samples is longer than the {n_time} samples")
    return tuple(range(0, n_time - window + 1, step))


def fcd(ts: Array, window: int, step: int) -> Array:
    """Functional connectivity dynamics (Hansen et al. 2015).

    The FC of each sliding window (``window`` samples, advancing ``step``
    samples) is reduced to its upper triangle; the FCD is the Pearson
    correlation matrix between those vectors, ``(n_windows, n_windows)``.

    Args:
        ts: Time series ``(n_time, n_regions)``.
        window: Window length in samples.
        step: Step between window starts in samples.

    References:
        Hansen ECA, Battaglia D, Spiegler A, Deco G, Jirsa VK (2015).
        Functional connectivity dynamics: modeling the switching behavior of the
        resting state. NeuroImage 105:525-535. doi:10.1016/j.neuroimage.2014.11.001
    """
    starts = jnp.asarray(sliding_windows(ts.shape[0], window, step))
    idx = starts[:, None] + jnp.arange(window)[None, :]
    windows = ts[idx]  # (n_windows, window, n_regions)
    vecs = jax.vmap(lambda w: upper_triangle(fc(w)))(windows)
    return fc(vecs.T)


def ks_distance(a: Array, b: Array) -> Array:
    """Two-sample Kolmogorov-Smirnov statistic between the values of ``a`` and ``b``.

    Used to compare the distributions of the upper triangles of two FCD
    matrices (for reporting; it is not differentiable in a useful way).
    """
    a = jnp.sort(jnp.ravel(jnp.asarray(a)))
    b = jnp.sort(jnp.ravel(jnp.asarray(b))).astype(a.dtype)
    grid = jnp.concatenate([a, b])
    cdf_a = jnp.searchsorted(a, grid, side="right").astype(a.dtype) / a.size
    cdf_b = jnp.searchsorted(b, grid, side="right").astype(a.dtype) / b.size
    return jnp.max(jnp.abs(cdf_a - cdf_b))

"""Losses and goodness of fit between simulated and empirical FC / FCD.

Every FC comparison uses the **upper triangle without the diagonal**
(``k=1``: the ``n (n - 1) / 2`` distinct region pairs), so self-correlations
(always 1) never inflate a fit:

- ``rmse``: :math:`\\sqrt{\\mathrm{mean}_{i<j} (FC^{sim}_{ij} - FC^{emp}_{ij})^2}`,
- ``one_minus_corr``: :math:`1 - r`, ``r`` the Pearson correlation of the
  two upper triangles (insensitive to the overall FC level),
- ``combined``: ``w_corr * (1 - r) + w_rmse * rmse`` (weights configurable).

FCD comparison: the two-sample Kolmogorov-Smirnov distance between the
upper triangles of the simulated and empirical FCD matrices (reporting), and
the energy distance between the same two value distributions
(:func:`fcd_energy`, differentiable: the ``fcd`` term of a loss with
``observation.weights.fcd > 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax.numpy as jnp

from .observations import ks_distance, upper_triangle

Array = jnp.ndarray


def _pearson(a: Array, b: Array) -> Array:
    a = a - a.mean()
    b = b - b.mean()
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b) + 1e-30)


def fc_corr(fc_sim: Array, fc_emp: Array) -> Array:
    """Pearson correlation of the FC upper triangles."""
    return _pearson(upper_triangle(fc_sim), upper_triangle(fc_emp))


def fc_rmse(fc_sim: Array, fc_emp: Array) -> Array:
    """Root mean squared difference of the FC upper triangles."""
    d = upper_triangle(fc_sim) - upper_triangle(fc_emp)
    return jnp.sqrt(jnp.mean(d * d))


def one_minus_corr(fc_sim: Array, fc_emp: Array) -> Array:
    return 1.0 - fc_corr(fc_sim, fc_emp)


def combined(fc_sim: Array, fc_emp: Array, *, w_corr: float = 1.0, w_rmse: float = 1.0) -> Array:
    return w_corr * one_minus_corr(fc_sim, fc_emp) + w_rmse * fc_rmse(fc_sim, fc_emp)


def fcd_ks(fcd_sim: Array, fcd_emp: Array) -> Array:
    """KS distance between the FCD upper-triangle value distributions."""
    return ks_distance(upper_triangle(fcd_sim), upper_triangle(fcd_emp))


#: FCD value samples are reduced to at most this many quantiles before the energy distance.
FCD_QUANTILES = 512


def quantile_summary(x: Array, n: int = FCD_QUANTILES) -> Array:
    """``x`` flattened, or its ``n`` quantiles at ``(k + 0.5) / n`` when it has more values."""
    x = jnp.ravel(x)
    if x.size <= n:
        return x
    return jnp.quantile(x, (jnp.arange(n) + 0.5) / n)


def energy_distance(a: Array, b: Array) -> Array:
    """Energy distance between the 1-D samples ``a`` and ``b``.

    :math:`2 E|X - Y| - E|X - X'| - E|Y - Y'|` (Szekely & Rizzo 2013): zero
    for equal distributions, differentiable in the sample values (unlike
    the KS statistic). Equals :math:`2 \\int (F_a - F_b)^2` for 1-D samples.
    """
    a, b = jnp.ravel(a), jnp.ravel(b).astype(a.dtype)

    def mean_abs(x, y):
        return jnp.mean(jnp.abs(x[:, None] - y[None, :]))

    return 2.0 * mean_abs(a, b) - mean_abs(a, a) - mean_abs(b, b)


def fcd_energy(fcd_sim_values: Array, fcd_emp_values: Array) -> Array:
    """Energy distance between FCD value distributions (upper triangles, reduced
    to :data:`FCD_QUANTILES` quantiles each)."""
    return energy_distance(quantile_summary(fcd_sim_values), quantile_summary(fcd_emp_values))


LOSSES: dict[str, Callable[..., Array]] = {
    "rmse": fc_rmse,
    "one_minus_corr": one_minus_corr,
    "combined": combined,
}


def make_fc_loss(
    kind: str = "combined", weights: Mapping[str, float] | None = None
) -> Callable[[Array, Array], Array]:
    """The configured FC loss as ``loss(fc_sim, fc_emp) -> scalar``."""
    if kind not in LOSSES:
        raise KeyError(f"unknown loss {kind!r}; valid: {', '.join(LOSSES)}")
    if kind == "combined":
        w = {"corr": 1.0, "rmse": 1.0, **{k: v for k, v in (weights or {}).items() if k != "fcd"}}
        return lambda a, b: combined(a, b, w_corr=w["corr"], w_rmse=w["rmse"])
    return LOSSES[kind]

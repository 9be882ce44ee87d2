"""Uncertainty of fitted global parameters: the Laplace approximation.

The loss is not a likelihood; it is read as a scaled negative log-likelihood
by treating it like a mean squared residual over ``m`` independent
observations (a Gaussian model with its variance profiled out):

.. math:: -\\log p(\\theta) \\approx \\frac{m}{2} \\log L(\\theta).

Its Hessian at the optimum, :math:`H = \\frac{m}{2} (\\nabla^2 L / L - \\nabla L
\\nabla L^T / L^2)`, is the posterior precision of the Laplace
approximation: covariance :math:`H^{-1}`, standard errors the square roots
of its diagonal, and the correlation matrix. ``m`` defaults to the number of
regions (one independent observation per region: FC pairs are far from
independent), so the standard errors are a convention-dependent scale
(they scale as :math:`1/\\sqrt{m}`) while the correlations and the
identifiability warnings do not depend on it.

The Hessian of ``L`` is computed with JAX (forward over forward mode, in the
parameters' own units) for several noise realisations and averaged.

When that Hessian is not positive definite (the fit ended where the
noise-averaged loss curves downwards or not at all along some direction: at a
bifurcation edge, on a ridge, or because two parameters trade off exactly),
its inverse is no covariance. The covariance is then the Moore-Penrose
pseudo-inverse of the Hessian restricted to its identifiable subspace: the
eigen-directions whose curvature is positive and above ``1 /``
:data:`CONDITION_LIMIT` of the largest,

.. math:: \\Sigma = \\sum_{\\lambda_k > \\epsilon \\lambda_{max}} \\lambda_k^{-1} v_k v_k^T,

and every other direction :math:`v_k` is left out and reported
(``LeftOutDirections``, with its curvature and ``Kind``: ``flat``, a
combination the loss does not determine, or ``not a minimum``, where the
averaged loss curves downwards: at a kink of the fixed-noise loss on a
bifurcation edge the pathwise second derivative across the edge is large
and negative although the edge itself is sharply located). This is the standard
treatment of a rank-deficient information matrix (Rothenberg 1971,
Econometrica 39:577, "Identification in parametric models": a parameter
combination is locally identifiable iff the information matrix is regular
along it; Raue et al. 2009, Bioinformatics 25:1923 for dynamical models): the
standard errors are finite numbers, *conditional on* the left-out
directions (the local quadratic model says nothing about the parameters
along them). It is chosen over a
Gauss-Newton approximation, which is positive semi-definite by construction,
because the FC correlation and FCD terms of the loss are not sums of squared
residuals, and over the Hessian in the unbounded coordinates, which has the
same inertia at a stationary point. ``Approximation`` in the JSON says which
covariance was used (``hessian`` or ``pseudo-inverse``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .parameters import ParameterSpace

log = logging.getLogger(__name__)

#: |correlation| above which two parameters are reported as not identifiable.
CORRELATION_LIMIT = 0.95
#: Condition number of the Hessian above which it is reported as near-singular.
CONDITION_LIMIT = 1e8


@dataclass
class Laplace:
    """The Laplace approximation at a fitted point.

    Attributes:
        names: Parameter paths (global parameters, in order).
        values: Fitted values.
        hessian: Hessian of the scaled negative log-likelihood (parameter units).
        loss_hessian: Hessian of the loss itself, averaged over realisations.
        covariance: Inverse of ``hessian`` (NaN when it is not positive definite).
        standard_errors: Square roots of the covariance's diagonal.
        correlation: Correlation matrix of the covariance.
        realisations: Noise realisations averaged.
        n_obs: ``m`` of the scaling (module docstring).
        warnings: Identifiability problems found.
        approximation: ``hessian`` (the inverse Hessian) or ``pseudo-inverse``
            (on the identifiable subspace; module docstring).
        left_out: The directions left out of the pseudo-inverse, each
            ``{"Vector": {path: component}, "Curvature": eigenvalue, "Kind":
            "flat" or "not a minimum"}`` (unit vectors in parameter units;
            curvature of the scaled negative log-likelihood along them).
    """

    names: list[str]
    values: np.ndarray
    hessian: np.ndarray
    loss_hessian: np.ndarray
    covariance: np.ndarray
    standard_errors: np.ndarray
    correlation: np.ndarray
    realisations: int
    n_obs: int
    loss: float
    warnings: list[str] = field(default_factory=list)
    approximation: str = "hessian"
    left_out: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """JSON-able summary (NaN as ``None``)."""

        def clean(a):
            a = np.asarray(a, dtype=float)
            return np.where(np.isfinite(a), a, np.nan).tolist()

        def nan_none(x):
            if isinstance(x, list):
                return [nan_none(v) for v in x]
            return None if x != x else x

        return {
            "Method": "Laplace approximation, -log p = (m/2) log(loss)",
            "Approximation": self.approximation,
            "LeftOutDirections": self.left_out,
            "Parameters": self.names,
            "Values": dict(zip(self.names, clean(self.values), strict=True)),
            "StandardErrors": dict(
                zip(self.names, nan_none(clean(self.standard_errors)), strict=True)
            ),
            "Correlation": nan_none(clean(self.correlation)),
            "LossHessian": nan_none(clean(self.loss_hessian)),
            "Loss": self.loss,
            "NoiseRealisations": self.realisations,
            "EffectiveObservations": self.n_obs,
            "Warnings": self.warnings,
        }


def hessian_of(fun, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(f(x), gradient, Hessian)`` of a scalar function of a vector (forward mode)."""

    def grad_and_value(v):
        g, val = jax.jacfwd(lambda w: (fun(w), fun(w)), has_aux=True)(v)
        return g, (g, val)

    h, (g, val) = jax.jacfwd(grad_and_value, has_aux=True)(x)
    return val, g, h


def covariance_of(
    hess: np.ndarray, names: list[str]
) -> tuple[np.ndarray, str, list[dict], list[str]]:
    """The covariance of a Laplace approximation with precision ``hess``.

    Returns ``(covariance, approximation, left-out directions,
    warnings)``: the inverse when ``hess`` is positive definite with a
    condition number up to :data:`CONDITION_LIMIT` (``hessian``), else the
    pseudo-inverse on the eigen-directions with curvature above
    ``max curvature / CONDITION_LIMIT`` (``pseudo-inverse``; module
    docstring); a parameter lying wholly in the left-out directions gets NaN
    (no standard error). A non-finite ``hess`` gives a NaN covariance.
    """
    k = len(names)
    if not np.all(np.isfinite(hess)):
        return (
            np.full((k, k), np.nan),
            "none",
            [],
            ["the Hessian is not finite at the fitted values: no standard errors"],
        )
    eig, vec = np.linalg.eigh(0.5 * (hess + hess.T))
    top = float(np.max(eig))
    keep = eig > top / CONDITION_LIMIT if top > 0 else np.zeros(k, dtype=bool)
    if keep.all():
        return np.linalg.inv(hess), "hessian", [], []
    directions = []
    for j in np.flatnonzero(~keep):
        v = vec[:, j] * np.sign(vec[np.argmax(np.abs(vec[:, j])), j])  # largest component > 0
        flat = abs(eig[j]) <= abs(top) / CONDITION_LIMIT
        directions.append(
            {
                "Vector": {n: round(float(c), 6) for n, c in zip(names, v, strict=True)},
                "Curvature": float(eig[j]),
                "Kind": "flat" if flat else "not a minimum",
            }
        )
    shown = "; ".join(
        ("not identifiable along " if d["Kind"] == "flat" else "not a minimum along ")
        + " ".join(f"{c:+.3f} {n}" for n, c in d["Vector"].items())
        + f" (curvature {d['Curvature']:.3g})"
        for d in directions
    )
    kind = "not positive definite" if eig.min() <= 0 else "near-singular"
    warnings = [
        f"the Hessian is {kind} at the fitted values (eigenvalues "
        f"{np.round(eig, 6).tolist()}): {shown}; standard errors "
        "from the pseudo-inverse on the other directions (conditional on these)"
    ]
    kept = vec[:, keep]
    cov = (kept / eig[keep]) @ kept.T
    # a parameter with no component in the identifiable subspace has no standard error
    alone = np.sum(kept**2, axis=1) < 1e-6
    cov[alone, :] = np.nan
    cov[:, alone] = np.nan
    return cov, "pseudo-inverse", directions, warnings


def laplace(
    problem,
    space: ParameterSpace,
    values: Mapping,
    *,
    realisations: int = 2,
    n_obs: int | None = None,
) -> Laplace:
    """The Laplace approximation of ``problem``'s loss at ``values`` (global parameters).

    Realisation 0 is the problem's own noise (the one the fit used); the
    others are drawn from ``fold_in(problem.key, 20_000 + r)``. The loss,
    gradient and Hessian are averaged over them before the scaling.
    """
    if any(p.regional for p in space.params):
        raise ValueError("the Laplace approximation is implemented for global parameters")
    dtype = jnp.result_type(float)
    v0 = {p: jnp.asarray(values[p], dtype=dtype) for p in space.paths}
    flat, unravel = ravel_pytree(v0)
    # noise drawn in the loop from the key: with problem.key the same numbers
    # as the problem's own table, so one compiled function serves every realisation
    drawn = problem.loss_fn(space, fixed_noise=False)

    @jax.jit
    def at_key(x, key):
        return hessian_of(lambda w: drawn(unravel(w), key), x)

    keys = [problem.key] + [
        jax.random.fold_in(problem.key, 20_000 + r) for r in range(1, realisations)
    ]
    results = [at_key(flat, k) for k in keys]
    loss = float(np.mean([float(r[0]) for r in results]))
    g = np.mean([np.asarray(r[1], float) for r in results], axis=0)
    h_loss = np.mean([np.asarray(r[2], float) for r in results], axis=0)
    h_loss = 0.5 * (h_loss + h_loss.T)
    m = int(n_obs or problem.fc_emp.shape[0])
    hess = 0.5 * m * (h_loss / loss - np.outer(g, g) / loss**2)
    names = sorted(v0)  # the order of ravel_pytree (dict keys sorted)
    cov, approximation, directions, warnings = covariance_of(hess, names)
    se = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    k = len(names)
    for i in range(k):
        for j in range(i + 1, k):
            if np.isfinite(corr[i, j]) and abs(corr[i, j]) > CORRELATION_LIMIT:
                warnings.append(
                    f"{names[i]} and {names[j]} are not identifiable separately "
                    f"(correlation {corr[i, j]:.3f})"
                )
    for w in warnings:
        log.warning("Laplace approximation: %s", w)
    return Laplace(
        names=names,
        values=np.asarray(flat, float),
        hessian=hess,
        loss_hessian=h_loss,
        covariance=cov,
        standard_errors=se,
        correlation=corr,
        realisations=int(realisations),
        n_obs=m,
        loss=loss,
        warnings=warnings,
        approximation=approximation,
        left_out=directions,
    )

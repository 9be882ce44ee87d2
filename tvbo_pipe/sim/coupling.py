"""Coupling functions with TVB 2.10's definitions, parameter names and defaults.

TVB computes the long-range input of target node ``i`` as

.. math::

    c_i = \\mathrm{post}\\Big(\\sum_j w_{ij}\\, \\mathrm{pre}(x_i, x_j)\\Big)

where ``x_i`` is the current (undelayed) state of the coupling variables of
node ``i`` and ``x_j`` the state of source node ``j`` delayed by the
conduction delay ``d_ij`` (``w_ij``: weight from ``j`` to ``i``).

A :class:`Coupling` holds ``pre`` and ``post`` as pure, elementwise JAX
functions so that an engine can evaluate the sum sparsely or as a matrix
product (when ``uses_x_i`` is False):

- ``pre(x_i, x_j, params)``: ``x_i`` has shape ``(n_cvar, n_nodes, 1)``, ``x_j``
  shape ``(n_cvar, n_nodes, K)`` (``K`` source entries per target node);
  returns ``(n_out, n_nodes, K)``.
- ``post(gx, params)``: maps the weighted sums ``(n_out, n_nodes)`` to the
  coupling input ``(n_out, n_nodes)`` that the model's ``dfun`` receives.

``params`` maps parameter names to scalars or, per target node, to
``(n_nodes,)`` arrays. :func:`coupling_value` is a dense, slow reference that
evaluates the whole thing.

Two TVB behaviours are reproduced on purpose (they are what TVB's simulator
computes, see the descriptions): ``Kuramoto`` divides by the number of coupling
variables, not of nodes, and ``PreSigmoidal`` is not of the pre/sum/post form
(it has a ``dense`` implementation only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from tvbo_pipe.models.base import Array, Parameter
from tvbo_pipe.models.latex import coupling_equations
from tvbo_pipe.models.lazy_jax import LazyModule, jnp

#: JAX, imported at first use: the coupling registry's metadata is read without it.
jax = LazyModule("jax")

PreFun = Callable[[Array, Array, Mapping[str, Array]], Array]
PostFun = Callable[[Array, Mapping[str, Array]], Array]
DenseFun = Callable[[Array, Array, Array, Mapping[str, Array]], Array]


@dataclass(frozen=True)
class Coupling:
    """A coupling function: ``post(sum_j w_ij pre(x_i, x_j))``.

    Attributes:
        name: Registry name, TVB's class name (e.g. ``"Linear"``).
        parameters: Parameters with TVB's names and defaults.
        pre: ``pre(x_i, x_j, params)``, elementwise on the edge entries; see the
            module docstring for shapes.
        post: ``post(gx, params)`` on the weighted sums ``(n_out, n_nodes)``.
        uses_x_i: False when ``pre`` depends on ``x_j`` only (the sum is then a
            matrix product of the weights with ``pre(x_j)``).
        equations: LaTeX of the ``"pre"`` and ``"post"`` functions (derived from
            the expression form, :func:`~tvbo_pipe.models.latex.coupling_equations`,
            where the coupling has one).
        description: Short description, including TVB quirks reproduced.
        n_out: Number of output rows when it differs from the number of coupling
            variables (e.g. 1 for ``SigmoidalJansenRit``); None: same as n_cvar.
        n_cvar: Number of coupling variables required, or None for any number.
        dense: For couplings that TVB does not compute in the pre/sum/post form,
            ``dense(weights, x_i, x_j_delayed, params) -> (n_out, n_nodes)`` with
            the shapes of :func:`coupling_value`; engines must use it (or
            :func:`coupling_value`) instead of ``pre``/``post``, which raise.
    """

    name: str
    parameters: tuple[Parameter, ...]
    pre: PreFun
    post: PostFun
    uses_x_i: bool
    equations: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    n_out: int | None = None
    n_cvar: int | None = None
    dense: DenseFun | None = None

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def default_parameters(self) -> dict[str, float]:
        """Parameter name -> TVB default value."""
        return {p.name: p.default for p in self.parameters}

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(
            f"coupling {self.name} has no parameter {name!r}; "
            f"valid: {', '.join(self.parameter_names)}"
        )

    def output_rows(self, n_cvar: int) -> int:
        """Number of rows of the coupling output for ``n_cvar`` coupling variables.

        Raises:
            ValueError: If the coupling needs a different number of coupling
                variables.
        """
        if self.n_cvar is not None and n_cvar != self.n_cvar:
            raise ValueError(
                f"coupling {self.name} needs exactly {self.n_cvar} coupling variables, got {n_cvar}"
            )
        return n_cvar if self.n_out is None else self.n_out


def coupling_value(
    coupling: Coupling,
    weights: Array,
    x_i: Array,
    x_j_delayed: Array,
    params: Mapping[str, Array],
) -> Array:
    """Dense reference evaluation of a coupling (slow; for tests and fallback).

    Args:
        coupling: The coupling function.
        weights: ``(N, N)``, ``weights[i, j]`` from source ``j`` to target ``i``.
        x_i: ``(n_cvar, N)`` current state of the coupling variables.
        x_j_delayed: ``(n_cvar, N, N)``; ``x_j_delayed[c, i, j]`` is the state of
            node ``j`` as seen by node ``i`` (delayed by ``d_ij``).
        params: Parameter name -> scalar or ``(N,)`` per target node.

    Returns:
        ``(n_out, N)``: the coupling input of every node.
    """
    weights = jnp.asarray(weights)
    x_i = jnp.asarray(x_i)
    x_j_delayed = jnp.asarray(x_j_delayed)
    coupling.output_rows(x_i.shape[0])
    if coupling.dense is not None:
        return coupling.dense(weights, x_i, x_j_delayed, params)
    pre = coupling.pre(x_i[:, :, None], x_j_delayed, params)
    gx = jnp.sum(weights[None, :, :] * pre, axis=-1)
    return coupling.post(gx, params)


# --------------------------------------------------------------------------- helpers


def _edge(value: Array) -> Array:
    """Broadcast a scalar or per-target ``(n_nodes,)`` parameter against edges."""
    value = jnp.asarray(value)
    return value if value.ndim == 0 else value[..., None]


def _identity_pre(x_i: Array, x_j: Array, params: Mapping[str, Array]) -> Array:
    return x_j


def _identity_post(gx: Array, params: Mapping[str, Array]) -> Array:
    return gx


def _p(name: str, default: float, domain: tuple[float, float] | None, doc: str) -> Parameter:
    return Parameter(name=name, default=default, unit="", domain=domain, description=doc)


# --------------------------------------------------------------------------- Linear


def _linear_post(gx: Array, params: Mapping[str, Array]) -> Array:
    return params["a"] * gx + params["b"]


Linear = Coupling(
    name="Linear",
    parameters=(
        _p(
            "a",
            0.00390625,
            (0.0, 1.0),
            "Rescales the connection strength while maintaining the ratio between "
            "different values.",
        ),
        _p(
            "b",
            0.0,
            None,
            "Shifts the base of the connection strength while maintaining the absolute "
            "difference between different values.",
        ),
    ),
    pre=_identity_pre,
    post=_linear_post,
    uses_x_i=False,
    equations=coupling_equations("Linear"),
    description="Linear coupling: a * sum_j w_ij x_j + b.",
)

# --------------------------------------------------------------------------- Scaling


def _scaling_post(gx: Array, params: Mapping[str, Array]) -> Array:
    return params["a"] * gx


Scaling = Coupling(
    name="Scaling",
    parameters=(
        _p(
            "a",
            0.00390625,
            (0.0, 1.0),
            "Scaling factor: rescales the connection strength while maintaining the "
            "ratio between different values.",
        ),
    ),
    pre=_identity_pre,
    post=_scaling_post,
    uses_x_i=False,
    equations=coupling_equations("Scaling"),
    description="Scaling coupling: a * sum_j w_ij x_j.",
)

# --------------------------------------------------------------------------- Difference


def _difference_pre(x_i: Array, x_j: Array, params: Mapping[str, Array]) -> Array:
    return x_j - x_i


Difference = Coupling(
    name="Difference",
    parameters=(_p("a", 0.1, (0.0, 10.0), "Rescales the connection strength."),),
    pre=_difference_pre,
    post=_scaling_post,
    uses_x_i=True,
    equations=coupling_equations("Difference"),
    description="Diffusive (difference) coupling: a * sum_j w_ij (x_j - x_i).",
)

# --------------------------------------------------------------------------- Kuramoto


def _kuramoto_pre(x_i: Array, x_j: Array, params: Mapping[str, Array]) -> Array:
    return jnp.sin(x_j - x_i)


def _kuramoto_post(gx: Array, params: Mapping[str, Array]) -> Array:
    # TVB: ``a / gx.shape[0] * gx`` with gx laid out (n_cvar, n_nodes, n_modes) by
    # its sparse coupling, i.e. division by the number of coupling variables.
    return params["a"] / gx.shape[0] * gx


Kuramoto = Coupling(
    name="Kuramoto",
    parameters=(_p("a", 1.0, (0.0, 1.0), "Rescales the connection strength."),),
    pre=_kuramoto_pre,
    post=_kuramoto_post,
    uses_x_i=True,
    equations=coupling_equations("Kuramoto"),
    description=(
        "Kuramoto coupling: a / n * sum_j w_ij sin(x_j - x_i). TVB documents n as the "
        "number of nodes, but TVB 2.10's simulator (SparseHistory + SparseCoupling) "
        "divides by gx.shape[0] = the number of coupling variables (1 for the Kuramoto "
        "model), so no 1/N normalisation happens in practice; reproduced here. Fold "
        "1/N into a (or the weights) for the textbook normalisation."
    ),
)

# --------------------------------------------------------------------------- Sigmoidal


def _sigmoidal_post(gx: Array, params: Mapping[str, Array]) -> Array:
    p = params
    return p["cmin"] + (
        (p["cmax"] - p["cmin"]) / (1.0 + jnp.exp(-p["a"] * ((gx - p["midpoint"]) / p["sigma"])))
    )


Sigmoidal = Coupling(
    name="Sigmoidal",
    parameters=(
        _p("cmin", -1.0, (-1000.0, 1000.0), "Minimum of the sigmoid function."),
        _p("cmax", 1.0, (-1000.0, 1000.0), "Maximum of the sigmoid function."),
        _p("midpoint", 0.0, (-1000.0, 1000.0), "Midpoint of the linear portion of the sigmoid."),
        _p("a", 1.0, (0.01, 1000.0), "Scaling of the sigmoid."),
        _p("sigma", 230.0, (0.01, 1000.0), "Standard deviation (width) of the sigmoid."),
    ),
    pre=_identity_pre,
    post=_sigmoidal_post,
    uses_x_i=False,
    equations=coupling_equations("Sigmoidal"),
    description="Post-summation sigmoid of the weighted sum of afferent activity.",
)

# --------------------------------------------------------------------------- SigmoidalJansenRit


def _sjr_pre(x_i: Array, x_j: Array, params: Mapping[str, Array]) -> Array:
    p = params
    cmin, cmax = _edge(p["cmin"]), _edge(p["cmax"])
    r, midpoint = _edge(p["r"]), _edge(p["midpoint"])
    pre = cmin + (cmax - cmin) / (1.0 + jnp.exp(r * (midpoint - (x_j[0] - x_j[1]))))
    return pre[None]


SigmoidalJansenRit = Coupling(
    name="SigmoidalJansenRit",
    parameters=(
        _p("cmin", 0.0, (-1000.0, 1000.0), "Minimum of the sigmoid function."),
        _p("cmax", 2.0 * 0.0025, (-1000.0, 1000.0), "Maximum of the sigmoid function."),
        _p("midpoint", 6.0, (-1000.0, 1000.0), "Midpoint of the linear portion of the sigmoid."),
        _p("r", 0.56, (0.01, 1000.0), "Steepness of the sigmoidal transformation."),
        _p("a", 1.0, (0.01, 1000.0), "Scaling of the coupling term."),
    ),
    pre=_sjr_pre,
    post=_scaling_post,
    uses_x_i=False,
    equations=coupling_equations("SigmoidalJansenRit"),
    description=(
        "Jansen-Rit sigmoid applied to the afferent pyramidal potential x_j[0] - x_j[1] "
        "(y1 - y2) before summation; two coupling variables in, one row out."
    ),
    n_out=1,
    n_cvar=2,
)

# --------------------------------------------------------------------------- HyperbolicTangent


def _tanh_pre(x_i: Array, x_j: Array, params: Mapping[str, Array]) -> Array:
    p = params
    a, b = _edge(p["a"]), _edge(p["b"])
    midpoint, sigma = _edge(p["midpoint"]), _edge(p["sigma"])
    return a * (1 + jnp.tanh((b * x_j - midpoint) / sigma))


HyperbolicTangent = Coupling(
    name="HyperbolicTangent",
    parameters=(
        _p("a", 1.0, (-1000.0, 1000.0), "Amplitude: half the maximum of the sigmoid."),
        _p("b", 1.0, (-1.0, 1.0), "Scaling factor for the variable."),
        _p("midpoint", 0.0, (-1000.0, 1000.0), "Midpoint of the linear portion of the sigmoid."),
        _p("sigma", 1.0, (0.01, 1000.0), "Standard deviation (width) of the sigmoid."),
    ),
    pre=_tanh_pre,
    post=_identity_post,
    uses_x_i=False,
    equations=coupling_equations("HyperbolicTangent"),
    description="Pre-summation hyperbolic-tangent sigmoid of the afferent activity.",
)

# --------------------------------------------------------------------------- PreSigmoidal


def _static_flag(params: Mapping[str, Array], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"PreSigmoidal option {name!r} selects the code path and must be a concrete "
            "bool (or 0/1), not a traced value; close over it instead of passing it "
            "through jit/grad."
        )
    return bool(np.asarray(value))


def _scalar(params: Mapping[str, Array], name: str) -> Array:
    value = jnp.asarray(params[name])
    if value.ndim != 0 and value.size != 1:
        raise ValueError(
            f"PreSigmoidal parameter {name!r} must be a scalar (TVB does not support "
            f"regional values for it), got shape {value.shape}"
        )
    return value.reshape(())


def _presigmoidal_dense(
    weights: Array, x_i: Array, x_j: Array, params: Mapping[str, Array]
) -> Array:
    dynamic = _static_flag(params, "dynamic", True)
    global_t = _static_flag(params, "globalT", False)
    h, q, g, p_ratio = (_scalar(params, k) for k in ("H", "Q", "G", "P"))
    if dynamic and global_t:
        raise NotImplementedError(
            "PreSigmoidal with dynamic=True and globalT=True is not supported: TVB 2.10 "
            "itself fails on it (it assigns into the read-only view numpy.diag returns), "
            "so there is no reference behaviour to reproduce."
        )
    if dynamic:
        if x_j.shape[0] < 2:
            raise ValueError(
                "PreSigmoidal with dynamic=True needs two coupling variables (activity, "
                f"threshold); got {x_j.shape[0]}"
            )
        # The threshold of each edge entry is the delayed second coupling variable.
        act = h * (q + jnp.tanh(g * (p_ratio * x_j[0] - x_j[1])))  # (to, from)
        # TVB sums over the *target* axis: c0[k] = sum_i w[i, k] act[i, k].
        c_0 = jnp.sum(weights * act, axis=0)
        c_1 = jnp.diagonal(act)
        return jnp.stack([c_0, c_1])
    theta = jnp.asarray(params["theta"])
    if global_t:
        theta = theta.reshape(-1)[0]
    act = h * (q + jnp.tanh(g * (p_ratio * x_j - theta)))  # (cvar, to, from)
    # TVB: out[c, k] = sum_i w[k, i] act[c, i, k] (weights transposed against act).
    return jnp.einsum("ki,cik->ck", weights, act)


def _presigmoidal_not_separable(*args: object) -> Array:
    raise NotImplementedError(
        "PreSigmoidal is not of the pre/sum/post form in TVB; evaluate it with "
        "coupling_value(...) (Coupling.dense)."
    )


PreSigmoidal = Coupling(
    name="PreSigmoidal",
    parameters=(
        _p("H", 0.5, (-100.0, 100.0), "Global factor."),
        _p("Q", 1.0, (-100.0, 100.0), "Average."),
        _p("G", 60.0, (-1000.0, 1000.0), "Gain."),
        _p("P", 1.0, (-100.0, 100.0), "Excitation-inhibition ratio."),
        _p("theta", 0.5, (-100.0, 100.0), "Threshold (static mode only)."),
        Parameter(
            "dynamic",
            1.0,
            "",
            None,
            "Boolean: use the dynamic threshold carried by the second coupling variable "
            "(otherwise the static theta). Must be concrete (not traced).",
            boolean=True,
        ),
        Parameter(
            "globalT",
            0.0,
            "",
            None,
            "Boolean: use a global threshold (otherwise local); only with dynamic=False "
            "(TVB 2.10 fails for the dynamic global threshold). Must be concrete.",
            boolean=True,
        ),
    ),
    pre=_presigmoidal_not_separable,
    post=_presigmoidal_not_separable,
    uses_x_i=False,
    equations={
        "pre": r"H\left(Q + \tanh\left(G (P x - \theta)\right)\right)",
        "post": r"\text{dynamic: } c_{0,k} = \sum_i w_{ik} A_{ik},\ c_{1,k} = A_{kk};\quad"
        r" \text{static: } c_k = \sum_i w_{ki} A_{ik}",
    },
    description=(
        "Pre-summation sigmoid H (Q + tanh(G (P x - theta))) with a static (theta) or "
        "dynamic (second coupling variable) threshold, reproducing TVB 2.10's "
        "PreSigmoidal.__call__ including its index conventions: with dynamic=True the "
        "weighted sum runs over the target axis (c0[k] = sum_i w[i,k] A[i,k], A[i,k] "
        "computed from node k's state seen by i) and the second output is the node's "
        "own A[k,k]; with dynamic=False out[k] = sum_i w[k,i] A(x_k seen by i), and "
        "globalT uses theta[0]. dynamic=True with globalT=True raises (TVB 2.10 itself "
        "fails on it). Only scalar H, Q, G, P are supported (TVB cannot broadcast "
        "regional ones); theta may be per node in static mode. Available through "
        "coupling_value / dense only."
    ),
    dense=_presigmoidal_dense,
)


COUPLINGS: dict[str, Coupling] = {
    c.name: c
    for c in (
        Linear,
        Scaling,
        Difference,
        Kuramoto,
        Sigmoidal,
        SigmoidalJansenRit,
        HyperbolicTangent,
        PreSigmoidal,
    )
}


def get_coupling(name: str) -> Coupling:
    """Return the registered coupling called ``name`` (TVB's class name).

    Raises:
        KeyError: If no coupling has that name; the message lists the valid names.
    """
    try:
        return COUPLINGS[name]
    except KeyError:
        raise KeyError(
            f"unknown coupling {name!r}; valid couplings: {', '.join(COUPLINGS)}"
        ) from None


__all__ = [
    "COUPLINGS",
    "Coupling",
    "Difference",
    "HyperbolicTangent",
    "Kuramoto",
    "Linear",
    "PreSigmoidal",
    "Scaling",
    "Sigmoidal",
    "SigmoidalJansenRit",
    "coupling_value",
    "get_coupling",
]

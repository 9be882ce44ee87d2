"""Reduced Wong-Wang model (Deco et al. 2013): one NMDA gating variable per node.

Follows TVB 2.10's ``ReducedWongWang``:

.. math::

    x_k = w J_N S_k + I_o + J_N c_k, \\qquad
    H(x) = \\frac{a x - b}{1 - e^{-d (a x - b)}}, \\qquad
    \\dot S_k = -\\frac{S_k}{\\tau_s} + (1 - S_k) H(x_k) \\gamma

where :math:`c_k` is the long-range coupling input. ``H`` is evaluated as
written, like TVB, so it is 0/0 exactly at :math:`a x = b` (a set of measure
zero that random or simulated states do not hit). In the expression form
(``auxiliaries``) the firing rate is called ``H_x``: ``H`` is LEMS's Heaviside
function.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivative of ``S`` (1/ms); see the module docstring."""
    p = params
    s = state[0]
    c_0 = coupling[0]
    x = p["w"] * p["J_N"] * s + p["I_o"] + p["J_N"] * c_0
    u = p["a"] * x - p["b"]
    h = u / (1.0 - jnp.exp(-p["d"] * u))
    ds = -(s / p["tau_s"]) + (1.0 - s) * h * p["gamma"]
    return jnp.stack(jnp.broadcast_arrays(ds))


ReducedWongWang = Model(
    name="ReducedWongWang",
    state_variables=(StateVariable(name="S", range=(0.0, 1.0), boundaries=(0.0, 1.0), unit=""),),
    cvar=(0,),
    parameters=(
        Parameter(
            "a",
            0.270,
            "n/C",
            (0.0, 0.270),
            "Input gain parameter, chosen to fit numerical solutions.",
        ),
        Parameter(
            "b",
            0.108,
            "kHz",
            (0.0, 1.0),
            "Input shift parameter chosen to fit numerical solutions.",
        ),
        Parameter("d", 154.0, "ms", (0.0, 200.0), "Parameter chosen to fit numerical solutions."),
        Parameter("gamma", 0.641, "", (0.0, 1.0), "Kinetic parameter."),
        Parameter(
            "tau_s", 100.0, "ms", (50.0, 150.0), "Kinetic parameter: NMDA decay time constant."
        ),
        Parameter("w", 0.6, "", (0.0, 1.0), "Excitatory recurrence."),
        Parameter("J_N", 0.2609, "nA", (0.2609, 0.5), "Excitatory recurrence (NMDA coupling)."),
        Parameter("I_o", 0.33, "nA", (0.0, 1.0), "Effective external input."),
        Parameter(
            "sigma_noise",
            1e-9,
            "nA",
            (0.0, 0.005),
            "Noise amplitude; not used by dfun, only informative for stochastic schemes.",
        ),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("x", "w * J_N * S + I_o + J_N * c_0"),
        ("u", "a * x - b"),
        ("H_x", "u / (1.0 - exp(-d * u))"),
    ),
    rhs={"S": "-(S / tau_s) + (1.0 - S) * H_x * gamma"},
    variables_of_interest=("S",),
    description=(
        "Reduced Wong-Wang mean-field model: dynamics of the NMDA synaptic gating "
        "variable S of an excitatory population; long-range input enters the "
        "synaptic current as J_N times the coupling."
    ),
    references=(
        "Wong, K.-F., Wang, X.-J. (2006). A recurrent network mechanism of time "
        "integration in perceptual decisions. J Neurosci 26(4), 1314-1328. "
        "doi:10.1523/JNEUROSCI.3733-05.2006",
        "Deco, G., Ponce-Alvarez, A., Mantini, D., Romani, G. L., Hagmann, P., "
        "Corbetta, M. (2013). Resting-state functional connectivity emerges from "
        "structurally and dynamically shaped slow linear fluctuations. J Neurosci "
        "33(27), 11239-11252. doi:10.1523/JNEUROSCI.1091-13.2013",
    ),
)

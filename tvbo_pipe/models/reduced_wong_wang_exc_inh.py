"""Reduced Wong-Wang model with excitatory and inhibitory pools (Deco et al. 2014).

Follows TVB 2.10's ``ReducedWongWangExcInh``. With :math:`C_k = G J_N c_k` the
scaled long-range input,

.. math::

    x_{e} &= a_e (w_p J_N S_e - J_i S_i + W_e I_o + C_k + I_{ext}) - b_e, &
    \\dot S_e &= -\\frac{S_e}{\\tau_e} + (1 - S_e)\\,\\gamma_e\\,
        \\frac{x_e}{1 - e^{-d_e x_e}} \\\\
    x_{i} &= a_i (J_N S_e - S_i + W_i I_o + \\lambda C_k) - b_i, &
    \\dot S_i &= -\\frac{S_i}{\\tau_i} + \\gamma_i\\,\\frac{x_i}{1 - e^{-d_i x_i}}

Note TVB's unit convention for this model: ``b_e``/``b_i`` in Hz, ``d_e``/``d_i``
in s, ``gamma_e``/``gamma_i`` already divided by 1000 so that the derivative is
per ms.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``S_e`` and ``S_i`` (1/ms)."""
    p = params
    s_e = state[0]
    s_i = state[1]
    cc = p["G"] * p["J_N"] * coupling[0]
    jn_se = p["J_N"] * s_e

    x_e = p["w_p"] * jn_se - p["J_i"] * s_i + p["W_e"] * p["I_o"] + cc + p["I_ext"]
    x_e = p["a_e"] * x_e - p["b_e"]
    h_e = x_e / (1.0 - jnp.exp(-p["d_e"] * x_e))
    ds_e = -(s_e / p["tau_e"]) + (1.0 - s_e) * h_e * p["gamma_e"]

    x_i = jn_se - s_i + p["W_i"] * p["I_o"] + p["lamda"] * cc
    x_i = p["a_i"] * x_i - p["b_i"]
    h_i = x_i / (1.0 - jnp.exp(-p["d_i"] * x_i))
    ds_i = -(s_i / p["tau_i"]) + h_i * p["gamma_i"]

    return jnp.stack(jnp.broadcast_arrays(ds_e, ds_i))


ReducedWongWangExcInh = Model(
    name="ReducedWongWangExcInh",
    state_variables=(
        StateVariable(name="S_e", range=(0.0, 1.0), boundaries=(0.0, 1.0), unit=""),
        StateVariable(name="S_i", range=(0.0, 1.0), boundaries=(0.0, 1.0), unit=""),
    ),
    cvar=(0,),
    parameters=(
        Parameter(
            "a_e",
            310.0,
            "n/C",
            (0.0, 500.0),
            "Excitatory population input gain parameter, chosen to fit numerical solutions.",
        ),
        Parameter(
            "b_e",
            125.0,
            "Hz",
            (0.0, 200.0),
            "Excitatory population input shift parameter chosen to fit numerical solutions.",
        ),
        Parameter(
            "d_e",
            0.160,
            "s",
            (0.0, 0.2),
            "Excitatory population input scaling parameter chosen to fit numerical solutions.",
        ),
        Parameter(
            "gamma_e",
            0.641 / 1000,
            "",
            (0.0, 1.0 / 1000),
            "Excitatory population kinetic parameter.",
        ),
        Parameter(
            "tau_e", 100.0, "ms", (50.0, 150.0), "Excitatory population NMDA decay time constant."
        ),
        Parameter("w_p", 1.4, "", (0.0, 2.0), "Excitatory population recurrence weight."),
        Parameter("J_N", 0.15, "nA", (0.001, 0.5), "NMDA current."),
        Parameter(
            "W_e", 1.0, "", (0.0, 2.0), "Excitatory population external input scaling weight."
        ),
        Parameter(
            "a_i",
            615.0,
            "n/C",
            (0.0, 1000.0),
            "Inhibitory population input gain parameter, chosen to fit numerical solutions.",
        ),
        Parameter(
            "b_i",
            177.0,
            "Hz",
            (0.0, 200.0),
            "Inhibitory population input shift parameter chosen to fit numerical solutions.",
        ),
        Parameter(
            "d_i",
            0.087,
            "s",
            (0.0, 0.2),
            "Inhibitory population input scaling parameter chosen to fit numerical solutions.",
        ),
        Parameter(
            "gamma_i",
            1.0 / 1000,
            "",
            (0.0, 2.0 / 1000),
            "Inhibitory population kinetic parameter.",
        ),
        Parameter(
            "tau_i", 10.0, "ms", (5.0, 100.0), "Inhibitory population NMDA decay time constant."
        ),
        Parameter("J_i", 1.0, "nA", (0.001, 2.0), "Local inhibitory current."),
        Parameter(
            "W_i", 0.7, "", (0.0, 1.0), "Inhibitory population external input scaling weight."
        ),
        Parameter("I_o", 0.382, "nA", (0.0, 1.0), "Effective external input."),
        Parameter("I_ext", 0.0, "nA", (0.0, 1.0), "Effective external stimulus input."),
        Parameter("G", 2.0, "", (0.0, 10.0), "Global coupling scaling."),
        Parameter("lamda", 0.0, "", (0.0, 1.0), "Inhibitory global coupling scaling."),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("cc", "G * J_N * c_0"),
        ("jn_se", "J_N * S_e"),
        ("x_e", "a_e * (w_p * jn_se - J_i * S_i + W_e * I_o + cc + I_ext) - b_e"),
        ("H_e", "x_e / (1.0 - exp(-d_e * x_e))"),
        ("x_i", "a_i * (jn_se - S_i + W_i * I_o + lamda * cc) - b_i"),
        ("H_i", "x_i / (1.0 - exp(-d_i * x_i))"),
    ),
    rhs={
        "S_e": "-(S_e / tau_e) + (1.0 - S_e) * H_e * gamma_e",
        "S_i": "-(S_i / tau_i) + H_i * gamma_i",
    },
    variables_of_interest=("S_e", "S_i"),
    description=(
        "Dynamic mean-field model of Deco et al. (2014): NMDA gating of an excitatory "
        "pool and GABA gating of an inhibitory pool per region; long-range input "
        "G J_N c enters the excitatory pool (and, scaled by lamda, the inhibitory pool)."
    ),
    references=(
        "Deco, G., Ponce-Alvarez, A., Hagmann, P., Romani, G. L., Mantini, D., "
        "Corbetta, M. (2014). How local excitation-inhibition ratio impacts the whole "
        "brain dynamics. J Neurosci 34(23), 7886-7898. doi:10.1523/JNEUROSCI.5068-13.2014",
        "Wong, K.-F., Wang, X.-J. (2006). A recurrent network mechanism of time "
        "integration in perceptual decisions. J Neurosci 26(4), 1314-1328. "
        "doi:10.1523/JNEUROSCI.3733-05.2006",
    ),
)

"""Larter-Breakspear model (Breakspear et al. 2003), TVB 2.10's ``LarterBreakspear``.

A Morris-Lecar-like pyramidal population (``V``, ``W``) with an inhibitory
interneuron population ``Z``. With the channel activations
:math:`m_{ion} = \\tfrac12 (1 + \\tanh((V - T_{ion}) / \\delta_{ion}))` and the
firing rates :math:`Q_V = \\tfrac12 Q_{V,max} (1 + \\tanh((V - V_T)/\\delta_V))`,
:math:`Q_Z = \\tfrac12 Q_{Z,max} (1 + \\tanh((Z - Z_T)/\\delta_Z))`:

.. math::

    \\dot V &= t_s\\big(-(g_{Ca} + (1 - C) r_{NMDA} a_{ee} Q_V + C r_{NMDA} a_{ee} c_k)
        m_{Ca} (V - V_{Ca}) - g_K W (V - V_K) - g_L (V - V_L) \\\\
        &\\qquad - (g_{Na} m_{Na} + (1 - C) a_{ee} Q_V + C a_{ee} c_k)(V - V_{Na})
        - a_{ie} Z Q_Z + a_{ne} I_{ext}\\big) \\\\
    \\dot W &= t_s\\,\\phi\\,(m_K - W) / \\tau_K \\\\
    \\dot Z &= t_s\\, b\\,(a_{ni} I_{ext} + a_{ei} V Q_V)

The coupling input :math:`c_k` (coupling variable ``V``) stands for the mean
firing rate :math:`\\langle Q_V \\rangle` of the afferent nodes; for instance the
``HyperbolicTangent`` coupling with ``a = 0.5 QV_max``, ``b = 1``,
``midpoint = VT`` and ``sigma = d_V`` turns each afferent ``V`` into its ``Q_V``.
``C`` balances self-excitation against long-range excitation.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``V``, ``W`` and ``Z`` (per ms, scaled by ``t_scale``)."""
    p = params
    v = state[0]
    w = state[1]
    z = state[2]
    c_0 = coupling[0]

    m_ca = 0.5 * (1 + jnp.tanh((v - p["TCa"]) / p["d_Ca"]))
    m_na = 0.5 * (1 + jnp.tanh((v - p["TNa"]) / p["d_Na"]))
    m_k = 0.5 * (1 + jnp.tanh((v - p["TK"]) / p["d_K"]))
    q_v = 0.5 * p["QV_max"] * (1 + jnp.tanh((v - p["VT"]) / p["d_V"]))
    q_z = 0.5 * p["QZ_max"] * (1 + jnp.tanh((z - p["ZT"]) / p["d_Z"]))

    c = p["C"]
    dv = p["t_scale"] * (
        -(p["gCa"] + (1.0 - c) * (p["rNMDA"] * p["aee"]) * q_v + c * p["rNMDA"] * p["aee"] * c_0)
        * m_ca
        * (v - p["VCa"])
        - p["gK"] * w * (v - p["VK"])
        - p["gL"] * (v - p["VL"])
        - (p["gNa"] * m_na + (1.0 - c) * p["aee"] * q_v + c * p["aee"] * c_0) * (v - p["VNa"])
        - p["aie"] * z * q_z
        + p["ane"] * p["Iext"]
    )
    dw = p["t_scale"] * p["phi"] * (m_k - w) / p["tau_K"]
    dz = p["t_scale"] * p["b"] * (p["ani"] * p["Iext"] + p["aei"] * v * q_v)
    return jnp.stack(jnp.broadcast_arrays(dv, dw, dz))


LarterBreakspear = Model(
    name="LarterBreakspear",
    state_variables=(
        StateVariable(name="V", range=(-1.5, 1.5)),
        StateVariable(name="W", range=(-1.5, 1.5)),
        StateVariable(name="Z", range=(-1.5, 1.5)),
    ),
    cvar=(0,),
    parameters=(
        Parameter("gCa", 1.1, "", (0.9, 1.5), "Conductance of the population of Ca++ channels."),
        Parameter("gK", 2.0, "", (1.95, 2.05), "Conductance of the population of K channels."),
        Parameter("gL", 0.5, "", (0.45, 0.55), "Conductance of the population of leak channels."),
        Parameter("phi", 0.7, "", (0.3, 0.9), "Temperature scaling factor."),
        Parameter("gNa", 6.7, "", (0.0, 10.0), "Conductance of the population of Na channels."),
        Parameter("TK", 0.0, "", (0.0, 0.0001), "Threshold value for K channels."),
        Parameter("TCa", -0.01, "", (-0.02, -0.01), "Threshold value for Ca channels."),
        Parameter("TNa", 0.3, "", (0.25, 0.3), "Threshold value for Na channels."),
        Parameter("VCa", 1.0, "", (0.9, 1.1), "Ca Nernst potential."),
        Parameter("VK", -0.7, "", (-0.8, 1.0), "K Nernst potential."),
        Parameter("VL", -0.5, "", (-0.7, -0.4), "Nernst potential of the leak channels."),
        Parameter("VNa", 0.53, "", (0.51, 0.55), "Na Nernst potential."),
        Parameter("d_K", 0.3, "", (0.1, 0.4), "Variance of the K channel threshold."),
        Parameter("tau_K", 1.0, "ms", (1.0, 10.0), "Time constant of the K relaxation."),
        Parameter("d_Na", 0.15, "", (0.1, 0.2), "Variance of the Na channel threshold."),
        Parameter("d_Ca", 0.15, "", (0.1, 0.2), "Variance of the Ca channel threshold."),
        Parameter("aei", 2.0, "", (0.1, 2.0), "Excitatory-to-inhibitory synaptic strength."),
        Parameter("aie", 2.0, "", (0.5, 2.0), "Inhibitory-to-excitatory synaptic strength."),
        Parameter(
            "b", 0.1, "", (0.0001, 1.0), "Time constant scaling factor (original value 0.1)."
        ),
        Parameter(
            "C",
            0.1,
            "",
            (0.0, 1.0),
            "Strength of excitatory coupling: balance between self-excitation (1 - C) and "
            "long-range excitation (C); C = 1 means no self-coupling.",
        ),
        Parameter("ane", 1.0, "", (0.4, 1.0), "Non-specific-to-excitatory synaptic strength."),
        Parameter("ani", 0.4, "", (0.3, 0.5), "Non-specific-to-inhibitory synaptic strength."),
        Parameter("aee", 0.4, "", (0.0, 0.6), "Excitatory-to-excitatory synaptic strength."),
        Parameter(
            "Iext",
            0.3,
            "",
            (0.165, 0.3),
            "Subcortical input strength (non-specific excitation or thalamic input).",
        ),
        Parameter("rNMDA", 0.25, "", (0.2, 0.3), "Ratio of NMDA to AMPA receptors."),
        Parameter("VT", 0.0, "", (0.0, 0.7), "Mean threshold potential of the excitatory neurons."),
        Parameter(
            "d_V",
            0.65,
            "",
            (0.49, 0.7),
            "Variance of the excitatory threshold (main bifurcation parameter of "
            "Breakspear et al. 2003).",
        ),
        Parameter("ZT", 0.0, "", (0.0, 0.1), "Mean threshold potential of the inhibitory neurons."),
        Parameter("d_Z", 0.7, "", (0.001, 0.75), "Variance of the inhibitory threshold."),
        Parameter(
            "QV_max", 1.0, "kHz", (0.1, 1.0), "Maximal firing rate of the excitatory population."
        ),
        Parameter(
            "QZ_max", 1.0, "kHz", (0.1, 1.0), "Maximal firing rate of the inhibitory population."
        ),
        Parameter("t_scale", 1.0, "", (0.1, 1.0), "Time scale factor."),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("m_Ca", "0.5 * (1 + tanh((V - TCa) / d_Ca))"),
        ("m_Na", "0.5 * (1 + tanh((V - TNa) / d_Na))"),
        ("m_K", "0.5 * (1 + tanh((V - TK) / d_K))"),
        ("Q_V", "0.5 * QV_max * (1 + tanh((V - VT) / d_V))"),
        ("Q_Z", "0.5 * QZ_max * (1 + tanh((Z - ZT) / d_Z))"),
    ),
    rhs={
        "V": "t_scale * ("
        "-(gCa + (1.0 - C) * (rNMDA * aee) * Q_V + C * rNMDA * aee * c_0) * m_Ca * (V - VCa)"
        " - gK * W * (V - VK)"
        " - gL * (V - VL)"
        " - (gNa * m_Na + (1.0 - C) * aee * Q_V + C * aee * c_0) * (V - VNa)"
        " - aie * Z * Q_Z"
        " + ane * Iext)",
        "W": "t_scale * phi * (m_K - W) / tau_K",
        "Z": "t_scale * b * (ani * Iext + aei * V * Q_V)",
    },
    variables_of_interest=("V",),
    description=(
        "Larter-Breakspear conductance-based neural mass (modified Morris-Lecar with "
        "an inhibitory population); all quantities are non-dimensional."
    ),
    references=(
        "Breakspear, M., Terry, J. R., Friston, K. J. (2003). Modulation of excitatory "
        "synaptic coupling facilitates synchronization and complex dynamics in a "
        "biophysical model of neuronal dynamics. Network 14(4), 703-732. "
        "doi:10.1088/0954-898X_14_4_305",
        "Larter, R., Speelman, B., Worth, R. M. (1999). A coupled ordinary differential "
        "equation lattice model for the simulation of epileptic seizures. Chaos 9(3), "
        "795-804. doi:10.1063/1.166453",
        "Honey, C. J., Kötter, R., Breakspear, M., Sporns, O. (2007). Network structure "
        "of cerebral cortex shapes functional connectivity on multiple time scales. "
        "PNAS 104(24), 10240-10245. doi:10.1073/pnas.0701519104",
    ),
)

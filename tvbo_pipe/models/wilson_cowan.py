"""Wilson-Cowan excitatory/inhibitory rate model, TVB 2.10's ``WilsonCowan``.

.. math::

    x_e &= \\alpha_e (c_{ee} E - c_{ei} I + P - \\theta_e + c_k), \\quad
    x_i = \\alpha_i (c_{ie} E - c_{ii} I + Q - \\theta_i) \\\\
    \\tau_e \\dot E &= -E + (k_e - r_e E)\\, S_e(x_e), \\quad
    \\tau_i \\dot I = -I + (k_i - r_i I)\\, S_i(x_i)

with the logistic response :math:`S(x) = c / (1 + e^{-a (x - b)})`, shifted
down by its value at 0 (:math:`S(x) - S(0)`, times ``c``) when
``shift_sigmoid`` is true (TVB's default), so that ``E = I = 0`` is a rest state
without input. Only coupling row 0 is used even though TVB declares both ``E``
and ``I`` as coupling variables (``cvar = (0, 1)``).
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _response(x: Array, a: Array, b: Array, c: Array, shift: Array) -> Array:
    """Logistic response ``c/(1+exp(-a(x-b)))``, optionally shifted to 0 at x = 0."""
    shifted = c * (1.0 / (1.0 + jnp.exp(-a * (x - b))) - 1.0 / (1.0 + jnp.exp(-a * -b)))
    plain = c / (1.0 + jnp.exp(-a * (x - b)))
    return jnp.where(jnp.asarray(shift) != 0, shifted, plain)


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``E`` and ``I`` (1/ms)."""
    p = params
    e = state[0]
    i = state[1]
    c_0 = coupling[0]
    x_e = p["alpha_e"] * (p["c_ee"] * e - p["c_ei"] * i + p["P"] - p["theta_e"] + c_0)
    x_i = p["alpha_i"] * (p["c_ie"] * e - p["c_ii"] * i + p["Q"] - p["theta_i"])
    s_e = _response(x_e, p["a_e"], p["b_e"], p["c_e"], p["shift_sigmoid"])
    s_i = _response(x_i, p["a_i"], p["b_i"], p["c_i"], p["shift_sigmoid"])
    de = (-e + (p["k_e"] - p["r_e"] * e) * s_e) / p["tau_e"]
    di = (-i + (p["k_i"] - p["r_i"] * i) * s_i) / p["tau_i"]
    return jnp.stack(jnp.broadcast_arrays(de, di))


_STIM = "Constant intensity; entry point for coupling."

WilsonCowan = Model(
    name="WilsonCowan",
    state_variables=(
        StateVariable(name="E", range=(0.0, 1.0)),
        StateVariable(name="I", range=(0.0, 1.0)),
    ),
    cvar=(0, 1),
    parameters=(
        Parameter("c_ee", 12.0, "", (11.0, 16.0), "Excitatory to excitatory coupling coefficient."),
        Parameter("c_ei", 4.0, "", (2.0, 15.0), "Inhibitory to excitatory coupling coefficient."),
        Parameter("c_ie", 13.0, "", (2.0, 22.0), "Excitatory to inhibitory coupling coefficient."),
        Parameter("c_ii", 11.0, "", (2.0, 15.0), "Inhibitory to inhibitory coupling coefficient."),
        Parameter(
            "tau_e", 10.0, "ms", (0.0, 150.0), "Excitatory population membrane time constant."
        ),
        Parameter(
            "tau_i", 10.0, "ms", (0.0, 150.0), "Inhibitory population membrane time constant."
        ),
        Parameter("a_e", 1.2, "", (0.0, 1.4), "Slope of the excitatory response function."),
        Parameter(
            "b_e",
            2.8,
            "",
            (1.4, 6.0),
            "Position of the maximum slope of the excitatory response function.",
        ),
        Parameter("c_e", 1.0, "", (1.0, 20.0), "Amplitude of the excitatory response function."),
        Parameter("theta_e", 0.0, "", (0.0, 60.0), "Excitatory threshold."),
        Parameter("a_i", 1.0, "", (0.0, 2.0), "Slope of the inhibitory response function."),
        Parameter(
            "b_i",
            4.0,
            "",
            (2.0, 6.0),
            "Position of the maximum slope of the inhibitory response function (threshold units).",
        ),
        Parameter("theta_i", 0.0, "", (0.0, 60.0), "Inhibitory threshold."),
        Parameter("c_i", 1.0, "", (1.0, 20.0), "Amplitude of the inhibitory response function."),
        Parameter("r_e", 1.0, "", (0.5, 2.0), "Excitatory refractory period."),
        Parameter("r_i", 1.0, "", (0.5, 2.0), "Inhibitory refractory period."),
        Parameter("k_e", 1.0, "", (0.5, 2.0), "Maximum value of the excitatory response function."),
        Parameter("k_i", 1.0, "", (0.0, 2.0), "Maximum value of the inhibitory response function."),
        Parameter(
            "P", 0.0, "", (0.0, 20.0), "External stimulus to the excitatory population. " + _STIM
        ),
        Parameter(
            "Q", 0.0, "", (0.0, 20.0), "External stimulus to the inhibitory population. " + _STIM
        ),
        Parameter(
            "alpha_e",
            1.0,
            "",
            (0.0, 20.0),
            "Gain on the total input to the excitatory population (TVB documents it as an "
            "external stimulus).",
        ),
        Parameter(
            "alpha_i",
            1.0,
            "",
            (0.0, 20.0),
            "Gain on the total input to the inhibitory population (TVB documents it as an "
            "external stimulus).",
        ),
        Parameter(
            "shift_sigmoid",
            1.0,
            "",
            None,
            "Boolean: translate the logistic curves down so that S(0) = 0, making "
            "E = I = 0 a rest state without input.",
            boolean=True,
        ),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("x_e", "alpha_e * (c_ee * E - c_ei * I + P - theta_e + c_0)"),
        ("x_i", "alpha_i * (c_ie * E - c_ii * I + Q - theta_i)"),
        (
            "S_e",
            "where(shift_sigmoid != 0,"
            " c_e * (1.0 / (1.0 + exp(-a_e * (x_e - b_e))) - 1.0 / (1.0 + exp(-a_e * -b_e))),"
            " c_e / (1.0 + exp(-a_e * (x_e - b_e))))",
        ),
        (
            "S_i",
            "where(shift_sigmoid != 0,"
            " c_i * (1.0 / (1.0 + exp(-a_i * (x_i - b_i))) - 1.0 / (1.0 + exp(-a_i * -b_i))),"
            " c_i / (1.0 + exp(-a_i * (x_i - b_i))))",
        ),
    ),
    rhs={
        "E": "(-E + (k_e - r_e * E) * S_e) / tau_e",
        "I": "(-I + (k_i - r_i * I) * S_i) / tau_i",
    },
    variables_of_interest=("E",),
    description=(
        "Wilson-Cowan model of interacting excitatory (E) and inhibitory (I) "
        "populations with sigmoidal response functions; long-range input enters E."
    ),
    references=(
        "Wilson, H. R., Cowan, J. D. (1972). Excitatory and inhibitory interactions in "
        "localized populations of model neurons. Biophys J 12(1), 1-24. "
        "doi:10.1016/S0006-3495(72)86068-5",
        "Wilson, H. R., Cowan, J. D. (1973). A mathematical theory of the functional "
        "dynamics of cortical and thalamic nervous tissue. Kybernetik 13(2), 55-80. "
        "doi:10.1007/BF00288786",
    ),
)

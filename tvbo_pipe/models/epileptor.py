"""Epileptor (Jirsa et al. 2014), TVB 2.10's six-dimensional ``Epileptor``.

.. math::

    \\dot x_1 &= t_t\\,(y_1 - z + I_{ext} + K_{vf} c_1 + f_1(x_1, x_2, z)\\, x_1) \\\\
    \\dot y_1 &= t_t\\,(c - d x_1^2 - y_1) \\\\
    \\dot z &= t_t\\, r\\,(h(x_1, z) - z + K_s c_1) \\\\
    \\dot x_2 &= t_t\\,(-y_2 + x_2 - x_2^3 + I_{ext2} + b_b g - 0.3 (z - 3.5) + K_f c_2) \\\\
    \\dot y_2 &= t_t\\,(-y_2 + f_2(x_2)) / \\tau \\\\
    \\dot g &= t_t\\,(-0.01 (g - 0.1 x_1))

with :math:`f_1 = -a x_1^2 + b x_1` if :math:`x_1 < 0` else
:math:`\\mathrm{slope} - x_2 + 0.6 (z - 4)^2`;
:math:`f_2 = 0` if :math:`x_2 < -0.25` else :math:`a_a (x_2 + 0.25)`;
:math:`h = 4 (x_1 - x_0) - 0.1 z^7 [z < 0]`, or, when ``modification`` is true,
:math:`h = x_0 + 3 / (1 + e^{-(x_1 + 0.5)/0.1})`.

Coupling variables are ``x1`` and ``x2`` (``cvar = (0, 3)``): row 0
(:math:`c_1`, TVB's ``c_pop1``) enters ``x1`` (scaled by ``Kvf``) and ``z``
(``Ks``), row 1 (:math:`c_2`, ``c_pop2``) enters ``x2`` (``Kf``). TVB declares
``s`` but hard-codes the factor 4 in ``h``; we do the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``x1, y1, z, x2, y2, g`` (per ms)."""
    p = params
    x1, y1, z, x2, y2, g = (state[i] for i in range(6))
    c_pop1 = coupling[0]
    c_pop2 = coupling[1]
    tt = p["tt"]

    # population 1
    f1 = jnp.where(
        x1 < 0.0,
        -p["a"] * x1**2 + p["b"] * x1,
        p["slope"] - x2 + 0.6 * (z - 4.0) ** 2,
    )
    dx1 = tt * (y1 - z + p["Iext"] + p["Kvf"] * c_pop1 + f1 * x1)
    dy1 = tt * (p["c"] - p["d"] * x1**2 - y1)

    # energy (slow permittivity variable)
    h_linear = 4 * (x1 - p["x0"]) + jnp.where(z < 0.0, -0.1 * z**7, 0.0)
    h_sigmoid = p["x0"] + 3.0 / (1.0 + jnp.exp(-(x1 + 0.5) / 0.1))
    h = jnp.where(jnp.asarray(p["modification"]) != 0, h_sigmoid, h_linear)
    dz = tt * (p["r"] * (h - z + p["Ks"] * c_pop1))

    # population 2
    dx2 = tt * (-y2 + x2 - x2**3 + p["Iext2"] + p["bb"] * g - 0.3 * (z - 3.5) + p["Kf"] * c_pop2)
    f2 = jnp.where(x2 < -0.25, 0.0, p["aa"] * (x2 + 0.25))
    dy2 = tt * ((-y2 + f2) / p["tau"])

    # low-pass filter
    dg = tt * (-0.01 * (g - 0.1 * x1))

    return jnp.stack(jnp.broadcast_arrays(dx1, dy1, dz, dx2, dy2, dg))


Epileptor = Model(
    name="Epileptor",
    state_variables=(
        StateVariable(name="x1", range=(-2.0, 1.0)),
        StateVariable(name="y1", range=(-20.0, 2.0)),
        StateVariable(name="z", range=(2.0, 5.0)),
        StateVariable(name="x2", range=(-2.0, 0.0)),
        StateVariable(name="y2", range=(0.0, 2.0)),
        StateVariable(name="g", range=(-1.0, 1.0)),
    ),
    cvar=(0, 3),
    parameters=(
        Parameter("a", 1.0, "", None, "Coefficient of the cubic term in the first state variable."),
        Parameter(
            "b", 3.0, "", None, "Coefficient of the squared term in the first state variable."
        ),
        Parameter(
            "c",
            1.0,
            "",
            None,
            "Additive coefficient for the second state variable (y_0 in Jirsa et al. 2014).",
        ),
        Parameter(
            "d", 5.0, "", None, "Coefficient of the squared term in the second state variable."
        ),
        Parameter(
            "r",
            0.00035,
            "1/ms",
            (0.0, 0.001),
            "Temporal scaling in the third state variable (1/tau_0 in Jirsa et al. 2014).",
        ),
        Parameter(
            "s",
            4.0,
            "",
            None,
            "Linear coefficient in the third state variable (declared by TVB, which "
            "hard-codes 4; unused by dfun).",
        ),
        Parameter("x0", -1.6, "", (-3.0, -1.0), "Epileptogenicity parameter."),
        Parameter("Iext", 3.1, "", (1.5, 5.0), "External input current to the first population."),
        Parameter(
            "slope", 0.0, "", (-16.0, 6.0), "Linear coefficient in the first state variable."
        ),
        Parameter(
            "Iext2", 0.45, "", (0.0, 1.0), "External input current to the second population."
        ),
        Parameter(
            "tau", 10.0, "", None, "Temporal scaling coefficient in the fifth state variable."
        ),
        Parameter("aa", 6.0, "", None, "Linear coefficient in the fifth state variable."),
        Parameter(
            "bb",
            2.0,
            "",
            None,
            "Linear coefficient of the low-pass excitatory coupling in the fourth state variable.",
        ),
        Parameter("Kvf", 0.0, "", (0.0, 4.0), "Coupling scaling on a very fast time scale."),
        Parameter("Kf", 0.0, "", (0.0, 4.0), "Coupling scaling on a fast time scale."),
        Parameter(
            "Ks",
            0.0,
            "",
            (-4.0, 4.0),
            "Permittivity coupling, from the fast time scale toward the slow time scale.",
        ),
        Parameter("tt", 1.0, "", (0.001, 10.0), "Time scaling of the whole system."),
        Parameter(
            "modification",
            0.0,
            "",
            None,
            "Boolean: use the nonlinear (sigmoidal) influence of x1 on z instead of the "
            "linear one (Proix et al. 2014).",
            boolean=True,
        ),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("f1", "where(x1 < 0.0, -a * x1**2 + b * x1, slope - x2 + 0.6 * (z - 4.0) ** 2)"),
        ("h_linear", "4 * (x1 - x0) + where(z < 0.0, -0.1 * z**7, 0.0)"),
        ("h_sigmoid", "x0 + 3.0 / (1.0 + exp(-(x1 + 0.5) / 0.1))"),
        ("h", "where(modification != 0, h_sigmoid, h_linear)"),
        ("f2", "where(x2 < -0.25, 0.0, aa * (x2 + 0.25))"),
    ),
    rhs={
        "x1": "tt * (y1 - z + Iext + Kvf * c_0 + f1 * x1)",
        "y1": "tt * (c - d * x1**2 - y1)",
        "z": "tt * (r * (h - z + Ks * c_0))",
        "x2": "tt * (-y2 + x2 - x2**3 + Iext2 + bb * g - 0.3 * (z - 3.5) + Kf * c_1)",
        "y2": "tt * ((-y2 + f2) / tau)",
        "g": "tt * (-0.01 * (g - 0.1 * x1))",
    },
    variables_of_interest=("x2 - x1", "z"),
    description=(
        "Epileptor: six-dimensional phenomenological model of seizure onset, "
        "propagation and offset, with a fast (x1, y1) and a spike-wave (x2, y2) "
        "subsystem driven by a slow permittivity variable z."
    ),
    references=(
        "Jirsa, V. K., Stacey, W. C., Quilichini, P. P., Ivanov, A. I., Bernard, C. "
        "(2014). On the nature of seizure dynamics. Brain 137(8), 2210-2230. "
        "doi:10.1093/brain/awu133",
        "Proix, T., Bartolomei, F., Chauvel, P., Bernard, C., Jirsa, V. K. (2014). "
        "Permittivity coupling across brain regions determines seizure recruitment in "
        "partial epilepsy. J Neurosci 34(45), 15009-15021. "
        "doi:10.1523/JNEUROSCI.1570-14.2014",
    ),
)

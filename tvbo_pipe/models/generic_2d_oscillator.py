"""Generic 2D oscillator (FitzHugh-Nagumo-like), TVB 2.10's ``Generic2dOscillator``.

.. math::

    \\dot V &= d\\,\\tau\\,(\\alpha W - f V^3 + e V^2 + g V + \\gamma I + \\gamma c_k) \\\\
    \\dot W &= \\frac{d}{\\tau}\\,(a + b V + c V^2 - \\beta W)

A cubic nullcline for ``V`` and a configurable (up to quadratic) nullcline for
``W``; the long-range input :math:`c_k` enters ``V`` scaled by ``gamma``.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``V`` and ``W`` (per ms)."""
    p = params
    v = state[0]
    w = state[1]
    c_0 = coupling[0]
    v2 = v * v
    dv = (
        p["d"]
        * p["tau"]
        * (
            p["alpha"] * w
            - p["f"] * v2 * v
            + p["e"] * v2
            + p["g"] * v
            + p["gamma"] * p["I"]
            + p["gamma"] * c_0
        )
    )
    dw = p["d"] * (p["a"] + p["b"] * v + p["c"] * v2 - p["beta"] * w) / p["tau"]
    return jnp.stack(jnp.broadcast_arrays(dv, dw))


Generic2dOscillator = Model(
    name="Generic2dOscillator",
    state_variables=(
        StateVariable(name="V", range=(-2.0, 4.0)),
        StateVariable(name="W", range=(-6.0, 6.0)),
    ),
    cvar=(0,),
    parameters=(
        Parameter(
            "tau",
            1.0,
            "",
            (1.0, 5.0),
            "Time-scale hierarchy between V and W; 1 means no hierarchy.",
        ),
        Parameter("I", 0.0, "", (-5.0, 5.0), "Baseline shift of the cubic nullcline."),
        Parameter("a", -2.0, "", (-5.0, 5.0), "Vertical shift of the configurable nullcline."),
        Parameter("b", -10.0, "", (-20.0, 15.0), "Linear slope of the configurable nullcline."),
        Parameter("c", 0.0, "", (-10.0, 10.0), "Parabolic term of the configurable nullcline."),
        Parameter(
            "d",
            0.02,
            "",
            (0.0001, 1.0),
            "Temporal scale factor (sets the speed of the oscillator).",
        ),
        Parameter(
            "e", 3.0, "", (-5.0, 5.0), "Coefficient of the quadratic term of the cubic nullcline."
        ),
        Parameter(
            "f", 1.0, "", (-5.0, 5.0), "Coefficient of the cubic term of the cubic nullcline."
        ),
        Parameter(
            "g", 0.0, "", (-5.0, 5.0), "Coefficient of the linear term of the cubic nullcline."
        ),
        Parameter(
            "alpha",
            1.0,
            "",
            (-5.0, 5.0),
            "Rate of feedback from the slow variable W to the fast variable V.",
        ),
        Parameter(
            "beta", 1.0, "", (-5.0, 5.0), "Rate of feedback from the slow variable W to itself."
        ),
        Parameter(
            "gamma",
            1.0,
            "",
            (-1.0, 1.0),
            "Scales both I and the long-range coupling term (negative for FHN-like "
            "dynamics with negative excitatory input).",
        ),
    ),
    dfun=_dfun,
    auxiliaries=(("V2", "V * V"),),
    rhs={
        "V": "d * tau * (alpha * W - f * V2 * V + e * V2 + g * V + gamma * I + gamma * c_0)",
        "W": "d * (a + b * V + c * V2 - beta * W) / tau",
    },
    variables_of_interest=("V",),
    description=(
        "Generic planar oscillator with a cubic V-nullcline and a configurable "
        "quadratic W-nullcline; with TVB defaults it is an excitable "
        "FitzHugh-Nagumo-like system."
    ),
    references=(
        "Sanz-Leon, P., Knock, S. A., Spiegler, A., Jirsa, V. K. (2015). Mathematical "
        "framework for large-scale brain network modeling in The Virtual Brain. "
        "NeuroImage 111, 385-430. doi:10.1016/j.neuroimage.2015.01.002",
        "FitzHugh, R. (1961). Impulses and physiological states in theoretical models "
        "of nerve membrane. Biophys J 1(6), 445-466. doi:10.1016/S0006-3495(61)86902-6",
        "Nagumo, J., Arimoto, S., Yoshizawa, S. (1962). An active pulse transmission "
        "line simulating nerve axon. Proc IRE 50(10), 2061-2070. "
        "doi:10.1109/JRPROC.1962.288235",
    ),
)

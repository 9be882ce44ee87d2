"""Normal form of a supercritical Hopf bifurcation, TVB 2.10's ``SupHopf``.

.. math::

    \\dot x &= (a - x^2 - y^2)\\,x - \\omega y + c_{0,k} \\\\
    \\dot y &= (a - x^2 - y^2)\\,y + \\omega x + c_{1,k}

Both state variables couple (``cvar = (0, 1)``); coupling row 0 drives ``x``
and row 1 drives ``y``. ``a < 0``: damped oscillations to a stable focus;
``a > 0``: limit cycle of radius :math:`\\sqrt{a}`.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``x`` and ``y`` (per ms)."""
    p = params
    x = state[0]
    y = state[1]
    dx = (p["a"] - x**2 - y**2) * x - p["omega"] * y + coupling[0]
    dy = (p["a"] - x**2 - y**2) * y + p["omega"] * x + coupling[1]
    return jnp.stack(jnp.broadcast_arrays(dx, dy))


SupHopf = Model(
    name="SupHopf",
    state_variables=(
        StateVariable(name="x", range=(-5.0, 5.0)),
        StateVariable(name="y", range=(-5.0, 5.0)),
    ),
    cvar=(0, 1),
    parameters=(
        Parameter("a", -0.5, "", (-10.0, 10.0), "Local bifurcation parameter."),
        Parameter("omega", 1.0, "rad/ms", (0.05, 630.0), "Angular frequency."),
    ),
    dfun=_dfun,
    rhs={
        "x": "(a - x**2 - y**2) * x - omega * y + c_0",
        "y": "(a - x**2 - y**2) * y + omega * x + c_1",
    },
    variables_of_interest=("x",),
    description=(
        "Stuart-Landau oscillator (supercritical Hopf normal form in Cartesian "
        "coordinates); the bifurcation parameter a switches between a damped "
        "focus (a < 0) and a limit cycle (a > 0)."
    ),
    references=(
        "Deco, G., Kringelbach, M. L., Jirsa, V. K., Ritter, P. (2017). The dynamics "
        "of resting fluctuations in the brain: metastability and its dynamical "
        "cortical core. Sci Rep 7, 3095. doi:10.1038/s41598-017-03073-5",
        "Kuznetsov, Y. A. (2004). Elements of Applied Bifurcation Theory, 3rd ed. "
        "Springer. doi:10.1007/978-1-4757-3978-7",
    ),
)

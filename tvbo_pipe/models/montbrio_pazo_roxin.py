"""Montbrió-Pazó-Roxin mean field of QIF neurons, TVB 2.10's ``MontbrioPazoRoxin``.

Exact (Ott-Antonsen) reduction of an infinite population of all-to-all coupled
quadratic integrate-and-fire neurons with Lorentzian-distributed excitabilities:

.. math::

    \\dot r &= \\frac{1}{\\tau}\\left(\\frac{\\Delta}{\\pi\\tau} + 2 V r\\right) \\\\
    \\dot V &= \\frac{1}{\\tau}\\left(V^2 - \\pi^2\\tau^2 r^2 + \\eta + J\\tau r + I
        + c_r C_{r,k} + c_v C_{V,k}\\right)

Both ``r`` and ``V`` couple (``cvar = (0, 1)``): coupling row 0 is the input
through the firing rate, row 1 through the membrane potential, weighted by
``cr`` and ``cv``. ``Gamma`` is declared by TVB but unused by its equations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``r`` and ``V`` (per unit of time, ms in TVB)."""
    p = params
    r = state[0]
    v = state[1]
    tau = p["tau"]
    dr = 1 / tau * (p["Delta"] / (math.pi * tau) + 2 * v * r)
    dv = (
        1
        / tau
        * (
            v**2
            - math.pi**2 * tau**2 * r**2
            + p["eta"]
            + p["J"] * tau * r
            + p["I"]
            + p["cr"] * coupling[0]
            + p["cv"] * coupling[1]
        )
    )
    return jnp.stack(jnp.broadcast_arrays(dr, dv))


MontbrioPazoRoxin = Model(
    name="MontbrioPazoRoxin",
    state_variables=(
        StateVariable(name="r", range=(0.0, 2.0), boundaries=(0.0, None)),
        StateVariable(name="V", range=(-2.0, 1.5)),
    ),
    cvar=(0, 1),
    parameters=(
        Parameter("tau", 1.0, "ms", (0.001, 15.0), "Characteristic (membrane) time constant."),
        Parameter("I", 0.0, "", (-10.0, 10.0), "External current."),
        Parameter(
            "Delta",
            1.0,
            "",
            (0.0, 10.0),
            "Half-width of the Lorentzian distribution of excitabilities (TVB: mean "
            "heterogeneous noise).",
        ),
        Parameter("J", 15.0, "", (-25.0, 25.0), "Mean synaptic weight."),
        Parameter(
            "eta",
            -5.0,
            "",
            (-10.0, 10.0),
            "Centre of the distribution of excitabilities (mean external drive).",
        ),
        Parameter(
            "Gamma",
            0.0,
            "",
            (0.0, 10.0),
            "Half-width of synaptic weight distribution (unused by dfun).",
        ),
        Parameter("cr", 1.0, "", (0.0, 1.0), "Weight of the coupling through the firing rate r."),
        Parameter(
            "cv", 0.0, "", (0.0, 1.0), "Weight of the coupling through the membrane potential V."
        ),
    ),
    dfun=_dfun,
    rhs={
        "r": "1 / tau * (Delta / (pi * tau) + 2 * V * r)",
        "V": "1 / tau * (V**2 - pi**2 * tau**2 * r**2 + eta + J * tau * r + I + cr * c_0"
        " + cv * c_1)",
    },
    variables_of_interest=("r", "V"),
    description=(
        "Next-generation neural mass: exact mean-field (firing rate r, mean membrane "
        "potential V) of infinitely many quadratic integrate-and-fire neurons."
    ),
    references=(
        "Montbrió, E., Pazó, D., Roxin, A. (2015). Macroscopic description for networks "
        "of spiking neurons. Phys Rev X 5(2), 021028. doi:10.1103/PhysRevX.5.021028",
    ),
)

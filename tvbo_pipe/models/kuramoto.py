"""Kuramoto phase oscillator, TVB 2.10's ``Kuramoto`` model.

.. math::

    \\dot\\theta_k = \\omega_k + c_k

The phase is not wrapped (TVB does not wrap it either); the interaction
:math:`c_k` normally comes from the ``Kuramoto`` coupling function
(:math:`a\\sum_j w_{kj}\\sin(\\theta_j - \\theta_k)`, see
:mod:`tvbo_pipe.sim.coupling`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivative of the phase ``theta`` (rad/ms)."""
    dtheta = params["omega"] + coupling[0]
    return jnp.broadcast_to(dtheta, state[0].shape)[None]


Kuramoto = Model(
    name="Kuramoto",
    state_variables=(StateVariable(name="theta", range=(0.0, 2.0 * math.pi), unit="rad"),),
    cvar=(0,),
    parameters=(
        Parameter(
            "omega",
            1.0,
            "rad/ms",
            (0.01, 200.0),
            "Base line (natural) angular frequency of the oscillator.",
        ),
    ),
    dfun=_dfun,
    rhs={"theta": "omega + c_0"},
    variables_of_interest=("theta",),
    description=(
        "Kuramoto phase oscillator: each node advances its phase at its natural "
        "frequency omega plus the long-range (phase-difference) input."
    ),
    references=(
        "Kuramoto, Y. (1975). Self-entrainment of a population of coupled non-linear "
        "oscillators. In: Araki, H. (ed.) International Symposium on Mathematical "
        "Problems in Theoretical Physics, Lecture Notes in Physics 39, 420-422. "
        "doi:10.1007/BFb0013365",
        "Strogatz, S. H. (2000). From Kuramoto to Crawford: exploring the onset of "
        "synchronization in populations of coupled oscillators. Physica D 143, 1-20. "
        "doi:10.1016/S0167-2789(00)00094-4",
        "Cabral, J., Hugues, E., Sporns, O., Deco, G. (2011). Role of local network "
        "oscillations in resting-state functional connectivity. NeuroImage 57(1), "
        "130-139. doi:10.1016/j.neuroimage.2011.04.010",
    ),
)

"""Jansen-Rit cortical column model, TVB 2.10's ``JansenRit``.

Three populations (pyramidal cells, excitatory and inhibitory interneurons)
with second-order synaptic kernels. With the sigmoid
:math:`S(v) = 2\\nu_{max} / (1 + e^{r (v_0 - v)})`:

.. math::

    \\dot y_0 &= y_3, \\quad \\dot y_1 = y_4, \\quad \\dot y_2 = y_5 \\\\
    \\dot y_3 &= A a\\, S(y_1 - y_2) - 2 a y_3 - a^2 y_0 \\\\
    \\dot y_4 &= A a\\,(\\mu + a_2 J\\, S(a_1 J y_0) + c_k) - 2 a y_4 - a^2 y_1 \\\\
    \\dot y_5 &= B b\\,(a_4 J\\, S(a_3 J y_0)) - 2 b y_5 - b^2 y_2

Coupling variables are ``y1`` and ``y2`` (``cvar = (1, 2)``) but ``dfun`` reads a
single coupling row: :math:`c_k`, usually :math:`\\sum_j w_{kj} S(y_{1,j} - y_{2,j})`
from the ``SigmoidalJansenRit`` coupling, enters the excitatory interneuron
input (row ``y4``). ``p_min`` and ``p_max`` are declared by TVB but unused.
"""

from __future__ import annotations

from collections.abc import Mapping

from tvbo_pipe.models.base import Array, Model, Parameter, StateVariable
from tvbo_pipe.models.lazy_jax import jnp


def _sigmoid(v: Array, params: Mapping[str, Array]) -> Array:
    """Potential-to-rate sigmoid S(v) (1/ms) of a membrane potential ``v`` (mV)."""
    return 2.0 * params["nu_max"] / (1.0 + jnp.exp(params["r"] * (params["v0"] - v)))


def _dfun(state: Array, coupling: Array, params: Mapping[str, Array]) -> Array:
    """Time derivatives of ``y0..y2`` (mV/ms) and ``y3..y5`` (mV/ms^2)."""
    p = params
    y0, y1, y2, y3, y4, y5 = (state[i] for i in range(6))
    c_0 = coupling[0]
    a, b = p["a"], p["b"]
    s_y1_y2 = _sigmoid(y1 - y2, p)
    s_y0_1 = _sigmoid(p["a_1"] * p["J"] * y0, p)
    s_y0_3 = _sigmoid(p["a_3"] * p["J"] * y0, p)
    dy3 = p["A"] * a * s_y1_y2 - 2.0 * a * y3 - a**2 * y0
    dy4 = p["A"] * a * (p["mu"] + p["a_2"] * p["J"] * s_y0_1 + c_0) - 2.0 * a * y4 - a**2 * y1
    dy5 = p["B"] * b * (p["a_4"] * p["J"] * s_y0_3) - 2.0 * b * y5 - b**2 * y2
    return jnp.stack(jnp.broadcast_arrays(y3, y4, y5, dy3, dy4, dy5))


JansenRit = Model(
    name="JansenRit",
    state_variables=(
        StateVariable(name="y0", range=(-1.0, 1.0), unit="mV"),
        StateVariable(name="y1", range=(-500.0, 500.0), unit="mV"),
        StateVariable(name="y2", range=(-50.0, 50.0), unit="mV"),
        StateVariable(name="y3", range=(-6.0, 6.0), unit="mV/ms"),
        StateVariable(name="y4", range=(-20.0, 20.0), unit="mV/ms"),
        StateVariable(name="y5", range=(-500.0, 500.0), unit="mV/ms"),
    ),
    cvar=(1, 2),
    n_coupling=1,
    parameters=(
        Parameter(
            "A",
            3.25,
            "mV",
            (2.6, 9.75),
            "Maximum amplitude of EPSP (average excitatory synaptic gain).",
        ),
        Parameter(
            "B",
            22.0,
            "mV",
            (17.6, 110.0),
            "Maximum amplitude of IPSP (average inhibitory synaptic gain).",
        ),
        Parameter(
            "a",
            0.1,
            "1/ms",
            (0.05, 0.15),
            "Reciprocal of the excitatory synaptic time constant (passive membrane and "
            "dendritic delays).",
        ),
        Parameter(
            "b",
            0.05,
            "1/ms",
            (0.025, 0.075),
            "Reciprocal of the inhibitory synaptic time constant (passive membrane and "
            "dendritic delays).",
        ),
        Parameter(
            "v0",
            5.52,
            "mV",
            (3.12, 6.0),
            "Firing threshold: potential at which the sigmoid gives 50% of the maximal rate.",
        ),
        Parameter(
            "nu_max",
            0.0025,
            "1/ms",
            (0.00125, 0.00375),
            "Maximum firing rate of the neural population (the sigmoid saturates at 2 nu_max).",
        ),
        Parameter("r", 0.56, "1/mV", (0.28, 0.84), "Steepness of the sigmoidal transformation."),
        Parameter(
            "J", 135.0, "", (65.0, 1350.0), "Average number of synapses between populations."
        ),
        Parameter(
            "a_1",
            1.0,
            "",
            (0.5, 1.5),
            "Average probability of synaptic contacts in the feedback excitatory loop.",
        ),
        Parameter(
            "a_2",
            0.8,
            "",
            (0.4, 1.2),
            "Average probability of synaptic contacts in the slow feedback excitatory loop.",
        ),
        Parameter(
            "a_3",
            0.25,
            "",
            (0.125, 0.375),
            "Average probability of synaptic contacts in the feedback inhibitory loop.",
        ),
        Parameter(
            "a_4",
            0.25,
            "",
            (0.125, 0.375),
            "Average probability of synaptic contacts in the slow feedback inhibitory loop.",
        ),
        Parameter(
            "p_min", 0.12, "1/ms", (0.0, 0.12), "Minimum input firing rate (unused by dfun)."
        ),
        Parameter(
            "p_max", 0.32, "1/ms", (0.0, 0.32), "Maximum input firing rate (unused by dfun)."
        ),
        Parameter("mu", 0.22, "1/ms", (0.0, 0.22), "Mean input firing rate."),
    ),
    dfun=_dfun,
    auxiliaries=(
        ("S_y1_y2", "2.0 * nu_max / (1.0 + exp(r * (v0 - (y1 - y2))))"),
        ("S_y0_1", "2.0 * nu_max / (1.0 + exp(r * (v0 - a_1 * J * y0)))"),
        ("S_y0_3", "2.0 * nu_max / (1.0 + exp(r * (v0 - a_3 * J * y0)))"),
    ),
    rhs={
        "y0": "y3",
        "y1": "y4",
        "y2": "y5",
        "y3": "A * a * S_y1_y2 - 2.0 * a * y3 - a**2 * y0",
        "y4": "A * a * (mu + a_2 * J * S_y0_1 + c_0) - 2.0 * a * y4 - a**2 * y1",
        "y5": "B * b * (a_4 * J * S_y0_3) - 2.0 * b * y5 - b**2 * y2",
    },
    variables_of_interest=("y0", "y1", "y2", "y3"),
    description=(
        "Jansen-Rit neural mass model of a cortical column (pyramidal cells, "
        "excitatory and inhibitory interneurons); y1 - y2 is the pyramidal "
        "membrane potential, the usual EEG proxy."
    ),
    references=(
        "Jansen, B. H., Rit, V. G. (1995). Electroencephalogram and visual evoked "
        "potential generation in a mathematical model of coupled cortical columns. "
        "Biol Cybern 73(4), 357-366. doi:10.1007/BF00199471",
    ),
)

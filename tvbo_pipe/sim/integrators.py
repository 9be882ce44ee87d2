"""Fixed-step integrators with TVB's schemes: Euler, Heun, RK4.

Each scheme advances ``x`` (``(n_state_variables, n_nodes)``) by one step of
``dt`` ms, with the long-range coupling held fixed during the step (as TVB
does). ``f(x)`` is the model's derivative with coupling and parameters bound.

Noise is additive: ``noise`` is the whole increment of the step (already
scaled by ``sqrt(dt)`` and the amplitude, see :mod:`tvbo_pipe.sim.noise`),
added as TVB's stochastic schemes add it (Euler-Maruyama; for Heun the same
increment enters the predictor and the corrector; RK4 has no stochastic
variant in TVB, here the increment is added once per step, an order-0.5
scheme). ``stimulus`` (``(n_sv, n_nodes)`` or 0) enters as ``dt * stimulus``.

After every stage the state is clamped to the model's state-variable
boundaries (TVB's ``bound_and_clamp``), with a ``jnp.where`` clamp (cheaper
than ``jnp.clip`` inside scans, see PERFORMANCE_NOTES).

References:
    TVB ``tvb.simulator.integrators`` (EulerDeterministic/Stochastic,
    HeunDeterministic/Stochastic, RungeKutta4thOrderDeterministic).
    Kloeden PE, Platen E (1992). Numerical Solution of Stochastic Differential
    Equations. Springer. doi:10.1007/978-3-662-12616-5
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

Array = jnp.ndarray
Bounds = tuple[Array, Array] | None
Scheme = Callable[..., Array]

#: Order of convergence of each deterministic scheme (checked in tests).
ORDER = {"Euler": 1, "Heun": 2, "RK4": 4}


def clamp(x: Array, bounds: Bounds) -> Array:
    """Clamp rows of ``x`` to ``bounds = (low, high)`` (each ``(n_sv, 1)``, ±inf = open)."""
    if bounds is None:
        return x
    lo, hi = bounds
    x = jnp.where(x < lo, lo, x)
    return jnp.where(x > hi, hi, x)


def euler(f, x, dt, *, noise=0.0, stimulus=0.0, bounds: Bounds = None) -> Array:
    """Forward Euler (Euler-Maruyama with noise): ``x + dt (f(x) + I) + dW``."""
    return clamp(x + dt * (f(x) + stimulus) + noise, bounds)


def heun(f, x, dt, *, noise=0.0, stimulus=0.0, bounds: Bounds = None) -> Array:
    """Heun's predictor-corrector (TVB's HeunDeterministic / HeunStochastic)."""
    k1 = f(x)
    inter = clamp(x + dt * (k1 + stimulus) + noise, bounds)
    return clamp(x + 0.5 * dt * (k1 + f(inter)) + noise + dt * stimulus, bounds)


def rk4(f, x, dt, *, noise=0.0, stimulus=0.0, bounds: Bounds = None) -> Array:
    """Classical 4th-order Runge-Kutta (TVB's RungeKutta4thOrderDeterministic)."""
    k1 = f(x)
    k2 = f(clamp(x + 0.5 * dt * k1, bounds))
    k3 = f(clamp(x + 0.5 * dt * k2, bounds))
    k4 = f(clamp(x + dt * k3, bounds))
    return clamp(x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4) + dt * stimulus + noise, bounds)


SCHEMES: dict[str, Scheme] = {"Euler": euler, "Heun": heun, "RK4": rk4}


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(f"unknown integrator {name!r}; valid: {', '.join(SCHEMES)}") from None

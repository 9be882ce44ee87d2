"""Additive white noise, drawn inside the time loop from a key.

The increment of step ``t`` (absolute step number, 1-based) is drawn from
``fold_in(key, t)``: no ``(steps x nodes)`` array is ever built, memory does
not grow with the run, and the realisation does not depend on how the loop
is chunked or checkpointed.

Conventions for the amplitude (per state variable):

- ``sigma`` (tvboptim, most papers): increment ``sigma * sqrt(dt) * N(0, 1)``,
- ``tvb`` (TVB's ``Additive(nsig)``): increment ``sqrt(2 nsig) * sqrt(dt) * N(0, 1)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np


def increment_scale(
    sigma: float | Mapping[str, float],
    convention: str,
    state_variables: Sequence[str],
    dt: float,
) -> np.ndarray:
    """Standard deviation of each state variable's increment per step, ``(n_sv, 1)``."""
    if isinstance(sigma, Mapping):
        amp = np.array([float(sigma.get(v, 0.0)) for v in state_variables])
    else:
        amp = np.full(len(state_variables), float(sigma))
    if convention == "tvb":
        amp = np.sqrt(2.0 * amp)
    elif convention != "sigma":
        raise ValueError(f"unknown noise convention {convention!r}; valid: sigma, tvb")
    return (amp * np.sqrt(dt))[:, None]


def draw(key: jax.Array, step: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """Standard normal numbers of step ``step``, reproducible whatever the chunking."""
    return jax.random.normal(jax.random.fold_in(key, step), shape, dtype)

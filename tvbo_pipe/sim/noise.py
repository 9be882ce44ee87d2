"""Additive white noise, addressable by absolute step.

The standard normal numbers of step ``t`` (absolute step number, 1-based)
are a function of the key, ``t`` and the element index only: each pair of
numbers comes from one Threefry-2x32 block whose counter is
``(element pair, t)``. So the realisation does not depend on how the time
loop is chunked, checkpointed or continued, no ``(steps x nodes)`` array is
built for a whole run, and the loop may draw the numbers of many steps at
once (which is what makes noise cheap on a CPU: per-step draws cost more
than the model itself, see PERFORMANCE_NOTES).

Numbers are generated in float32 (Threefry bits -> uniform -> inverse error
function, as ``jax.random.normal`` does) and cast to the simulation dtype.

Conventions for the amplitude (per state variable):

- ``sigma`` (tvboptim, most papers): increment ``sigma * sqrt(dt) * N(0, 1)``,
- ``tvb`` (TVB's ``Additive(nsig)``): increment ``sqrt(2 nsig) * sqrt(dt) * N(0, 1)``.

References:
    Salmon JK, Moraes MA, Dror RO, Shaw DE (2011). Parallel random numbers:
    as easy as 1, 2, 3. SC'11. doi:10.1145/2063384.2063405
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32


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


def _bits_to_normal(bits: jax.Array) -> jax.Array:
    """uint32 -> float32 standard normal (uniform on (-1, 1), then sqrt(2) erfinv)."""
    f = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0))
    u = jnp.maximum(lo, 2.0 * f - 1.0)
    return np.float32(math.sqrt(2.0)) * jax.lax.erf_inv(u)


def normals(key: jax.Array, steps: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """Standard normal numbers of each step in ``steps``: ``(len(steps), *shape)``.

    Args:
        key: A threefry PRNG key (``jax.random.key(seed)``).
        steps: 1-D int array of absolute step numbers.
        shape: Shape of one step's numbers, e.g. ``(n_sv, n_nodes)``.
        dtype: Output dtype.
    """
    size = math.prod(shape)
    half = (size + 1) // 2
    steps = jnp.asarray(steps).astype(jnp.uint32)
    x0 = jnp.broadcast_to(jnp.arange(half, dtype=jnp.uint32)[None, :], (steps.shape[0], half))
    x1 = jnp.broadcast_to(steps[:, None], x0.shape)
    bits = threefry_2x32(jax.random.key_data(key), jnp.concatenate([x0.ravel(), x1.ravel()]))
    w0, w1 = bits[: x0.size].reshape(x0.shape), bits[x0.size :].reshape(x0.shape)
    z = _bits_to_normal(jnp.concatenate([w0, w1], axis=1)[:, :size])
    return z.reshape((steps.shape[0], *shape)).astype(dtype)

"""Exploration: the loss over a grid (or random / Sobol samples) of parameters.

Points are evaluated in batches with ``jax.vmap`` (``jax.lax.map`` with a
``batch_size``), so memory stays bounded by one batch however large the
grid; when several devices are present the points are split across them
(:func:`tvbo_pipe.sim.sharding.sharded_map`: one shard per device through
``jax.sharding``, each mapped in batches).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..sim.sharding import sharded_map
from .parameters import FreeParameter

METHODS = ("grid", "random", "sobol")


def sample_points(
    params: Sequence[FreeParameter],
    *,
    method: str = "grid",
    n: int | Sequence[int] = 8,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Points ``{path: (n_points,)}`` inside the parameters' bounds.

    Args:
        params: Global free parameters with finite bounds.
        method: ``grid`` (``n`` values per parameter, or one count per
            parameter; endpoints included), ``random`` (``n`` uniform points) or
            ``sobol`` (``n`` scrambled Sobol points, ``n`` rounded up to a power of 2).
        n: Points per axis (grid) or in total.
        seed: Seed of random and Sobol sampling.
    """
    for p in params:
        if p.low is None or p.high is None:
            raise ConfigError("exploration needs finite bounds", key=p.path)
    lows = np.array([p.low for p in params])
    highs = np.array([p.high for p in params])
    if method == "grid":
        counts = [n] * len(params) if isinstance(n, int) else list(n)
        if len(counts) != len(params):
            raise ConfigError(
                f"{len(counts)} grid sizes for {len(params)} parameters", key="explore.n"
            )
        axes = [np.linspace(lo, hi, c) for lo, hi, c in zip(lows, highs, counts, strict=True)]
        mesh = np.meshgrid(*axes, indexing="ij")
        unit = None
        pts = np.stack([m.ravel() for m in mesh], axis=1)
    elif method == "random":
        unit = np.random.default_rng(seed).uniform(size=(int(n), len(params)))
    elif method == "sobol":
        from scipy.stats import qmc

        m = math.ceil(math.log2(max(int(n), 1)))
        unit = qmc.Sobol(d=len(params), scramble=True, seed=seed).random_base2(m)
    else:
        raise ConfigError(
            f"unknown method {method!r}; valid: {', '.join(METHODS)}", key="explore.method"
        )
    if unit is not None:
        pts = lows + unit * (highs - lows)
    return {p.path: pts[:, k] for k, p in enumerate(params)}


def make_evaluator(
    fn: Callable[[Mapping[str, jax.Array]], jax.Array],
    *,
    batch_size: int = 32,
    dtype=None,
) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """``evaluate_points(points) -> (n_points, ...)``: ``fn`` at every point, batched.

    Compiled once per number of points (later calls with as many points reuse it).

    Args:
        fn: Maps ``{path: scalar}`` to an array (e.g. loss and FC correlation).
        batch_size: Points simulated together with vmap (memory ~ batch_size simulations).
        dtype: Dtype of the parameter values (default: JAX's default float).
    """
    dtype = dtype or jnp.result_type(float)
    run = sharded_map(fn, batch_size=batch_size)

    def evaluate_points(points: Mapping[str, np.ndarray]) -> np.ndarray:
        xs = {k: np.asarray(v, dtype=dtype) for k, v in points.items()}
        return jax.tree_util.tree_map(np.asarray, run(xs))

    return evaluate_points


def evaluate(
    fn: Callable[[Mapping[str, jax.Array]], jax.Array],
    points: Mapping[str, np.ndarray],
    *,
    batch_size: int = 32,
    dtype=None,
) -> np.ndarray:
    """``fn`` at every point, batched with vmap; returns ``(n_points, ...)``.

    Points are split across the local devices (one shard each) and each
    shard is mapped in batches of ``batch_size`` (``jax.lax.map``), so
    memory stays bounded by one batch per device however large the grid; the
    last batch is padded with copies of the last point. See
    :func:`make_evaluator` for repeated evaluations.
    """
    return make_evaluator(fn, batch_size=batch_size, dtype=dtype)(points)

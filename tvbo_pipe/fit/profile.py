"""Derivative-free global fits along a narrow valley: a profile scan.

Reduced Wong-Wang fits FC best at the edge of a bifurcation, where the loss
has its minimum in a dip a few thousandths wide in the coupling and runs
along a ridge on which coupling and local recurrence trade off
(benchmarks/README.md, "The demo's global stage"). A gradient step leaves
such a dip and CMA-ES does not follow it; a grid fine enough to hit it in
every direction costs too much. The profile scan is fine in one direction
only: for each point of a coarse grid of the other parameters it scans the
``scan`` parameter over its bounds (``coarse`` points), then ``fine`` points
over one coarse step either side of the best, and keeps the lowest loss
(the loss profiled over ``scan``; Raue et al. 2009,
doi:10.1093/bioinformatics/btp358, use the same construction for
identifiability). Each pass is one batched evaluation (``jax.lax.map`` with
``batch_size``), compiled once per number of points.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from .optimize import FitResult
from .parameters import ParameterSpace, values_to_json

log = logging.getLogger(__name__)


def profile_grid(space: ParameterSpace, scan: str, others: int) -> tuple[list[str], np.ndarray]:
    """The other parameters' paths and their grid, ``(n_points, n_others)``:
    ``others`` values per parameter over its bounds (endpoints included)."""
    rest = [p for p in space.params if p.path != scan]
    axes = [np.linspace(p.low, p.high, others) for p in rest]
    grid = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(rest))
    return [p.path for p in rest], grid


def fit_profile(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    init_values: Mapping,
    *,
    key: jax.Array,
    scan: str | None = None,
    others: int = 7,
    coarse: int = 48,
    fine: int = 41,
    batch_size: int = 64,
    label: str = "fit",
) -> FitResult:
    """Minimise ``loss_fn`` by scanning ``scan`` finely at each point of a grid of the others.

    Args:
        loss_fn: ``loss(values, key) -> scalar``, called with ``key`` at every point.
        space: Global free parameters, each with finite bounds.
        init_values: The start ``{path: value}`` (evaluated too: the result is
            never worse than it).
        key: Noise key handed to ``loss_fn``.
        scan: The parameter scanned finely (default: the first free one).
        others: Grid values per other parameter.
        coarse: Points of the coarse scan of ``scan`` over its bounds.
        fine: Points of the fine scan, over one coarse step either side of
            each coarse best.
        batch_size: Points simulated together (memory ~ batch_size simulations).
        label: Name used in log lines.

    Returns:
        A :class:`FitResult` whose ``losses`` and ``trajectory`` are the start,
        the best after the coarse pass and the best after the fine pass
        (``steps`` 3, ``stop_reason`` ``"scanned"``); ``extra["profile"]`` holds, per grid point of the other
        parameters, the best ``scan`` value and its loss, and
        ``extra["evaluations"]`` the simulations.

    Raises:
        ConfigError: Regional parameters, a parameter without finite bounds,
            ``scan`` not a free parameter, or fewer than 2 coarse or fine points.
    """
    t0 = time.perf_counter()
    if any(p.regional for p in space.params):
        raise ConfigError("method profile fits global parameters only", key="method")
    for p in space.params:
        if p.low is None or p.high is None or not np.isfinite([p.low, p.high]).all():
            raise ConfigError("method profile needs finite bounds", key=p.path)
    scan = scan or space.paths[0]
    if scan not in space.paths:
        raise ConfigError(
            f"profile.parameter {scan!r} is not a free parameter ({', '.join(space.paths)})",
            key="profile.parameter",
        )
    if coarse < 2 or fine < 2 or others < 1:
        raise ConfigError("profile needs coarse >= 2, fine >= 2 and others >= 1", key="profile")
    sp = next(p for p in space.params if p.path == scan)
    names, grid = profile_grid(space, scan, others)
    dtype = jnp.result_type(float)
    loss = jax.jit(lambda pts: jax.lax.map(lambda v: loss_fn(v, key), pts, batch_size=batch_size))

    def evaluate(scan_values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Loss at ``scan_values`` ``(n_grid, k)`` for grid row ``rows`` (``(n_grid,)``)."""
        n, k = scan_values.shape
        pts = {scan: jnp.asarray(scan_values.ravel(), dtype)}
        for j, name in enumerate(names):
            pts[name] = jnp.asarray(np.repeat(grid[rows, j], k), dtype)
        f = np.asarray(loss(pts), float).reshape(n, k)
        return np.where(np.isfinite(f), f, np.inf)

    start = values_to_json(space.clip_into_bounds(init_values))
    f0 = float(jax.jit(loss_fn)({p: jnp.asarray(v, dtype) for p, v in start.items()}, key))
    rows = np.arange(len(grid))
    a = np.linspace(sp.low, sp.high, coarse)
    f = evaluate(np.broadcast_to(a, (len(grid), coarse)), rows)
    best_a = a[np.argmin(f, axis=1)]
    coarse_best = f.min(axis=1)
    step = (sp.high - sp.low) / (coarse - 1)
    offsets = np.linspace(-step, step, fine)
    a_fine = np.clip(best_a[:, None] + offsets[None, :], sp.low, sp.high)
    g = evaluate(a_fine, rows)
    j = np.argmin(g, axis=1)
    prof_a, prof_f = a_fine[rows, j], g[rows, j]
    better = prof_f < coarse_best  # the fine pass includes the coarse best
    prof_a = np.where(better, prof_a, best_a)
    prof_f = np.where(better, prof_f, coarse_best)
    profile = [
        {
            **{n: float(grid[r, c]) for c, n in enumerate(names)},
            scan: float(prof_a[r]),
            "loss": None if not np.isfinite(prof_f[r]) else float(prof_f[r]),
        }
        for r in rows
    ]

    def point(r: int, a_value: float) -> dict:
        return {scan: float(a_value), **{n: float(grid[r, c]) for c, n in enumerate(names)}}

    rc = int(np.argmin(coarse_best))
    rf = int(np.argmin(prof_f))
    traj = [start, point(rc, best_a[rc]), point(rf, prof_a[rf])]
    losses = [f0, float(coarse_best[rc]), float(prof_f[rf])]
    ok = np.isfinite(losses)
    candidates = [(losses[i], i) for i in range(3) if ok[i]]
    if candidates:
        best_loss, i = min(candidates)
        best_values, stop = traj[i], "scanned"
    else:
        best_loss, best_values, stop = float("nan"), start, "no finite loss"
    evaluations = 1 + len(grid) * (coarse + fine)
    log.info(
        "%s profile over %s: %d points, start %.6g, coarse best %.6g, best %.6g at %s (%.1f s)",
        label,
        scan,
        evaluations,
        f0,
        losses[1],
        best_loss,
        best_values,
        time.perf_counter() - t0,
    )
    return FitResult(
        values={k: np.asarray(v) for k, v in best_values.items()},
        loss=float(best_loss),
        losses=np.asarray([x if np.isfinite(x) else np.nan for x in losses], dtype=float),
        trajectory=traj,
        accepted=np.asarray(ok, dtype=bool),
        steps=3,
        stop_reason=stop,
        rejected=int(np.sum(~ok)),
        seconds=time.perf_counter() - t0,
        extra={"grad_mode": "none", "profile": profile, "evaluations": evaluations, "scan": scan},
    )

"""Multi-start gradient fits: K optimiser states stepped together as one vmapped batch.

A gradient fit from one point stops in the basin it starts in (often at the
edge of a bifurcation for neural mass models). A multi-start fit runs the
same optax step (:func:`~tvbo_pipe.fit.optimize.make_step`: NaN-safe, the
learning rate halved on a rejected step) from K starting points at once:
the K fit states are stacked along a leading axis and one ``jax.jit(jax.vmap(step))``
advances all of them, so the K simulations of a step run as one batched
computation and the function is compiled once. Every start is kept and
reported; the result is the start with the lowest loss.

Starting points: the best K points of the exploration (``RankedPoints`` of
its JSON), or scrambled Sobol points inside the bounds when there is none
(:func:`sobol_starts`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .explore import sample_points
from .optimize import FitResult, FitState, make_optimizer, make_step, resolve_grad_mode, strong
from .options import FitOptions
from .parameters import ParameterSpace, values_to_json
from .resume import Checkpoint, Resumer, settings_digest

log = logging.getLogger(__name__)


@dataclass
class MultiStartResult:
    """The fits of every start and which one is best.

    Attributes:
        runs: One :class:`FitResult` per start, in the order of the starts.
        best: Index of the run with the lowest finite loss.
        starts: The starting values, ``{path: float or list}`` per start.
        seconds: Wall time of the whole multi-start fit (s).
    """

    runs: list[FitResult]
    best: int
    starts: list[dict]
    seconds: float

    @property
    def result(self) -> FitResult:
        """The best run."""
        return self.runs[self.best]


def stack_trees(trees: Sequence) -> object:
    """Stack pytrees of the same structure along a new leading axis."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def make_batched_step(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    optimizer,
    *,
    grad_mode: str = "forward",
    redraw_noise: bool = False,
):
    """``(stacked fit states, key) -> (states, losses, finite, values)``, jitted once.

    The single-start step of :func:`~tvbo_pipe.fit.optimize.make_step`
    mapped over the leading axis of the fit states (the key is shared).
    """
    step = make_step(loss_fn, space, optimizer, grad_mode=grad_mode, redraw_noise=redraw_noise)
    return jax.jit(jax.vmap(step, in_axes=(0, None)))


def sobol_starts(
    space: ParameterSpace, k: int, *, seed: int = 0, include: Mapping | None = None
) -> list[dict]:
    """``k`` starting points: ``include`` (if given) then scrambled Sobol points in the bounds.

    Only global parameters with finite bounds can be sampled.
    """
    out = [] if include is None else [dict(include)]
    need = k - len(out)
    if need > 0:
        pts = sample_points(space.params, method="sobol", n=need, seed=seed)
        out += [{p: float(v[i]) for p, v in pts.items()} for i in range(need)]
    return out[:k]


def fit_multistart(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    starts: Sequence[Mapping],
    *,
    key: jax.Array,
    options: FitOptions | None = None,
    label: str = "fit",
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 10,
    **overrides,
) -> MultiStartResult:
    """Minimise ``loss_fn`` from every start at once (one vmapped optax step).

    ``starts`` is a list of starting values ``{path: value}``; ``key``,
    ``options``, ``label``, ``checkpoint`` (it keeps the state of all starts),
    ``checkpoint_every`` and ``overrides`` are as for
    :func:`~tvbo_pipe.fit.optimize.fit`. Each start has its
    own best value, early stopping counter and learning rate; the loop ends
    when every start has stopped improving (``patience``) or after ``steps``.
    """
    if not starts:
        raise ValueError("a multi-start fit needs at least one start")
    o = FitOptions.of(options, **overrides)
    steps, tol, patience, log_every = o.steps, o.tol, o.patience, o.log_every
    t0 = time.perf_counter()
    opt = make_optimizer(o.optimizer, o.learning_rate)
    zero = jnp.asarray(0, jnp.int32)
    states = []
    for s in starts:
        u = strong(space.to_unconstrained(space.clip_into_bounds(s)))
        states.append(strong(FitState(u, opt.init(u), zero, zero)))
    state = stack_trees(states)
    n_free = ravel_pytree(states[0].u)[0].size
    mode = resolve_grad_mode(o.grad_mode, n_free)
    step = make_batched_step(loss_fn, space, opt, grad_mode=mode, redraw_noise=o.redraw_noise)
    k_starts = len(starts)
    losses = np.full((steps, k_starts), np.nan)
    accepted = np.zeros((steps, k_starts), dtype=bool)
    trajectories: list[list[dict]] = [[] for _ in range(k_starts)]
    best_loss = np.full(k_starts, np.inf)
    best_values: list[dict | None] = [None] * k_starts
    since_best = np.zeros(k_starts, dtype=int)
    stopped_at = np.full(k_starts, -1)
    n_steps = 0
    resumer = Resumer(
        checkpoint,
        settings_digest(
            space=space.describe(),
            settings={"optimizer": o.optimizer, "learning_rate": o.learning_rate, "steps": steps,
                      "redraw_noise": o.redraw_noise, "tol": tol, "patience": patience},
            starts=[values_to_json(s) for s in starts],
        ),
        checkpoint_every,
    )  # fmt: skip
    loaded = resumer.restore(state)
    if loaded is not None:
        state, b = loaded
        losses, accepted, trajectories = b["losses"], b["accepted"].astype(bool), b["trajectories"]
        best_loss, best_values, since_best, stopped_at = (
            b["best_loss"], b["best_values"], b["since_best"], b["stopped_at"])  # fmt: skip
        n_steps = int(b["n_steps"])
        log.info("%s: resumed from %s at step %d", label, checkpoint, n_steps)
    for k in range(n_steps, steps):
        state, loss, finite, values = step(state, key)
        loss, finite = np.asarray(loss, float), np.asarray(finite, bool)
        values = jax.tree_util.tree_map(np.asarray, values)
        n_steps = k + 1
        for i in range(k_starts):
            vals = values_to_json({p: v[i] for p, v in values.items()})
            trajectories[i].append(vals)
            accepted[k, i] = finite[i]
            if not finite[i]:
                since_best[i] += 1
                continue
            losses[k, i] = loss[i]
            if loss[i] < best_loss[i]:
                significant = not np.isfinite(best_loss[i]) or loss[i] < best_loss[i] - tol * abs(
                    best_loss[i]
                )
                best_loss[i], best_values[i] = loss[i], vals
                since_best[i] = 0 if significant else since_best[i] + 1
            else:
                since_best[i] += 1
            if patience and since_best[i] >= patience and stopped_at[i] < 0:
                stopped_at[i] = k + 1
        if log_every and (k % log_every == 0 or k == steps - 1):
            log.info(
                "%s step %d/%d: losses %s (best so far %.6g)",
                label,
                k + 1,
                steps,
                " ".join(f"{x:.4g}" for x in loss),
                np.min(best_loss),
            )
        if patience and np.all(stopped_at >= 0):
            log.info("%s: every start stopped improving; stopping at step %d", label, k + 1)
            break
        resumer.save(n_steps, state, losses=losses, accepted=accepted, trajectories=trajectories,
                     best_loss=best_loss, best_values=best_values, since_best=since_best,
                     stopped_at=stopped_at, n_steps=n_steps)  # fmt: skip
    resumer.finish()
    seconds = time.perf_counter() - t0
    runs = []
    rejected = np.asarray(state.rejected)
    for i in range(k_starts):
        if best_values[i] is None:
            reason, vals = "no finite loss", values_to_json(space.clip_into_bounds(starts[i]))
        else:
            reason, vals = ("plateau" if stopped_at[i] >= 0 else "steps"), best_values[i]
        runs.append(
            FitResult(
                values={p: np.asarray(v) for p, v in vals.items()},
                loss=float(best_loss[i]),
                losses=losses[:n_steps, i].copy(),
                trajectory=trajectories[i],
                accepted=accepted[:n_steps, i].copy(),
                steps=n_steps,
                stop_reason=reason,
                rejected=int(rejected[i]),
                seconds=seconds,
                extra={"grad_mode": mode, "stopped_at": int(stopped_at[i])},
            )
        )
    best = int(np.argmin(best_loss)) if np.isfinite(best_loss).any() else 0
    log.info(
        "%s: %d starts, best start %d loss %.6g (%d steps, %.1f s)",
        label,
        k_starts,
        best,
        best_loss[best],
        n_steps,
        seconds,
    )
    return MultiStartResult(
        runs=runs,
        best=best,
        starts=[values_to_json(space.clip_into_bounds(s)) for s in starts],
        seconds=seconds,
    )

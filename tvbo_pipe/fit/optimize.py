"""The optax fit loop: one jitted step, NaN-safe, early stopping, resumable.

A fit minimises ``loss(values, key)`` over the free parameters of a
:class:`~tvbo_pipe.fit.parameters.ParameterSpace`. The whole step
(unconstrained -> values -> simulation -> BOLD -> FC -> loss -> gradient ->
optax update) is one jitted function, compiled once: its input and output
pytrees have the same shapes and dtypes (no weakly typed scalars), so the
second step does not recompile (a test counts compilations).

A step whose loss or gradient is not finite is rejected: parameters and
optimiser state stay as they were, the learning rate is halved (optax
``inject_hyperparams``), and the event is logged and counted. Non-finite
numbers never reach the parameters.

The fit state is given to a :class:`~tvbo_pipe.fit.resume.Checkpoint` every
``checkpoint_every`` steps (this module writes no files:
:mod:`tvbo_pipe.io.checkpoint` does); a rerun with the same settings resumes
from it instead of from scratch, and it is cleared once the fit has finished.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .options import FitOptions
from .parameters import ParameterSpace, is_finite_tree, values_to_json
from .resume import Checkpoint, Resumer, settings_digest

log = logging.getLogger(__name__)

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "rmsprop": optax.rmsprop,
    "adabelief": optax.adabelief,
}


class FitState(NamedTuple):
    """Everything a fit step changes (a pytree of arrays)."""

    u: dict
    opt_state: Any
    step: jax.Array
    rejected: jax.Array


@dataclass
class FitResult:
    """What a fit leaves behind.

    Attributes:
        values: Best parameter values (lowest loss seen), ``{path: array}``.
        loss: Loss of ``values``.
        losses: Loss at every step (NaN for rejected steps).
        trajectory: Parameter values at every step (before its update).
        accepted: Whether each step's update was applied.
        steps: Steps run (including resumed ones).
        stop_reason: ``"steps"`` (the step budget ran out), ``"plateau"`` (no
            improvement above ``tol`` for ``patience`` steps: not a proof of
            convergence, the loss may never have left its start),
            ``"scanned"`` (method profile: every point evaluated) or
            ``"no finite loss"``.
        rejected: Number of rejected (non-finite) steps.
        seconds: Wall time of this call.
    """

    values: dict
    loss: float
    losses: np.ndarray
    trajectory: list[dict]
    accepted: np.ndarray
    steps: int
    stop_reason: str
    rejected: int
    seconds: float
    extra: dict = field(default_factory=dict)


def strong(tree):
    """The same pytree with no weakly typed leaves (avoids recompilation)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


def make_optimizer(
    name: str = "adam", learning_rate: float = 0.01, **kwargs
) -> optax.GradientTransformation:
    """An optax optimiser whose learning rate lives in its state (can be lowered)."""
    if name not in OPTIMIZERS:
        raise KeyError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return optax.inject_hyperparams(OPTIMIZERS[name])(learning_rate=learning_rate, **kwargs)


#: ``grad_mode="auto"`` differentiates in forward mode up to this many free scalars.
FORWARD_MODE_MAX_PARAMS = 8

GRAD_MODES = ("auto", "forward", "reverse")


def resolve_grad_mode(grad_mode: str, n_free: int) -> str:
    """``forward`` or ``reverse`` for ``n_free`` free scalars.

    Forward mode (``jax.jacfwd``) carries one tangent per free scalar through
    the simulation: for a few global parameters it is faster than reverse
    mode and needs no stored trajectory; reverse mode costs about the same
    whatever the number of parameters (regional fits).
    """
    if grad_mode not in GRAD_MODES:
        raise KeyError(f"unknown grad_mode {grad_mode!r}; valid: {', '.join(GRAD_MODES)}")
    if grad_mode == "auto":
        return "forward" if n_free <= FORWARD_MODE_MAX_PARAMS else "reverse"
    return grad_mode


def value_and_grad(fun: Callable, mode: str = "reverse") -> Callable:
    """``(u, *args) -> (fun(u, *args), d fun / d u)`` in reverse or forward mode."""
    if mode == "reverse":
        return jax.value_and_grad(fun)

    def forward(u, *args):
        flat, unravel = ravel_pytree(u)

        def both(v):
            value = fun(unravel(v), *args)
            return value, value

        jac, value = jax.jacfwd(both, has_aux=True)(flat)
        return value, unravel(jac)

    return forward


def make_step(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    optimizer: optax.GradientTransformation,
    *,
    redraw_noise: bool = False,
    lr_decay_on_reject: float = 0.5,
    grad_mode: str = "reverse",
):
    """The jitted step ``(fit_state, key) -> (fit_state, loss, finite, values)``.

    ``loss_fn(values, key)`` maps parameter values to a scalar loss;
    ``key`` is the noise key (fixed, or ``fold_in(key, step)`` when
    ``redraw_noise``); ``grad_mode`` is ``forward`` or ``reverse``
    (the same gradient, see :func:`resolve_grad_mode`).
    """

    def objective(u, key):
        return loss_fn(space.to_values(u), key)

    grad_fn = value_and_grad(objective, grad_mode)

    def step(state: FitState, key: jax.Array):
        k = jax.random.fold_in(key, state.step) if redraw_noise else key
        values = space.to_values(state.u)
        loss, grads = grad_fn(state.u, k)
        finite = jnp.isfinite(loss) & is_finite_tree(grads)
        safe_grads = jax.tree_util.tree_map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, new_opt = optimizer.update(safe_grads, state.opt_state, state.u)
        new_u = optax.apply_updates(state.u, updates)

        def pick(new, old):
            return jnp.where(finite, new, old)

        u = jax.tree_util.tree_map(pick, new_u, state.u)
        opt_state = jax.tree_util.tree_map(pick, new_opt, state.opt_state)
        hp = dict(opt_state.hyperparams)
        hp["learning_rate"] = jnp.where(
            finite, hp["learning_rate"], hp["learning_rate"] * lr_decay_on_reject
        )
        opt_state = opt_state._replace(hyperparams=hp)
        new_state = FitState(
            u, opt_state, state.step + 1, state.rejected + (~finite).astype(state.rejected.dtype)
        )
        return new_state, loss, finite, values

    return jax.jit(step)


def fit(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    init_values: Mapping,
    *,
    key: jax.Array,
    options: FitOptions | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 10,
    progress: bool | None = None,
    label: str = "fit",
    **overrides,
) -> FitResult:
    """Minimise ``loss_fn`` with optax from ``init_values``.

    Args:
        loss_fn: ``loss(values, key) -> scalar``, jit-able.
        space: The free parameters.
        init_values: Starting values ``{path: value}`` (inside the bounds).
        key: Noise key.
        options: Optimiser, learning rate, steps, noise, early stopping
            (``tol``, ``patience``), logging and gradient mode: a
            :class:`~tvbo_pipe.fit.options.FitOptions` (default: its defaults).
        checkpoint: Where to keep the fit state every ``checkpoint_every`` steps
            (a :class:`~tvbo_pipe.fit.resume.Checkpoint`, e.g. :class:`tvbo_pipe.io.checkpoint.NpzCheckpoint`);
            ``None`` for nowhere.
        checkpoint_every: Steps between checkpoints.
        progress: Show a progress bar (default: when stderr is a terminal).
        label: Name used in log lines.
        **overrides: Fields of :class:`~tvbo_pipe.fit.options.FitOptions`
            replacing those of ``options`` (``learning_rate=0.05``, ...).

    Returns:
        A :class:`FitResult` with the best values seen.
    """
    o = FitOptions.of(options, **overrides)
    optimizer, learning_rate, steps, redraw_noise = (
        o.optimizer,
        o.learning_rate,
        o.steps,
        o.redraw_noise,
    )
    tol, patience, log_every, grad_mode = o.tol, o.patience, o.log_every, o.grad_mode
    t_start = time.perf_counter()
    opt = make_optimizer(optimizer, learning_rate)
    u0 = strong(space.to_unconstrained(space.clip_into_bounds(init_values)))
    state = strong(FitState(u0, opt.init(u0), jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32)))
    settings = {
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "redraw_noise": redraw_noise,
    }
    resumer = Resumer(
        checkpoint,
        settings_digest(
            space=space.describe(), settings=settings, init=values_to_json(init_values)
        ),
        checkpoint_every,
    )
    history = {"losses": [], "accepted": [], "trajectory": []}
    loaded = resumer.restore(state)
    if loaded is not None:
        state, book = loaded
        history = {
            "losses": [float(x) for x in book["losses"]],
            "accepted": [bool(a) for a in book["accepted"]],
            "trajectory": book["trajectory"],
        }
        log.info("%s: resumed from %s at step %d", label, checkpoint, int(state.step))
    mode = resolve_grad_mode(grad_mode, ravel_pytree(u0)[0].size)
    step_fn = make_step(loss_fn, space, opt, redraw_noise=redraw_noise, grad_mode=mode)
    show_bar = sys.stderr.isatty() if progress is None else progress
    best_loss, best_values, since_best = np.inf, None, 0
    for loss, values in zip(history["losses"], history["trajectory"], strict=True):
        if np.isfinite(loss) and loss < best_loss:
            best_loss, best_values = loss, values
    stop_reason = "steps"
    while int(state.step) < steps:
        k = int(state.step)
        state, loss, finite, values = step_fn(state, key)
        loss = float(loss)
        ok = bool(finite)
        history["losses"].append(loss if ok else float("nan"))
        history["accepted"].append(ok)
        history["trajectory"].append(values_to_json(values))
        if not ok:
            lr = float(state.opt_state.hyperparams["learning_rate"])
            log.warning(
                "%s step %d: non-finite loss or gradient; step rejected, learning rate -> %g",
                label,
                k,
                lr,
            )
        elif loss < best_loss:
            significant = not np.isfinite(best_loss) or loss < best_loss - tol * abs(best_loss)
            best_loss, best_values = loss, history["trajectory"][-1]
            since_best = 0 if significant else since_best + 1
        else:
            since_best += 1
        if log_every and (k % log_every == 0 or k == steps - 1):
            shown = ", ".join(_short(p, v) for p, v in history["trajectory"][-1].items())
            log.info("%s step %d/%d: loss %.6g (%s)", label, k + 1, steps, loss, shown)
        if show_bar:
            done = int(30 * (k + 1) / steps)
            print(
                f"\r{label} [{'#' * done}{'.' * (30 - done)}] {k + 1}/{steps} loss {loss:.5g}",
                end="",
                file=sys.stderr,
            )
        resumer.save(
            k + 1,
            state,
            losses=np.asarray(history["losses"], dtype=float),
            accepted=np.asarray(history["accepted"], dtype=bool),
            trajectory=history["trajectory"],
        )
        if patience and since_best >= patience:
            stop_reason = "plateau"
            log.info(
                "%s: no improvement > %g for %d steps; stopping at step %d",
                label,
                tol,
                patience,
                k + 1,
            )
            break
    if show_bar:
        print(file=sys.stderr)
    if best_values is None:
        stop_reason = "no finite loss"
        best_values = values_to_json(space.clip_into_bounds(init_values))
    resumer.finish()
    return FitResult(
        values={k: np.asarray(v) for k, v in best_values.items()},
        loss=float(best_loss),
        losses=np.asarray(history["losses"], dtype=float),
        trajectory=history["trajectory"],
        accepted=np.asarray(history["accepted"], dtype=bool),
        steps=int(state.step),
        stop_reason=stop_reason,
        rejected=int(state.rejected),
        seconds=time.perf_counter() - t_start,
        extra={"grad_mode": mode},
    )


def _short(path: str, value) -> str:
    if isinstance(value, list):
        return f"{path}=[{np.mean(value):.4g} mean of {len(value)}]"
    return f"{path}={value:.5g}"

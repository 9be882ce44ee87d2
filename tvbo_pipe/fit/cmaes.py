"""Derivative-free global fits with CMA-ES (evosax) for rough loss landscapes.

CMA-ES (Hansen 2016, arXiv:1604.00772) samples a population of candidate
parameter vectors from a Gaussian, ranks them by loss and moves the
Gaussian's mean, step size and covariance toward the better ones. It needs
no gradient, so it crosses the discontinuities and flat regions (silent or
saturated regimes) where a gradient fit stops. The search runs in the
unconstrained space of the :class:`~tvbo_pipe.fit.parameters.ParameterSpace`
(for a bounded parameter ``u`` is the logit of its position in the bounds),
so every candidate is inside the bounds.

One generation (ask -> the population's losses, simulated in vmapped
batches -> tell) is one jitted function, compiled once. The
implementation is evosax's ``CMA_ES`` (evosax 0.3).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .optimize import FitResult, strong
from .parameters import ParameterSpace, values_to_json
from .resume import Checkpoint, Resumer, settings_digest

log = logging.getLogger(__name__)

#: The loss given to CMA-ES for a candidate whose loss is not finite.
NONFINITE_LOSS = 1e6


def default_population(n_free: int) -> int:
    """CMA-ES's default population size ``4 + floor(3 ln n)`` (at least 4)."""
    return max(4, 4 + int(3 * np.log(max(n_free, 1))))


def make_generation(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    es,
    es_params,
    *,
    batch_size: int,
):
    """The jitted generation ``(es_state, key, noise_key) -> (es_state, losses, values)``."""

    def generation(es_state, key, noise_key):
        k_ask, k_tell = jax.random.split(key)
        pop, es_state = es.ask(k_ask, es_state, es_params)
        values = jax.vmap(space.to_values)(pop)
        f = jax.lax.map(lambda v: loss_fn(v, noise_key), values, batch_size=batch_size)
        shaped = jnp.where(jnp.isfinite(f), f, NONFINITE_LOSS).astype(es_state.mean.dtype)
        es_state, _ = es.tell(k_tell, pop, shaped, es_state, es_params)
        return es_state, f, values

    return jax.jit(generation)


def fit_cmaes(
    loss_fn: Callable[[Mapping, jax.Array], jax.Array],
    space: ParameterSpace,
    init_values: Mapping,
    *,
    key: jax.Array,
    population: int | None = None,
    generations: int = 30,
    sigma: float = 0.5,
    batch_size: int | None = None,
    tol: float = 1e-5,
    patience: int = 10,
    log_every: int = 5,
    label: str = "fit",
    seed: int = 0,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 5,
) -> FitResult:
    """Minimise ``loss_fn`` with CMA-ES from ``init_values`` (the initial mean).

    Args:
        loss_fn: ``loss(values, key) -> scalar``; called with ``key`` for every candidate.
        space: The free parameters (global or regional).
        init_values: The initial mean ``{path: value}``.
        key: Noise key handed to ``loss_fn``.
        population: Candidates per generation (default :func:`default_population`).
        generations: Maximum generations.
        sigma: Initial step size in unconstrained units (1 moves a bounded
            parameter from the middle of its range to about 73 % of it).
        batch_size: Candidates simulated together (default: the whole population).
        tol: A generation counts as progress when it lowers the best loss by
            more than ``tol`` (relative).
        patience: Stop after this many generations without progress (0 = never).
        log_every: A log line every this many generations.
        label: Name used in log lines.
        seed: Seed of CMA-ES's sampling.
        checkpoint: Where to keep the search state every ``checkpoint_every``
            generations (:class:`~tvbo_pipe.fit.resume.Checkpoint`); a rerun with
            the same settings resumes from it and ends with the same result.

    Returns:
        A :class:`FitResult` whose ``losses`` and ``trajectory`` hold, per
        generation, the best candidate of that generation, after the start
        itself as generation 0 (``steps`` counts them all,
        ``extra["evaluations"]`` the simulations).
    """
    from evosax.algorithms import CMA_ES

    t0 = time.perf_counter()
    u0 = strong(space.to_unconstrained(space.clip_into_bounds(init_values)))
    n_free = int(sum(np.size(v) for v in u0.values()))
    pop = int(population or default_population(n_free))
    es = CMA_ES(population_size=pop, solution=u0)
    es_params = es.default_params.replace(std_init=jnp.asarray(sigma, dtype=jnp.result_type(float)))
    rng = jax.random.key(seed)
    # no weakly typed leaves: the generation is compiled once
    es_state = strong(es.init(jax.random.fold_in(rng, 0), u0, es_params))
    gen = make_generation(loss_fn, space, es, es_params, batch_size=int(batch_size or pop))
    # generation 0 is the start itself: the result is never worse than the start
    settings = {"population": pop, "sigma": sigma, "tol": tol, "patience": patience, "seed": seed}
    resumer = Resumer(
        checkpoint,
        settings_digest(space=space.describe(), settings=settings, init=values_to_json(u0)),
        checkpoint_every,
    )
    loaded = resumer.restore(es_state)
    if loaded is not None:
        es_state, book = loaded
        losses, accepted, trajectory = book["losses"], book["accepted"], book["trajectory"]
        best_loss, best_values, since_best = book["best"]
        log.info("%s: resumed from %s at generation %d", label, checkpoint, len(losses) - 1)
    else:
        f0 = float(jax.jit(lambda u: loss_fn(space.to_values(u), key))(u0))
        start_values = values_to_json(space.to_values(u0))
        ok0 = bool(np.isfinite(f0))
        losses, accepted, trajectory = [f0 if ok0 else float("nan")], [ok0], [start_values]
        best_loss, best_values = (f0, start_values) if ok0 else (np.inf, None)
        since_best = 0
    stop_reason = "steps"
    for g in range(len(losses) - 1, generations):
        es_state, f, values = gen(es_state, jax.random.fold_in(rng, g + 1), key)
        f = np.asarray(f, float)
        ok = np.isfinite(f)
        i = int(np.argmin(np.where(ok, f, np.inf)))
        vals = values_to_json({p: np.asarray(v)[i] for p, v in values.items()})
        trajectory.append(vals)
        accepted.append(bool(ok[i]))
        losses.append(float(f[i]) if ok[i] else float("nan"))
        if ok[i] and f[i] < best_loss:
            significant = not np.isfinite(best_loss) or f[i] < best_loss - tol * abs(best_loss)
            best_loss, best_values = float(f[i]), vals
            since_best = 0 if significant else since_best + 1
        else:
            since_best += 1
        if log_every and (g % log_every == 0 or g == generations - 1):
            log.info(
                "%s generation %d/%d: best of generation %.6g, best %.6g, %d/%d finite",
                label,
                g + 1,
                generations,
                f[i],
                best_loss,
                ok.sum(),
                pop,
            )
        if patience and since_best >= patience:
            stop_reason = "plateau"
            break
        resumer.save(
            g + 1,
            es_state,
            losses=losses,
            accepted=accepted,
            trajectory=trajectory,
            best=[best_loss, best_values, since_best],
        )
    resumer.finish()
    if best_values is None:
        stop_reason = "no finite loss"
        best_values = values_to_json(space.clip_into_bounds(init_values))
    steps = len(losses)
    return FitResult(
        values={k: np.asarray(v) for k, v in best_values.items()},
        loss=float(best_loss),
        losses=np.asarray(losses, dtype=float),
        trajectory=trajectory,
        accepted=np.asarray(accepted, dtype=bool),
        steps=steps,
        stop_reason=stop_reason,
        rejected=int(np.sum(~np.asarray(accepted, dtype=bool))),
        seconds=time.perf_counter() - t0,
        extra={
            "grad_mode": "none",
            "population": pop,
            "evaluations": 1 + pop * (steps - 1),
            "sigma": float(sigma),
            "compiled": gen._cache_size(),
        },
    )

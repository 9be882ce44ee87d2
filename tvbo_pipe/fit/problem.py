"""A fitting problem: a prepared experiment, a warmed-up state and an empirical FC.

The simulated observation is the FC of the experiment's (first) Bold
monitor after discarding a transient; every fit starts from a warmed-up
state, as in tvboptim's tutorial: a first simulation's final state becomes
the initial conditions and its last 20 s the BOLD pre-history ("stock").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..connectome import Connectome
from ..errors import ConfigError
from ..experiment import Experiment
from ..sim.simulator import draw_noise, prepare
from . import losses
from .observations import fc as fc_of
from .parameters import ParameterSpace

#: The noise of a fit problem is drawn once when it takes at most this many bytes.
NOISE_TABLE_MAX_BYTES = 256 * 2**20


def realisation_keys(key: jax.Array, n: int) -> jax.Array:
    """The keys of ``n`` noise realisations: ``key``, then ``fold_in(key, k)``."""
    return jnp.stack([key, *(jax.random.fold_in(key, k) for k in range(1, n))])


@dataclass
class FitProblem:
    """Everything a loss evaluation needs.

    Attributes:
        model: ``model(state, key) -> outputs`` from :func:`prepare` (without
            the final state, so that Bold monitors are computed inside the time loop).
        state: The warmed-up simulation state.
        monitor: Name of the Bold monitor.
        transient: BOLD samples discarded before computing FC.
        fc_emp: Empirical FC ``(n, n)``.
        loss_name: Loss kind (see :mod:`tvbo_pipe.fit.losses`).
        key: Default noise key.
        noise: The standard normal numbers of the problem's realisations,
            ``(realisations, n_steps, n_sv, n_nodes)``, drawn once
            (:func:`~tvbo_pipe.sim.simulator.draw_noise`), or ``None`` to draw
            them in the loop: every evaluation with the default key reuses them.
        realisations: Noise realisations per evaluation; the simulated FC is
            the mean of their FCs (realisation 0 uses ``key``, realisation
            ``k`` uses ``fold_in(key, k)``).
    """

    model: Any
    state: dict
    monitor: str
    transient: int
    fc_emp: jax.Array
    loss_name: str
    loss_weights: Mapping[str, float]
    key: jax.Array
    experiment: Experiment
    noise: jax.Array | None = None
    realisations: int = 1

    def bold(self, state: Mapping, key: jax.Array | None = None):
        """The Bold monitor's output of one realisation; ``key=None``: the
        problem's own (realisation 0)."""
        if key is None:
            noise = None if self.noise is None else self.noise[0]
            return self.model(state, self.key, noise)[self.monitor]
        return self.model(state, key)[self.monitor]

    def simulated_fc(self, state: Mapping, key: jax.Array | None = None) -> jax.Array:
        """The simulated FC after the transient: of one realisation, or the mean
        FC of ``realisations`` realisations (simulated together with vmap)."""

        def fc_one(k, noise):
            return fc_of(self.model(state, k, noise)[self.monitor].data[self.transient :, 0])

        keys = realisation_keys(self.key if key is None else key, self.realisations)
        noise = self.noise if key is None else None
        if self.realisations == 1:
            return fc_one(keys[0], None if noise is None else noise[0])
        return jnp.mean(jax.vmap(fc_one)(keys, noise), axis=0)

    def loss_of_state(self, state: Mapping, key: jax.Array | None = None) -> jax.Array:
        f = losses.make_fc_loss(self.loss_name, self.loss_weights)
        return f(self.simulated_fc(state, key), self.fc_emp)

    def loss_fn(self, space: ParameterSpace, *, fixed_noise: bool = False):
        """``loss(values, key)`` for the optimiser.

        With ``fixed_noise`` every evaluation uses the problem's own
        realisation (drawn once, see ``noise``) and ``key`` is ignored; else
        the noise is drawn from ``key`` in the loop.
        """
        f = losses.make_fc_loss(self.loss_name, self.loss_weights)

        def loss(values, key):
            state = space.apply(self.state, values)
            return f(self.simulated_fc(state, None if fixed_noise else key), self.fc_emp)

        return loss

    def metrics_fn(self, space: ParameterSpace):
        """``metrics(values) -> [loss, FC correlation, FC RMSE]`` (for exploration)."""
        f = losses.make_fc_loss(self.loss_name, self.loss_weights)

        def metrics(values):
            sim = self.simulated_fc(space.apply(self.state, values))
            return jnp.stack(
                [
                    f(sim, self.fc_emp),
                    losses.fc_corr(sim, self.fc_emp),
                    losses.fc_rmse(sim, self.fc_emp),
                ]
            )

        return metrics


def fit_experiment(
    experiment: Experiment,
    *,
    duration_ms: float | None = None,
    bold_period_ms: float | None = None,
) -> Experiment:
    """The experiment as simulated during fits: only its Bold monitor, and the
    pipeline's duration and BOLD period when given."""
    bolds = [m for m in experiment.monitors if m.type == "Bold"]
    if not bolds:
        raise ConfigError("fitting needs a Bold monitor in the experiment", key="monitors")
    bold = bolds[0]
    if bold_period_ms is not None:
        bold = replace(bold, period=float(bold_period_ms))
    integ = experiment.integration
    if duration_ms is not None:
        # a whole number of BOLD periods
        n = max(1, round(duration_ms / bold.period))
        integ = replace(integ, duration=float(n * bold.period))
    return replace(experiment, integration=integ, monitors=(bold,)).validate()


def build_problem(
    experiment: Experiment,
    connectome: Connectome,
    fc_emp: np.ndarray,
    *,
    transient_ms: float = 20000.0,
    loss: str = "combined",
    loss_weights: Mapping[str, float] | None = None,
    warmup: bool = True,
    enable_x64: bool = True,
    realisations: int = 1,
) -> FitProblem:
    """Prepare the simulation, warm it up and bind the empirical FC.

    The warm-up is one simulation of the experiment from its initial
    conditions (with its own noise key); its final state and the BOLD
    pre-history of its last 20 s become the initial state of every later
    evaluation. ``realisations`` noise realisations per evaluation (see
    :class:`FitProblem`) cost that many simulations each.
    """
    if int(realisations) < 1:
        raise ConfigError(
            f"realisations must be at least 1, got {realisations}", key="simulation.realisations"
        )
    model, state = prepare(experiment, connectome, enable_x64=enable_x64)
    bold = experiment.monitors[0]
    transient = round(transient_ms / bold.period)
    n_samples = round(experiment.integration.duration / bold.period)
    if n_samples - transient < 3:
        raise ConfigError(
            f"{n_samples} BOLD samples minus a transient of {transient} leave too few for FC; "
            "simulate longer or discard less",
            key="simulation.transient_s",
        )
    key = jax.random.key(experiment.integration.seed)
    if warmup:
        warm_model, _ = prepare(experiment, connectome, enable_x64=enable_x64, return_new_ics=True)
        _, warmed = warm_model(state, jax.random.fold_in(key, 1_000_003))
        state = {**state, "initial": warmed["initial"]}
    dtype = jnp.float64 if enable_x64 else jnp.float32
    sim = model.simulator
    table_bytes = 4 * realisations * sim.n_steps * len(sim.model.state_variables) * sim.n_nodes
    noise = None
    if table_bytes <= NOISE_TABLE_MAX_BYTES and sim.noise_scale is not None:
        noise = jnp.stack([draw_noise(sim, k) for k in realisation_keys(key, realisations)])
    return FitProblem(
        model=model,
        state=state,
        monitor=bold.name,
        transient=transient,
        fc_emp=jnp.asarray(fc_emp, dtype=dtype),
        loss_name=loss,
        loss_weights=dict(loss_weights or {}),
        key=key,
        experiment=experiment,
        noise=noise,
        realisations=int(realisations),
    )

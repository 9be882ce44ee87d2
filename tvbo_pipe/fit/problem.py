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
from .observations import fcd as fcd_of
from .observations import upper_triangle
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
    fcd_emp: jax.Array | None = None
    fcd_window: int = 0
    fcd_step: int = 0

    @property
    def fcd_weight(self) -> float:
        """Weight of the FCD term of the loss (``loss_weights["fcd"]``, default 0)."""
        return float(self.loss_weights.get("fcd", 0.0))

    def _observe(self, state: Mapping, key: jax.Array | None):
        """The mean FC of the realisations and, when the loss has an FCD term,
        the pooled FCD upper-triangle values of all realisations."""
        with_fcd = self.fcd_weight > 0

        def one(k, noise):
            bold = self.model(state, k, noise)[self.monitor].data[self.transient :, 0]
            c = fc_of(bold)
            if not with_fcd:
                return c, None
            return c, upper_triangle(fcd_of(bold, self.fcd_window, self.fcd_step))

        keys = realisation_keys(self.key if key is None else key, self.realisations)
        noise = self.noise if key is None else None
        if self.realisations == 1:
            c, d = one(keys[0], None if noise is None else noise[0])
            return c, d
        cs, ds = jax.vmap(one)(keys, noise)
        return jnp.mean(cs, axis=0), None if ds is None else jnp.ravel(ds)

    def _loss(self, observed) -> jax.Array:
        fc_sim, fcd_values = observed
        out = losses.make_fc_loss(self.loss_name, self.loss_weights)(fc_sim, self.fc_emp)
        if fcd_values is not None:
            out = out + self.fcd_weight * losses.fcd_energy(fcd_values, self.fcd_emp)
        return out

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
        return self._loss(self._observe(state, key))

    def loss_fn(self, space: ParameterSpace, *, fixed_noise: bool = False):
        """``loss(values, key)`` for the optimiser.

        With ``fixed_noise`` every evaluation uses the problem's own
        realisation (drawn once, see ``noise``) and ``key`` is ignored; else
        the noise is drawn from ``key`` in the loop.
        """

        def loss(values, key):
            state = space.apply(self.state, values)
            return self._loss(self._observe(state, None if fixed_noise else key))

        return loss

    def metrics_fn(self, space: ParameterSpace):
        """``metrics(values) -> [loss, FC correlation, FC RMSE]`` (for exploration)."""

        def metrics(values):
            observed = self._observe(space.apply(self.state, values), None)
            sim = observed[0]
            return jnp.stack(
                [
                    self._loss(observed),
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
    bolds = [m for m in experiment.monitors if m.kind.bold]
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
    fcd_emp: np.ndarray | None = None,
    fcd_window_ms: float | None = None,
    fcd_step_ms: float | None = None,
) -> FitProblem:
    """Prepare the simulation, warm it up and bind the empirical FC.

    The warm-up is one simulation of the experiment from its initial
    conditions (with its own noise key); its final state and the BOLD
    pre-history of its last 20 s become the initial state of every later
    evaluation. ``realisations`` noise realisations per evaluation (see
    :class:`FitProblem`) cost that many simulations each.

    With ``loss_weights["fcd"] > 0`` the loss adds that weight times the
    energy distance between the simulated FCD values (windows of
    ``fcd_window_ms``, advancing ``fcd_step_ms``, on the BOLD after the
    transient) and the upper triangle of the empirical FCD ``fcd_emp``.
    """
    if int(realisations) < 1:
        raise ConfigError(
            f"realisations must be at least 1, got {realisations}", key="simulation.realisations"
        )
    bold = experiment.monitors[0]
    transient = round(transient_ms / bold.period)
    n_samples = round(experiment.integration.duration / bold.period)
    if n_samples - transient < 3:
        raise ConfigError(
            f"{n_samples} BOLD samples minus a transient of {transient} leave too few for FC; "
            "simulate longer or discard less",
            key="simulation.transient_s",
        )
    fcd_fields = {}
    if float((loss_weights or {}).get("fcd", 0.0)) > 0:
        fcd_fields = _fcd_fields(
            fcd_emp, fcd_window_ms, fcd_step_ms, bold.period, n_samples - transient
        )
    model, state = prepare(experiment, connectome, enable_x64=enable_x64)
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
        **fcd_fields,
    )


def _fcd_fields(fcd_emp, window_ms, step_ms, period_ms: float, n_kept: int) -> dict:
    """The FCD settings of a problem whose loss has an FCD term (window and step in samples)."""
    if fcd_emp is None or window_ms is None or step_ms is None:
        raise ConfigError(
            "observation.weights.fcd > 0 needs the empirical FCD and its window and step "
            "(empirical_fc.fcd.enabled: true)",
            key="observation.weights.fcd",
        )
    window = round(window_ms / period_ms)
    step = max(1, round(step_ms / period_ms))
    if window < 2 or window > n_kept:
        raise ConfigError(
            f"an FCD window of {window} BOLD samples does not fit the {n_kept} simulated "
            "samples after the transient; simulate longer or shorten the window",
            key="empirical_fc.fcd.window_s",
        )
    emp = np.asarray(fcd_emp, dtype=float)
    values = emp[np.triu_indices(emp.shape[0], k=1)]
    return {
        "fcd_emp": jnp.asarray(losses.quantile_summary(jnp.asarray(values))),
        "fcd_window": int(window),
        "fcd_step": int(step),
    }

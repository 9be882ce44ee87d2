"""Optimizer registry: every entry of ``OPTIMIZERS`` through the same assertions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.fit.optimize import OPTIMIZERS, fit, make_optimizer
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters

jax.config.update("jax_enable_x64", True)

OPTIMIZER_NAMES = list(OPTIMIZERS)
CURVATURE = jnp.asarray([1.0, 4.0, 0.5])  # an anisotropic quadratic
MINIMUM = jnp.asarray([0.3, -1.2, 0.8])
LEARNING_RATE = 0.05
STEPS = 300


def _quadratic(x: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum(CURVATURE * (x - MINIMUM) ** 2)


def _run(name: str, learning_rate: float, steps: int) -> tuple[jax.Array, list[float]]:
    opt = make_optimizer(name, learning_rate)
    x = jnp.zeros(3)
    state = opt.init(x)

    @jax.jit
    def step(x, state):
        loss, g = jax.value_and_grad(_quadratic)(x)
        updates, state = opt.update(g, state, x)
        return x + updates, state, loss

    losses = []
    for _ in range(steps):
        x, state, loss = step(x, state)
        losses.append(float(loss))
    return x, losses


def test_registry_names_and_unknown_optimizer() -> None:
    assert {"adam", "sgd"} <= set(OPTIMIZERS)
    with pytest.raises(KeyError) as info:
        make_optimizer("lbfgs-b")
    assert all(name in str(info.value) for name in OPTIMIZER_NAMES)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_reduces_a_quadratic(name: str) -> None:
    x, losses = _run(name, LEARNING_RATE, STEPS)
    start, end = losses[0], float(_quadratic(x))
    assert np.isfinite(losses).all()
    assert end < 1e-3 * start, f"{name}: {start} -> {end} in {STEPS} steps"
    np.testing.assert_allclose(np.asarray(x), np.asarray(MINIMUM), atol=0.05)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_learning_rate_lives_in_the_state(name: str) -> None:
    """The fit loop halves the rate after a rejected step: the rate must be a
    hyperparameter in the state, and a zero rate must leave the parameters."""
    opt = make_optimizer(name, LEARNING_RATE)
    x = jnp.zeros(3)
    state = opt.init(x)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(LEARNING_RATE)
    state.hyperparams["learning_rate"] = jnp.zeros_like(state.hyperparams["learning_rate"])
    updates, _ = opt.update(jax.grad(_quadratic)(x), state, x)
    np.testing.assert_array_equal(np.asarray(updates), 0.0)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_the_fit_loop_converges_with_it(name: str) -> None:
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {"a": jnp.asarray(0.2)}}
    free = parse_free_parameters({"model.w": [0.0, 2.0], "coupling.a": [0.0, 1.0]}, key="t")
    space = ParameterSpace.build(free, state, 1)

    def loss(values, key):
        return (values["model.w"] - 1.3) ** 2 + 4 * (values["coupling.a"] - 0.25) ** 2

    res = fit(
        loss,
        space,
        {"model.w": 0.5, "coupling.a": 0.8},
        key=jax.random.key(0),
        optimizer=name,
        learning_rate=LEARNING_RATE,
        steps=STEPS,
        patience=0,
    )
    assert res.rejected == 0 and res.loss < 1e-3 * res.losses[0]
    assert res.values["model.w"] == pytest.approx(1.3, abs=0.03)
    assert res.values["coupling.a"] == pytest.approx(0.25, abs=0.03)

"""The time loop's hand-written adjoint (``tvbo_pipe.sim.adjoint``) against plain autodiff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_simulator import small_connectome

from tvbo_pipe.experiment import Experiment
from tvbo_pipe.sim import simulator as simmod
from tvbo_pipe.sim.adjoint import reverse_mode_only
from tvbo_pipe.sim.simulator import (
    adjoint_fits,
    build_simulator,
    default_params,
    draw_noise,
    integrate,
    prepare,
)


def experiment(
    model="ReducedWongWang",
    coupling="Linear",
    method="Heun",
    monitors=None,
    noise=0.003,
    speed=float("inf"),
    duration=240.0,
):
    mp = {"w": 0.5, "I_o": 0.32} if model == "ReducedWongWang" else {}
    return Experiment.from_dict(
        {
            "model": {"name": model, "parameters": mp},
            "connectivity": {"conduction_speed": speed},
            "coupling": {"name": coupling, "parameters": {"a": 0.05}},
            "integration": {
                "method": method,
                "dt": 0.5,
                "duration": duration,
                "seed": 3,
                "noise": None if noise is None else {"sigma": noise},
            },
            "monitors": monitors or [{"type": "Raw"}],
        }
    )


@pytest.fixture(scope="module")
def conn():
    return small_connectome()


def _grads(sim, params, x0, adjoint, cts, **kw):
    """Gradient of a random linear functional of every monitor's output, w.r.t.
    all parameters and the initial state (plain loop or adjoint)."""
    start = simmod.initial_state(sim)

    def loss(params, x0):
        out = integrate(sim, params, all_states=start._replace(x=x0), adjoint=adjoint, **kw)
        return sum(jnp.sum(cts[k] * out[k].data) for k in cts)

    return jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x0)


def _cotangents(sim, params, **kw):
    out = integrate(sim, params, **kw)
    rng = np.random.default_rng(1)
    return {k: jnp.asarray(rng.normal(size=v.data.shape)) for k, v in out.items()}


def _assert_close(a, b, rtol=1e-10):
    for (path, x), y in zip(
        jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_leaves(b), strict=True
    ):
        x, y = np.asarray(x), np.asarray(y)
        scale = max(np.abs(y).max(), 1e-300)
        assert np.abs(x - y).max() <= rtol * scale, (jax.tree_util.keystr(path), x, y)


@pytest.mark.parametrize(
    "model, coupling, method, monitors, noise",
    [
        ("ReducedWongWang", "Linear", "Heun", None, 0.003),
        (
            "ReducedWongWang",
            "Linear",
            "Heun",
            [{"type": "TemporalAverage", "period": 5.0}, {"type": "Raw"}],
            0.003,
        ),
        ("ReducedWongWang", "Sigmoidal", "Euler", [{"type": "SubSample", "period": 2.0}], None),
        ("Generic2dOscillator", "Difference", "RK4", None, None),
        (
            "Generic2dOscillator",
            "Linear",
            "Heun",
            [{"type": "TemporalAverage", "period": 4.0}],
            0.01,
        ),
    ],
)
def test_adjoint_gradient_equals_plain_autodiff(conn, model, coupling, method, monitors, noise):
    jax.config.update("jax_enable_x64", True)
    sim, c = build_simulator(
        experiment(model, coupling, method, monitors, noise), conn, dtype=jnp.float64
    )
    params = default_params(sim, c)
    x0 = simmod.initial_state(sim).x
    cts = _cotangents(sim, params)
    plain = _grads(sim, params, x0, False, cts, checkpoint_lengths=None)
    adj = _grads(sim, params, x0, True, cts)
    _assert_close(adj, plain)
    assert any(np.abs(np.asarray(v)).max() > 0 for v in jax.tree_util.tree_leaves(adj))


def test_adjoint_gradient_with_checkpoint_levels_noise_and_stimulus_inputs(conn):
    jax.config.update("jax_enable_x64", True)
    sim, c = build_simulator(experiment(duration=1000.0), conn, dtype=jnp.float64)
    params = default_params(sim, c)
    n_units = sim.n_steps // sim.unit
    assert n_units % 2 == 0
    z = draw_noise(sim, jax.random.key(4))
    stim = jnp.asarray(np.random.default_rng(2).normal(size=(sim.n_steps, 6))) * 1e-3
    cts = _cotangents(sim, params, noise=z, stimulus=stim)

    def loss(params, z, stim, adjoint, lengths):
        out = integrate(
            sim, params, noise=z, stimulus=stim, adjoint=adjoint, checkpoint_lengths=lengths
        )
        return sum(jnp.sum(cts[k] * out[k].data) for k in cts)

    g = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), static_argnums=(3, 4))
    plain = g(params, z, stim, False, None)
    for lengths in (None, (2, n_units // 2)):
        _assert_close(g(params, z, stim, True, lengths), plain)


def test_adjoint_against_finite_differences(conn):
    jax.config.update("jax_enable_x64", True)
    sim, c = build_simulator(experiment(noise=None), conn, dtype=jnp.float64)
    params = default_params(sim, c)

    def loss(a, w, adjoint):
        p = {
            **params,
            "coupling": {**params["coupling"], "a": a},
            "model": {**params["model"], "w": w},
        }
        return jnp.mean(integrate(sim, p, adjoint=adjoint)["Raw"].data ** 2)

    a, w = params["coupling"]["a"], params["model"]["w"]
    ga, gw = jax.grad(loss, argnums=(0, 1))(a, w, True)
    h = 1e-5
    fa = (loss(a + h, w, False) - loss(a - h, w, False)) / (2 * h)
    fw = (loss(a, w + h, False) - loss(a, w - h, False)) / (2 * h)
    np.testing.assert_allclose([ga, gw], [fa, fw], rtol=1e-6)


def test_auto_choice_follows_the_differentiation_mode(conn, monkeypatch):
    jax.config.update("jax_enable_x64", True)
    calls = []
    real = simmod.adjoint_blocks

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(simmod, "adjoint_blocks", counting)
    model, state = prepare(experiment(monitors=[{"type": "TemporalAverage", "period": 5.0}]), conn)

    def f(a):
        s = {**state, "coupling": {**state["coupling"], "a": a}}
        return model(s)["TemporalAverage_5ms"].data.var()

    a = jnp.asarray(0.05)
    f(a)
    assert not calls  # forward: the plain loop
    g = jax.grad(f)(a)
    assert calls  # reverse mode: the adjoint
    n = len(calls)
    j = jax.jacfwd(f)(a)  # forward mode: the plain loop (a custom_vjp has no jvp)
    h = jax.hessian(f)(a)
    assert len(calls) == n  # neither took the adjoint
    gs = jax.vmap(jax.grad(f))(jnp.stack([a, a]))
    assert np.isfinite(h)
    np.testing.assert_allclose(g, j, rtol=1e-9)
    np.testing.assert_allclose(gs, [g, g], rtol=1e-12)


def test_reverse_mode_only_reads_the_tracers():
    seen = []

    def probe(x):
        seen.append(reverse_mode_only(x))
        return x * 2.0

    x = jnp.asarray(1.0)
    probe(x)
    jax.grad(probe)(x)
    jax.jvp(probe, (x,), (x,))
    jax.jacfwd(jax.grad(probe))(x)
    jax.jit(jax.grad(probe))(x)
    jax.grad(jax.jit(probe))(x)  # the jit boundary hides the grad: plain loop
    assert seen == [False, True, False, False, True, False]


def test_adjoint_refuses_delays_and_large_runs(conn):
    jax.config.update("jax_enable_x64", True)
    sim, c = build_simulator(experiment(speed=5.0), conn, dtype=jnp.float64)
    with pytest.raises(ValueError, match="delays"):
        integrate(sim, default_params(sim, c), adjoint=True)
    assert not adjoint_fits(sim, sim.n_steps, sim.unit, None)
    sim, c = build_simulator(experiment(), conn, dtype=jnp.float64)
    assert adjoint_fits(sim, sim.n_steps, sim.unit, None)
    big = simmod.ADJOINT_MAX_BYTES // (2 * 6 * 8) + 1  # steps over the limit (1 sv + 1 cvar)
    assert not adjoint_fits(sim, big, sim.unit, None)
    assert adjoint_fits(sim, big, sim.unit, (big // sim.unit, 1))

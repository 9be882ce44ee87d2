"""The engine's contracts: determinism, continuation, step functions, transforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.sim.simulator import (
    build_init_and_step_fn,
    build_simulator,
    default_params,
    draw_noise,
    initial_state,
    integrate,
    prepare,
)


def small_connectome(n=6, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    np.fill_diagonal(w, 0)
    lengths = rng.uniform(10, 80, (n, n))
    return Connectome(w / w.max(), (lengths + lengths.T) / 2, tuple(f"R{k}" for k in range(n)))


def rww(duration=400.0, speed=float("inf"), noise=0.003, monitors=None, **integ):
    return Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "connectivity": {"conduction_speed": speed},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {
                "method": "Heun",
                "dt": 1.0,
                "duration": duration,
                "seed": 3,
                "noise": None if noise is None else {"sigma": noise},
                **integ,
            },
            "monitors": monitors or [{"type": "Raw"}],
        }
    )


@pytest.fixture(scope="module")
def conn():
    return small_connectome()


def test_same_seed_same_bits_whatever_the_checkpointing(conn):
    sim, c = build_simulator(rww(duration=1024.0, speed=5.0), conn)
    params = default_params(sim, c)
    runs = [
        integrate(sim, params, checkpoint_lengths=lengths)["Raw"].data
        for lengths in (None, "auto", (sim.n_steps // sim.unit,), (2, sim.n_steps // sim.unit // 2))
    ]
    for r in runs[1:]:
        np.testing.assert_array_equal(np.asarray(r), np.asarray(runs[0]))
    other_seed = build_simulator(rww(duration=1024.0, speed=5.0, seed=4), conn)[0]
    assert not np.allclose(integrate(other_seed, params)["Raw"].data, runs[0])


def test_checkpoint_lengths_must_multiply_to_the_loop_length(conn):
    sim, c = build_simulator(rww(), conn)
    with pytest.raises(ValueError, match="multiply to"):
        integrate(sim, default_params(sim, c), checkpoint_lengths=(3, 7))


def test_continuing_a_run_reproduces_the_long_run(conn):
    sim, c = build_simulator(rww(duration=400.0, speed=4.0), conn)
    params = default_params(sim, c)
    whole = integrate(sim, params)["Raw"].data
    first, mid = integrate(sim, params, n_steps=160, return_states=True)
    second = integrate(sim, params, n_steps=240, all_states=mid)
    np.testing.assert_array_equal(np.concatenate([first["Raw"].data, second["Raw"].data]), whole)
    np.testing.assert_allclose(second["Raw"].time[0], 161.0)


def test_step_function_matches_integrate(conn):
    sim, c = build_simulator(rww(duration=50.0, speed=4.0), conn)
    params = default_params(sim, c)
    init_fn, step_fn = build_init_and_step_fn(sim)
    states = init_fn(params)
    step = jax.jit(step_fn)
    xs = []
    for _ in range(50):
        states = step(states, params)
        xs.append(states.x[0])
    np.testing.assert_allclose(
        np.stack(xs), integrate(sim, params)["Raw"].data[:, 0], rtol=0, atol=1e-13
    )


def test_external_input(conn):
    sim, c = build_simulator(rww(duration=50.0, noise=None), conn)
    params = default_params(sim, c)
    base = integrate(sim, params)["Raw"].data
    zero = integrate(sim, params, stimulus=jnp.zeros((50, 6)))["Raw"].data
    np.testing.assert_array_equal(zero, base)
    pulse = jnp.zeros((50, 6)).at[10:20, 2].set(0.01)
    driven = integrate(sim, params, stimulus=pulse)["Raw"].data
    assert np.abs(driven[:10] - base[:10]).max() == 0
    assert driven[25, 0, 2] > base[25, 0, 2]
    init_fn, step_fn = build_init_and_step_fn(sim)
    s = init_fn(params)
    for k in range(20):
        s = step_fn(s, params, external_input=pulse[k])
    np.testing.assert_allclose(s.x[0], driven[19, 0], atol=1e-14)


def test_prepare_vmap_grad_jacfwd(conn):
    model, state = prepare(rww(monitors=[{"type": "TemporalAverage", "period": 20.0}]), conn)

    def mean_activity(a):
        s = {**state, "coupling": {**state["coupling"], "a": a}}
        return model(s)["TemporalAverage_20ms"].data.mean()

    a_values = jnp.array([0.2, 0.5, 0.8])
    batched = jax.vmap(mean_activity)(a_values)
    np.testing.assert_allclose(batched, [mean_activity(a) for a in a_values], rtol=1e-12)
    g = jax.grad(mean_activity)(0.5)
    j = jax.jacfwd(mean_activity)(0.5)
    assert np.isfinite(g) and g > 0
    np.testing.assert_allclose(g, j, rtol=1e-8)
    full = jax.grad(lambda s: model(s)["TemporalAverage_20ms"].data.mean())(state)
    assert set(full) == {"model", "coupling", "network", "initial"}
    np.testing.assert_allclose(full["coupling"]["a"], g, rtol=1e-10)


def test_no_recompilation_for_new_parameter_values(conn):
    model, state = prepare(rww(), conn)
    model(state)
    assert model.jitted._cache_size() == 1
    for a in (0.1, 0.3, jnp.asarray(0.2)):  # Python floats are weakly typed
        model({**state, "coupling": {**state["coupling"], "a": a}})
    assert model.jitted._cache_size() == 1
    f = jax.jit(lambda s: model(s)["Raw"].data.sum())
    f(state)
    for a in (0.1, 0.3):
        f({**state, "coupling": {**state["coupling"], "a": jnp.asarray(a, dtype=jnp.float64)}})
    assert f._cache_size() == 1


def test_return_new_ics_continues(conn):
    model, state = prepare(rww(duration=200.0, noise=None), conn, return_new_ics=True)
    out1, state2 = model(state)
    out2, _ = model(state2)
    whole, _ = prepare(rww(duration=400.0, noise=None), conn, return_new_ics=True)[0](state)
    np.testing.assert_allclose(
        np.concatenate([out1["Raw"].data, out2["Raw"].data]), whole["Raw"].data, rtol=0, atol=1e-14
    )


def test_regional_parameters(conn):
    sim, c = build_simulator(
        rww(noise=None).with_parameters(model={"I_o": [0.3] * 3 + [0.4] * 3}), conn
    )
    params = default_params(sim, c)
    assert params["model"]["I_o"].shape == (6,)
    x = integrate(sim, params)["Raw"].data
    assert x[-1, 0, 3:].mean() > x[-1, 0, :3].mean()
    with pytest.raises(Exception, match="one entry per region"):
        build = build_simulator(rww().with_parameters(model={"I_o": [0.3, 0.4]}), conn)
        default_params(*build)


def test_monitors_time_axes_and_consistency(conn):
    exp = rww(
        duration=200.0,
        monitors=[
            {"type": "Raw"},
            {"type": "SubSample", "period": 10.0},
            {"type": "TemporalAverage", "period": 10.0},
        ],
    )
    sim, c = build_simulator(exp, conn)
    out = integrate(sim, default_params(sim, c))
    raw, sub, avg = out["Raw"], out["SubSample_10ms"], out["TemporalAverage_10ms"]
    np.testing.assert_allclose(raw.time[:3], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(sub.time[:2], [10.0, 20.0])
    np.testing.assert_allclose(avg.time[:2], [5.0, 15.0])
    np.testing.assert_array_equal(sub.data, raw.data[9::10])
    np.testing.assert_allclose(avg.data, raw.data.reshape(20, 10, 1, 6).mean(1), rtol=1e-13)
    assert raw.labels == c.labels and raw.variables == ("S",) and sub.period == 10.0


def test_bold_fft_and_block_products_agree(conn, monkeypatch):
    from tvbo_pipe.sim import monitors

    exp = rww(duration=30000.0, monitors=[{"type": "Bold", "period": 500.0}])
    exp = Experiment.from_dict(
        {**exp.to_dict(), "integration": {**exp.to_dict()["integration"], "dt": 4.0}}
    )
    # return_new_ics: the BOLD is computed after the loop (block products or FFT)
    blocks, state = prepare(exp, conn, return_new_ics=True)
    a = blocks(state)[0]["Bold_500ms"].data
    monkeypatch.setattr(monitors, "FFT_MIN_SEGMENTS", 0)
    b = prepare(exp, conn, return_new_ics=True)[0](state)[0]["Bold_500ms"].data
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    assert a.shape == (60, 1, 6)


@pytest.mark.parametrize(
    ("dt", "period", "others", "replace_ta"),
    [
        (4.0, 1000.0, [], False),  # an interim sample every step
        (1.0, 2000.0, [{"type": "Raw"}], False),  # interim = mean of 4 steps, another monitor
        (0.5, 720.0, [{"type": "TemporalAverage", "period": 10.0}], False),  # 180 per period
        (1.0, 1000.0, [], True),  # interim samples subsampled
    ],
)
def test_bold_in_the_loop_equals_bold_after_it(conn, dt, period, others, replace_ta):
    from tvbo_pipe.sim.monitors import streamable

    exp = rww(duration=36 * period, monitors=[{"type": "Bold", "period": period}, *others], dt=dt)
    opts = {"replace_temporal_averaging": replace_ta}
    inside, state = prepare(exp, conn, **opts)
    after, _ = prepare(exp, conn, return_new_ics=True, **opts)
    sim = inside.simulator
    assert streamable(sim.plans[0], sim.unit)  # the default model computes BOLD in the loop
    _, warmed = after(state)  # a non-zero BOLD pre-history
    name = sim.plans[0].name
    for s in (state, warmed):
        a, (b, _) = inside(s), after(s)
        assert list(a) == list(b)
        for k in a:
            np.testing.assert_allclose(a[k].data, b[k].data, rtol=1e-12, atol=1e-15)
            np.testing.assert_array_equal(a[k].time, b[k].time)
    assert a[name].data.shape == (36, 1, 6)

    def bold_var(model, a):
        out = model({**warmed, "coupling": {**warmed["coupling"], "a": a}})
        return (out if isinstance(out, dict) else out[0])[name].data.var()

    g_in = jax.grad(lambda a: bold_var(inside, a))(0.5)
    g_after = jax.grad(lambda a: bold_var(after, a))(0.5)
    np.testing.assert_allclose(g_in, g_after, rtol=1e-9)


def test_pre_drawn_noise_gives_the_same_run(conn):
    model, state = prepare(rww(duration=512.0), conn)
    key = jax.random.key(7)
    table = draw_noise(model.simulator, key)
    assert table.shape == (512, 1, 6) and table.dtype == jnp.float32
    np.testing.assert_array_equal(
        model(state, key, table)["Raw"].data, model(state, key)["Raw"].data
    )
    sim, c = build_simulator(rww(duration=400.0), conn)
    params = default_params(sim, c)
    _, mid = integrate(sim, params, n_steps=160, return_states=True)
    later = draw_noise(sim, mid.key, 240, start_step=int(mid.step))
    np.testing.assert_array_equal(
        integrate(sim, params, n_steps=240, all_states=mid, noise=later)["Raw"].data,
        integrate(sim, params, n_steps=240, all_states=mid)["Raw"].data,
    )
    with pytest.raises(ValueError, match="noise must have shape"):
        integrate(sim, params, noise=later)
    assert draw_noise(build_simulator(rww(noise=None), conn)[0], key) is None


def test_balloon_windkessel_bold_is_finite_and_tracks_activity(conn):
    exp = rww(
        duration=20000.0,
        dt=4.0,
        monitors=[{"type": "Bold", "period": 1000.0, "hrf": "BalloonWindkessel"}],
    )
    model, state = prepare(exp, conn)
    y = model(state)["Bold_1000ms"].data
    assert y.shape == (20, 1, 6) and np.isfinite(y).all() and np.abs(y).max() > 0


def test_fast_delay_limit_equals_no_delays(conn):
    sim_inf, c = build_simulator(rww(noise=None), conn)
    sim_fast, _ = build_simulator(rww(noise=None, speed=1e9), conn)
    assert sim_fast.delays is None
    sim_slow, _ = build_simulator(rww(noise=None, speed=2.0), conn)
    assert sim_slow.delays is not None and sim_slow.horizon > 10
    p = default_params(sim_inf, c)
    a = integrate(sim_inf, p)["Raw"].data
    b = integrate(sim_slow, p)["Raw"].data
    assert not np.allclose(a, b)


def test_initial_conditions(conn):
    sim, _ = build_simulator(rww(), conn)
    assert np.allclose(initial_state(sim).x, 0.5)
    exp = Experiment.from_dict({**rww().to_dict(), "initial_conditions": {"type": "random"}})
    x = initial_state(build_simulator(exp, conn)[0]).x
    assert x.min() >= 0 and x.max() <= 1 and np.ptp(x) > 0

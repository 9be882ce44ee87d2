"""Fitting machinery: transforms, sampling, batched exploration, the optax loop."""

import logging
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.errors import ConfigError
from tvbo_pipe.fit.explore import evaluate, sample_points
from tvbo_pipe.fit.optimize import (
    FitState,
    fit,
    make_optimizer,
    make_step,
    resolve_grad_mode,
    strong,
    value_and_grad,
)
from tvbo_pipe.fit.parameters import FreeParameter, ParameterSpace, parse_free_parameters

STATE = {
    "model": {"w": jnp.asarray(0.5), "I_o": jnp.asarray(0.3)},
    "coupling": {"a": jnp.asarray(0.2)},
    "network": {},
}


def space(spec, regional=False, n=3):
    return ParameterSpace.build(parse_free_parameters(spec, key="t", regional=regional), STATE, n)


@pytest.mark.parametrize(
    "param",
    [
        FreeParameter("model.w", 0.0, 2.0),
        FreeParameter("model.w", 0.1, None),
        FreeParameter("model.w", None, 3.0),
        FreeParameter("model.w"),
    ],
)
def test_transforms_round_trip_and_stay_in_bounds(param):
    for v in (0.2, 0.5, 1.7):
        u = param.to_unconstrained(v, 0.7)
        np.testing.assert_allclose(param.to_value(u, 0.7), v, rtol=1e-9)
    for u in (-50.0, 50.0):
        v = float(param.to_value(jnp.asarray(u), 0.7))
        assert (param.low is None or v >= param.low) and (param.high is None or v <= param.high)
    # smooth: the gradient does not vanish near a bound as with clipping
    g = jax.grad(lambda u: param.to_value(u, 0.7))(
        param.to_unconstrained(1.9 if param.high == 2.0 else 0.2, 0.7)
    )
    assert g > 1e-3


def test_parse_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"section\.name") as e:
        parse_free_parameters({"w": [0, 1]}, key="fit_global.parameters")
    assert e.value.key == "fit_global.parameters.w"
    with pytest.raises(ConfigError, match="below"):
        parse_free_parameters({"model.w": [1, 0]}, key="k")
    with pytest.raises(ConfigError, match=r"unknown parameter 'model.x'.*model.I_o"):
        space({"model.x": [0, 1]})


def test_regional_values_broadcast_and_apply():
    s = space({"model.w": [0, 1], "coupling.a": [0, 1]}, regional=True, n=4)
    cur = s.current(STATE)
    assert cur["model.w"].shape == (4,) and np.allclose(cur["model.w"], 0.5)
    new = s.apply(STATE, {"model.w": jnp.arange(4.0) / 10, "coupling.a": jnp.ones(4)})
    assert new["model"]["w"].shape == (4,) and STATE["model"]["w"].shape == ()
    assert new["model"]["I_o"] is STATE["model"]["I_o"]


@pytest.mark.parametrize(
    ("method", "n", "count"),
    [("grid", 4, 16), ("grid", [2, 5], 10), ("random", 7, 7), ("sobol", 8, 8)],
)
def test_sample_points(method, n, count):
    params = parse_free_parameters({"coupling.a": [0.1, 0.9], "model.w": [0.0, 2.0]}, key="k")
    pts = sample_points(params, method=method, n=n, seed=1)
    assert all(v.shape == (count,) for v in pts.values())
    assert (
        pts["coupling.a"].min() >= 0.1
        and pts["coupling.a"].max() <= 0.9
        and pts["model.w"].max() <= 2.0
    )
    if method == "grid":
        assert pts["coupling.a"].min() == 0.1 and pts["coupling.a"].max() == 0.9


def test_evaluate_batches_equal_single_points():
    pts = {"x": np.linspace(-1, 1, 11), "y": np.linspace(0, 2, 11)}

    def fn(v):
        return jnp.stack([v["x"] ** 2 + v["y"], jnp.sin(v["x"])])

    out = evaluate(fn, pts, batch_size=4)
    assert out.shape == (11, 2)
    np.testing.assert_allclose(out[:, 0], pts["x"] ** 2 + pts["y"], rtol=1e-12)


def _quadratic_fit(**kw):
    s = space({"model.w": [0.0, 2.0], "coupling.a": [0.0, 1.0]})

    def loss(values, key):
        return (values["model.w"] - 1.3) ** 2 + 4 * (values["coupling.a"] - 0.25) ** 2

    return s, loss, fit(loss, s, {"model.w": 0.5, "coupling.a": 0.8}, key=jax.random.key(0), **kw)


def test_fit_converges_and_stops_early():
    _, _, res = _quadratic_fit(learning_rate=0.05, steps=1000, tol=1e-9, patience=60)
    assert res.values["model.w"] == pytest.approx(1.3, abs=1e-3)
    assert res.values["coupling.a"] == pytest.approx(0.25, abs=1e-3)
    assert res.stop_reason == "plateau" and res.steps < 1000
    assert res.losses[0] > res.loss and len(res.trajectory) == res.steps


@pytest.mark.parametrize("grad_mode", ["reverse", "forward"])
def test_one_step_function_never_recompiles(grad_mode):
    s, loss, _ = _quadratic_fit(steps=1)
    opt = make_optimizer("adam", 0.05)
    u0 = strong(s.to_unconstrained({"model.w": 0.5, "coupling.a": 0.8}))
    state = strong(FitState(u0, opt.init(u0), jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32)))
    step = make_step(loss, s, opt, grad_mode=grad_mode)
    key = jax.random.key(0)
    for _ in range(5):
        state, *_ = step(state, key)
    assert step._cache_size() == 1


def test_forward_and_reverse_mode_give_the_same_gradient():
    s = space({"model.w": [0.0, 2.0], "coupling.a": [0.0, 1.0]}, regional=True)

    def objective(u, key):
        v = s.to_values(u)
        return jnp.sum(jnp.sin(v["model.w"]) * v["coupling.a"] ** 2) + jax.random.normal(key)

    u = s.to_unconstrained({"model.w": jnp.array([0.2, 0.9, 1.7]), "coupling.a": 0.4})
    key = jax.random.key(1)
    (vr, gr), (vf, gf) = (value_and_grad(objective, m)(u, key) for m in ("reverse", "forward"))
    assert float(vr) == float(vf)
    for k in gr:
        np.testing.assert_allclose(np.asarray(gf[k]), np.asarray(gr[k]), rtol=1e-12)
        assert gf[k].shape == gr[k].shape


def test_grad_mode_auto_picks_forward_for_few_parameters():
    assert resolve_grad_mode("auto", 2) == "forward"
    assert resolve_grad_mode("auto", 2 * 94) == "reverse"
    assert resolve_grad_mode("reverse", 2) == "reverse"
    with pytest.raises(KeyError, match="valid: auto, forward, reverse"):
        resolve_grad_mode("backward", 2)
    _, _, res = _quadratic_fit(steps=2)
    assert res.extra["grad_mode"] == "forward"


def test_non_finite_steps_are_rejected_and_lower_the_learning_rate(caplog):
    s = space({"model.w": [0.0, 2.0]})

    def loss(values, key):  # NaN to the right of 0.9
        w = values["model.w"]
        return jnp.where(w > 0.9, jnp.nan, (w - 1.5) ** 2)

    with caplog.at_level(logging.WARNING, logger="tvbo_pipe.fit.optimize"):
        res = fit(
            loss,
            s,
            {"model.w": 0.5},
            key=jax.random.key(0),
            learning_rate=0.3,
            steps=40,
            patience=0,
        )
    assert res.rejected > 0
    assert all(np.isfinite(v["model.w"]) for v in res.trajectory)
    assert res.values["model.w"] <= 0.9 and np.isfinite(res.loss)
    assert "step rejected, learning rate" in caplog.text
    assert np.isnan(res.losses[~res.accepted]).all()


RESUME_SCRIPT = textwrap.dedent(
    """
    import logging, sys, time, jax, jax.numpy as jnp
    logging.basicConfig(level=logging.INFO)
    from tvbo_pipe.fit.optimize import fit
    from tvbo_pipe.io.checkpoint import NpzCheckpoint
    from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {}, "network": {}}
    s = ParameterSpace.build(parse_free_parameters({"model.w": [0.0, 2.0]}, key="k"), state, 1)
    def slow(_):
        time.sleep(float(sys.argv[2]))
    def loss(v, key):
        jax.debug.callback(slow, v["model.w"])
        return (v["model.w"] - 1.3) ** 2
    res = fit(loss, s, {"model.w": 0.5}, key=jax.random.key(0), learning_rate=0.05, steps=30,
              patience=0, checkpoint=NpzCheckpoint(sys.argv[1]), checkpoint_every=4)
    print("RESULT", res.steps, repr(float(res.values["model.w"])), len(res.trajectory))
    """
)


def test_resume_after_kill(tmp_path):
    script = tmp_path / "run_fit.py"
    script.write_text(RESUME_SCRIPT)
    ckpt = tmp_path / "fit.ckpt.npz"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ckpt), "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert ckpt.exists(), "no checkpoint was written before the kill"
    with np.load(ckpt) as data:
        done = len(data["losses"])
    assert 4 <= done < 30
    resumed = subprocess.run(
        [sys.executable, str(script), str(ckpt), "0"], capture_output=True, text=True, check=True
    )
    fresh = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "other.npz"), "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in resumed.stdout.splitlines() if x.startswith("RESULT"))
    assert line == next(x for x in fresh.stdout.splitlines() if x.startswith("RESULT"))
    assert "resumed from" in resumed.stderr
    assert not ckpt.exists()  # removed once the fit finished

"""Batches split over devices (tvbo_pipe.sim.sharding) and the exploration built on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.fit.explore import make_evaluator
from tvbo_pipe.sim.sharding import padded_size, shard_batch, sharded_map

ROOT = Path(__file__).resolve().parents[2]


def _decay(p):
    """A small scan (leaky integrator driven by ``p["a"]``), two outputs."""

    def body(x, _):
        x = x + 0.1 * (p["a"] - x * p["b"])
        return x, x

    x, xs = jax.lax.scan(body, jnp.zeros(3, p["a"].dtype), None, length=50)
    return {"last": x, "mean": xs.mean()}


def _points(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"a": rng.uniform(0, 1, n), "b": rng.uniform(0.5, 2, n)}


def test_padded_size() -> None:
    assert padded_size(5, 1, 32) == 5
    assert padded_size(70, 1, 32) == 96
    assert padded_size(5, 2, 32) == 6
    assert padded_size(70, 2, 16) == 96  # 35 per device -> 48
    with pytest.raises(ValueError, match="empty batch"):
        padded_size(0, 2, 4)


@pytest.mark.parametrize("n", [1, 7, 12])
def test_shard_batch_matches_vmap(n: int) -> None:
    pts = {k: jnp.asarray(v) for k, v in _points(n).items()}
    want = jax.vmap(_decay)(pts)
    got = shard_batch(_decay, pts, batch_size=4)
    for k in want:
        assert got[k].shape == want[k].shape
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-6)


def test_sharded_map_rejects_ragged_batch() -> None:
    run = sharded_map(_decay, batch_size=4)
    with pytest.raises(ValueError, match="same leading length"):
        run({"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(ValueError, match="batch_size"):
        sharded_map(_decay, batch_size=0)


_TWO_DEVICES = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from tvbo_pipe.fit.explore import make_evaluator
    from tvbo_pipe.sim.sharding import sharded_map

    def f(p):
        def body(x, _):
            x = x + 0.1 * (p["a"] - x * p["b"])
            return x, x
        x, xs = jax.lax.scan(body, jnp.zeros(3, p["a"].dtype), None, length=50)
        return {"last": x, "mean": xs.mean()}

    rng = np.random.default_rng(0)
    pts = {"a": rng.uniform(0, 1, 11), "b": rng.uniform(0.5, 2, 11)}
    run = sharded_map(f, batch_size=4)
    out = run(pts)
    ev = make_evaluator(lambda p: f(p)["mean"], batch_size=4)(pts)
    print(json.dumps({
        "devices": len(jax.devices()),
        "n_devices": run.n_devices,
        "out_devices": len(out["last"].sharding.device_set),
        "last": np.asarray(out["last"]).tolist(),
        "mean": np.asarray(out["mean"]).tolist(),
        "explore": np.asarray(ev).tolist(),
    }))
    """
)


def test_two_cpu_devices_give_the_same_results() -> None:
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _TWO_DEVICES],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    assert got["n_devices"] == 2
    assert got["out_devices"] == 2
    pts = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in _points(11).items()}
    want = jax.vmap(_decay)(pts)
    np.testing.assert_allclose(got["last"], np.asarray(want["last"]), rtol=1e-6)
    np.testing.assert_allclose(got["mean"], np.asarray(want["mean"]), rtol=1e-6)
    np.testing.assert_allclose(got["explore"], np.asarray(want["mean"]), rtol=1e-6)


def test_make_evaluator_one_device() -> None:
    pts = _points(9)
    got = make_evaluator(lambda p: _decay(p)["mean"], batch_size=4)(pts)
    assert isinstance(got, np.ndarray) and got.shape == (9,)
    want = jax.vmap(_decay)({k: jnp.asarray(v) for k, v in pts.items()})["mean"]
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6)


def test_cpu_compiler_options_reach_xla_and_keep_results() -> None:
    pts = _points(9)
    default = sharded_map(_decay, batch_size=4)(pts)  # CPU_COMPILER_OPTIONS
    plain = sharded_map(_decay, batch_size=4, compiler_options={})(pts)
    for k in plain:
        np.testing.assert_allclose(np.asarray(default[k]), np.asarray(plain[k]), rtol=1e-6)
    with pytest.raises(Exception, match="xla_no_such_option"):
        sharded_map(_decay, batch_size=4, compiler_options={"xla_no_such_option": 1})(pts)


@pytest.mark.parametrize("threads", [1, 2])
def test_job_threads_give_as_many_cpu_devices(threads: int) -> None:
    """``tvbo-pipe run --threads N``: N CPU devices, so a batch runs one shard per core."""
    code = (
        "from tvbo_pipe.cli import _limit_threads\n"
        f"_limit_threads({threads})\n"
        "import jax\n"
        "print(jax.device_count())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) == threads

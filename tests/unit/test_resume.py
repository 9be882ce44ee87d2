"""A killed multi-start or CMA-ES fit resumes from its checkpoint to the same result."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.fit.cmaes import fit_cmaes
from tvbo_pipe.fit.multistart import fit_multistart
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.fit.resume import Resumer, settings_digest
from tvbo_pipe.io.checkpoint import NpzCheckpoint


class Killed(Exception):
    """Stands for the job being killed right after a checkpoint was written."""


class KillAfter:
    """Wraps a checkpoint; raises :class:`Killed` after ``n`` saves (``None``: never)."""

    def __init__(self, inner, n: int | None) -> None:
        self.inner, self.n, self.saves = inner, n, 0

    def __str__(self) -> str:
        return str(self.inner)

    def save(self, arrays):
        self.inner.save(arrays)
        self.saves += 1
        if self.n is not None and self.saves >= self.n:
            raise Killed

    def load(self):
        return self.inner.load()

    def clear(self):
        self.inner.clear()


def _space():
    state = {"model": {"w": jnp.asarray(0.5), "v": jnp.asarray(0.2)}, "coupling": {}, "network": {}}
    free = parse_free_parameters({"model.w": [0.0, 2.0], "model.v": [-1.0, 1.0]}, key="k")
    return ParameterSpace.build(free, state, 1)


def _loss(v, key):
    return (v["model.w"] - 1.3) ** 2 + (v["model.v"] + 0.4) ** 2


def _multistart(checkpoint):
    return fit_multistart(
        _loss,
        _space(),
        [{"model.w": 0.5, "model.v": 0.2}, {"model.w": 1.8, "model.v": -0.9}],
        key=jax.random.key(0),
        learning_rate=0.05,
        steps=12,
        patience=0,
        log_every=0,
        checkpoint=checkpoint,
        checkpoint_every=4,
    )


def _cmaes(checkpoint):
    return fit_cmaes(
        _loss,
        _space(),
        {"model.w": 0.5, "model.v": 0.2},
        key=jax.random.key(0),
        population=6,
        generations=8,
        patience=0,
        log_every=0,
        checkpoint=checkpoint,
        checkpoint_every=2,
    )


@pytest.mark.slow
def test_killed_multistart_resumes_to_the_same_result(tmp_path, caplog):
    ckpt = NpzCheckpoint(tmp_path / "ms.ckpt.npz")
    with pytest.raises(Killed):
        _multistart(KillAfter(ckpt, 2))
    assert int(np.load(ckpt.path)["json_n_steps"]) == 8
    with caplog.at_level("INFO"):
        resumed = _multistart(KillAfter(ckpt, None))
    assert "resumed from" in caplog.text
    fresh = _multistart(None)
    assert resumed.best == fresh.best
    for a, b in zip(resumed.runs, fresh.runs, strict=True):
        assert a.steps == b.steps == 12
        np.testing.assert_array_equal(a.losses, b.losses)
        assert a.trajectory == b.trajectory
        assert {k: float(v) for k, v in a.values.items()} == {
            k: float(v) for k, v in b.values.items()
        }
    assert not ckpt.path.exists()  # cleared once the fit finished


@pytest.mark.slow
def test_killed_cmaes_resumes_to_the_same_result(tmp_path, caplog):
    ckpt = NpzCheckpoint(tmp_path / "cma.ckpt.npz")
    with pytest.raises(Killed):
        _cmaes(KillAfter(ckpt, 2))
    assert len(json.loads(str(np.load(ckpt.path)["json_losses"]))) == 5  # start + 4
    with caplog.at_level("INFO"):
        resumed = _cmaes(KillAfter(ckpt, None))
    assert "resumed from" in caplog.text
    fresh = _cmaes(None)
    assert resumed.steps == fresh.steps == 9
    np.testing.assert_array_equal(resumed.losses, fresh.losses)
    assert resumed.trajectory == fresh.trajectory
    assert resumed.loss == fresh.loss
    assert not ckpt.path.exists()


def test_resumer_ignores_other_settings_and_saves_on_its_period(tmp_path):
    ckpt = NpzCheckpoint(tmp_path / "r.npz")
    state = {"a": jnp.arange(3.0), "n": jnp.asarray(2, jnp.int32)}
    r = Resumer(ckpt, settings_digest(x=1), every=3)
    r.save(2, state, book=[1.0, float("inf")])
    assert not ckpt.path.exists()
    r.save(3, state, book=[1.0, float("inf")], arr=np.ones(2))
    back, book = r.restore(state)
    assert back["n"].dtype == jnp.int32 and np.array_equal(back["a"], [0.0, 1.0, 2.0])
    assert book["book"] == [1.0, float("inf")] and np.array_equal(book["arr"], [1.0, 1.0])
    assert Resumer(ckpt, settings_digest(x=2), every=3).restore(state) is None
    r.finish()
    assert not ckpt.path.exists()

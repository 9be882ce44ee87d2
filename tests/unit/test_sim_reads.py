"""Delayed reads from the doubled ring buffer and sparse coupling lists."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.sim.delays import (
    double_history,
    plan_delays,
    read_delayed,
    single_history,
    write_history,
)
from tvbo_pipe.sim.simulator import build_simulator, default_params, integrate
from tvbo_pipe.sim.sparse import SPARSE_DENSITY, SPARSE_MIN_NODES, plan_sparse


def _network(n: int, density: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 1, (n, n)) * (rng.uniform(size=(n, n)) < density)
    np.fill_diagonal(w, 0)
    lengths = rng.uniform(5, 90, (n, n))
    return w, (lengths + lengths.T) / 2


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
def test_doubled_buffer_reads_what_the_ring_buffer_holds(interpolation):
    w, lengths = _network(7, 0.6)
    speed, dt = 2.0, 1.0
    plan = plan_delays(w, lengths, speed, dt, interpolation=interpolation)
    horizon = plan.horizon
    rng = np.random.default_rng(1)
    ring = jnp.asarray(rng.normal(size=(2, horizon, 7)))
    src = plan.src
    for t in (1, horizon - 1, horizon, 3 * horizon + 5):
        got = read_delayed(plan, double_history(ring), jnp.int32(t), jnp.asarray(speed), dt)
        if interpolation == "nearest":
            slots = (t - 1 - plan.idelay) % horizon
            want = np.asarray(ring)[:, slots, src]
        else:
            tau = plan.lengths / (speed * dt)
            d0 = np.minimum(np.floor(tau).astype(int), horizon - 2)
            frac = tau - np.floor(tau)
            newer = np.asarray(ring)[:, (t - 1 - d0) % horizon, src]
            older = np.asarray(ring)[:, (t - 2 - d0) % horizon, src]
            want = newer + frac * (older - newer)
        np.testing.assert_array_equal(np.asarray(got), want)


def test_write_history_round_trips():
    ring = jnp.arange(2 * 5 * 3, dtype=float).reshape(2, 5, 3)
    doubled = write_history(double_history(ring), jnp.full((2, 3), -1.0), jnp.int32(7), 5)
    back = np.asarray(single_history(doubled, 5))
    want = np.asarray(ring).copy()
    want[:, 7 % 5] = -1.0
    np.testing.assert_array_equal(back, want)
    np.testing.assert_array_equal(np.asarray(doubled)[:, 5:], back)


def _experiment(coupling: str, delays: bool) -> Experiment:
    return Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "connectivity": {"conduction_speed": 3.0 if delays else float("inf")},
            "coupling": {"name": coupling},
            "integration": {"method": "Heun", "dt": 1.0, "duration": 300.0, "seed": 3},
            "monitors": [{"type": "Raw"}],
        }
    )


@pytest.mark.parametrize("coupling", ["Linear", "Difference"])
def test_sparse_lists_equal_the_dense_product(coupling):
    w, lengths = _network(12, 0.2)
    conn = Connectome(w / w.max(), lengths, tuple(f"R{k}" for k in range(12)))
    exp = _experiment(coupling, delays=False)
    runs, grads = [], []
    for sparse in (False, True):
        sim, c = build_simulator(exp, conn, dtype=jnp.float64, sparse=sparse)
        assert (sim.sparse is not None) == sparse
        p = default_params(sim, c)

        def total(a, sim=sim, p=p):
            q = {**p, "coupling": {**p["coupling"], "a": a}}
            return integrate(sim, q)["Raw"].data

        runs.append(np.asarray(total(p["coupling"]["a"])))
        grads.append(float(jax.grad(lambda a, f=total: f(a).sum())(p["coupling"]["a"])))
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


def test_sparse_chosen_only_for_large_sparse_networks():
    small, _ = _network(SPARSE_MIN_NODES - 1, SPARSE_DENSITY / 2)
    big_sparse, _ = _network(SPARSE_MIN_NODES, SPARSE_DENSITY / 2)
    big_dense, _ = _network(SPARSE_MIN_NODES, 0.5)
    assert plan_sparse(small) is None
    assert plan_sparse(big_dense) is None
    plan = plan_sparse(big_sparse)
    assert plan is not None
    assert plan.mask.sum() == np.count_nonzero(big_sparse)
    rows, cols = np.nonzero(plan.mask)
    np.testing.assert_array_equal(big_sparse[rows, plan.src[rows, cols]] != 0, True)
    assert plan_sparse(big_dense, sparse=True) is not None
    assert plan_sparse(big_sparse, sparse=False) is None


def test_delayed_runs_use_lists_not_the_sparse_plan():
    w, lengths = _network(8, 0.5)
    conn = Connectome(w / w.max(), lengths, tuple(f"R{k}" for k in range(8)))
    sim, _ = build_simulator(_experiment("Linear", delays=True), conn, sparse=True)
    assert sim.delays is not None and sim.sparse is None

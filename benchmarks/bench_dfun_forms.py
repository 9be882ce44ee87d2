"""Hand-written JAX dfun vs the expression form evaluated under jit (issue 14, item 4).

The expression strings are the source of truth of every model's equations; this
measures whether compiling them to JAX (``evaluate_dfun`` traced under ``jit``)
could replace the hand-written ``dfun`` without a speed loss:

- dfun: a jitted loop of 1000 dfun evaluations on 68 nodes (median of 5);
- simulation: 10 s of a 68-node network (Heun, dt = 0.1 ms, no delays,
  TemporalAverage 1 ms), jitted once, median of 5 runs.

Run from the repository root::

    python benchmarks/bench_dfun_forms.py [MODEL ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import IntegrationSpec, MonitorSpec
from tvbo_pipe.export.render import default_experiment
from tvbo_pipe.models import MODELS
from tvbo_pipe.models.expressions import evaluate_dfun
from tvbo_pipe.sim.simulator import build_simulator, default_params, initial_state, integrate

N = 68
REPEATS = 5


def _median(f) -> float:
    f()  # compile
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _dfun_time(model, dfun) -> float:
    rng = np.random.default_rng(0)
    state = jnp.asarray(np.stack([rng.uniform(*sv.range, N) for sv in model.state_variables]))
    coupling = jnp.asarray(rng.normal(size=(model.n_cvar, N)) * 0.01)
    params = {k: jnp.asarray(v) for k, v in model.default_parameters().items()}

    @jax.jit
    def loop(x):
        return jax.lax.fori_loop(0, 1000, lambda i, y: y + 1e-9 * dfun(y, coupling, params), x)

    return _median(lambda: loop(state))


def _sim_time(model, dfun) -> float:
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 1, (N, N)) * (rng.uniform(size=(N, N)) < 0.3)
    np.fill_diagonal(w, 0.0)
    conn = Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(N)))
    exp = replace(
        default_experiment(model),
        integration=IntegrationSpec(method="Heun", dt=0.1, duration=10_000.0),
        monitors=(MonitorSpec(type="TemporalAverage", period=1.0),),
    ).validate()
    sim, conn = build_simulator(exp, conn)
    sim = replace(sim, model=replace(sim.model, dfun=dfun))
    params, start = default_params(sim, conn), initial_state(sim)
    run = jax.jit(lambda p, s: integrate(sim, p, all_states=s))
    return _median(lambda: run(params, start))


def main(names: list[str]) -> None:
    jax.config.update("jax_enable_x64", True)
    print(f"{'model':24s} {'dfun hand':>10s} {'dfun expr':>10s} {'sim hand':>9s} {'sim expr':>9s}")
    for name in names:
        model = MODELS[name]
        expr = partial(evaluate_dfun, model)
        row = [
            _dfun_time(model, model.dfun) * 1e3,
            _dfun_time(model, expr) * 1e3,
            _sim_time(model, model.dfun),
            _sim_time(model, expr),
        ]
        print(f"{name:24s} {row[0]:8.2f}ms {row[1]:8.2f}ms {row[2]:8.3f}s {row[3]:8.3f}s")


if __name__ == "__main__":
    main(sys.argv[1:] or ["ReducedWongWang", "JansenRit", "Epileptor"])

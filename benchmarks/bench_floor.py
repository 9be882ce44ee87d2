#!/usr/bin/env python
"""Floors of issue 15's unmet speed targets: tvbo_pipe against a minimal hand-written loop.

One command, one process, float64, everything timed in the same run::

    python benchmarks/bench_floor.py        # from the repository root, ~3 min on 2 cores

For each target still unmet in ``benchmarks/README.md`` (delayed tutorial,
TVB's 76-region delayed run, reverse-mode ``value_and_grad``) it times

- tvbo_pipe through its public API (``prepare``) and the peer (tvboptim 0.4.0
  or TVB 2.10) on the workloads of ``bench_simulation.py``;
- a *minimal loop*: a hand-written ``lax.scan`` doing only the irreducible
  work of the same run (the model's Heun step, the delayed read from a doubled
  ring buffer, the noise of the same counter-based generator, a 1 s average
  per output sample, FC and the RMSE loss), with no monitors, no parameter
  pytrees and no framework;
- pieces of that loop (no delays, no noise, the delayed read alone; the
  backward pass alone) that show where the time goes.

Times are process CPU time (``time.process_time``, all threads) and wall
time, minimum of ``--repeats`` calls after a compiling call: the machine is
shared, and the minimum of the CPU time is the least disturbed estimate.
When tvbo_pipe is within ~10-20 % of the minimal loop, ``peer / minimal`` is
the ceiling of the ratio a rewrite of the same algorithm could reach on this
machine. Writes ``benchmarks/results/floor.json`` and prints Markdown tables;
see "Floors" in benchmarks/README.md.
"""

# ruff: noqa: B023  (every closure below is called at once, by timed(), inside its loop)
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_simulation as bs  # noqa: E402  (the workloads and their constants)

RESULTS = HERE / "results" / "floor.json"
UNIT = 500  # steps per checkpointed unit of the minimal loops (tvbo_pipe's loop unit here)
TA_STEPS = 250  # steps per output sample of the tutorial (1 s at dt = 4 ms)


# =========================================================================== timing
def timed(fn, block, repeats: int) -> dict:
    """First call, then ``repeats`` calls: min / median of CPU and wall time (s)."""
    t0, c0 = time.perf_counter(), time.process_time()
    block(fn())
    first = time.perf_counter() - t0
    first_cpu = time.process_time() - c0
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        block(fn())
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    walls.sort()
    cpus.sort()
    return {
        "cpu_min_s": cpus[0],
        "cpu_median_s": cpus[len(cpus) // 2],
        "wall_min_s": walls[0],
        "wall_median_s": walls[len(walls) // 2],
        "first_s": first,
        "first_cpu_s": first_cpu,
        "n": repeats,
    }


# =========================================================================== minimal loops
def minimal_loop(
    *,
    dfun,
    params: dict,
    weights,
    plan,
    n_steps: int,
    dt: float,
    x0: float,
    noise_scale: float | None,
    key,
    out_every: int,
    checkpoint: bool = True,
    save_noise: bool = False,
    unit: int = UNIT,
    step_remat: bool = False,
):
    """The same simulation as tvbo_pipe's, written out: ``run(a, w, weights) -> samples``.

    Heun with the coupling held over the step and the state clamped to [0, 1]
    (TVB's ``bound_and_clamp``), linear coupling ``a * sum_j w_ij S_j(t - d_ij)``
    (``plan`` a :class:`~tvbo_pipe.sim.delays.DelayPlan` for the delayed read
    from a doubled ring buffer; ``None``: ``a * W S``), additive noise of
    tvbo_pipe's counter-based generator (the unit's numbers drawn at once),
    one output sample per ``out_every`` steps: the mean of those steps
    (``out_every == 1``: the state of every step). Checkpointed units of
    ``unit`` steps (``checkpoint``; ``save_noise``: the unit's noise is kept
    for the backward pass instead of drawn again, tvbo_pipe's remat policy;
    ``step_remat``: each step checkpointed too, so that a step stores only its
    carry and its backward pass recomputes the step's internals).
    ``run(a, w, weights, noise_xs)``: ``a``
    the coupling, ``w`` RWW's ``w``, ``weights`` the ``(n, n)`` matrix (an
    argument, as in tvbo_pipe: closed over as a constant, XLA folds it into
    the delayed read's fusion and the loop runs ~2.4x slower), ``noise_xs``
    (``(n_steps, 1, n)`` standard normals) replaces the drawing. ``run``
    returns ``(n_steps / out_every, n)``.
    """
    import jax
    import jax.numpy as jnp
    from jax.ad_checkpoint import checkpoint_name

    from tvbo_pipe.sim.noise import normals

    n = weights.shape[0]
    dtype = jnp.float64
    unit = math.gcd(unit, n_steps) if out_every == 1 else unit
    assert n_steps % unit == 0 and unit % out_every == 0, (n_steps, unit, out_every)
    n_units, per_unit = n_steps // unit, unit // out_every
    if plan is not None:
        horizon = plan.horizon
        offset = jnp.asarray(plan.offset)
        mask, edge = jnp.asarray(plan.mask), jnp.asarray(plan.edge)

    def run(a, wr, w, noise_xs=None):
        mp = {**params, "w": wr}
        if plan is not None:
            w_e = jnp.where(mask, w.reshape(-1)[edge], 0.0)

        def step(carry, z):
            s, hist, t = carry  # s: (1, n); hist: (1, 2H, n) or None
            t = t + 1
            if plan is None:
                c = a * (s @ w.T)
            else:
                base = ((t - 1) % horizon) * n
                xj = hist.reshape(1, -1).at[:, base + offset].get(mode="promise_in_bounds")
                c = a * jnp.sum(w_e * xj, axis=-1)
            inc = 0.0 if z is None else noise_scale * z
            k1 = dfun(s, c, mp)
            inter = jnp.clip(s + dt * k1 + inc, 0.0, 1.0)
            s = jnp.clip(s + 0.5 * dt * (k1 + dfun(inter, c, mp)) + inc, 0.0, 1.0)
            if plan is not None:
                slot = t % horizon
                hist = jax.lax.dynamic_update_index_in_dim(hist, s, slot, axis=1)
                hist = jax.lax.dynamic_update_index_in_dim(hist, s, slot + horizon, axis=1)
            return (s, hist, t), s

        step_fn = jax.checkpoint(step) if step_remat else step

        def unit_fn(carry, zs):
            s, hist, t = carry
            if noise_scale is not None and zs is None:
                zs = normals(key, t + 1 + jnp.arange(unit), (1, n), jnp.float32)
                zs = checkpoint_name(zs, "noise").astype(dtype)
            if zs is not None:
                zs = zs.reshape((per_unit, out_every, 1, n))

            def sample(c, zb):
                if out_every == 1:
                    return step_fn(c, None if zb is None else zb[0])

                def body(i, cc):
                    c, acc = cc
                    c, s = step_fn(c, None if zb is None else zb[i])
                    return c, acc + s

                c, acc = jax.lax.fori_loop(0, out_every, body, (c, jnp.zeros((1, n), dtype)))
                return c, acc / out_every

            return jax.lax.scan(sample, (s, hist, t), zs, length=per_unit)

        policy = jax.checkpoint_policies.save_only_these_names("noise") if save_noise else None
        body = jax.checkpoint(unit_fn, policy=policy) if checkpoint else unit_fn
        s0 = jnp.full((1, n), x0, dtype)
        hist0 = None if plan is None else jnp.full((1, 2 * plan.horizon, n), x0, dtype)
        xs = None if noise_xs is None else noise_xs.reshape((n_units, unit, 1, n))
        _, ys = jax.lax.scan(body, (s0, hist0, jnp.asarray(0, jnp.int32)), xs, length=n_units)
        return ys.reshape(-1, n)

    return run


def gather_only(plan, n_steps: int, x0: float, mode: str = "flat"):
    """The delayed read alone (with the buffer writes that feed it): ``run(w_e) -> (1, n)``.

    ``flat``: tvbo_pipe's read (one flat gather at a scalar offset plus
    constant indices, ``promise_in_bounds``); ``window``: a ``dynamic_slice`` of
    the ``(H + 1) n`` values the step reads, then a gather with constant
    indices; ``ring``: the
    former read, ``(t - 1 - d) % H`` per entry and a 2-D gather. (A one-hot
    read, the window times a constant 0/1 matrix, took 88 s here.)
    """
    import jax
    import jax.numpy as jnp

    n = plan.src.shape[0]
    horizon = plan.horizon
    offset = jnp.asarray(plan.offset)
    src = jnp.asarray(plan.src)
    idelay = jnp.asarray(plan.idelay)

    def run(w_e):
        def step(carry, _):
            hist, t = carry
            t = t + 1
            base = ((t - 1) % horizon) * n
            if mode == "flat":
                xj = hist.reshape(-1).at[base + offset].get(mode="promise_in_bounds")
            elif mode == "window":
                win = jax.lax.dynamic_slice_in_dim(hist.reshape(-1), base, (horizon + 1) * n)
                xj = win.at[offset].get(mode="promise_in_bounds")
            else:
                ring = hist[:horizon]
                xj = ring[(t - 1 - idelay) % horizon, src]
            c = jnp.sum(w_e * xj, axis=-1)
            slot = t % horizon
            hist = jax.lax.dynamic_update_index_in_dim(hist, c, slot, axis=0)
            hist = jax.lax.dynamic_update_index_in_dim(hist, c, slot + horizon, axis=0)
            return (hist, t), None

        hist0 = jnp.full((2 * horizon, n), x0, w_e.dtype)
        (hist, _), _ = jax.lax.scan(step, (hist0, jnp.asarray(0, jnp.int32)), None, length=n_steps)
        return hist[:1]

    return run


def _fc_rmse(jnp, ts, target_u):
    from tvbo_pipe.fit.observations import fc, upper_triangle

    return jnp.sqrt(jnp.mean((upper_triangle(fc(ts)) - target_u) ** 2))


# =========================================================================== workloads
def tutorial_pipe(opts: dict):
    """tvbo_pipe's tutorial model: ``(model, state, series(state) -> (n_samples, n), sim)``.

    ``opts["adjoint"] = False``: the plain loop under ``jax.grad`` too (``prepare``'s
    model otherwise takes the time loop's hand-written adjoint in reverse mode)."""
    from tvbo_pipe.sim.simulator import prepare

    exp, conn, fc_target = bs.tutorial_experiment(opts)
    model, state = prepare(exp, conn, enable_x64=True)
    name = exp.monitors[0].name

    def series(s):
        if not opts.get("adjoint", True):
            return model.jitted(s, adjoint=False)[name].data[:, 0, :]
        return model(s)[name].data[:, 0, :]

    return model, state, series, conn, fc_target


def delay_cases(repeats: int, results: dict) -> None:
    """Delayed tutorial (84 regions, 3 mm/ms): tvbo_pipe, tvboptim, minimal loops."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from tvbo_pipe.fit.observations import fc

    out = results.setdefault("delay", {})
    model, state, series, conn, _ = tutorial_pipe({"x64": True, "delays": True})
    sim = model.simulator
    f = jax.jit(lambda s: fc(series(s)[bs.SKIP_BOLD :]))
    out["tvbo_pipe"] = timed(lambda: f(state), jax.block_until_ready, repeats)
    _, state_ta, series_ta, _, _ = tutorial_pipe(
        {"x64": True, "delays": True, "monitor": "TemporalAverage"}
    )
    f_ta = jax.jit(lambda s: fc(series_ta(s)[bs.SKIP_BOLD :]))
    out["tvbo_pipe-TA"] = timed(lambda: f_ta(state_ta), jax.block_until_ready, repeats)

    t = bs.tvboptim_tutorial({"x64": True, "delays": True}, jax)
    g = jax.jit(t["observe"])
    out["tvboptim"] = timed(lambda: g(t["state"]), jax.block_until_ready, repeats)

    common = dict(
        dfun=sim.model.dfun,
        params=state["model"],
        weights=np.asarray(conn.weights),
        n_steps=sim.n_steps,
        dt=sim.dt,
        x0=bs.S0,
        key=jax.random.key(sim.seed),
        out_every=TA_STEPS,
    )
    scale = float(np.asarray(sim.noise_scale).reshape(-1)[0])
    a = state["coupling"]["a"]
    w = state["model"]["w"]
    W = state["network"]["weights"]
    variants = {
        "minimal": dict(plan=sim.delays, noise_scale=scale),
        "minimal-no-delays": dict(plan=None, noise_scale=scale),
        "minimal-no-noise": dict(plan=sim.delays, noise_scale=None),
        "minimal-no-delays-no-noise": dict(plan=None, noise_scale=None),
    }
    for label, kw in variants.items():
        run = minimal_loop(**common, **kw)
        h = jax.jit(lambda a, w, W, run=run: fc(run(a, w, W)[bs.SKIP_BOLD :]))
        out[label] = timed(lambda h=h: h(a, w, W), jax.block_until_ready, repeats)
        if label == "minimal":
            ta_pipe = np.asarray(series_ta(state_ta))
            ta_min = np.asarray(jax.jit(run)(a, w, W))
            out["check_minimal_vs_tvbo_pipe_TA_max_abs"] = float(np.max(np.abs(ta_pipe - ta_min)))
    plan = sim.delays
    w_e = jnp.asarray(np.where(plan.mask, np.asarray(conn.weights).reshape(-1)[plan.edge], 0.0))
    for mode in ("flat", "window", "ring"):
        run = jax.jit(gather_only(plan, sim.n_steps, bs.S0, mode))
        out[f"read-only/{mode}"] = timed(lambda run=run: run(w_e), jax.block_until_ready, repeats)
    out["reads_per_step"] = int(plan.mask.sum())
    out["entries_per_step"] = int(plan.mask.size)
    out["horizon"] = int(plan.horizon)
    out["n_steps"] = int(sim.n_steps)


def tvb76_cases(repeats: int, results: dict, tvb_repeats: int) -> None:
    """TVB's 76-region delayed run (60 s, dt 1 ms, Raw): tvbo_pipe, TVB, minimal loop."""
    import jax
    import numpy as np

    out = results.setdefault("tvb76", {})
    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.io.connectome import load_tvb_zip
    from tvbo_pipe.sim.simulator import prepare

    conn = load_tvb_zip(bs._tvb76_zip())
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang"},
            "coupling": {"name": "Linear"},
            "connectivity": {"conduction_speed": bs.SPEED, "delay_interpolation": "nearest"},
            "integration": {"method": "Heun", "dt": bs.TVB_DT, "duration": bs.TVB_DURATION},
            "monitors": [{"type": "Raw"}],
            "initial_conditions": {"type": "given", "values": {"S": bs.TVB_S0}},
        }
    )
    model, state = prepare(exp, conn, enable_x64=True)
    sim = model.simulator
    name = exp.monitors[0].name
    f = model.jitted
    out["tvbo_pipe"] = timed(lambda: f(state)[name].data, jax.block_until_ready, repeats)
    raw_pipe = np.asarray(f(state)[name].data[:, 0, :])

    common = dict(
        dfun=sim.model.dfun,
        params=state["model"],
        weights=np.asarray(conn.weights),
        n_steps=sim.n_steps,
        dt=sim.dt,
        x0=bs.TVB_S0,
        noise_scale=None,
        key=None,
        out_every=1,
    )
    a = state["coupling"]["a"]
    w = state["model"]["w"]
    W = state["network"]["weights"]
    for label, plan in (("minimal", sim.delays), ("minimal-no-delays", None)):
        run = jax.jit(minimal_loop(**common, plan=plan))
        out[label] = timed(lambda run=run: run(a, w, W), jax.block_until_ready, repeats)
        if label == "minimal":
            out["check_minimal_vs_tvbo_pipe_max_abs"] = float(
                np.max(np.abs(np.asarray(run(a, w, W)) - raw_pipe))
            )
    plan = sim.delays
    w_e = np.where(plan.mask, np.asarray(conn.weights).reshape(-1)[plan.edge], 0.0)
    for mode in ("flat", "window", "ring"):
        run = jax.jit(gather_only(plan, sim.n_steps, bs.TVB_S0, mode))
        out[f"read-only/{mode}"] = timed(lambda run=run: run(w_e), jax.block_until_ready, repeats)
    out["reads_per_step"] = int(plan.mask.sum())
    out["entries_per_step"] = int(plan.mask.size)
    out["horizon"] = int(plan.horizon)
    out["n_steps"] = int(sim.n_steps)

    make, _ = bs._tvb_setup()
    sims = [make() for _ in range(tvb_repeats + 1)]
    out["tvb"] = timed(lambda: sims.pop().run(), lambda r: r, tvb_repeats)


def grad_cases(repeats: int, results: dict) -> None:
    """Reverse-mode value_and_grad of the tutorial loss (no delays): tvbo_pipe, tvboptim, minimal."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from tvbo_pipe.fit.observations import upper_triangle

    out = results.setdefault("grad", {})
    for label, monitor, adjoint in (
        ("tvbo_pipe", "Bold", True),
        ("tvbo_pipe-autodiff", "Bold", False),
        ("tvbo_pipe-TA", "TemporalAverage", True),
    ):
        model, state, series, conn, fc_target = tutorial_pipe(
            {"x64": True, "monitor": monitor, "adjoint": adjoint}
        )
        target_u = upper_triangle(jnp.asarray(fc_target))

        def loss(a, w, state=state, series=series, target_u=target_u):
            s = {
                **state,
                "coupling": {**state["coupling"], "a": a},
                "model": {**state["model"], "w": w},
            }
            return _fc_rmse(jnp, series(s)[bs.SKIP_BOLD :], target_u)

        a, w = state["coupling"]["a"], state["model"]["w"]
        fwd = jax.jit(loss)
        out[f"{label}/forward"] = timed(lambda fwd=fwd: fwd(a, w), jax.block_until_ready, repeats)
        vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        out[f"{label}/value_and_grad"] = timed(
            lambda vg=vg: vg(a, w), jax.block_until_ready, repeats
        )
        if label == "tvbo_pipe-autodiff":
            out["tvbo_pipe-autodiff/grad"] = [float(v) for v in vg(a, w)[1]]
        if label == "tvbo_pipe":
            out["tvbo_pipe/grad"] = [float(v) for v in vg(a, w)[1]]
            vjp_fwd = jax.jit(lambda a, w, loss=loss: jax.vjp(loss, a, w))
            out["tvbo_pipe/vjp-forward"] = timed(
                lambda: vjp_fwd(a, w), jax.block_until_ready, repeats
            )
            _, pullback = vjp_fwd(a, w)
            bwd = jax.jit(lambda p, ct: p(ct))
            one = jnp.asarray(1.0)
            out["tvbo_pipe/vjp-backward"] = timed(
                lambda: bwd(pullback, one), jax.block_until_ready, repeats
            )
            sim = model.simulator
            pipe = (model, state, conn, fc_target, sim)

    model, state, conn, fc_target, sim = pipe
    target_u = upper_triangle(jnp.asarray(fc_target))
    scale = float(np.asarray(sim.noise_scale).reshape(-1)[0])
    a, w = state["coupling"]["a"], state["model"]["w"]
    W = state["network"]["weights"]
    key = jax.random.key(sim.seed)
    common = dict(
        dfun=sim.model.dfun,
        params=state["model"],
        weights=np.asarray(conn.weights),
        plan=None,
        n_steps=sim.n_steps,
        dt=sim.dt,
        x0=bs.S0,
        noise_scale=scale,
        key=key,
        out_every=TA_STEPS,
    )
    from tvbo_pipe.sim.noise import normals

    pre = normals(key, 1 + jnp.arange(sim.n_steps), (1, sim.n_nodes), jnp.float64)
    variants = {
        "minimal": ({}, None),
        "minimal-noise-given": ({}, pre),
        "minimal-no-noise": ({"noise_scale": None}, None),
        "minimal-no-checkpoint": ({"checkpoint": False}, None),
        "minimal-save-noise": ({"save_noise": True}, None),
        "minimal-unit-250": ({"unit": 250}, None),
        "minimal-unit-1500": ({"unit": 1500}, None),
        "minimal-step-remat": ({"step_remat": True}, None),
    }
    for label, (kw, z) in variants.items():
        run = minimal_loop(**{**common, **kw})

        def loss(a, w, W, z, run=run):
            return _fc_rmse(jnp, run(a, w, W, z)[bs.SKIP_BOLD :], target_u)

        fwd = jax.jit(loss)
        out[f"{label}/forward"] = timed(
            lambda fwd=fwd, z=z: fwd(a, w, W, z), jax.block_until_ready, repeats
        )
        vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        out[f"{label}/value_and_grad"] = timed(
            lambda vg=vg, z=z: vg(a, w, W, z), jax.block_until_ready, repeats
        )
        if label == "minimal":
            out["minimal/grad"] = [float(v) for v in vg(a, w, W, None)[1]]
            vjp_fwd = jax.jit(
                lambda a, w, W, loss=loss: jax.vjp(lambda a, w: loss(a, w, W, None), a, w)
            )
            out["minimal/vjp-forward"] = timed(
                lambda: vjp_fwd(a, w, W), jax.block_until_ready, repeats
            )
            _, pullback = vjp_fwd(a, w, W)
            bwd = jax.jit(lambda p, ct: p(ct))
            one = jnp.asarray(1.0)
            out["minimal/vjp-backward"] = timed(
                lambda: bwd(pullback, one), jax.block_until_ready, repeats
            )

    for label, opts in (
        ("tvboptim", {"x64": True}),
        ("tvboptim-block", {"x64": True, "block_size": bs.TVBOPTIM_GRAD_BLOCK}),
    ):
        t = bs.tvboptim_tutorial(opts, jax)
        vg = jax.jit(jax.value_and_grad(t["loss"], argnums=(0, 1)))
        args = (t["state"].coupling[t["cname"]].G, t["state"].dynamics.w)
        out[f"{label}/value_and_grad"] = timed(lambda: vg(*args), jax.block_until_ready, repeats)


# =========================================================================== report
def _cpu(d: dict, k: str) -> float:
    return d[k]["cpu_min_s"]


def markdown(results: dict) -> str:
    lines = []
    for section, rows in results.items():
        if not isinstance(rows, dict) or section in ("machine", "ratios"):
            continue
        lines += [
            f"\n### {section}\n",
            "| case | CPU min (s) | CPU median (s) | wall min (s) | wall median (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for k, v in rows.items():
            if isinstance(v, dict) and "cpu_min_s" in v:
                lines.append(
                    f"| {k} | {v['cpu_min_s']:.4f} | {v['cpu_median_s']:.4f} | "
                    f"{v['wall_min_s']:.4f} | {v['wall_median_s']:.4f} |"
                )
        extra = {k: v for k, v in rows.items() if not (isinstance(v, dict) and "cpu_min_s" in v)}
        if extra:
            lines.append(f"\n{extra}")
    lines += ["\n### floors (CPU time, min)\n", "| ratio | value |", "|---|---:|"]
    for name, value in results.get("ratios", {}).items():
        lines.append(f"| {name} | {value:.2f} |")
    return "\n".join(lines)


def ratios(results: dict) -> dict:
    r = {}
    d = results.get("delay")
    if d:
        r["delay: tvboptim / tvbo_pipe"] = _cpu(d, "tvboptim") / _cpu(d, "tvbo_pipe")
        r["delay: tvbo_pipe-TA / minimal"] = _cpu(d, "tvbo_pipe-TA") / _cpu(d, "minimal")
        r["delay: tvboptim / minimal (ceiling)"] = _cpu(d, "tvboptim") / _cpu(d, "minimal")
        r["delay: tvboptim / minimal-no-delays"] = _cpu(d, "tvboptim") / _cpu(
            d, "minimal-no-delays"
        )
        r["delay: read cost per step (us), minimal - minimal-no-delays"] = (
            1e6 * (_cpu(d, "minimal") - _cpu(d, "minimal-no-delays")) / d["n_steps"]
        )
        r["delay: ns per value read (read-only/flat)"] = (
            1e9 * _cpu(d, "read-only/flat") / d["n_steps"] / d["entries_per_step"]
        )
    t = results.get("tvb76")
    if t:
        r["tvb76: TVB / tvbo_pipe"] = _cpu(t, "tvb") / _cpu(t, "tvbo_pipe")
        r["tvb76: TVB wall / tvbo_pipe wall"] = (
            t["tvb"]["wall_min_s"] / t["tvbo_pipe"]["wall_min_s"]
        )
        r["tvb76: tvbo_pipe / minimal"] = _cpu(t, "tvbo_pipe") / _cpu(t, "minimal")
        r["tvb76: TVB / minimal (ceiling)"] = _cpu(t, "tvb") / _cpu(t, "minimal")
        r["tvb76: TVB / minimal-no-delays"] = _cpu(t, "tvb") / _cpu(t, "minimal-no-delays")
    g = results.get("grad")
    if g:
        r["grad: tvboptim / tvbo_pipe"] = _cpu(g, "tvboptim/value_and_grad") / _cpu(
            g, "tvbo_pipe/value_and_grad"
        )
        if "tvbo_pipe-autodiff/value_and_grad" in g:  # runs since the adjoint
            r["grad: tvboptim / tvbo_pipe-autodiff (adjoint off)"] = _cpu(
                g, "tvboptim/value_and_grad"
            ) / _cpu(g, "tvbo_pipe-autodiff/value_and_grad")
            r["grad: tvbo_pipe-autodiff / tvbo_pipe (adjoint speed-up)"] = _cpu(
                g, "tvbo_pipe-autodiff/value_and_grad"
            ) / _cpu(g, "tvbo_pipe/value_and_grad")
        r["grad: tvbo_pipe-TA / minimal"] = _cpu(g, "tvbo_pipe-TA/value_and_grad") / _cpu(
            g, "minimal/value_and_grad"
        )
        same = [k for k in g if k.startswith("minimal") and k.endswith("/value_and_grad")]
        same = [k for k in same if "noise-given" not in k and "no-noise" not in k]
        best = min(same, key=lambda k: _cpu(g, k))
        r[f"grad: tvboptim / fastest minimal variant ({best.split('/')[0]}), ceiling"] = _cpu(
            g, "tvboptim/value_and_grad"
        ) / _cpu(g, best)
        r["grad: tvboptim / minimal-no-noise"] = _cpu(g, "tvboptim/value_and_grad") / _cpu(
            g, "minimal-no-noise/value_and_grad"
        )
        r["grad: tvboptim / minimal-noise-given"] = _cpu(g, "tvboptim/value_and_grad") / _cpu(
            g, "minimal-noise-given/value_and_grad"
        )
        r["grad: tvbo_pipe value_and_grad / forward"] = _cpu(g, "tvbo_pipe/value_and_grad") / _cpu(
            g, "tvbo_pipe/forward"
        )
        r["grad: minimal value_and_grad / forward"] = _cpu(g, "minimal/value_and_grad") / _cpu(
            g, "minimal/forward"
        )
    return r


def machine() -> dict:
    import jax

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = None
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "commit": commit,
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per case (min is kept)")
    ap.add_argument("--tvb-repeats", type=int, default=3, help="timed TVB runs (each ~4 s)")
    ap.add_argument(
        "--only", nargs="*", choices=("delay", "tvb76", "grad"), help="run only these workloads"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--report", type=Path, help="print the tables of an earlier run's JSON (runs nothing)"
    )
    args = ap.parse_args(argv)
    if args.report:
        results = json.loads(args.report.read_text())
        results["ratios"] = ratios(results)
        print(markdown(results))
        return 0
    jax = bs._jax_setup(True)
    del jax
    only = set(args.only or ("delay", "tvb76", "grad"))
    results: dict = {"machine": machine()}
    t0 = time.perf_counter()
    if "delay" in only:
        delay_cases(args.repeats, results)
    if "tvb76" in only:
        tvb76_cases(args.repeats, results, args.tvb_repeats)
    if "grad" in only:
        grad_cases(args.repeats, results)
    results["ratios"] = ratios(results)
    results["machine"]["total_s"] = time.perf_counter() - t0
    results["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    print(f"\nwrote {args.out} ({results['machine']['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Fitting speed (issue 4, item 8): exploration and optimiser steps, tvbo_pipe
side by side with tvboptim 0.4.0 on the tutorial workload, in one run.

The workload is the one of ``bench_simulation.py`` (tvboptim's RWW BOLD-FC
tutorial: 84 regions, dt 4 ms, 2 min, noise, BOLD every 1 s, FC after 20 s,
RMSE to the empirical dk_average FC):

- **explore**: the loss on a grid of (global coupling, w), both in
  [0.05, 1.0]. tvboptim: ``Space(..., mode="product")`` of two ``GridAxis``
  and ``ParallelExecution(loss, space, n_vmap=16)`` (all 16 points of its
  4 x 4 grid in one vmapped batch). tvbo_pipe: what the ``explore`` stage
  runs, ``make_evaluator(problem.metrics_fn(space), batch_size=B)`` on the
  warmed-up-free problem of ``build_problem`` (loss, FC correlation and
  RMSE per point), 4 x 4 and 8 x 8 grids. float64 and float32 (the
  pipeline's default exploration precision). The ``-2cpu`` cases give each
  tool two CPU devices (``jax_num_cpu_devices = 2``, i.e. one thread per
  core): tvboptim ``ParallelExecution(n_vmap=8, n_pmap=2)``, tvbo_pipe
  ``sharded_map`` (one shard per device), which is what ``tvbo-pipe run
  explore --threads 2`` does. Per point, the table gives wall and CPU time
  (``process_time``, all threads) of the steady calls.
- **step**: optimiser steps of Adam on (coupling, w). tvboptim:
  ``OptaxOptimizer(loss, optax.adam(lr)).run(state, max_steps=12, mode=...)``
  with the two values as ``Parameter`` leaves, timed per step through its
  callback (reverse mode as in the tutorial, and forward mode). tvbo_pipe:
  the jitted step of ``tvbo_pipe.fit.optimize.make_step`` as ``fit`` runs it
  (one noise realisation, bounded parameters), forward mode (the default for
  two parameters) and reverse mode; the number of compilations is counted.

Each case runs in its own process with the persistent compilation cache off
(see ``bench_simulation.run_cases``). ``compile`` is the first call (or
step) minus the steady median; for steps the second step is shown on its own
because tvboptim recompiles there.

Usage (from the repository root, bench extra installed)::

    python benchmarks/bench_fitting.py          # ~3 min on a quiet 2-core machine

writes ``benchmarks/results/fitting.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_simulation as bs  # noqa: E402

RESULTS = HERE / "results" / "fitting.json"
BOUNDS = (0.05, 1.0)  # of both explored parameters
STEPS = 12
LEARNING_RATE = 0.005

TARGETS = {"explore_throughput_ratio": 10.0, "step_speedup": 3.0}

CASES: list[tuple[str, str, dict]] = [
    ("explore/f64/tvboptim-4x4", "tvboptim_explore", {"x64": True, "n": 4}),
    ("explore/f64/tvbo_pipe-4x4-b16", "tvbo_pipe_explore", {"x64": True, "n": 4, "batch": 16}),
    ("explore/f64/tvbo_pipe-8x8-b32", "tvbo_pipe_explore", {"x64": True, "n": 8, "batch": 32}),
    ("explore/f32/tvboptim-4x4", "tvboptim_explore", {"x64": False, "n": 4}),
    ("explore/f32/tvbo_pipe-4x4-b16", "tvbo_pipe_explore", {"x64": False, "n": 4, "batch": 16}),
    ("explore/f32/tvbo_pipe-8x8-b64", "tvbo_pipe_explore", {"x64": False, "n": 8, "batch": 64}),
    ("explore/f64/tvboptim-4x4-2cpu", "tvboptim_explore", {"x64": True, "n": 4, "cpus": 2}),
    (
        "explore/f64/tvbo_pipe-8x8-b32-2cpu",
        "tvbo_pipe_explore",
        {"x64": True, "n": 8, "batch": 32, "cpus": 2},
    ),
    ("explore/f32/tvboptim-4x4-2cpu", "tvboptim_explore", {"x64": False, "n": 4, "cpus": 2}),
    (
        "explore/f32/tvbo_pipe-8x8-b32-2cpu",
        "tvbo_pipe_explore",
        {"x64": False, "n": 8, "batch": 32, "cpus": 2},
    ),
    ("step/f64/tvboptim-rev", "tvboptim_step", {"x64": True, "mode": "rev"}),
    ("step/f64/tvboptim-fwd", "tvboptim_step", {"x64": True, "mode": "fwd"}),
    ("step/f64/tvbo_pipe-forward", "tvbo_pipe_step", {"x64": True, "mode": "forward"}),
    ("step/f64/tvbo_pipe-reverse", "tvbo_pipe_step", {"x64": True, "mode": "reverse"}),
]


# =========================================================================== workers
def _grid(n: int):
    import numpy as np

    axis = np.linspace(*BOUNDS, n)
    a, w = np.meshgrid(axis, axis, indexing="ij")
    return a.ravel(), w.ravel()


def _cpu_devices(opts: dict):
    """Set JAX's CPU device count (``opts["cpus"]``, default 1) before JAX starts; returns jax."""
    import jax

    jax.config.update("jax_num_cpu_devices", int(opts.get("cpus", 1)))
    jax = bs._jax_setup(opts["x64"])
    if jax.device_count() != int(opts.get("cpus", 1)):
        raise RuntimeError(
            f"asked for {opts.get('cpus', 1)} CPU devices, JAX has {jax.device_count()}"
        )
    return jax


def _tvboptim(opts: dict):
    """``(jax, tutorial state, coupling name, loss(state))`` of tvboptim's tutorial."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    jax = _cpu_devices(opts)
    t = bs.tvboptim_tutorial(opts, jax)

    def loss(s):
        return t["rmse"](t["observe"](s), t["fc_target"])

    return jax, t["state"], t["cname"], loss


def work_tvboptim_explore(opts: dict, repeats: int, arrays: Path) -> dict:
    import copy

    jax, state, cname, loss = _tvboptim(opts)
    import numpy as np
    from tvboptim.execution import ParallelExecution
    from tvboptim.types.spaces import GridAxis, Space

    n = opts["n"]
    grid_state = copy.deepcopy(state)
    grid_state.coupling[cname].G = GridAxis(*BOUNDS, n)
    grid_state.dynamics.w = GridAxis(*BOUNDS, n)
    space = Space(grid_state, mode="product")
    n_pmap = int(opts.get("cpus", 1))
    execution = ParallelExecution(loss, space, n_vmap=n * n // n_pmap, n_pmap=n_pmap)
    out, timing = bs._measure(lambda: execution.run().results, jax.block_until_ready, repeats, 0)
    losses = np.asarray(out, dtype=float).reshape(-1)[: n * n]
    np.save(arrays.with_suffix(".npy"), losses)
    points = n * n
    return {
        "timing": timing,
        "info": {
            "points": points,
            "n_vmap": n * n // n_pmap,
            "n_pmap": n_pmap,
            "loss_range": _range(losses),
        },
    }


def _tvbo_pipe_problem(opts: dict):
    from tvbo_pipe.fit.parameters import FreeParameter, ParameterSpace
    from tvbo_pipe.fit.problem import build_problem

    exp, conn, fc_target = bs.tutorial_experiment(opts)
    problem = build_problem(
        exp, conn, fc_target, transient_ms=bs.SKIP_BOLD * bs.BOLD_PERIOD, loss="rmse",
        warmup=False, enable_x64=opts["x64"],
    )  # fmt: skip
    params = [FreeParameter("coupling.a", *BOUNDS), FreeParameter("model.w", *BOUNDS)]
    return problem, ParameterSpace.build(params, problem.state, conn.n_regions)


def work_tvbo_pipe_explore(opts: dict, repeats: int, arrays: Path) -> dict:
    jax = _cpu_devices(opts)
    import numpy as np

    from tvbo_pipe.fit.explore import make_evaluator

    problem, space = _tvbo_pipe_problem(opts)
    a, w = _grid(opts["n"])
    points = {"coupling.a": a, "model.w": w}
    run = make_evaluator(problem.metrics_fn(space), batch_size=opts["batch"])
    out, timing = bs._measure(lambda: run(points), jax.block_until_ready, repeats, 0)
    losses = np.asarray(out, dtype=float)[:, 0]
    np.save(arrays.with_suffix(".npy"), losses)
    info = {
        "points": len(a),
        "batch_size": opts["batch"],
        "cpu_devices": int(opts.get("cpus", 1)),
        "loss_range": _range(losses),
    }
    return {"timing": timing, "info": info}


def _cpu_ms(timing: dict, points: int) -> str:
    cpu = timing.get("steady_cpu_s")
    return "n/a" if cpu is None else f"{1000 * cpu / points:.1f}"


def _range(x) -> list[float]:
    return [float(min(x)), float(max(x))]


def _step_timing(times: list[float]) -> dict:
    steady = statistics.median(times[2:])
    return {
        "first_s": times[0],
        "second_s": times[1],
        "steady_s": steady,
        "steady_min_s": min(times[2:]),
        "steady_max_s": max(times[2:]),
        "n_runs": len(times) - 2,
        "times_s": times,
        "compile_s": times[0] - steady,
        "rss_peak_mb": bs._maxrss_mb(),
    }


def work_tvboptim_step(opts: dict, repeats: int, arrays: Path) -> dict:
    import copy

    jax, state, cname, loss = _tvboptim(opts)
    import optax
    from tvboptim.optim.optax import OptaxOptimizer
    from tvboptim.types.parameter import Parameter

    fit_state = copy.deepcopy(state)
    fit_state.coupling[cname].G = Parameter(fit_state.coupling[cname].G)
    fit_state.dynamics.w = Parameter(fit_state.dynamics.w)
    stamps, losses = [], []

    def callback(i, diff, static, data, aux, loss_value, grads):
        losses.append(float(jax.block_until_ready(loss_value)))
        stamps.append(time.perf_counter())
        return False, diff, static

    opt = OptaxOptimizer(loss, optax.adam(LEARNING_RATE), callback=callback)
    t0 = time.perf_counter()
    opt.run(fit_state, max_steps=STEPS, mode=opts["mode"])
    times = [b - a for a, b in zip([t0, *stamps[:-1]], stamps, strict=True)]
    return {"timing": _step_timing(times), "info": {"losses": losses, "mode": opts["mode"]}}


def work_tvbo_pipe_step(opts: dict, repeats: int, arrays: Path) -> dict:
    bs._jax_setup(opts["x64"])
    import jax.numpy as jnp

    from tvbo_pipe.fit.optimize import FitState, make_optimizer, make_step, strong

    problem, space = _tvbo_pipe_problem(opts)
    opt = make_optimizer("adam", LEARNING_RATE)
    u0 = strong(space.to_unconstrained(space.current(problem.state)))
    zero = jnp.asarray(0, jnp.int32)
    state = strong(FitState(u0, opt.init(u0), zero, zero))
    step = make_step(problem.loss_fn(space, fixed_noise=True), space, opt, grad_mode=opts["mode"])
    times, losses = [], []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        state, loss, _, _ = step(state, problem.key)
        losses.append(float(loss))  # as fit() does: one sync per step
        times.append(time.perf_counter() - t0)
    info = {"losses": losses, "mode": opts["mode"], "compilations": step._cache_size()}
    return {"timing": _step_timing(times), "info": info}


WORKERS = {
    "tvboptim_explore": work_tvboptim_explore,
    "tvbo_pipe_explore": work_tvbo_pipe_explore,
    "tvboptim_step": work_tvboptim_step,
    "tvbo_pipe_step": work_tvbo_pipe_step,
}


# =========================================================================== report
def markdown(results: dict) -> tuple[str, list[dict]]:
    lines = [
        "| case | points | compile (s) | steady (s) | per point (ms) | CPU per point (ms) | simulations/s | peak RSS (MB) | foreign CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cid, r in results.items():
        if not cid.startswith("explore/") or "timing" not in r:
            continue
        tm, pts = r["timing"], r["info"]["points"]
        lines.append(
            f"| {cid} | {pts} | {tm['compile_s']:.2f} | {tm['steady_s']:.3f} | "
            f"{1000 * tm['steady_s'] / pts:.1f} | {_cpu_ms(tm, pts)} | {pts / tm['steady_s']:.1f} | "
            f"{tm['rss_peak_mb']:.0f} | {r['foreign_cpu_fraction']:.0%} |"
        )
    lines += [
        "",
        "| case | step 1 (s) | step 2 (s) | steady step (s) | min-max (s) | compilations | peak RSS (MB) | foreign CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cid, r in results.items():
        if not cid.startswith("step/") or "timing" not in r:
            continue
        tm = r["timing"]
        lines.append(
            f"| {cid} | {tm['first_s']:.2f} | {tm['second_s']:.2f} | {tm['steady_s']:.3f} | "
            f"{tm['steady_min_s']:.3f}-{tm['steady_max_s']:.3f} | "
            f"{r['info'].get('compilations', 'n/a')} | {tm['rss_peak_mb']:.0f} | "
            f"{r['foreign_cpu_fraction']:.0%} |"
        )

    def per_point(cid):
        r = results.get(cid)
        return r["timing"]["steady_s"] / r["info"]["points"] if r and "timing" in r else None

    def cpu_point(cid):
        r = results.get(cid)
        if not r or "timing" not in r or "steady_cpu_s" not in r["timing"]:
            return None
        return r["timing"]["steady_cpu_s"] / r["info"]["points"]

    def steady(cid):
        r = results.get(cid)
        return r["timing"]["steady_s"] if r and "timing" in r else None

    def best(prefix, f, cpus=None):
        vals = [
            (f(c), c)
            for c in results
            if c.startswith(prefix)
            and f(c) is not None
            and (cpus is None or (c.endswith("-2cpu") == (cpus == 2)))
        ]
        return min(vals) if vals else (None, None)

    rows = []
    explore_rows = []
    for prec in ("f64", "f32"):
        tv1 = best(f"explore/{prec}/tvboptim", per_point, 1)
        explore_rows += [
            (f"exploration throughput {prec}, one CPU device each",
             tv1, best(f"explore/{prec}/tvbo_pipe", per_point, 1)),
            (f"exploration throughput {prec}, two CPU devices each",
             best(f"explore/{prec}/tvboptim", per_point, 2),
             best(f"explore/{prec}/tvbo_pipe", per_point, 2)),
            (f"exploration throughput {prec}, tvboptim's tutorial setting (one device) "
             "against tvbo_pipe on two", tv1, best(f"explore/{prec}/tvbo_pipe", per_point, 2)),
            (f"exploration CPU time per point {prec}, one CPU device each",
             best(f"explore/{prec}/tvboptim", cpu_point, 1),
             best(f"explore/{prec}/tvbo_pipe", cpu_point, 1)),
        ]  # fmt: skip
    for label, ref, ours, target in (
        *[(lab, r, o, TARGETS["explore_throughput_ratio"]) for lab, r, o in explore_rows],
        ("exploration throughput, pipeline default (float32) against the tutorial (float64)",
         best("explore/f64/tvboptim", per_point, 1), best("explore/f32/tvbo_pipe", per_point),
         TARGETS["explore_throughput_ratio"]),
        ("optimiser step, fastest of each (steady)",
         best("step/f64/tvboptim", steady), best("step/f64/tvbo_pipe", steady),
         TARGETS["step_speedup"]),
        ("optimiser step, same (reverse) mode (steady)",
         (steady("step/f64/tvboptim-rev"), "step/f64/tvboptim-rev"),
         (steady("step/f64/tvbo_pipe-reverse"), "step/f64/tvbo_pipe-reverse"),
         TARGETS["step_speedup"]),
    ):  # fmt: skip
        ratio = ref[0] / ours[0] if ref[0] and ours[0] else None
        rows.append(
            {"what": label, "reference": ref[1], "tvbo_pipe": ours[1], "ratio": ratio,
             "target": target, "met": ratio is not None and ratio >= target}
        )  # fmt: skip
    lines += ["", "| target | reference case | tvbo_pipe case | ratio | goal | met |",
              "|---|---|---|---:|---:|:---:|"]  # fmt: skip
    for row in rows:
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        lines.append(
            f"| {row['what']} | {row['reference']} | {row['tvbo_pipe']} | {ratio} | "
            f">= {row['target']:g}x | {'yes' if row['met'] else '**no**'} |"
        )
    return "\n".join(lines), rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="steady calls per exploration case")
    ap.add_argument("--only", nargs="*", help="run only cases whose id starts with one of these")
    ap.add_argument("--wait-quiet", type=float, default=60.0, metavar="S")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--max-wait", type=float, default=240.0, metavar="S")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--out", type=Path, default=RESULTS)
    bs.add_worker_arguments(ap)
    args = ap.parse_args(argv)
    if args.worker:
        return bs.run_worker(args, WORKERS, max(3, args.repeats))
    cases = [c for c in CASES if not args.only or any(c[0].startswith(p) for p in args.only)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmpd:
        results = bs.run_cases(
            cases, Path(tmpd), repeats=args.repeats, wait_quiet=args.wait_quiet,
            retries=args.retries, max_wait=args.max_wait, timeout=args.timeout,
            script=Path(__file__).resolve(),
        )  # fmt: skip
        import numpy as np

        grids = {}
        for cid, r in results.items():
            p = Path(r.get("arrays", "")).with_suffix(".npy")
            if cid.startswith("explore/") and p.is_file():
                grids[cid] = np.load(p).tolist()
    for r in results.values():
        r.pop("arrays", None)
    table, rows = markdown(results)
    doc = {
        "machine": bs.machine_info(),
        "command": "python benchmarks/bench_fitting.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "total_wall_s": time.perf_counter() - t0,
        "workload": {"bounds": BOUNDS, "steps": STEPS, "learning_rate": LEARNING_RATE},
        "targets": TARGETS,
        "results": results,
        "grid_losses": grids,
        "ratios": rows,
        "markdown": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(table)
    print(f"\n(total {doc['total_wall_s']:.0f} s; results in {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

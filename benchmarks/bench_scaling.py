#!/usr/bin/env python
"""How simulation and gradient cost grow with the number of regions and the
duration (issue 15, item 4), and where sparse coupling pays.

Workload: ``config/experiment.yaml`` (Reduced Wong-Wang, linear coupling,
stochastic Heun, dt 4 ms, no delays) with one Bold monitor (1 s), FC of the
BOLD after the first ``SKIP`` samples, RMSE to a fixed target FC:

- **regions**: 68 and 192 (tvb-data ``connectivity_68`` / ``connectivity_192``),
  400 and 1000 (synthetic distance-dependent connectomes, 30 % dense, as in
  ``bench_pipeline.py``), ``REGION_DURATION`` ms each;
- **duration**: tvboptim's 84-region dk_average, 30 / 60 / 120 / 240 s;
- **sparse**: 1000 (and 400) regions at densities 2-30 %, the coupling sum as
  a dense product against per-target source lists (``build_simulator(sparse=)``).

Each point: ``forward`` = jitted simulation + BOLD + FC; ``gradient`` =
``jax.value_and_grad`` (reverse mode) of the loss with respect to the global
coupling and a regional ``w`` (one value per region), what the regional fit
does per step. Times are the minimum over ``--repeats`` calls after a first
(compiling) one, as wall time and as the process's CPU time (the machine is
shared; CPU time is what the run itself used). The exponent is the slope of
log(time) against log(regions) or log(duration), least squares.

Usage (repository root)::

    python benchmarks/bench_scaling.py            # ~6 min on a quiet 2-core machine

writes ``benchmarks/results/scaling.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_simulation as bs  # noqa: E402
from synthetic import synthetic_connectome  # noqa: E402

RESULTS = HERE / "results" / "scaling.json"
REGIONS = (68, 192, 400, 1000)
REGION_DURATION = 30_000.0  # ms
DURATIONS = (30_000.0, 60_000.0, 120_000.0, 240_000.0)  # ms
SKIP = 5  # BOLD samples dropped before the FC
SPARSE_CASES = ((400, (0.02, 0.05, 0.1, 0.3)), (1000, (0.02, 0.05, 0.1, 0.3)))
SPARSE_DURATION = 30_000.0


def connectome(n: int, density: float = 0.3):
    """68 / 192: tvb-data; 84: tvboptim's dk_average; otherwise synthetic."""
    from tvbo_pipe.connectome import Connectome

    if n in (68, 192):
        from tvbo_pipe.io.connectome import load_tvb_zip

        c = load_tvb_zip(bs._data_file("tvb_data", "connectivity", f"connectivity_{n}.zip"))
        return Connectome(c.weights / c.weights.max(), c.lengths, tuple(c.labels))
    if n == 84:
        w, lengths, labels, _ = bs._dk_average()
        return Connectome(w / w.max(), lengths, tuple(labels))
    import numpy as np

    w, lengths, labels = synthetic_connectome(n, np.random.default_rng(0), density)
    return Connectome(w / w.max(), lengths, tuple(labels))


def _time(fn, block, repeats: int) -> dict:
    t, c = time.perf_counter(), time.process_time()
    block(fn())
    first = time.perf_counter() - t
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        block(fn())
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return {
        "first_s": first,
        "wall_s": min(walls),
        "cpu_s": min(cpus),
        "walls": walls,
        "cpus": cpus,
    }


def measure(n: int, duration: float, repeats: int, *, density: float = 0.3, sparse=None, grad=True):
    import jax
    import jax.numpy as jnp

    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.fit.observations import fc, upper_triangle
    from tvbo_pipe.sim.simulator import build_simulator, default_params, integrate

    spec = Experiment.load(ROOT / "config" / "experiment.yaml").to_dict()
    spec["monitors"] = [{"type": "Bold", "period": bs.BOLD_PERIOD}]
    spec["integration"]["duration"] = duration
    spec["connectivity"] = {"conduction_speed": math.inf}
    exp = Experiment.from_dict(spec)
    conn = connectome(n, density)
    sim, conn = build_simulator(exp, conn, dtype=jnp.float64, sparse=sparse)
    params = default_params(sim, conn)
    name = exp.monitors[0].name
    target = jnp.zeros(n * (n - 1) // 2)

    def observe(p):
        bold = integrate(sim, p, checkpoint_lengths="auto")[name].data[SKIP:, 0, :]
        return fc(bold)

    def loss(a, w):
        p = {
            **params,
            "coupling": {**params["coupling"], "a": a},
            "model": {**params["model"], "w": w},
        }
        return jnp.sqrt(jnp.mean((upper_triangle(observe(p)) - target) ** 2))

    fwd = jax.jit(observe)
    out = {
        "n": n,
        "duration_ms": duration,
        "density": float((conn.weights != 0).mean()),
        "sparse": sim.sparse is not None,
        "forward": _time(lambda: fwd(params), jax.block_until_ready, repeats),
    }
    if grad:
        g = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        a0 = params["coupling"]["a"]
        w0 = jnp.broadcast_to(params["model"]["w"], (n,))
        out["gradient"] = _time(lambda: g(a0, w0), jax.block_until_ready, repeats)
    return out


def exponent(xs, ys) -> float:
    import numpy as np

    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _timing_table(rows: list[dict], forward_exponent: float, gradient_exponent: float) -> list[str]:
    """Markdown rows of forward and gradient times, and the fitted exponents."""
    lines = [
        "| regions | duration (s) | forward wall / CPU (s) | gradient wall / CPU (s) |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        f, g = r["forward"], r["gradient"]
        lines.append(
            f"| {r['n']} | {r['duration_ms'] / 1000:g} | {f['wall_s']:.3f} / {f['cpu_s']:.3f} | "
            f"{g['wall_s']:.3f} / {g['cpu_s']:.3f} |"
        )
    lines.append(f"| exponent (CPU) | | {forward_exponent:.2f} | {gradient_exponent:.2f} |")
    return lines


def markdown(doc: dict) -> str:
    e = doc["exponents"]
    lines = _timing_table(doc["regions"], e["regions_forward"], e["regions_gradient"])
    lines += [""] + _timing_table(doc["durations"], e["duration_forward"], e["duration_gradient"])
    lines += [
        "",
        "| regions | density | dense forward wall / CPU (s) | source lists forward wall / CPU (s) | lists / dense (CPU) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for d, s in doc["sparse"]:
        lines.append(
            f"| {d['n']} | {d['density']:.3f} | {d['forward']['wall_s']:.3f} / {d['forward']['cpu_s']:.3f} | "
            f"{s['forward']['wall_s']:.3f} / {s['forward']['cpu_s']:.3f} | "
            f"{s['forward']['cpu_s'] / d['forward']['cpu_s']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--parts", nargs="*", default=["regions", "duration", "sparse"])
    args = ap.parse_args(argv)
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    doc: dict = {"machine": bs.machine_info(), "regions": [], "durations": [], "sparse": []}
    if "regions" in args.parts:
        for n in REGIONS:
            doc["regions"].append(measure(n, REGION_DURATION, args.repeats))
            print(
                n,
                "regions:",
                doc["regions"][-1]["forward"]["cpu_s"],
                doc["regions"][-1]["gradient"]["cpu_s"],
                flush=True,
            )
    if "duration" in args.parts:
        for dur in DURATIONS:
            doc["durations"].append(measure(84, dur, args.repeats))
            print(
                dur,
                "ms:",
                doc["durations"][-1]["forward"]["cpu_s"],
                doc["durations"][-1]["gradient"]["cpu_s"],
                flush=True,
            )
    if "sparse" in args.parts:
        for n, dens in SPARSE_CASES:
            for d in dens:
                pair = [
                    measure(n, SPARSE_DURATION, args.repeats, density=d, sparse=flag, grad=False)
                    for flag in (False, True)
                ]
                doc["sparse"].append(pair)
                print(n, d, [p["forward"]["cpu_s"] for p in pair], flush=True)
    ex = {}
    for part, key, xs_of in (
        ("regions", "regions", lambda r: r["n"]),
        ("durations", "duration", lambda r: r["duration_ms"]),
    ):
        rows = doc[part]
        if len(rows) > 1:
            for what in ("forward", "gradient"):
                ex[f"{key}_{what}"] = exponent(
                    [xs_of(r) for r in rows], [r[what]["cpu_s"] for r in rows]
                )
    doc["exponents"] = ex
    doc["load_before"] = load0
    doc["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    doc["total_wall_s"] = time.perf_counter() - t0
    doc["command"] = "python benchmarks/bench_scaling.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    if doc["regions"] and doc["durations"] and doc["sparse"]:
        doc["markdown"] = markdown(doc)
        print(doc["markdown"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(f"(total {doc['total_wall_s']:.0f} s; load {load0} -> {doc['load_after']}; {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

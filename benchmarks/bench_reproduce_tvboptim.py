#!/usr/bin/env python
"""Reproduce tvboptim's RWW tutorial fit through tvbo_pipe's own stages, side by side
with tvboptim 0.4.0 in the same run (issue 13, item 7).

tvboptim's RWW tutorial (docs/workflows/RWW.qmd) fits the Reduced Wong-Wang
model to its ``dk_average`` data (84 regions, 2 min simulated, dt 4 ms,
BOLD every 1 s, FC after 20 s) and reports an FC correlation of 0.063 at
the start, 0.349 after its global fit and 0.556 after its regional fit.

- **tvbo_pipe**: tvboptim's SC (weights and tract lengths) and empirical FC
  are written as a BIDS dataset (BEP017 relmats: ``dwi/..._relmat.dense.tsv``,
  ``func/..._meas-pearsonCorrelation_relmat.dense.tsv``) and the pipeline runs
  on it with Snakemake (connectome -> empirical_fc -> explore ->
  fit_global -> fit_regional -> simulate_fitted), with the tutorial's
  experiment (``config/experiment.yaml``) and ``--fit-global`` method
  (default multistart).
- **tvboptim**: the tutorial's network (``bench_simulation.tvboptim_tutorial``)
  with tvboptim's ``OptaxOptimizer``: a global fit of (G, w) from (0.5, 0.5),
  then a regional fit of w and I_o per region, Adam, RMSE loss, reverse mode
  as in the tutorial, ``--tvboptim-steps`` steps each.

Both sides report the FC correlation (upper triangles) of their fitted
simulation against the empirical FC, and wall time.

Usage (from the repository root, bench extra installed)::

    python benchmarks/bench_reproduce_tvboptim.py [--tvboptim-steps 50] [--skip-tvboptim]

writes ``benchmarks/results/reproduce_tvboptim.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_simulation as bs  # noqa: E402

RESULTS = HERE / "results" / "reproduce_tvboptim.json"
PUBLISHED = {"start": 0.063, "global": 0.349, "regional": 0.556}


def write_bids(root: Path) -> None:
    """tvboptim's dk_average SC and FC as a one-subject BIDS dataset."""
    import numpy as np

    from tvbo_pipe.io.relmat import write_json, write_relmat

    weights, lengths, labels, fc = bs._dk_average()
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "dataset_description.json", {"Name": "tvboptim dk_average", "BIDSVersion": "1.10.0"})  # fmt: skip
    (root / "participants.tsv").write_text("participant_id\nsub-01\n")
    dwi, func = root / "sub-01" / "dwi", root / "sub-01" / "func"
    write_relmat(dwi / "sub-01_atlas-dk_meas-streamlineCount_relmat.dense.tsv", weights, labels)
    write_relmat(dwi / "sub-01_atlas-dk_meas-tractLength_relmat.dense.tsv", lengths, labels)
    fc = np.asarray(fc, float)
    write_relmat(
        func / "sub-01_task-rest_atlas-dk_meas-pearsonCorrelation_relmat.dense.tsv", fc, labels
    )


def pipeline_config(tmp: Path, method: str, steps_global: int, steps_regional: int) -> dict:
    return {
        "bids_dir": str(tmp / "bids"),
        "output_dir": str(tmp / "deriv"),
        "log_dir": str(tmp / "logs"),
        "benchmark_dir": str(tmp / "bench"),
        "work_dir": str(tmp / "work"),
        "jax_cache_dir": str(tmp / "jax_cache"),
        "atlas": "dk",
        "experiment": str(ROOT / "config" / "experiment.yaml"),
        "inputs": {
            "functional": {
                "format": "fc_relmat",
                "filters": {"datatype": "func", "suffix": "relmat", "extension": ".dense.tsv"},
            }
        },
        "connectome": {"normalise": "max"},
        "empirical_fc": {"fcd": {"enabled": False}},
        "simulation": {"duration_s": 120.0, "bold_period_ms": 1000.0, "transient_s": 20.0},
        "explore": {
            "parameters": {"coupling.a": [0.05, 1.0], "model.w": [0.05, 1.0]},
            "n": 8,
            "batch_size": 32,
        },
        "fit_global": {
            "method": method,
            "starts": 4,
            "steps": steps_global,
            "learning_rate": 0.05,
            "parameters": {"coupling.a": [0.0, 1.5], "model.w": [0.0, 1.5]},
        },
        "fit_regional": {
            "steps": steps_regional,
            "learning_rate": 0.02,
            "parameters": {"model.w": [0.0, 1.5], "model.I_o": [0.0, 0.6]},
        },
    }


def run_pipeline(method: str, steps_global: int, steps_regional: int, cores: int) -> dict:
    import yaml

    with tempfile.TemporaryDirectory(prefix="tvbo_repro_") as d:
        tmp = Path(d)
        write_bids(tmp / "bids")
        cfg = pipeline_config(tmp, method, steps_global, steps_regional)
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--directory", str(tmp), "--configfile", str(tmp / "config.yaml"),
               "--cores", str(cores)]  # fmt: skip
        # the rules call the tvbo-pipe console script of this interpreter's environment
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": path}
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=env)
        wall = time.perf_counter() - t0
        if res.returncode:
            raise RuntimeError(res.stderr[-4000:])
        model = tmp / "deriv" / "sub-01" / "model"

        def js(name):
            return json.loads((model / f"sub-01_desc-{name}.json").read_text())

        gof = js("fitted_experiment")  # the goodness of fit (sidecar of the fitted experiment)
        glob, reg = js("global_trajectory"), js("regional_trajectory")
        exp = js("explore_grid")
        stage_s = {
            s: float((tmp / "bench" / "sub-01" / f"sub-01_{s}.tsv").read_text().split("\n")[1].split("\t")[0])
            for s in ("explore", "fit_global", "fit_regional", "simulate_fitted")
            if (tmp / "bench" / "sub-01" / f"sub-01_{s}.tsv").exists()
        }  # fmt: skip
        # FC r after the global stage: simulate its values (the regional stage's start)
        return {
            "wall_s": wall,
            "stage_s": stage_s,
            "explore_fc_r": exp["FCCorrelation"],
            "global_values": glob["Values"],
            "global_loss": [glob["StartLoss"], glob["Loss"]],
            "global_fc_r": global_fc_r(cfg, glob["AllValues"]),
            "regional_loss": [reg["StartLoss"], reg["Loss"]],
            "regional_fc_r": gof["Fitted"]["FCCorrelation"],
            "start_fc_r": gof["Start"]["FCCorrelation"],
            "fcd_energy": gof["Fitted"].get("FCDEnergyDistance"),
            "global_standard_errors": gof.get("GlobalStandardErrors"),
        }


def global_fc_r(cfg: dict, values: dict) -> float:
    """FC correlation of one simulation (the pipeline's realisation) at the global values."""
    from dataclasses import replace

    import jax.numpy as jnp

    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.fit import losses
    from tvbo_pipe.fit.problem import build_problem, fit_experiment

    _, conn, fc_target = bs.tutorial_experiment({"x64": True})

    e = Experiment.load(ROOT / "config" / "experiment.yaml")
    e = replace(e, monitors=tuple(m for m in e.monitors if m.type == "Bold"))
    e = fit_experiment(e, duration_ms=120_000.0, bold_period_ms=1000.0)
    p = build_problem(e, conn, fc_target, transient_ms=20_000.0)
    state = dict(p.state)
    for path, v in values.items():
        sec, name = path.split(".", 1)
        state[sec] = {**state[sec], name: jnp.asarray(v, dtype=state[sec][name].dtype)}
    return float(losses.fc_corr(p.simulated_fc(state), p.fc_emp))


def run_tvboptim(steps: int, lr_global: float, lr_regional: float) -> dict:
    """tvboptim 0.4.0: global (G, w) then regional (w, I_o) Adam fits of the tutorial."""
    import copy
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    jax = bs._jax_setup(True)
    import jax.numpy as jnp
    import numpy as np
    import optax
    from tvboptim.optim.optax import OptaxOptimizer
    from tvboptim.types.parameter import Parameter

    t = bs.tvboptim_tutorial({"x64": True}, jax)
    cname, target = t["cname"], t["fc_target"]

    def loss(s):
        return t["rmse"](t["observe"](s), target)

    def fc_r(s):
        fc = np.asarray(t["observe"](s))
        i, j = np.triu_indices(fc.shape[0], k=1)
        return float(np.corrcoef(fc[i, j], np.asarray(target)[i, j])[0, 1])

    def unwrap(x):
        return getattr(x, "value", x)

    out = {"steps": steps}
    t0 = time.perf_counter()
    s = copy.deepcopy(t["state"])
    out["start_fc_r"] = fc_r(s)
    s.coupling[cname].G = Parameter(s.coupling[cname].G)
    s.dynamics.w = Parameter(s.dynamics.w)
    res = OptaxOptimizer(loss, optax.adam(lr_global)).run(s, max_steps=steps, mode="rev")
    s = res[0] if isinstance(res, tuple) else res
    s.coupling[cname].G = unwrap(s.coupling[cname].G)
    s.dynamics.w = unwrap(s.dynamics.w)
    out["global_values"] = {
        "G": float(jnp.asarray(s.coupling[cname].G)),
        "w": float(jnp.asarray(s.dynamics.w)),
    }
    out["global_fc_r"] = fc_r(s)
    out["global_s"] = time.perf_counter() - t0
    n = target.shape[0]
    s.dynamics.w = Parameter(jnp.full((n,), float(jnp.asarray(s.dynamics.w))))
    s.dynamics.I_o = Parameter(jnp.full((n,), float(jnp.asarray(s.dynamics.I_o))))
    res = OptaxOptimizer(loss, optax.adam(lr_regional)).run(s, max_steps=steps, mode="rev")
    s = res[0] if isinstance(res, tuple) else res
    s.dynamics.w = unwrap(s.dynamics.w)
    s.dynamics.I_o = unwrap(s.dynamics.I_o)
    out["regional_fc_r"] = fc_r(s)
    out["wall_s"] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="multistart", choices=["adam", "multistart", "cmaes"])
    ap.add_argument("--global-steps", type=int, default=40)
    ap.add_argument("--regional-steps", type=int, default=60)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--tvboptim-steps", type=int, default=50)
    ap.add_argument("--tvboptim-lr", type=float, nargs=2, default=(0.005, 0.005))
    ap.add_argument("--skip-tvboptim", action="store_true")
    ap.add_argument("--skip-pipeline", action="store_true")
    args = ap.parse_args(argv)
    out = {"published_tvboptim": PUBLISHED, "uptime": os.getloadavg()}
    if not args.skip_pipeline:
        out["tvbo_pipe"] = run_pipeline(
            args.method, args.global_steps, args.regional_steps, args.cores
        )
        print(json.dumps({"tvbo_pipe": out["tvbo_pipe"]}, indent=1), flush=True)
    if not args.skip_tvboptim:
        out["tvboptim"] = run_tvboptim(args.tvboptim_steps, *args.tvboptim_lr)
        print(json.dumps({"tvboptim": out["tvboptim"]}, indent=1), flush=True)
    out["uptime_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

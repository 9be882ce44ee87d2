#!/usr/bin/env python
"""The whole pipeline at scale (issue 6): parallel subjects, compilation cache,
subjects and parcellation size.

One command runs every measurement::

    python benchmarks/bench_pipeline.py            # from the repository root, ~20 min

Each measurement is one ``snakemake`` run of the repository's Snakefile in a
fresh folder (outputs, Snakemake metadata and a cold JAX compilation cache of
its own), timed from the outside. Afterwards the script reads what the run left
behind: Snakemake's ``benchmark:`` file of every job (wall time ``s``, peak
``max_rss``) and the last line of every fitting job's log (compilations, time
spent tracing, lowering and compiling or loading from the cache, and the
persistent cache's hits and misses, written by ``python -m tvbo_pipe STAGE``).

Parts (``--parts``, default all):

- ``parallel``: the demo (``config/config.yaml``: 5 subjects, 94 regions,
  demo-scale fitting) with ``--cores 1`` and with ``--cores 2``; compile time
  of the first and second job of each fitting stage (the second loads from the
  cache what the first compiled).
- ``subjects``: 1, 5 and 20 subjects (copies of the demo's five), reduced
  fitting (``REDUCED`` below), ``--cores 2``.
- ``research``: one demo subject with ``config/research.yaml`` (2 min of BOLD
  per evaluation, 32 x 32 grid, 300 + 200 optimiser steps), ``--cores 1``:
  the research-scale time per subject.
- ``regions``: one subject at 68 (tvb-data ``connectivity_68``), 94 (the demo's
  sub-01), 192 (tvb-data ``connectivity_192``) and 400 regions (a synthetic
  distance-dependent connectome), with synthetic region time series (a linear
  stochastic network on the same SC, 300 volumes, TR 2 s); reduced fitting,
  ``--cores 1``.

The machine may be shared: for every run the script records the CPU time that
other processes used meanwhile, as a share of the machine ("foreign CPU").
Results go to ``benchmarks/results/pipeline.json``; a Markdown summary is
printed (and pasted into ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from synthetic import synthetic_connectome  # noqa: E402

DEMO = REPO / "resources" / "demo"

# Reduced fitting for the subject- and region-scaling runs (the demo's own
# settings are in config/config.yaml: 300 s per evaluation, a 6 x 6 grid,
# 30 + 30 optimiser steps).
REDUCED = {
    "simulation": {"duration_s": 120.0, "transient_s": 20.0},
    "explore": {"n": 3, "batch_size": 9},
    "fit_global": {"steps": 5},
    "fit_regional": {"steps": 5},
}

COMPILE_LINE = re.compile(
    r"(\d+) compilations, trace ([\d.]+) s, lower ([\d.]+) s, "
    r"compile \(or load from cache\) ([\d.]+) s; persistent cache (\d+) hits, (\d+) misses"
)


# --------------------------------------------------------------------------- datasets
def copy_demo(root: Path, n_subjects: int) -> Path:
    """A BIDS dataset of ``n_subjects`` copies of the demo's subjects (renamed)."""
    if root.exists():
        return root
    root.mkdir(parents=True)
    for name in ("dataset_description.json", "README"):
        shutil.copy2(DEMO / name, root / name)
    for k in range(n_subjects):
        src = f"sub-{k % 5 + 1:02d}"
        dst = f"sub-{k + 1:02d}"
        for f in (DEMO / src).rglob("*"):
            if f.is_file():
                target = root / dst / f.relative_to(DEMO / src).parent / f.name.replace(src, dst)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, target)
    return root


def region_dataset(root: Path, n: int, *, volumes: int = 300, tr: float = 2.0) -> tuple[Path, str]:
    """One subject at ``n`` regions: SC from tvb-data / the demo / synthetic."""
    from tvbo_pipe.io.connectome import load_relmat_connectome, load_tvb_zip
    from tvbo_pipe.io.relmat import write_json, write_relmat, write_tsv_table

    atlas = {68: "tvb68", 94: "AAL2", 192: "tvb192"}.get(n, f"synth{n}")
    if root.exists():
        return root, atlas
    rng = np.random.default_rng(n)
    if n in (68, 192):
        import tvb_data

        zip_path = Path(tvb_data.__file__).parent / "connectivity" / f"connectivity_{n}.zip"
        conn = load_tvb_zip(zip_path)
        w, lengths, labels = conn.weights, conn.lengths, list(conn.labels)
    elif n == 94:
        dwi = DEMO / "sub-01" / "dwi"
        conn = load_relmat_connectome(
            dwi / "sub-01_atlas-AAL2_meas-streamlineCount_relmat.dense.tsv",
            dwi / "sub-01_atlas-AAL2_meas-tractLength_relmat.dense.tsv",
        )
        w, lengths, labels = conn.weights, conn.lengths, list(conn.labels)
    else:
        w, lengths, labels = synthetic_connectome(n, rng)
    root.mkdir(parents=True)
    write_json(root / "dataset_description.json", {"Name": f"bench {n}", "BIDSVersion": "1.10.0"})
    dwi = root / "sub-01" / "dwi"
    write_relmat(dwi / f"sub-01_atlas-{atlas}_meas-streamlineCount_relmat.dense.tsv", w, labels)
    write_relmat(dwi / f"sub-01_atlas-{atlas}_meas-tractLength_relmat.dense.tsv", lengths, labels)
    # region time series of a linear stochastic network on this SC
    a = w / (np.abs(np.linalg.eigvalsh((w + w.T) / 2)).max() + 1e-12)
    x = np.zeros(n)
    ts = np.empty((volumes, n))
    for t in range(volumes * 4):
        x = 0.6 * x + 0.35 * a @ x + rng.normal(size=n)
        if t % 4 == 3:
            ts[t // 4] = x
    func = root / "sub-01" / "func"
    write_tsv_table(func / f"sub-01_task-rest_atlas-{atlas}_timeseries.tsv", labels, ts.tolist())
    write_json(func / f"sub-01_task-rest_atlas-{atlas}_timeseries.json", {"RepetitionTime": tr})
    return root, atlas


# --------------------------------------------------------------------------- one run
def _busy_jiffies() -> int:
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    values = [int(v) for v in cpu]
    return sum(values) - values[3] - values[4]  # all but idle and iowait


def deep_merge(base: dict, change: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in change.items():
        out[k] = (
            deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def run_pipeline(
    run_dir: Path,
    bids: Path,
    *,
    cores: int,
    overrides: dict | None = None,
    config_file: str = "config/config.yaml",
) -> dict:
    """One snakemake run in a fresh ``run_dir``; its wall time and per-job numbers."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config = yaml.safe_load((REPO / config_file).read_text())
    config = deep_merge(config, overrides or {})
    config.update(
        bids_dir=str(bids),
        output_dir=str(run_dir / "deriv"),
        log_dir=str(run_dir / "logs"),
        benchmark_dir=str(run_dir / "bench"),
        work_dir=str(run_dir / "work"),
        jax_cache_dir=str(run_dir / "jax_cache"),
        experiment=str(REPO / "config" / "experiment.yaml"),
    )
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(run_dir), "--configfile", str(run_dir / "config.yaml"),
        "--cores", str(cores), "--quiet", "all",
    ]  # fmt: skip
    ticks = os.sysconf("SC_CLK_TCK")
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, t0 = _busy_jiffies(), time.perf_counter()
    res = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    busy = (_busy_jiffies() - busy0) / ticks
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (after_children.ru_utime - before_children.ru_utime) + (
        after_children.ru_stime - before_children.ru_stime
    )
    if res.returncode != 0:
        raise RuntimeError(f"snakemake failed in {run_dir}:\n{res.stderr[-4000:]}")
    jobs = read_jobs(run_dir)
    return {
        "cores": cores,
        "wall_s": round(wall, 2),
        "cpu_s": round(ours, 2),
        "foreign_cpu_share": round(max(0.0, busy - ours) / (wall * os.cpu_count()), 3),
        "jobs": jobs,
        "subjects": per_subject(jobs),
    }


def read_jobs(run_dir: Path) -> list[dict]:
    """Every job's benchmark line, and the compile line of its log."""
    jobs = []
    for tsv in sorted((run_dir / "bench").rglob("*.tsv")):
        rows = [line.split("\t") for line in tsv.read_text().splitlines()]
        head, vals = rows[0], rows[1]
        bench = dict(zip(head, vals, strict=True))
        name = tsv.stem
        subject, _, rule = name.partition("_") if name.startswith("sub-") else ("", "", name)
        job = {
            "rule": rule,
            "subject": subject,
            "s": float(bench["s"]),
            "max_rss_mb": float(bench["max_rss"]) if bench["max_rss"] != "NA" else None,
        }
        log = run_dir / "logs" / tsv.relative_to(run_dir / "bench").with_suffix(".log")
        if log.is_file():
            text = log.read_text()
            m = COMPILE_LINE.search(text)
            if m:
                job.update(
                    compilations=int(m.group(1)),
                    compile_s=round(sum(float(m.group(i)) for i in (2, 3, 4)), 3),
                    cache_hits=int(m.group(5)),
                    cache_misses=int(m.group(6)),
                )
            stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)", text)
            job["started"] = stamp.group(1) if stamp else None
        jobs.append(job)
    return jobs


def per_subject(jobs: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for job in jobs:
        if not job["subject"]:
            continue
        s = out.setdefault(job["subject"], {"s": 0.0, "max_rss_mb": 0.0, "compile_s": 0.0})
        s["s"] = round(s["s"] + job["s"], 2)
        s["max_rss_mb"] = max(s["max_rss_mb"], job["max_rss_mb"] or 0.0)
        s["compile_s"] = round(s["compile_s"] + job.get("compile_s", 0.0), 3)
    return out


def first_and_second(jobs: list[dict]) -> dict:
    """Per fitting stage: compile time of the first job (cold cache) and the second."""
    out = {}
    for rule in ("explore", "fit_global", "fit_regional", "simulate_fitted"):
        done = sorted((j for j in jobs if j["rule"] == rule and "compile_s" in j),
                      key=lambda j: j["started"] or "")  # fmt: skip
        if len(done) >= 2:
            out[rule] = [
                {k: j[k] for k in ("subject", "compile_s", "cache_hits", "cache_misses", "s")}
                for j in done[:2]
            ]
    return out


def summary(run: dict) -> dict:
    subjects = run["subjects"].values()
    return {
        "wall_s": run["wall_s"],
        "foreign_cpu_share": run["foreign_cpu_share"],
        "subjects": len(run["subjects"]),
        "per_subject_s_mean": round(float(np.mean([s["s"] for s in subjects])), 1),
        "per_subject_peak_rss_mb": round(max(s["max_rss_mb"] for s in subjects)),
        "per_subject_compile_s_mean": round(float(np.mean([s["compile_s"] for s in subjects])), 2),
    }


# --------------------------------------------------------------------------- parts
def part_parallel(tmp: Path) -> dict:
    out = {}
    for cores in (1, 2):
        print(f"parallel: demo, --cores {cores}", flush=True)
        run = run_pipeline(tmp / f"demo_cores{cores}", DEMO, cores=cores)
        run["first_and_second"] = first_and_second(run["jobs"])
        out[f"cores{cores}"] = run
        print(json.dumps(summary(run)), flush=True)
    out["speedup"] = round(out["cores1"]["wall_s"] / out["cores2"]["wall_s"], 2)
    return out


def part_subjects(tmp: Path) -> dict:
    out = {}
    for n in (1, 5, 20):
        print(f"subjects: {n}, reduced fitting, --cores 2", flush=True)
        bids = copy_demo(tmp / f"bids_{n}", n)
        run = run_pipeline(tmp / f"subjects{n}", bids, cores=2, overrides=REDUCED)
        out[str(n)] = run
        print(json.dumps(summary(run)), flush=True)
    return out


def part_regions(tmp: Path) -> dict:
    out = {}
    for n in (68, 94, 192, 400):
        print(f"regions: {n}, one subject, reduced fitting, --cores 1", flush=True)
        bids, atlas = region_dataset(tmp / f"bids_regions{n}", n)
        overrides = {**REDUCED, "atlas": atlas}
        run = run_pipeline(tmp / f"regions{n}", bids, cores=1, overrides=overrides)
        out[str(n)] = run
        print(json.dumps(summary(run)), flush=True)
    return out


def part_research(tmp: Path) -> dict:
    """One demo subject with config/research.yaml (the tutorial's scale), --cores 1."""
    print("research: sub-01, config/research.yaml, --cores 1", flush=True)
    bids = copy_demo(tmp / "bids_1", 1)
    run = run_pipeline(tmp / "research", bids, cores=1, config_file="config/research.yaml")
    print(json.dumps(summary(run)), flush=True)
    return {"1": run}


PARTS = {
    "parallel": part_parallel,
    "subjects": part_subjects,
    "regions": part_regions,
    "research": part_research,
}


# --------------------------------------------------------------------------- report
def markdown(results: dict) -> str:
    lines = []
    par = results.get("parallel")
    if par:
        lines += ["| demo (5 subjects, 94 regions) | wall | per subject (sum of its jobs) | "
                  "peak RSS of a job | foreign CPU |", "|---|---|---|---|---|"]  # fmt: skip
        for key in ("cores1", "cores2"):
            s = summary(par[key])
            lines.append(
                f"| `--cores {par[key]['cores']}` | {s['wall_s']:.0f} s | "
                f"{s['per_subject_s_mean']:.0f} s | {s['per_subject_peak_rss_mb']} MB | "
                f"{100 * s['foreign_cpu_share']:.0f} % |"
            )
        lines += ["", f"speed-up: {par['speedup']}x", ""]
        lines += ["| stage | 1st job: compile, hits/misses | 2nd job: compile, hits/misses |",
                  "|---|---|---|"]  # fmt: skip
        for rule, (a, b) in par["cores1"]["first_and_second"].items():
            lines.append(
                f"| {rule} | {a['compile_s']:.2f} s, {a['cache_hits']}/{a['cache_misses']} "
                f"({a['subject']}) | {b['compile_s']:.2f} s, {b['cache_hits']}/"
                f"{b['cache_misses']} ({b['subject']}) |"
            )
        lines.append("")
    for part, label in (
        ("subjects", "subjects"),
        ("regions", "regions"),
        ("research", "research config, subjects"),
    ):
        runs = results.get(part)
        if not runs:
            continue
        lines += [f"| {label} | wall | per subject | peak RSS of a job | per stage (s) | "
                  "foreign CPU |", "|---|---|---|---|---|---|"]  # fmt: skip
        for n, run in runs.items():
            s = summary(run)
            stages = {}
            for j in run["jobs"]:
                if j["subject"]:
                    stages.setdefault(j["rule"], []).append(j["s"])
            per_stage = ", ".join(f"{r} {np.mean(v):.1f}" for r, v in stages.items())
            lines.append(
                f"| {n} | {s['wall_s']:.0f} s | {s['per_subject_s_mean']:.1f} s | "
                f"{s['per_subject_peak_rss_mb']} MB | {per_stage} | "
                f"{100 * s['foreign_cpu_share']:.0f} % |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    p.add_argument("--tmp", default="/tmp/tvbo_pipe_bench", help="scratch folder (reused)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pipeline.json"))
    args = p.parse_args(argv)
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    import jax

    results = {
        "date": _dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "jax": jax.__version__,
            "loadavg_at_start": os.getloadavg(),
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "reduced_fitting": REDUCED,
    }
    out = Path(args.out)
    if out.is_file():  # keep the parts not rerun
        old = json.loads(out.read_text())
        results.update({k: v for k, v in old.items() if k in PARTS and k not in args.parts})
    for part in args.parts:
        t0 = time.perf_counter()
        results[part] = PARTS[part](tmp)
        print(f"{part}: {time.perf_counter() - t0:.0f} s", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

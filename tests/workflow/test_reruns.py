"""Rerun only what changed: after a full run, a change of each config section
schedules exactly the stages that use it and what follows them (dry runs)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import TINY_FIT_SUBJECTS
from conftest import run_snakemake as snakemake

pytestmark = pytest.mark.workflow

SUBJECTS = len(TINY_FIT_SUBJECTS)
# run once for the dataset; the others once per subject
DATASET_LEVEL = {"dataset_description", "dataset_files", "model_description", "group_summary"}
# the derivative's exports follow every stage; dataset_files records the whole
# configuration (code/config.yaml), so any setting reruns it
EXPORT = ["export", "group_summary", "dataset_files"]
FIT = ["explore", "fit_global", "fit_regional", "simulate_fitted", *EXPORT]
FROM_CONNECTOME = ["connectome", "empirical_fc", *FIT]
EVERYTHING = ["dataset_description", "model_description", *FROM_CONNECTOME]

# A config change (deep-merged into the tiny config) -> the rules that rerun.
CASES = {
    "connectome": ({"connectome": {"normalise": "log1p"}}, FROM_CONNECTOME),
    "inputs.sc": (
        {
            "inputs": {
                "sc": {
                    "weights": {
                        "datatype": "dwi",
                        "suffix": "relmat",
                        "atlas": "tiny",
                        "meas": "streamlineCount",
                        "extension": ".dense.tsv",
                    }
                }
            }
        },
        FROM_CONNECTOME,
    ),
    "inputs.functional": (
        {
            "inputs": {
                "functional": {
                    "filters": {
                        "datatype": "func",
                        "suffix": "timeseries",
                        "task": "rest",
                        "atlas": "tiny",
                        "extension": ".tsv",
                    }
                }
            }
        },
        ["empirical_fc", *FIT],
    ),
    "empirical_fc": ({"empirical_fc": {"detrend": False}}, ["empirical_fc", *FIT]),
    "empirical_fc.fcd": ({"empirical_fc": {"fcd": {"step_s": 4.0}}}, ["empirical_fc", *FIT]),
    "experiment file content": ("experiment", ["model_description", *FIT]),
    "simulation": ({"simulation": {"transient_s": 6.0}}, FIT),
    "observation": ({"observation": {"loss": "rmse"}}, FIT),
    "explore": ({"explore": {"n": 2}}, FIT),
    "fit_global": ({"fit_global": {"learning_rate": 0.1}}, FIT[1:]),
    "fit_regional": ({"fit_regional": {"steps": 2}}, FIT[2:]),
    "fit_regional off": ({"fit_regional": {"enabled": False}}, FIT[3:]),
    "simulate_fitted.fresh_seeds": ({"simulate_fitted": {"fresh_seeds": 2}}, FIT[3:]),
    "simulate_fitted.fcd_ks_flag": ({"simulate_fitted": {"fcd_ks_flag": 0.3}}, EXPORT),
    "bids_dir (moved dataset)": ("bids_dir", [r for r in EVERYTHING if r != "model_description"]),
    "tvbo_pipe version": ("version", EVERYTHING),
    # places and resources, not settings: nothing reruns
    "experiment file path": ("experiment_copy", []),
    "work_dir": ({"work_dir": "elsewhere/work"}, []),
    "log_dir, benchmark_dir": ({"log_dir": "elsewhere/logs", "benchmark_dir": "elsewhere/b"}, []),
    "jax_cache_dir": ({"jax_cache_dir": None}, []),
    "threads": ("threads", []),
}


def merge(base: dict, change: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def scheduled(res: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule from a dry run's "Job stats" table ({} if nothing to do)."""
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def expected(rules: list[str]) -> dict[str, int]:
    if not rules:
        return {}
    return {"all": 1, **{r: 1 if r in DATASET_LEVEL else SUBJECTS for r in rules}}


@pytest.fixture(scope="module")
def finished_run(tiny_fit):
    """The session's tiny dataset, fitted at toy scale (tests/conftest.py
    ``tiny_fit``): its last run left nothing to do. Dry runs only, so the
    shared run directory is used as it is (nothing in it is written but
    config.yaml, the experiment copies and the moved input dataset)."""
    root, config = tiny_fit.root, tiny_fit.config
    assert scheduled(snakemake(root, config, "-n")) == {}
    return root, config


def dry_run(root: Path, config: dict, case: str) -> subprocess.CompletedProcess:
    """``snakemake -n`` in the finished run with the change of ``CASES[case]``
    (its configuration in a file of its own: cases may run concurrently)."""
    change = CASES[case][0]
    args, version = [], None
    if change == "experiment" or change == "experiment_copy":
        exp = yaml.safe_load(Path(config["experiment"]).read_text())
        if change == "experiment":
            exp["integration"]["noise"]["sigma"] = 0.005
        path = root / f"{change}.yaml"
        path.write_text(yaml.safe_dump(exp))
        new = merge(config, {"experiment": str(path)})
    elif change == "bids_dir":
        moved = root / "bids_moved"
        if not moved.exists():
            shutil.copytree(config["bids_dir"], moved)
        new = merge(config, {"bids_dir": str(moved)})
    elif change == "version":
        new, version = config, "999.0"
    elif change == "threads":
        new, args = config, ["--set-threads", *(f"{r}=2" for r in FIT)]
    else:
        new = merge(config, change)
    name = f"config_{list(CASES).index(case)}.yaml"
    return snakemake(root, new, "-n", *args, version=version, config_name=name)


@pytest.fixture(scope="module")
def dry_runs(finished_run) -> dict[str, subprocess.CompletedProcess]:
    """Every case's dry run, two at a time: each is one single-threaded Snakemake
    process, and dry runs neither lock the directory nor write a log there."""
    root, config = finished_run
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {case: pool.submit(dry_run, root, config, case) for case in CASES}
    return {case: future.result() for case, future in done.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_a_change_reruns_exactly_what_depends_on_it(dry_runs, case):
    got = scheduled(dry_runs[case])
    assert got == expected(CASES[case][1]), f"{case}: {got}"

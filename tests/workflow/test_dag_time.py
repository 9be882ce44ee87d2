"""What Snakemake does when it reads the workflow: no JAX, and outputs named
after the input's task."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import REPO, make_tiny_bids, tiny_config

pytestmark = pytest.mark.workflow


def test_list_rules_imports_no_jax():
    """Parsing the Snakefile (every snakemake call, every cluster job) imports no JAX."""
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "--list-rules"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "simulate_fitted" in res.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if "|" in line}
    assert "tvbo_pipe.pipeline" in imported  # the import times were read
    jax = sorted(m for m in imported if m == "jax" or m.startswith(("jax.", "jaxlib")))
    assert not jax, f"DAG-time code imports {jax[:5]}"


def test_outputs_carry_the_task_of_the_input(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",))
    for path in sorted(bids.rglob("*_task-rest_*")):
        path.rename(path.with_name(path.name.replace("_task-rest_", "_task-movie_")))
    cfg = tiny_config(bids, tmp_path)
    movie = {"datatype": "func", "suffix": "timeseries", "task": "movie", "extension": ".tsv"}
    cfg["inputs"] = {"functional": {"filters": movie}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    res = subprocess.run([*cmd, "--cores", "1"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    func = sorted(p.name for p in (tmp_path / "deriv" / "sub-01" / "func").iterdir())
    assert (
        "sub-01_task-movie_atlas-tiny_meas-pearsonCorrelation_desc-empirical_relmat.dense.tsv"
        in func
    )
    assert all("_task-movie_" in name for name in func), func
    assert not [p for p in (tmp_path / "deriv").rglob("*task-rest*")]

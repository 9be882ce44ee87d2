"""Relocatable runs: a finished run copied or moved together with its inputs
plans no job (Snakemake compares recorded input paths and params)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_tiny_bids, tiny_config

pytestmark = pytest.mark.workflow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", "config.yaml", "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=600)


def tvbo_pipe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from tvbo_pipe.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


def nothing_to_do(res: subprocess.CompletedProcess) -> bool:
    assert res.returncode == 0, res.stderr[-3000:]
    return "Nothing to be done" in res.stdout + res.stderr


def test_copied_run_directory_reruns_nothing(tmp_path):
    """The repository layout: config with relative paths, inputs, results and
    .snakemake in one folder, copied elsewhere (times kept, as cp -a does)."""
    root = tmp_path / "run"
    make_tiny_bids(root / "bids", n_regions=4, n_volumes=40)
    shutil.copy2(REPO / "config" / "experiment.yaml", root / "experiment.yaml")
    cfg = tiny_config(Path("bids"), Path("."), fitting=False, experiment="experiment.yaml")
    cfg = {k: str(v) if isinstance(v, Path) else v for k, v in cfg.items()}
    assert not any(str(cfg[k]).startswith("/") for k in ("bids_dir", "output_dir", "log_dir"))
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(root)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (root / "deriv" / "sub-01").is_dir()

    copy = tmp_path / "elsewhere" / "run_copy"
    shutil.copytree(root, copy, symlinks=True)
    assert nothing_to_do(snakemake(copy, "-n"))
    assert nothing_to_do(snakemake(root, "-n"))
    # and the copy is a working run: a changed setting reruns there
    res = snakemake(copy, "-n", "--config", "connectome={normalise: log1p}")
    assert res.returncode == 0 and "connectome" in res.stdout + res.stderr


def test_bids_app_output_moved_with_its_input_reruns_nothing(tmp_path):
    before = tmp_path / "before"
    bids = make_tiny_bids(before / "bids", n_regions=4, n_volumes=40)
    cfg = {
        k: v
        for k, v in tiny_config(bids, before, fitting=False).items()
        if k not in ("bids_dir", "output_dir", "log_dir", "benchmark_dir", "work_dir")
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    opts = ["participant", "--config-file", "c.yaml", "--nprocs", "2", "--skip-bids-validation"]
    res = tvbo_pipe(str(bids), str(before / "out"), *opts, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (before / "out" / "sub-02").is_dir()
    # one compact line per finished job; Snakemake's own output in the log
    assert re.search(r"^sub-02: empirical_fc done \(\d+/\d+\)$", res.stderr, re.M), res.stderr
    assert "Building DAG" not in res.stderr
    assert "Building DAG" in (before / "out" / ".tvbo_pipe" / "logs" / "snakemake.log").read_text()
    written = (before / "out" / ".tvbo_pipe" / "config.yaml").read_text()
    assert str(tmp_path) not in written.replace(str(REPO), "")

    after = tmp_path / "moved" / "after"
    after.parent.mkdir()
    shutil.move(before, after)
    res = tvbo_pipe(str(after / "bids"), str(after / "out"), *opts, "-n", cwd=tmp_path)
    assert nothing_to_do(res)

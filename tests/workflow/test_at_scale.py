"""The pipeline at scale: cluster profiles, the BIDS-app command, --keep-going,
reports, and the workflow shipped inside the package."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from conftest import REPO, TINY_FIT_REGIONS, make_tiny_bids, tiny_config

pytestmark = pytest.mark.workflow

PLACES = ("bids_dir", "output_dir", "log_dir", "benchmark_dir", "work_dir")


def run(cmd, cwd, timeout=600, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def tvbo_pipe(*args, cwd, env=None):
    """``tvbo-pipe ARGS`` (the console script's entry point, in a new process)."""
    code = "import sys; from tvbo_pipe.cli import main; sys.exit(main())"
    return run([sys.executable, "-c", code, *args], cwd=cwd, env=env)


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_dry_run(tmp_path, profile):
    if profile == "slurm":
        pytest.importorskip("snakemake_executor_plugin_slurm")
    where = [f"output_dir={tmp_path}/d", f"log_dir={tmp_path}/l", f"benchmark_dir={tmp_path}/b"]
    res = run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--profile",
            f"workflow/profiles/{profile}",
            "--config",
            *where,
        ],
        cwd=REPO,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"Using profile workflow/profiles/{profile}" in out
    assert "sub-05" in out and "fit_regional" in out
    if profile == "slurm":
        # per-rule resources from the profile reach the jobs
        assert "mem_mb=4000" in out and "runtime=120" in out


def test_help_documents_every_option():
    from tvbo_pipe.bids_app import parser

    res = tvbo_pipe("--help", cwd=REPO)
    assert res.returncode == 0
    for action in parser()._actions:
        for flag in action.option_strings:
            assert flag in res.stdout, flag
        if action.help:
            first_words = " ".join(action.help.split()[:3])
            assert first_words in " ".join(res.stdout.split()), action.help
    for word in ("participant", "group", "--keep-going", "--report", "STAGE"):
        assert word in res.stdout


def test_bids_app_participant_then_group(tmp_path):
    # TINY_FIT_REGIONS: the programs compiled for the session's tiny_fit load from the cache
    bids = make_tiny_bids(
        tmp_path / "bids", subjects=("01", "02", "03"), n_regions=TINY_FIT_REGIONS, n_volumes=40
    )
    bad = bids / "sub-03" / "dwi" / "sub-03_atlas-tiny_meas-streamlineCount_relmat.dense.tsv"
    bad.write_text(bad.read_text().replace("\t", "\tnan\t", 1))
    cfg = {k: v for k, v in tiny_config(bids, tmp_path, fitting=True).items() if k not in PLACES}
    (tmp_path / "my_config.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "derivatives" / "tvbo_pipe"
    common = [str(bids), str(out)]
    opts = ["--config-file", "my_config.yaml", "--cores", "2"]

    res = tvbo_pipe(*common, "participant", "--participant-label", "01", *opts, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    gof = "model/sub-{0}_desc-fitted_experiment.json"
    assert (out / "sub-01" / gof.format("01")).is_file()
    assert not (out / "sub-02").exists()
    # the participant level leaves a BIDS dataset: the dataset-level files too
    for name in ("README.md", ".bidsignore", "participants.json", "code/pybids_config.json"):
        assert (out / name).is_file(), name
    # participants.tsv names the source's subjects, whichever a run selects
    participants = (out / "participants.tsv").read_text().splitlines()
    assert participants[1:] == ["sub-01", "sub-02", "sub-03"]
    work = out / ".tvbo_pipe"
    assert (work / "logs" / "sub-01" / "sub-01_fit_global.log").is_file()
    assert (work / "benchmarks" / "sub-01" / "sub-01_explore.tsv").is_file()
    assert "persistent cache" in (work / "logs" / "sub-01" / "sub-01_explore.log").read_text()

    # the group level does the rest; the broken subject fails alone and is named
    res = tvbo_pipe(*common, "group", *opts, "--keep-going", cwd=tmp_path)
    assert res.returncode != 0
    assert "subject sub-03" in res.stderr and bad.name in res.stderr
    assert (out / "sub-02" / gof.format("02")).is_file()
    assert (out / "participants.tsv").read_text().splitlines() == participants
    # sub-02 loads from the compilation cache what sub-01 compiled (same size)
    for stage in ("explore", "fit_global", "simulate_fitted"):
        log = (work / "logs" / "sub-02" / f"sub-02_{stage}.log").read_text()
        assert re.search(r"persistent cache [1-9]\d* hits, 0 misses", log), (stage, log[-500:])
    assert "subject sub-03" in (work / "logs" / "sub-03" / "sub-03_connectome.log").read_text()

    # nothing left to do for the participants that worked; a report of the run
    res = tvbo_pipe(
        *common, "participant", "--participant-label", "01", "02", *opts, "-n", cwd=tmp_path
    )
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr
    res = tvbo_pipe(
        *common,
        "participant",
        "--participant-label",
        "01",
        "02",
        *opts,
        "--report",
        str(tmp_path / "report.html"),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000


def test_bids_app_rejects_a_bad_config_key(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    (tmp_path / "c.yaml").write_text("connectome: {normalize: max}\n")
    res = tvbo_pipe(
        str(bids), str(tmp_path / "out"), "participant", "--config-file", "c.yaml", cwd=tmp_path
    )
    assert res.returncode != 0 and "connectome.normalize" in res.stderr


@pytest.mark.slow
def test_wheel_ships_the_workflow(tmp_path):
    """A wheel carries Snakefile, workflow/ and config/; tvbo-pipe runs them from there."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "Snakefile"):
        shutil.copy2(REPO / name, src / name)
    for name in ("workflow", "config", "tvbo_pipe"):
        shutil.copytree(
            REPO / name,
            src / name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "_workflow"),
        )
    res = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        cwd=tmp_path,
    )
    if res.returncode != 0 and "build dependencies" in res.stdout + res.stderr:
        pytest.skip("cannot fetch the build backend (offline?)")
    assert res.returncode == 0, res.stderr[-3000:]
    site = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "dist").glob("tvbo_pipe-*.whl"))) as whl:
        whl.extractall(site)
    shipped = site / "tvbo_pipe" / "_workflow"
    for rel in [
        "Snakefile",
        "config/experiment.yaml",
        "workflow/profiles/slurm/config.yaml",
        *(p.relative_to(REPO).as_posix() for p in (REPO / "workflow/rules").glob("*.smk")),
    ]:
        assert filecmp.cmp(REPO / rel, shipped / rel, shallow=False), rel
    # the installed copy, not the source tree, runs (a dry run of the tiny dataset)
    bids = make_tiny_bids(tmp_path / "bids")
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = tvbo_pipe(str(bids), str(tmp_path / "out"), "participant", "-n", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "connectome" in res.stdout + res.stderr
    code = "import tvbo_pipe.bids_app as b; print(b.workflow_dir())"
    where = run([sys.executable, "-c", code], cwd=tmp_path, env=env)
    assert where.stdout.strip() == str(shipped)

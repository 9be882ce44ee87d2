"""Shared test setup: float64 JAX and tiny BIDS datasets written by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit.problem import FitProblem, build_problem
from tvbo_pipe.io.relmat import write_json, write_relmat, write_tsv_table

jax.config.update("jax_enable_x64", True)

REPO = Path(__file__).resolve().parents[1]

#: JAX's persistent compilation cache shared by the Snakemake jobs of every test
#: in one pytest session (a folder under pytest's base temporary folder, set by
#: the session fixture ``_session_jax_cache``): a program compiled for one tiny
#: dataset loads from there in every later test of the same size.
SESSION_JAX_CACHE: list[Path] = []


def pytest_configure(config) -> None:
    """Workflow rules call the ``tvbo-pipe`` console script: find this
    environment's, also when its bin/ is not on PATH (python run by path)."""
    scripts = sysconfig.get_path("scripts")
    os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


def make_tiny_bids(
    root: Path,
    *,
    subjects=("01", "02"),
    n_regions: int = 4,
    n_volumes: int = 60,
    sessions=(None,),
    runs=(None,),
    tr: float = 2.0,
    seed: int = 0,
    with_functional: dict | None = None,
) -> Path:
    """Write a small BIDS dataset: BEP017 SC relmats and region time series TSVs.

    Args:
        root: Dataset folder (created).
        subjects: Subject labels.
        n_regions: Regions of the parcellation ``R0..R{n-1}``.
        n_volumes: Volumes per run.
        sessions: Session labels (``None`` for no session level).
        runs: Run labels (``None`` for no run entity).
        tr: Repetition time in s.
        seed: Random seed.
        with_functional: ``{subject: False}`` leaves that subject without fMRI.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / "dataset_description.json", {"Name": "tiny", "BIDSVersion": "1.10.0"})
    labels = [f"R{k}" for k in range(n_regions)]
    for sub in subjects:
        w = rng.uniform(0, 10, (n_regions, n_regions))
        w = w + w.T
        np.fill_diagonal(w, 0)
        lengths = rng.uniform(10, 100, (n_regions, n_regions))
        lengths = lengths + lengths.T
        dwi = root / f"sub-{sub}" / "dwi"
        write_relmat(dwi / f"sub-{sub}_atlas-tiny_meas-streamlineCount_relmat.dense.tsv", w, labels)
        write_relmat(
            dwi / f"sub-{sub}_atlas-tiny_meas-tractLength_relmat.dense.tsv", lengths, labels
        )
        if with_functional and with_functional.get(sub) is False:
            continue
        for ses in sessions:
            for run in runs:
                ents = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_task-rest"
                ents += f"_run-{run}" if run else ""
                func = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "func"
                mix = rng.normal(size=(n_regions, n_regions))
                ts = rng.normal(size=(n_volumes, n_regions)) @ mix
                write_tsv_table(func / f"{ents}_atlas-tiny_timeseries.tsv", labels, ts.tolist())
                write_json(func / f"{ents}_atlas-tiny_timeseries.json", {"RepetitionTime": tr})
    return root


def tiny_config(bids_dir: Path, out: Path, *, fitting: bool = False, **overrides) -> dict:
    """A configuration for a tiny dataset written by :func:`make_tiny_bids`.

    ``fitting=False`` switches the fitting stages off; ``True`` runs them at a
    toy scale (seconds per subject). ``jax_cache_dir`` is this pytest session's
    shared compilation cache (the workflow default outside a session).
    """
    cfg = {
        "bids_dir": str(bids_dir),
        "output_dir": str(out / "deriv"),
        "log_dir": str(out / "logs"),
        "benchmark_dir": str(out / "bench"),
        "work_dir": str(out / "work"),
        "experiment": str(REPO / "config" / "experiment.yaml"),
        "atlas": "tiny",
        "empirical_fc": {"fcd": {"enabled": True, "window_s": 20.0, "step_s": 10.0}},
        "simulation": {"duration_s": 60.0, "transient_s": 4.0},
        "explore": {"enabled": fitting, "n": 3, "batch_size": 3},
        "fit_global": {"enabled": fitting, "steps": 3, "log_every": 1},
        "fit_regional": {"enabled": fitting, "steps": 3, "log_every": 1},
        "simulate_fitted": {"enabled": fitting},
    }
    if SESSION_JAX_CACHE:
        cfg["jax_cache_dir"] = str(SESSION_JAX_CACHE[0])
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="session", autouse=True)
def _session_jax_cache(tmp_path_factory) -> Iterator[Path]:
    """One JAX compilation cache for all workflow tests of the session (see
    :data:`SESSION_JAX_CACHE`)."""
    cache = tmp_path_factory.mktemp("jax_cache")
    SESSION_JAX_CACHE[:] = [cache]
    yield cache
    SESSION_JAX_CACHE.clear()


def run_snakemake(
    workdir: Path,
    config: dict,
    *args: str,
    version: str | None = None,
    config_name: str = "config.yaml",
) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 ARGS`` on the repository's Snakefile in ``workdir``,
    with ``config`` written to ``workdir/config_name``.

    ``version``: the tvbo_pipe version the workflow sees (what upgrading
    tvbo_pipe looks like to it).
    """
    cfg = workdir / config_name
    cfg.write_text(yaml.safe_dump(config))
    prelude = "import sys, tvbo_pipe; "
    if version:
        prelude += f"tvbo_pipe.__version__ = {version!r}; "
    code = prelude + "from snakemake.cli import main; sys.argv[0] = 'snakemake'; main()"
    cmd = [sys.executable, "-c", code, "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(cfg), "--cores", "2", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=600)


@dataclass(frozen=True)
class TinyFit:
    """A tiny dataset fitted twice by Snakemake with the same inputs and output folder.

    Attributes:
        root: Snakemake's working directory (``config.yaml``, ``.snakemake``,
            ``bids/``, ``logs/``, ``work/``).
        config: The configuration both runs used (as written, not validated).
        first: The first run's derivative (moved aside after the run).
        second: The second run's derivative (``root/deriv``; Snakemake's
            records in ``root/.snakemake`` are of this run).
    """

    root: Path
    config: dict
    first: Path
    second: Path


#: The session-wide fitted dataset: subjects, regions, volumes per run.
TINY_FIT_SUBJECTS = ("01", "02")
TINY_FIT_REGIONS = 5


@pytest.fixture(scope="session")
def tiny_fit(tmp_path_factory) -> TinyFit:
    """Two subjects of :data:`TINY_FIT_REGIONS` regions and 40 volumes, fitted at
    toy scale with every stage on, twice (the work folder removed in between:
    no checkpoint to resume from). Shared by the workflow tests that read the
    derivative or dry-run changes on it; a test that writes into it copies it
    first."""
    root = tmp_path_factory.mktemp("tiny_fit")
    bids = make_tiny_bids(
        root / "bids", subjects=TINY_FIT_SUBJECTS, n_regions=TINY_FIT_REGIONS, n_volumes=40
    )
    config = tiny_config(bids, root, fitting=True)
    res = run_snakemake(root, config)
    assert res.returncode == 0, res.stderr[-3000:]
    first = root / "first"
    shutil.move(root / "deriv", first)
    shutil.rmtree(root / "work", ignore_errors=True)
    res = run_snakemake(root, config)
    assert res.returncode == 0, res.stderr[-3000:]
    return TinyFit(root, config, first, root / "deriv")


@pytest.fixture
def tiny_bids(tmp_path) -> Path:
    return make_tiny_bids(tmp_path / "bids")


def _small_bold_problem(realisations: int = 1, n: int = 5) -> FitProblem:
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (n, n))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    conn = Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(n)))
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {"method": "Heun", "dt": 4.0, "duration": 40000.0,
                            "noise": {"sigma": 0.00283}, "seed": 5},
            "monitors": [{"type": "Bold", "period": 1000.0}],
        }
    )  # fmt: skip
    fc_emp = np.corrcoef(rng.normal(size=(n, 50)))
    return build_problem(exp, conn, fc_emp, transient_ms=5000.0, realisations=realisations)


@pytest.fixture
def small_bold_problem() -> Callable[..., FitProblem]:
    """Factory ``(realisations=1, n=5) -> FitProblem``: a noisy Reduced Wong-Wang
    network of ``n`` random regions, 40 s at dt 4 ms, a 1 s Bold monitor, 5 s
    transient, against a random empirical FC (same seeds every call)."""
    return _small_bold_problem

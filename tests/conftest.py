"""Shared test setup: float64 JAX and tiny BIDS datasets written by the tests."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit.problem import FitProblem, build_problem
from tvbo_pipe.io.relmat import write_json, write_relmat, write_tsv_table

jax.config.update("jax_enable_x64", True)

REPO = Path(__file__).resolve().parents[1]


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
    toy scale (seconds per subject).
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
    cfg.update(overrides)
    return cfg


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

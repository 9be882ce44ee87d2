"""Workflow tests: run Snakemake on tiny datasets the tests write."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import REPO, make_tiny_bids, tiny_config

from tvbo_pipe.io.relmat import read_relmat

pytestmark = pytest.mark.workflow


def snakemake(workdir, config: dict, *args: str) -> subprocess.CompletedProcess:
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(cfg),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, timeout=600)


def test_first_stages_run_for_every_subject(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids", sessions=("a",), runs=("1", "2"))
    res = snakemake(tmp_path, tiny_config(bids, tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    deriv = tmp_path / "deriv"
    for sub in ("01", "02"):
        d = deriv / f"sub-{sub}" / "ses-a"
        w, labels, _ = read_relmat(
            d / "dwi" / f"sub-{sub}_ses-a_atlas-tiny_meas-weight_relmat.dense.tsv"
        )
        assert w.max() == 1.0 and labels == ("R0", "R1", "R2", "R3")
        fc, _, meta = read_relmat(
            d
            / "func"
            / f"sub-{sub}_ses-a_task-rest_atlas-tiny_meas-pearsonCorrelation_desc-empirical_relmat.dense.tsv"
        )
        assert np.allclose(np.diag(fc), 1) and len(meta["Runs"]) == 2
        assert (
            tmp_path / "logs" / f"sub-{sub}" / "ses-a" / f"sub-{sub}_ses-a_connectome.log"
        ).is_file()
        assert (
            tmp_path / "bench" / f"sub-{sub}" / "ses-a" / f"sub-{sub}_ses-a_empirical_fc.tsv"
        ).is_file()
    assert (deriv / "dataset_description.json").is_file()
    # nothing left to do on a second run
    again = snakemake(tmp_path, tiny_config(bids, tmp_path), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_bad_input_names_subject_and_file(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    bad = bids / "sub-02" / "dwi" / "sub-02_atlas-tiny_meas-streamlineCount_relmat.dense.tsv"
    bad.write_text(bad.read_text().replace("\t", "\tnan\t", 1))
    res = snakemake(tmp_path, tiny_config(bids, tmp_path), "--keep-going")
    assert res.returncode != 0
    assert "subject sub-02" in res.stderr and bad.name in res.stderr
    # the good subject still finished, the bad one left nothing behind
    assert list((tmp_path / "deriv" / "sub-01" / "func").glob("*_relmat.dense.tsv"))
    assert not (tmp_path / "deriv" / "sub-02").exists() or not list(
        (tmp_path / "deriv" / "sub-02").rglob("*.tsv")
    )


def test_unknown_config_key_stops_before_any_job(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    res = snakemake(tmp_path, tiny_config(bids, tmp_path, connectome={"normalize": "max"}), "-n")
    assert res.returncode != 0
    assert "connectome.normalize" in res.stdout + res.stderr


def test_demo_dry_run_schedules_all_subjects(tmp_path):
    where = [f"output_dir={tmp_path}/d", f"log_dir={tmp_path}/l", f"benchmark_dir={tmp_path}/b"]
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--config", *where],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout + res.stderr
    for sub in range(1, 6):
        assert f"sub-0{sub}" in out


def test_fitting_stages_run_end_to_end(tmp_path):
    import json

    from tvbo_pipe.experiment import Experiment

    # one subject: what is checked is sub-01's (two subjects in parallel: test_export)
    bids = make_tiny_bids(
        tmp_path / "bids", subjects=("01",), n_regions=5, n_volumes=40, runs=("1", "2")
    )
    fc_cfg = {"fcd": {"enabled": True, "window_s": 20.0, "step_s": 10.0}, "holdout_runs": [2]}
    # two noise realisations per evaluation (the mean of their FCs enters the loss)
    sim_cfg = {"duration_s": 60.0, "transient_s": 4.0, "realisations": 2}
    cfg = tiny_config(bids, tmp_path, fitting=True, empirical_fc=fc_cfg, simulation=sim_cfg)
    res = snakemake(tmp_path, cfg)
    assert res.returncode == 0, res.stderr[-3000:]
    model = tmp_path / "deriv" / "sub-01" / "model"
    best = json.loads((model / "sub-01_desc-explore_grid.json").read_text())
    assert best["Points"] == 9 and set(best["Values"]) == {"coupling.a", "model.w"}
    glob = json.loads((model / "sub-01_desc-global_trajectory.json").read_text())
    assert glob["StartValues"]["coupling.a"] == pytest.approx(best["Values"]["coupling.a"])
    assert glob["Loss"] <= glob["StartLoss"]
    reg = json.loads((model / "sub-01_desc-regional_trajectory.json").read_text())
    assert (
        len(reg["Values"]["model.I_o"]) == 5
        and reg["AllValues"]["coupling.a"] == glob["Values"]["coupling.a"]
    )
    assert reg["Loss"] <= glob["Loss"] + 1e-12
    traj = (model / "sub-01_desc-regional_trajectory.tsv").read_text().splitlines()
    header = traj[0].split("\t")
    assert (
        header[:3] == ["step", "loss", "accepted"]
        and "model.w[4]" in header
        and "model.I_o[0]" in header
    )
    assert len(traj) == 4
    gof = json.loads((model / "sub-01_desc-fitted_experiment.json").read_text())
    assert set(gof["Fitted"]) == {
        "FCCorrelation",
        "FCRMSE",
        "FCDKolmogorovSmirnov",
        "FCDEnergyDistance",
    }
    assert set(gof["GlobalStandardErrors"]) == {"coupling.a", "model.w"}
    assert set(gof["HeldOut"]) == {"FCCorrelation", "FCRMSE", "TestRetestFCCorrelation"}
    mean_fc = gof["MeanFCOfRealisations"]
    assert mean_fc["Realisations"] == 2 and set(mean_fc) == {"Realisations", "Fitted", "Start"}
    record = json.loads((model / "sub-01_desc-fitted_param.json").read_text())
    assert record["Simulation"]["Realisations"] == 2
    exp = Experiment.load(model / "sub-01_desc-fitted_experiment.yaml")
    assert exp.model.parameters["I_o"] == tuple(reg["Values"]["model.I_o"])
    assert exp.connectivity.weights.endswith("sub-01_atlas-tiny_meas-weight_relmat.dense.tsv")
    png = tmp_path / "deriv" / "sub-01" / "figures" / "sub-01_desc-explore_heatmap.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bold = (
        (
            tmp_path
            / "deriv"
            / "sub-01"
            / "func"
            / "sub-01_task-rest_atlas-tiny_desc-simulated_timeseries.tsv"
        )
        .read_text()
        .splitlines()
    )
    assert (
        bold[0].split("\t") == ["R0", "R1", "R2", "R3", "R4"] and len(bold) == 31
    )  # 60 s at TR 2 s

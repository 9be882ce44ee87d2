"""The demo end to end (slow: about 4 minutes on 2 cores): every subject's fit
improves on its starting point.

Runs ``snakemake --cores 2`` with ``config/config.yaml`` on the embedded demo
dataset (five subjects), with the outputs in a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SUBJECTS = ("01", "02", "03", "04", "05")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(
        bids_dir=str(REPO / "resources" / "demo"),
        experiment=str(REPO / "config" / "experiment.yaml"),
        output_dir=str(tmp / "deriv"),
        log_dir=str(tmp / "logs"),
        benchmark_dir=str(tmp / "bench"),
        work_dir=str(tmp / "work"),
        jax_cache_dir=str(tmp / "jax_cache"),
    )
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp), "--configfile", str(tmp / "config.yaml"), "--cores", "2"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=1500)
    assert res.returncode == 0, res.stderr[-4000:]
    return tmp / "deriv"


def _json(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("sub", SUBJECTS)
def test_fit_improves_fc_correlation_over_the_start(demo, sub):
    model = demo / f"sub-{sub}" / "model"
    gof = _json(model / f"sub-{sub}_desc-fitted_experiment.json")
    # start: the experiment's own values (w = 0.5, a = 0.5); fitted: after all stages
    assert gof["Fitted"]["FCCorrelation"] > gof["Start"]["FCCorrelation"] + 0.1
    assert gof["Fitted"]["FCRMSE"] < gof["Start"]["FCRMSE"]
    explore = _json(model / f"sub-{sub}_desc-explore_grid.json")
    fit_global = _json(model / f"sub-{sub}_desc-global_trajectory.json")
    regional = _json(model / f"sub-{sub}_desc-regional_trajectory.json")
    # each stage starts where the one before ended and keeps the best values seen
    assert fit_global["StartLoss"] == pytest.approx(explore["Loss"], rel=1e-4)  # float32 grid
    assert fit_global["Loss"] <= fit_global["StartLoss"]
    assert regional["StartLoss"] == pytest.approx(fit_global["Loss"], rel=1e-9)
    assert regional["Loss"] < regional["StartLoss"]
    assert fit_global["GradientMode"] == "forward" and regional["GradientMode"] == "reverse"
    # FCD distances and the global fit's Laplace standard errors (null where not a minimum)
    assert {"FCDEnergyDistance", "FCDKolmogorovSmirnov"} <= set(gof["Fitted"])
    assert set(gof["GlobalStandardErrors"]) == {"coupling.a", "model.w"}

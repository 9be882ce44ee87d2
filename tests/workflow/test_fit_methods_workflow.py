"""The fit stages with multi-start, CMA-ES, the profile scan, an FCD loss term, screening and maps (Snakemake)."""

from __future__ import annotations

import json

import pytest
from conftest import make_tiny_bids, tiny_config
from test_snakemake import snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.slow
@pytest.mark.parametrize("method", ["multistart", "cmaes", "profile"])
def test_global_methods_fcd_loss_screen_and_maps(tmp_path, method):
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",), n_regions=5, n_volumes=40)
    cfg = tiny_config(
        bids,
        tmp_path,
        fitting=True,
        observation={"weights": {"corr": 1.0, "rmse": 1.0, "fcd": 0.5}},
        explore={"enabled": True, "n": 3, "batch_size": 9,
                 "screen": {"enabled": True, "duration_s": 2.0}},
        fit_global={"enabled": True, "method": method, "starts": 3, "steps": 3,
                    "population": 4, "log_every": 1,
                    "profile": {"others": 3, "coarse": 4, "fine": 3}},
        fit_regional={"enabled": True, "steps": 2, "log_every": 1,
                      "parameters": {"model.w": {"low": 0.0, "high": 1.5, "maps": ["fc_gradient"]},
                                     "model.I_o": [0.0, 0.6]}},
    )  # fmt: skip
    gof_file = tmp_path / "deriv" / "sub-01" / "model" / "sub-01_desc-fitted_experiment.json"
    res = snakemake(tmp_path, cfg, str(gof_file))  # up to the final simulation, no export
    assert res.returncode == 0, res.stderr[-3000:]
    model = tmp_path / "deriv" / "sub-01" / "model"

    def js(name):
        return json.loads((model / f"sub-01_desc-{name}.json").read_text())

    explore, glob, reg, gof = (
        js("explore_grid"),
        js("global_trajectory"),
        js("regional_trajectory"),
        js("fitted_experiment"),
    )
    assert sum(explore["Screen"].values()) == 9 and explore["RankedPoints"]
    # never worse than the start (whose loss the stage computes from the state,
    # the method from the values: the same point may differ in the last bits)
    assert glob["Method"] == method and glob["Loss"] <= glob["StartLoss"] * (1 + 1e-12)
    if method == "multistart":
        assert len(glob["Starts"]) == 3 and glob["Starts"][0]["Start"] == glob["StartValues"]
        assert min(s["Loss"] for s in glob["Starts"]) == glob["Loss"]
    elif method == "cmaes":
        assert glob["Population"] == 4 and glob["Evaluations"] == 1 + 4 * 3
    else:  # coupling.a scanned at 3 values of model.w, 4 + 3 points each
        assert glob["Evaluations"] == 1 + 3 * (4 + 3) and len(glob["Profile"]) == 3
        assert glob["ProfileParameter"] == "coupling.a" and glob["StopReason"] == "scanned"
    assert set(glob["Uncertainty"]["StandardErrors"]) == {"coupling.a", "model.w"}
    # map-based w: two free values, five regional values in the state
    assert set(reg["FreeValues"]) == {"model.w", "model.w@fc_gradient", "model.I_o"}
    assert len(reg["Values"]["model.w"]) == 5 and len(reg["Values"]["model.I_o"]) == 5
    assert gof["Fitted"]["FCDEnergyDistance"] >= 0
    assert set(gof["GlobalStandardErrors"]) == {"coupling.a", "model.w"}

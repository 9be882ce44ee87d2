import json

import numpy as np
import pytest
from conftest import make_tiny_bids, tiny_config

from tvbo_pipe import stages
from tvbo_pipe.config import validate_config
from tvbo_pipe.errors import InputError
from tvbo_pipe.export.layout import subject_path
from tvbo_pipe.io.bids import discover
from tvbo_pipe.io.relmat import read_relmat, write_json, write_relmat, write_tsv_table


def _params(cfg):
    return {
        "inputs_sc": cfg["inputs"]["sc"],
        "inputs_functional": cfg["inputs"]["functional"],
        "connectome": cfg["connectome"],
        "empirical_fc": cfg["empirical_fc"],
        "atlas": cfg["atlas"],
        "bids_dir": cfg["bids_dir"],
    }


def _run(bids, tmp_path, **overrides):
    cfg = validate_config(tiny_config(bids, tmp_path, **overrides))
    u = discover(cfg)[0]
    out = {
        n: subject_path(n, cfg["output_dir"], prefix=u.prefix, atlas="tiny", task=u.task)
        for n in ("sc_weights", "sc_lengths", "empirical_fc", "empirical_fcd")
    }
    conn = stages.connectome(
        {"weights": u.sc_weights, "lengths": u.sc_lengths}, out, _params(cfg), subject=u.prefix
    )
    fc = stages.empirical_fc(
        {"functional": list(u.functional), "sc_weights": out["sc_weights"]},
        out,
        _params(cfg),
        subject=u.prefix,
    )
    return u, out, conn, fc


def test_connectome_stage_normalises_and_writes(tiny_bids, tmp_path):
    u, out, _conn, _ = _run(tiny_bids, tmp_path)
    w, labels, meta = read_relmat(out["sc_weights"])
    raw, _, _ = read_relmat(u.sc_weights)
    np.fill_diagonal(raw, 0)
    np.testing.assert_array_equal(w, raw / raw.max())
    assert labels == ("R0", "R1", "R2", "R3")
    assert meta["Sources"] == [
        "bids:raw:sub-01/dwi/sub-01_atlas-tiny_meas-streamlineCount_relmat.dense.tsv"
    ]
    lengths, _, lmeta = read_relmat(out["sc_lengths"])
    assert lmeta["Units"] == "mm" and lengths.max() > 10


@pytest.mark.parametrize("method", ["none", "log1p"])
def test_connectome_normalisations(tiny_bids, tmp_path, method):
    u, out, _, _ = _run(tiny_bids, tmp_path, connectome={"normalise": method})
    w, _, _ = read_relmat(out["sc_weights"])
    raw, _, _ = read_relmat(u.sc_weights)
    np.fill_diagonal(raw, 0)
    expected = raw if method == "none" else np.log1p(raw) / np.log1p(raw).max()
    np.testing.assert_allclose(w, expected, rtol=1e-15)


def test_negative_weights_are_rejected_naming_the_file(tiny_bids, tmp_path):
    path = tiny_bids / "sub-01/dwi/sub-01_atlas-tiny_meas-streamlineCount_relmat.dense.tsv"
    w, labels, _ = read_relmat(path)
    w[1, 2] = -3.0
    write_relmat(path, w, labels)
    with pytest.raises(
        InputError, match=r"subject sub-01.*streamlineCount.*non-negative.*row 1, column 2"
    ):
        _run(tiny_bids, tmp_path)


def test_empirical_fc_is_pearson_of_detrended_series(tiny_bids, tmp_path):
    u, out, _, fc = _run(tiny_bids, tmp_path)
    from tvbo_pipe.io.timeseries import load_timeseries_tsv

    ts = load_timeseries_tsv(u.functional[0]).data
    np.testing.assert_allclose(fc, np.corrcoef(stages.detrend_linear(ts).T), atol=1e-12)
    written, _labels, meta = read_relmat(out["empirical_fc"])
    np.testing.assert_array_equal(written, fc)
    assert meta["Runs"][0]["RepetitionTime"] == 2.0
    fcd, _, fmeta = read_relmat(out["empirical_fcd"])
    # 60 volumes, window 20 s = 10 volumes, step 10 s = 5 volumes -> 11 windows
    assert fcd.shape == (11, 11) and fmeta["Runs"][0]["FCDWindows"] == 11
    # the axes are time windows: onsets in s, values are correlations (unitless)
    assert "NodeLabels" not in fmeta
    assert fmeta["WindowOnsets"] == [5 * 2.0 * k for k in range(11)]
    assert (fmeta["WindowLength"], fmeta["WindowStep"], fmeta["WindowUnits"]) == (20.0, 10.0, "s")
    assert fmeta["Units"] == "1"


def test_fcd_window_onsets_count_discarded_volumes(tiny_bids, tmp_path):
    fcd_cfg = {"enabled": True, "window_s": 20.0, "step_s": 10.0}
    _, out, _, _ = _run(tiny_bids, tmp_path, empirical_fc={"discard_volumes": 3, "fcd": fcd_cfg})
    fcd, _, fmeta = read_relmat(out["empirical_fcd"])
    # 57 volumes left -> windows at volumes 3, 8, ..., 48 of the run (TR 2 s)
    assert fmeta["WindowOnsets"] == [2.0 * (3 + 5 * k) for k in range(fcd.shape[0])]
    assert fcd.shape == (10, 10)


def test_runs_are_combined_by_fisher_z_mean(tmp_path):
    bids = make_tiny_bids(tmp_path / "b", runs=("1", "2"))
    u, _out, _, fc = _run(
        bids, tmp_path, empirical_fc={"detrend": False, "fcd": {"enabled": False}}
    )
    from tvbo_pipe.io.timeseries import load_timeseries_tsv

    fcs = [np.corrcoef(load_timeseries_tsv(p).data.T) for p in u.functional]
    z = np.mean([np.arctanh(np.clip(f, -1 + 1e-7, 1 - 1e-7)) for f in fcs], axis=0)
    iu = np.triu_indices(4, 1)
    np.testing.assert_allclose(fc[iu], np.tanh(z)[iu], atol=1e-12)


def test_heldout_runs(tmp_path):
    bids = make_tiny_bids(tmp_path / "b", runs=("1", "2", "3"))
    cfg_fc = {"detrend": False, "fcd": {"enabled": False}, "holdout_runs": ["03"]}
    cfg = validate_config(tiny_config(bids, tmp_path, empirical_fc=cfg_fc))
    u = discover(cfg)[0]
    out = {
        n: subject_path(n, cfg["output_dir"], prefix=u.prefix, atlas="tiny", task=u.task)
        for n in ("sc_weights", "sc_lengths", "empirical_fc", "empirical_fc_heldout")
    }
    stages.connectome(
        {"weights": u.sc_weights, "lengths": u.sc_lengths}, out, _params(cfg), subject=u.prefix
    )
    fc = stages.empirical_fc(
        {"functional": list(u.functional), "sc_weights": out["sc_weights"]},
        out,
        _params(cfg),
        subject=u.prefix,
    )
    from tvbo_pipe.io.timeseries import load_timeseries_tsv

    fcs = [np.corrcoef(load_timeseries_tsv(p).data.T) for p in u.functional]
    iu = np.triu_indices(4, 1)
    z = np.mean([np.arctanh(f[iu]) for f in fcs[:2]], axis=0)  # off-diagonal: finite
    np.testing.assert_allclose(fc[iu], np.tanh(z), atol=1e-12)
    held, _, meta = read_relmat(out["empirical_fc_heldout"])
    np.testing.assert_allclose(held[iu], fcs[2][iu], atol=1e-12)
    assert meta["TestRetestFCCorrelation"] == pytest.approx(
        np.corrcoef(fc[iu], held[iu])[0, 1], rel=1e-9
    )
    _, _, train_meta = read_relmat(out["empirical_fc"])
    assert [r["HeldOut"] for r in train_meta["Runs"]] == [False, False, True]
    cfg["empirical_fc"]["holdout_runs"] = ["1", "2", "3"]
    with pytest.raises(InputError, match="leaves 0 run"):
        stages.empirical_fc(
            {"functional": list(u.functional), "sc_weights": out["sc_weights"]},
            out,
            _params(cfg),
            subject=u.prefix,
        )


def test_functional_columns_are_reordered_to_the_sc(tiny_bids, tmp_path):
    from tvbo_pipe.io.timeseries import load_timeseries_tsv

    path = tiny_bids / "sub-01/func/sub-01_task-rest_atlas-tiny_timeseries.tsv"
    ts = load_timeseries_tsv(path).data
    write_tsv_table(path, ["R3", "R2", "R1", "R0"], ts[:, ::-1].tolist())
    _, _, _, fc = _run(tiny_bids, tmp_path)
    np.testing.assert_allclose(fc, np.corrcoef(stages.detrend_linear(ts).T), atol=1e-12)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["R0", "R1", "R2"], "3 regions but the SC"),
        (["R0", "R1", "R2", "X9"], "R3 are not in the functional"),
    ],
)
def test_sc_and_fc_region_mismatch(tiny_bids, tmp_path, labels, message):
    path = tiny_bids / "sub-01/func/sub-01_task-rest_atlas-tiny_timeseries.tsv"
    ts = np.random.default_rng(0).normal(size=(30, len(labels)))
    write_tsv_table(path, labels, ts.tolist())
    with pytest.raises(InputError, match=rf"subject sub-01.*timeseries.tsv.*{message}"):
        _run(tiny_bids, tmp_path)


def test_fc_relmat_input(tiny_bids, tmp_path):
    fc = np.corrcoef(np.random.default_rng(5).normal(size=(4, 30)))
    func = tiny_bids / "sub-01" / "func"
    write_relmat(
        func / "sub-01_task-rest_atlas-tiny_meas-pearsonCorrelation_relmat.dense.tsv",
        fc,
        ["R0", "R1", "R2", "R3"],
    )
    inputs = {
        "functional": {
            "format": "fc_relmat",
            "filters": {"datatype": "func", "suffix": "relmat", "extension": ".dense.tsv"},
        }
    }
    _, _out, _, got = _run(
        tiny_bids,
        tmp_path,
        inputs=inputs,
        participant_label=["01"],
        empirical_fc={"fcd": {"enabled": False}},
    )
    np.testing.assert_array_equal(got, fc)


def test_dataset_description(tmp_path, tiny_bids):
    path = tmp_path / "dd.json"
    stages.dataset_description({}, {"dataset_description": path}, {"bids_dir": str(tiny_bids)})
    meta = json.loads(path.read_text())
    assert meta["DatasetType"] == "derivative"
    assert meta["GeneratedBy"][0]["Name"] == "tvbo_pipe" and meta["GeneratedBy"][0]["Version"]
    assert meta["SourceDatasets"][0]["Name"] == "tiny"
    # the source is linked relative to this dataset's root: no machine-specific path
    assert meta["DatasetLinks"] == {"raw": "bids"} and meta["SourceDatasets"][0]["URL"] == "bids"
    nested = tmp_path / "bids" / "derivatives" / "tvbo_pipe" / "dataset_description.json"
    stages.dataset_description({}, {"dataset_description": nested}, {"bids_dir": str(tiny_bids)})
    assert json.loads(nested.read_text())["DatasetLinks"] == {"raw": "../.."}


def test_cli_reports_bad_input_in_one_line(tiny_bids, tmp_path, capsys):
    from tvbo_pipe.cli import main

    w = tiny_bids / "sub-01/dwi/sub-01_atlas-tiny_meas-streamlineCount_relmat.dense.tsv"
    w.write_text("1\t2\n3\n")
    cfg = validate_config(tiny_config(tiny_bids, tmp_path))
    rc = main(
        [
            "connectome",
            "--subject",
            "sub-01",
            "--in",
            f"weights={w}",
            "--out",
            f"sc_weights={tmp_path}/w.tsv",
            "--out",
            f"sc_lengths={tmp_path}/l.tsv",
            "--params",
            json.dumps(_params(cfg)),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("error: ") and str(w) in err and "Traceback" not in err
    assert not (tmp_path / "w.tsv").exists()


def test_write_json_is_deterministic(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, 2]})
    write_json(tmp_path / "b.json", {"a": [1.5, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_dataset_files_do_not_depend_on_the_selected_participants(tmp_path, tiny_bids):
    from tvbo_pipe.experiment import Experiment
    from tvbo_pipe.export import layout

    written = []
    for labels in (["01"], []):
        cfg = validate_config(tiny_config(tiny_bids, tmp_path, participant_label=labels))
        root = tmp_path / f"deriv{len(written)}"
        outputs = {n: layout.dataset_path(n, root) for n in layout.DATASET_FILE_OUTPUTS}
        experiment = Experiment.load(cfg["experiment"]).to_dict()
        # as the rule passes it: without the selection
        config = {k: v for k, v in cfg.items() if k not in ("participant_label", "session_label")}
        params = {"config": config, "experiment": experiment, "model": None}
        stages.dataset_files({}, outputs, params)
        written.append({n: p.read_bytes() for n, p in outputs.items()})
    assert written[0] == written[1]
    root = tmp_path / "deriv0"
    rows = layout.dataset_path("participants", root).read_text().splitlines()
    assert rows == ["participant_id", "sub-01", "sub-02"]  # the source's subjects
    ignore = layout.dataset_path("bidsignore", root).read_text().splitlines()
    assert [ln for ln in ignore if not ln.startswith("#")] == list(layout.BIDSIGNORE)
    pybids = json.loads(layout.dataset_path("code_pybids_config", root).read_text())
    assert {e["name"] for e in pybids["entities"]} >= {"meas"}
    config = json.loads(layout.dataset_path("code_validator_config", root).read_text())
    assert config == layout.validator_config()

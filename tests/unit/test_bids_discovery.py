import pytest
from conftest import make_tiny_bids, tiny_config

from tvbo_pipe.config import validate_config
from tvbo_pipe.errors import ConfigError, InputError
from tvbo_pipe.io.bids import discover


def _discover(bids, tmp_path, **kw):
    return discover(validate_config(tiny_config(bids, tmp_path, **kw)))


def test_discovers_subjects_and_files(tiny_bids, tmp_path):
    units = _discover(tiny_bids, tmp_path)
    assert [u.prefix for u in units] == ["sub-01", "sub-02"]
    u = units[0]
    assert u.sc_weights.endswith("sub-01_atlas-tiny_meas-streamlineCount_relmat.dense.tsv")
    assert u.sc_lengths.endswith("sub-01_atlas-tiny_meas-tractLength_relmat.dense.tsv")
    assert len(u.functional) == 1 and u.functional[0].endswith("_timeseries.tsv")


def test_sessions_and_runs(tmp_path):
    bids = make_tiny_bids(tmp_path / "b", sessions=("a", "b"), runs=("1", "2"))
    units = _discover(bids, tmp_path)
    assert [u.prefix for u in units] == [
        "sub-01_ses-a",
        "sub-01_ses-b",
        "sub-02_ses-a",
        "sub-02_ses-b",
    ]
    assert units[1].subdir == "sub-01/ses-b"
    assert len(units[1].functional) == 2
    # subject-level SC is used for every session
    assert units[0].sc_weights == units[1].sc_weights
    only_b = _discover(bids, tmp_path, session_label=["ses-b"], participant_label=["sub-02"])
    assert [u.prefix for u in only_b] == ["sub-02_ses-b"]


def test_unknown_participant_lists_available(tiny_bids, tmp_path):
    with pytest.raises(ConfigError, match=r"07.*available: 01, 02") as exc:
        _discover(tiny_bids, tmp_path, participant_label=["07"])
    assert exc.value.key == "participant_label"


def test_missing_bids_dir(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as exc:
        _discover(tmp_path / "nowhere", tmp_path)
    assert exc.value.key == "bids_dir"


def test_not_a_bids_dataset(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match=r"dataset_description.json is missing"):
        _discover(tmp_path / "x", tmp_path)


def test_empty_dataset(tmp_path):
    bids = make_tiny_bids(tmp_path / "b", subjects=())
    with pytest.raises(InputError, match="holds no subjects"):
        _discover(bids, tmp_path)


def test_missing_functional_skip_warns_and_fail_raises(tmp_path):
    bids = make_tiny_bids(tmp_path / "b", with_functional={"02": False})
    with pytest.warns(UserWarning, match="sub-02.*no functional data"):
        units = _discover(bids, tmp_path)
    assert [u.prefix for u in units] == ["sub-01"]
    with pytest.raises(InputError, match=r"subject sub-02.*no functional data"):
        _discover(bids, tmp_path, missing_functional="fail")


def test_missing_structural(tmp_path):
    bids = make_tiny_bids(tmp_path / "b")
    for f in (bids / "sub-02" / "dwi").iterdir():
        f.unlink()
    with pytest.raises(InputError, match=r"subject sub-02.*no structural connectome"):
        _discover(bids, tmp_path)
    units = _discover(
        bids, tmp_path, missing_structural="normative", inputs={"sc": {"normative": "dk68"}}
    )
    assert units[1].sc_weights is None
    with pytest.warns(UserWarning, match="sub-02"):
        assert len(_discover(bids, tmp_path, missing_structural="skip")) == 1


def test_ambiguous_filters(tiny_bids, tmp_path):
    cfg = {
        "inputs": {
            "sc": {"weights": {"datatype": "dwi", "suffix": "relmat", "extension": ".dense.tsv"}}
        }
    }
    with pytest.raises(InputError, match="2 files match the SC weights filters"):
        _discover(tiny_bids, tmp_path, **cfg)

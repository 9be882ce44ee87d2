"""The BIDS path builder and the task label taken from the input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_tiny_bids, tiny_config

from tvbo_pipe.config import validate_config
from tvbo_pipe.errors import InputError
from tvbo_pipe.export import layout
from tvbo_pipe.export.paths import ENTITY_ORDER, bids_name, bids_path
from tvbo_pipe.io.bids import dataset_task, discover


def test_entities_in_bids_order_whatever_the_argument_order():
    name = bids_name(
        suffix="relmat", extension=".dense.tsv", desc="x", meas="fcd", atlas="A", task="t", sub="1"
    )
    assert name == "sub-1_task-t_atlas-A_meas-fcd_desc-x_relmat.dense.tsv"
    assert ENTITY_ORDER.index("atlas") < ENTITY_ORDER.index("meas") < ENTITY_ORDER.index("desc")


def test_bids_path_folders_and_left_out_entities():
    path = bids_path(
        "out", datatype="func", suffix="timeseries", extension=".tsv", sub="01", ses="2", task=None
    )
    assert path == Path("out/sub-01/ses-2/func/sub-01_ses-2_timeseries.tsv")
    assert bids_path("out", datatype="model", suffix="eq", extension=".xml", desc="M") == Path(
        "out/model/desc-M_eq.xml"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"colour": "red"}, "unknown BIDS entities"),
        ({"task": "rest_1"}, "alphanumeric"),
        ({"desc": ""}, "alphanumeric"),
    ],
)
def test_bad_entities_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bids_name(suffix="bold", extension=".nii.gz", **kwargs)


def _retask(bids: Path, task: str, *, only: str | None = None) -> None:
    """Rename the tiny dataset's functional runs from task-rest to ``task``."""
    for path in sorted(bids.rglob("*_task-rest_*")):
        if only is None or path.name.startswith(only):
            path.rename(path.with_name(path.name.replace("_task-rest_", f"_task-{task}_")))


def _config(bids: Path, tmp_path: Path, task: str) -> dict:
    cfg = tiny_config(bids, tmp_path)
    cfg["inputs"] = {
        "functional": {
            "filters": {
                "datatype": "func",
                "suffix": "timeseries",
                "task": task,
                "extension": ".tsv",
            }
        }
    }
    return validate_config(cfg)


def test_task_of_the_functional_runs(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    _retask(bids, "movie")
    units = discover(_config(bids, tmp_path, "movie"))
    assert [u.task for u in units] == ["movie", "movie"] and dataset_task(units) == "movie"
    path = layout.subject_path("sim_fc", "d", prefix="sub-01", atlas="tiny", task="movie")
    assert "_task-movie_" in path.name and "rest" not in path.name


def test_runs_of_several_tasks_are_refused_naming_the_subject(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",), runs=("1", "2"))
    _retask(bids, "movie", only="sub-01_task-rest_run-2")
    cfg = _config(bids, tmp_path, "rest")
    cfg["inputs"]["functional"]["filters"].pop("task")
    with pytest.raises(InputError, match=r"sub-01.*several tasks \(movie, rest\)"):
        discover(cfg)


def test_subjects_of_different_tasks_are_refused(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids")
    _retask(bids, "movie", only="sub-02")
    cfg = _config(bids, tmp_path, "rest")
    cfg["inputs"]["functional"]["filters"].pop("task")
    with pytest.raises(InputError, match="movie: sub-02; rest: sub-01"):
        dataset_task(discover(cfg))


def test_the_task_is_always_given_and_none_leaves_it_out():
    with pytest.raises(TypeError, match="task"):
        layout.subject_path("sim_fc", "d", prefix="sub-01", atlas="tiny")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="task"):
        layout.pattern("sim_fc", "d", atlas="tiny")  # type: ignore[call-arg]
    path = layout.subject_path("sim_fc", "d", prefix="sub-01_ses-2", atlas="tiny", task=None)
    assert path == Path(
        "d/sub-01/ses-2/func/sub-01_ses-2_atlas-tiny_meas-pearsonCorrelation_desc-simulated_relmat.dense.tsv"
    )
    assert layout.pattern("sim_fc", "d", atlas="tiny", task="movie") == (
        "d/{subdir}/func/{prefix}_task-movie_atlas-tiny_meas-pearsonCorrelation_desc-simulated"
        "_relmat.dense.tsv"
    )


def test_file_globs_spell_only_the_kept_entities():
    assert layout.file_glob("sim_bold", "desc") == "*_desc-simulated_timeseries.tsv"
    assert layout.file_glob("sc_nodeindices", "atlas") == "*_atlas-<atlas>_dseg.tsv"
    assert layout.file_glob("model_eq", "desc") == "desc-<model>_eq.xml"
    assert layout.file_glob("group_table") == "*_summary.tsv"
    assert layout.file_glob("readme") == "README.md"
    with pytest.raises(ValueError, match="no entities"):
        layout.file_glob("sim_bold", "meas")


def test_every_name_in_the_derivative_readme_is_a_declared_output():
    """The README's prose spells files, folders and entities from the layout."""
    import fnmatch
    import re

    from tvbo_pipe.export.derivative import readme_text

    cfg = validate_config(tiny_config(Path("bids"), Path("out"), fitting=True))
    text = readme_text(cfg, subjects=["01"], model="RWW", source_name="ds")
    files = [
        p.as_posix() for p in layout.expected_files(cfg, "", ["sub-01"], model="RWW", task="rest")
    ]
    quoted = re.findall(r"`([^`\s]+)`", text.split("```")[0])
    checked = 0
    for token in quoted:
        glob = re.sub(r"<[a-z]+>", "*", token)
        if token.endswith("/"):  # a folder
            hit = [f for f in files if fnmatch.fnmatch(f, glob + "*")]
        elif re.fullmatch(r"[a-z]+-[a-zA-Z0-9]+", token):  # an entity
            hit = [f for f in files if f"_{token}_" in f]
        elif "." in token and not token.startswith("tvbo_pipe"):  # a file or a glob
            hit = [f for f in files if fnmatch.fnmatch(f, glob) or fnmatch.fnmatch(f, "*/" + glob)]
        else:
            continue
        checked += 1
        assert hit, f"README names {token!r}, which matches no declared output"
    assert checked >= 20
    assert 'layout.get(meas="pearsonCorrelation", desc="simulated", extension=".dense.tsv")' in text

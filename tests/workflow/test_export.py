"""The BIDS derivative the workflow leaves behind: layout, bytes, validation,
provenance, reports, group table, pybids and reloading a fitted model.

The session fixture ``tiny_fit`` (tests/conftest.py) fits a tiny dataset twice
(same inputs, same output folder) with Snakemake; every test reads what it wrote.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from bids_validation import errors, validate_bids
from conftest import REPO, TINY_FIT_SUBJECTS

from tvbo_pipe.config import validate_config
from tvbo_pipe.export import layout
from tvbo_pipe.io.relmat import read_relmat

pytestmark = pytest.mark.workflow

SUBJECTS = TINY_FIT_SUBJECTS
MODEL = "ReducedWongWang"
TASK = "rest"  # the task of the tiny dataset's functional runs


@pytest.fixture(scope="module")
def runs(tiny_fit):
    """(config, first run's dataset, second run's dataset): one tiny dataset fitted twice."""
    return validate_config(tiny_fit.config), tiny_fit.first, tiny_fit.second


def produced(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_output_tree_is_the_declared_layout(runs):
    config, deriv, _ = runs
    files = produced(deriv)
    undeclared = [p for p in files if layout.match_output(p.relative_to(deriv).as_posix()) is None]
    assert not undeclared, f"files not declared in tvbo_pipe.export.layout: {undeclared}"
    expected = layout.expected_files(
        config, deriv, [f"sub-{s}" for s in SUBJECTS], model=MODEL, task=TASK
    )
    missing = sorted(str(p) for p in set(expected) - files)
    assert not missing, f"declared outputs of enabled stages not written: {missing}"
    assert files == set(expected)


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in layout.VOLATILE_JSON_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_same_inputs_give_the_same_bytes(runs):
    _, first, second = runs
    assert {p.relative_to(first) for p in produced(first)} == {
        p.relative_to(second) for p in produced(second)
    }
    differ = []
    for p in sorted(produced(first)):
        rel = p.relative_to(first)
        q = second / rel
        if layout.match_output(rel.as_posix()) in layout.VOLATILE_OUTPUTS:
            continue
        if p.suffix == ".json":
            same = _strip(json.loads(p.read_text())) == _strip(json.loads(q.read_text()))
        else:
            same = p.read_bytes() == q.read_bytes()
        if not same:
            differ.append(str(rel))
    assert not differ, f"files that differ between two runs: {differ}"


#: Outputs of kinds BIDS 1.11 defines: the validator checks them in any run.
BIDS_DEFINED = {
    "dataset_description",
    "readme",
    "participants",
    "participants_json",
    "sc_nodeindices",
}


def test_derivative_passes_the_bids_validator(runs):
    """With its own .bidsignore: no errors, and every file BIDS defines is checked."""
    _, deriv, _ = runs
    report = validate_bids(deriv)
    assert not errors(report), json.dumps(errors(report)[:10], indent=1)
    summary = report["summary"]
    assert sorted(summary["subjects"]) == list(SUBJECTS)
    checked = [
        p
        for p in produced(deriv)
        if layout.match_output(p.relative_to(deriv).as_posix()) in BIDS_DEFINED
    ]
    assert len(checked) == 4 + len(SUBJECTS) and summary["totalFiles"] == len(checked)


def _copy_without_bidsignore(deriv: Path, dest: Path) -> Path:
    shutil.copytree(deriv, dest)
    (dest / ".bidsignore").unlink()
    return dest


def test_validator_checks_the_files_bids_does_not_define(runs, tmp_path):
    """The shipped validator config, on the dataset without .bidsignore: every file
    (relmats and their sidecars included) is walked and checked; the draft-spec kinds
    get NOT_INCLUDED as severity 'ignore' only, and no other issue."""
    _, deriv, _ = runs
    copy = _copy_without_bidsignore(deriv, tmp_path / "deriv")
    config = layout.dataset_path("code_validator_config", copy)
    assert json.loads(config.read_text()) == layout.validator_config()
    report = validate_bids(copy, config=config)
    assert not errors(report), json.dumps(errors(report)[:10], indent=1)
    issues = report["issues"]["issues"]
    assert {i["code"] for i in issues if i["severity"] != "warning"} == {"NOT_INCLUDED"}
    not_included = {i["location"].lstrip("/") for i in issues if i["code"] == "NOT_INCLUDED"}
    files = [p.relative_to(copy).as_posix() for p in produced(copy)]
    relmats = [f for f in files if f.endswith(("_relmat.dense.tsv", "_relmat.json"))]
    assert len(relmats) == 2 * 6 * len(SUBJECTS)  # SC weights, lengths, FC, FCD: emp. and sim.
    assert set(relmats) <= not_included  # the validator walked every relmat and sidecar
    # every file is walked (the validator skips code/ by design)
    assert report["summary"]["totalFiles"] == len([f for f in files if not f.startswith("code/")])
    assert sorted(report["summary"]["subjects"]) == list(SUBJECTS)


def test_validator_config_run_catches_a_sidecar_without_its_matrix(runs, tmp_path):
    """The run above can fail: a relmat sidecar whose matrix is missing is an error."""
    _, deriv, _ = runs
    copy = _copy_without_bidsignore(deriv, tmp_path / "deriv")
    gone = layout.subject_path("sim_fc", copy, prefix="sub-01", atlas="tiny", task=TASK)
    gone.unlink()
    report = validate_bids(copy, config=layout.dataset_path("code_validator_config", copy))
    found = [(i["code"], i["location"]) for i in errors(report)]
    sidecar = layout.subject_path("sim_fc_json", copy, prefix="sub-01", atlas="tiny", task=TASK)
    assert found == [("SIDECAR_WITHOUT_DATAFILE", "/" + sidecar.relative_to(copy).as_posix())]


def test_demo_input_dataset_passes_the_bids_validator():
    assert not errors(validate_bids(REPO / "resources" / "demo"))


def test_openminds_provenance_validates(runs):
    from openminds import Collection

    from tvbo_pipe.export.openminds import sha256, validate_jsonld

    _, deriv, _ = runs
    for path in [
        *(
            layout.subject_path("provenance", deriv, prefix=f"sub-{s}", atlas="tiny", task=TASK)
            for s in SUBJECTS
        ),
        layout.dataset_path("group_provenance", deriv),
    ]:
        assert validate_jsonld(path) == {}, path
    c = Collection()
    c.load(str(layout.subject_path("provenance", deriv, prefix="sub-01", atlas="tiny", task=TASK)))
    kinds = [type(n).__name__ for n in c]
    assert kinds.count("WorkflowExecution") == 1
    assert kinds.count("Optimization") == 3 and kinds.count("Simulation") == 1
    (wf,) = [n for n in c if type(n).__name__ == "WorkflowExecution"]
    assert [type(s).__name__ for s in wf.stages][-4:] == ["Optimization"] * 3 + ["Simulation"]
    (mv,) = [n for n in c if type(n).__name__ == "ModelVersion"]
    fitted = json.loads(mv.configuration.configuration)
    param = json.loads(
        layout.subject_path(
            "fitted_param", deriv, prefix="sub-01", atlas="tiny", task=TASK
        ).read_text()
    )
    assert fitted == param["Values"]
    files = [n for n in c if type(n).__name__ == "LocalFile"]
    assert files and all(n.hash.algorithm == "SHA-256" for n in files)
    for n in files:  # every hash is the file's
        if n.path.startswith("bids::"):
            assert sha256(deriv / n.path[6:]) == n.hash.digest, n.path


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.src, self.href = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.src.append(attrs["src"])
        if tag == "a":
            self.href.append(attrs["href"])


def _links(page: Path) -> _Images:
    parser = _Images()
    parser.feed(page.read_text())
    return parser


def test_reports_show_the_data(runs):
    from matplotlib.image import imread

    _, deriv, _ = runs
    page = layout.subject_path("report", deriv, prefix="sub-01", atlas="tiny", task=TASK)
    links = _links(page)
    # FC, scatter, FCD, goodness of fit, loss, exploration, regional, BOLD
    assert len(links.src) == 8
    for src in links.src:
        img = imread(page.parent / src)
        assert img.ndim == 3 and min(img.shape[:2]) > 100, src
        assert float(img[..., :3].std()) > 0.02, f"{src} looks blank"
    for href in links.href:
        assert (page.parent / href).is_file(), href
    text = page.read_text()
    gof = json.loads(
        layout.subject_path("gof", deriv, prefix="sub-01", atlas="tiny", task=TASK).read_text()
    )
    assert f"{gof['Fitted']['FCCorrelation']:.4g}" in text
    # the verdict box states the gof JSON's fit r, SC baseline and fresh-seed r
    fresh = gof["FreshSeeds"]
    assert len(fresh["Seeds"]) == 5 == len(fresh["FCCorrelation"])
    for value in (
        f'id="fit-r">{gof["Fitted"]["FCCorrelation"]:.3f}<',
        f'id="sc-r">{gof["Baseline"]["SCFCCorrelation"]:.3f}<',
        f'id="fresh-r">{fresh["FCCorrelationMean"]:.3f} ± {fresh["FCCorrelationStd"]:.3f}<',
    ):
        assert value in text
    assert text.index('id="verdict"') < text.index("<figure>")
    group = _links(layout.dataset_path("group_report", deriv))
    assert len(group.src) == 1 and imread(deriv / "group" / group.src[0]).std() > 0.02
    assert all((deriv / "group" / h).is_file() for h in group.href)
    md = layout.dataset_path("model_report", deriv, model=MODEL).read_text()
    assert md.startswith(f"# {MODEL}") and "$$" in md


def test_group_table_has_one_row_per_subject(runs):
    _, deriv, _ = runs
    lines = layout.dataset_path("group_table", deriv).read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]
    assert [r["participant_id"] for r in rows] == [f"sub-{s}" for s in SUBJECTS]
    for col in ("coupling.a", "model.w_mean", "fitted_FCCorrelation", "seconds_total",
                "baseline_SCFCCorrelation", "fresh_FCCorrelationMean"):  # fmt: skip
        assert col in header
    for r, s in zip(rows, SUBJECTS, strict=True):
        gof = json.loads(
            layout.subject_path(
                "gof", deriv, prefix=f"sub-{s}", atlas="tiny", task=TASK
            ).read_text()
        )
        assert float(r["fitted_FCCorrelation"]) == gof["Fitted"]["FCCorrelation"]
        assert float(r["seconds_total"]) > 0
    sidecar = json.loads(layout.dataset_path("group_table_json", deriv).read_text())
    assert set(sidecar) == set(header)


def test_pybids_finds_every_output_by_its_entities(runs):
    from tvbo_pipe.export.readback import open_derivative

    _, deriv, _ = runs
    bids = open_derivative(deriv)
    queries = {
        "sc_weights": {"suffix": "relmat", "meas": "weight", "extension": ".dense.tsv"},
        "sc_lengths": {"suffix": "relmat", "meas": "tractLength", "extension": ".dense.tsv"},
        "sc_nodeindices": {"suffix": "dseg", "atlas": "tiny", "extension": ".tsv"},
        "empirical_fc": {"suffix": "relmat", "meas": "pearsonCorrelation", "desc": "empirical", "extension": ".dense.tsv"},
        "sim_fc": {"suffix": "relmat", "meas": "pearsonCorrelation", "desc": "simulated", "extension": ".dense.tsv"},
        "sim_fcd": {"suffix": "relmat", "meas": "fcd", "desc": "simulated", "extension": ".dense.tsv"},
        "sim_bold": {"suffix": "timeseries", "desc": "simulated", "extension": ".tsv"},
        "sim_bold_json": {"suffix": "timeseries", "desc": "simulated", "extension": ".json"},
        "fitted_param_xml": {"suffix": "param", "desc": "fitted", "extension": ".xml"},
        "fitted_param": {"suffix": "param", "desc": "fitted", "extension": ".json"},
        "fit_regional_params": {"suffix": "trajectory", "desc": "regional", "extension": ".json"},
        "explore_best": {"suffix": "grid", "desc": "explore", "extension": ".json"},
        "fit_global_trajectory": {"suffix": "trajectory", "desc": "global", "extension": ".tsv"},
        "explore_table": {"suffix": "grid", "desc": "explore", "extension": ".tsv"},
        "gof": {"suffix": "experiment", "desc": "fitted", "extension": ".json"},
        "fitted_experiment": {"suffix": "experiment", "desc": "fitted", "extension": ".yaml"},
    }  # fmt: skip
    for s in SUBJECTS:
        for name, q in queries.items():
            hits = bids.get(subject=s, return_type="filename", **q)
            want = layout.subject_path(name, deriv, prefix=f"sub-{s}", atlas="tiny", task=TASK)
            assert [Path(h) for h in hits] == [want], (name, hits)


def test_shipped_pybids_config_tells_fc_from_fcd(runs):
    """The README's query: pybids with code/pybids_config.json, one simulated FC per subject."""
    from bids import BIDSLayout

    _, deriv, _ = runs
    config = layout.dataset_path("code_pybids_config", deriv)
    bids = BIDSLayout(deriv, validate=False, config=["bids", "derivatives", str(config)])
    for s in SUBJECTS:
        q = {
            "subject": s,
            "desc": "simulated",
            "extension": ".dense.tsv",
            "return_type": "filename",
        }
        fc = bids.get(meas="pearsonCorrelation", **q)
        fcd = bids.get(meas="fcd", **q)
        assert [Path(p) for p in fc] == [
            layout.subject_path("sim_fc", deriv, prefix=f"sub-{s}", atlas="tiny", task=TASK)
        ]
        assert [Path(p) for p in fcd] == [
            layout.subject_path("sim_fcd", deriv, prefix=f"sub-{s}", atlas="tiny", task=TASK)
        ]
    assert len(bids.get(meas="pearsonCorrelation", desc="simulated", extension=".dense.tsv")) == 2
    assert (
        "meas"
        not in BIDSLayout(deriv, validate=False, config=["bids", "derivatives"]).get_entities()
    )


def test_fcd_sidecars_describe_time_windows(runs):
    _, deriv, _ = runs
    bold = json.loads(
        layout.subject_path(
            "sim_bold_json", deriv, prefix="sub-01", atlas="tiny", task=TASK
        ).read_text()
    )
    for name in ("empirical_fcd", "sim_fcd"):
        path = layout.subject_path(name, deriv, prefix="sub-01", atlas="tiny", task=TASK)
        fcd, labels, meta = read_relmat(path)
        assert labels is None and "NodeLabels" not in meta
        assert len(meta["WindowOnsets"]) == fcd.shape[0] and meta["WindowUnits"] == "s"
        assert meta["Units"] == "1" and np.all(np.abs(fcd) <= 1 + 1e-12)
        assert (meta["WindowLength"], meta["WindowStep"]) == (20.0, 10.0)  # 10 and 5 TRs of 2 s
        assert np.allclose(np.diff(meta["WindowOnsets"]), meta["WindowStep"])
    # simulated windows start after the transient (4 s = 2 samples of 2 s)
    assert meta["WindowOnsets"][0] == bold["TransientDiscardedForFC"] * bold["RepetitionTime"]


def test_source_dataset_is_linked_without_a_machine_path(runs):
    _, deriv, _ = runs
    desc = json.loads(layout.dataset_path("dataset_description", deriv).read_text())
    link = desc["DatasetLinks"]["raw"]
    assert link == "../bids" and desc["SourceDatasets"][0]["URL"] == link
    assert (deriv / link / "dataset_description.json").is_file()
    sidecar = json.loads(
        layout.subject_path(
            "empirical_fc_json", deriv, prefix="sub-01", atlas="tiny", task=TASK
        ).read_text()
    )
    assert sidecar["Sources"] and all(u.startswith("bids:raw:") for u in sidecar["Sources"])
    assert all((deriv / link / u[len("bids:raw:") :]).is_file() for u in sidecar["Sources"])


def test_simulated_outputs_name_their_model_connectivity_and_code(runs):
    _, deriv, _ = runs
    for name in ("sim_bold_json", "sim_fc_json", "sim_fcd_json"):
        meta = json.loads(
            layout.subject_path(name, deriv, prefix="sub-02", atlas="tiny", task=TASK).read_text()
        )
        for key in ("ModelEq", "ModelParam", "Connectivity", "SourceCodeRepository", "MachineCodeRepository", "Sources"):  # fmt: skip
            assert meta.get(key), (name, key)
        for uri in [meta["ModelEq"], meta["ModelParam"], meta["MachineCodeRepository"],
                    *meta["Connectivity"], *meta["Sources"]]:  # fmt: skip
            assert uri.startswith("bids::") and (deriv / uri[6:]).is_file(), uri
    bold = json.loads(
        layout.subject_path(
            "sim_bold_json", deriv, prefix="sub-02", atlas="tiny", task=TASK
        ).read_text()
    )
    assert bold["RepetitionTime"] == 2.0 and bold["NodeLabels"] == [f"R{k}" for k in range(5)]
    assert "Units" in bold


def test_parameter_file_holds_the_fitted_values(runs):
    from tvbo_pipe.export.lems import experiment_from_lems

    _, deriv, _ = runs
    xml = layout.subject_path("fitted_param_xml", deriv, prefix="sub-01", atlas="tiny", task=TASK)
    text = xml.read_text()
    include = re.search(r'<Include file="([^"]+)"', text).group(1)
    assert (xml.parent / include).resolve() == layout.dataset_path(
        "model_eq", deriv, model=MODEL
    ).resolve()
    exp = experiment_from_lems(xml)  # read with PyLEMS, through the Include
    record = json.loads(
        layout.subject_path(
            "fitted_param", deriv, prefix="sub-01", atlas="tiny", task=TASK
        ).read_text()
    )
    assert exp.coupling.parameters["a"] == record["Values"]["coupling.a"]
    assert list(exp.model.parameters["I_o"]) == record["Values"]["model.I_o"]
    params = {p["Name"]: p for p in record["Parameters"]}
    assert params["model.I_o"]["Regional"] and not params["coupling.a"]["Regional"]
    assert params["model.I_o"]["LowerBound"] == 0.0 and params["model.I_o"]["UpperBound"] == 0.6
    assert params["model.I_o"]["Units"] == "nA"


def test_reloading_a_fitted_subject_reproduces_its_fc(runs):
    from tvbo_pipe.export.readback import load_fitted

    _, deriv, _ = runs
    fitted = load_fitted(deriv, "sub-02")
    assert fitted.experiment.model.parameters["I_o"] == tuple(fitted.record["Values"]["model.I_o"])
    fc = fitted.simulated_fc()
    stored, labels, _ = read_relmat(
        layout.subject_path("sim_fc", deriv, prefix="sub-02", atlas="tiny", task=TASK)
    )
    assert labels == fitted.labels
    np.testing.assert_allclose(fc, stored, rtol=0, atol=1e-12)

"""Subject and group HTML reports: the verdict box against the gof JSON, flags,
honest stage status, outliers of the group table."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import about
from tvbo_pipe.export import pages as reports
from tvbo_pipe.export.methods import methods_text
from tvbo_pipe.export.verdict import stage_status, subject_verdict

LABELS = ["Precentral_L", "Precentral_R", "Frontal_Sup_L", "Frontal_Sup_R"]


class _ById(HTMLParser):
    """Text of every element with an id, and whether every element is closed."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.by_id: dict[str, str] = {}
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, dict(attrs).get("id")))
            if dict(attrs).get("id"):
                self.by_id[dict(attrs)["id"]] = ""

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"unexpected </{tag}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        for _, i in self.stack:
            if i:
                self.by_id[i] += data


def parse(page: str) -> _ById:
    p = _ById()
    p.feed(page)
    assert not p.errors and not p.stack, (p.errors, p.stack)
    return p


def _gof(**over):
    gof = {
        "Fitted": {"FCCorrelation": 0.5221, "FCRMSE": 0.342, "FCDKolmogorovSmirnov": 0.653},
        "Start": {"FCCorrelation": 0.188, "FCRMSE": 0.5},
        "Values": {},
        "Seconds": 9.6,
        "FreshSeeds": {
            "Seeds": [43, 44, 45],
            "FCCorrelation": [0.53, 0.48, 0.51],
            "FCRMSE": [0.35, 0.36, 0.34],
            "FCCorrelationMean": 0.50667,
            "FCCorrelationStd": 0.02055,
        },
        "Baseline": {"SCFCCorrelation": 0.2297},
    }
    gof.update(over)
    return gof


def _record():
    return {
        "Model": "ReducedWongWang",
        "Parameters": [
            {"Name": "coupling.a", "Value": 0.43, "Regional": False, "LowerBound": 0.0,
             "UpperBound": 1.5, "Stage": "fit_global", "Units": "", "Description": "a"},
            {"Name": "model.I_o", "Value": [0.6, 0.3, 0.2, 0.1], "Regional": True,
             "LowerBound": 0.0, "UpperBound": 0.6, "Stage": "fit_regional", "Units": "nA",
             "Description": "input"},
        ],
        "Stages": [
            {"Stage": "explore", "Loss": 0.9662, "Points": 36},
            {"Stage": "fit_global", "Loss": 0.9662, "StartLoss": 0.9662, "Steps": 16,
             "StopReason": "plateau"},
            {"Stage": "fit_regional", "Loss": 0.80, "StartLoss": 0.9662, "Steps": 30,
             "StopReason": "steps"},
        ],
    }  # fmt: skip


def _stage_jsons():
    return {
        "explore": {"Values": {"coupling.a": 0.43}, "Points": 36, "Loss": 0.9662},
        "fit_global": {"Values": {"coupling.a": 0.43}, "StartValues": {"coupling.a": 0.43},
                       "Loss": 0.9662, "StartLoss": 0.9662, "Steps": 16, "StopReason": "plateau"},
        "fit_regional": {"Values": {"model.I_o": [0.6, 0.3, 0.2, 0.1]},
                         "StartValues": {"model.I_o": [0.32] * 4}, "Loss": 0.8,
                         "StartLoss": 0.9662, "Steps": 30, "StopReason": "steps"},
    }  # fmt: skip


def _render(tmp_path, gof, *, bold=None, fc_sim=None):
    record = _record()
    verdict = subject_verdict(gof, record, _stage_jsons(), bold=bold, fc_sim=fc_sim,
                              fcd_ks_flag=0.5)  # fmt: skip
    log = tmp_path / "logs" / "sub-01" / "sub-01_fit_global.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026 INFO ok\n2026 WARNING tvbo_pipe: step 3 <rejected>\n")
    logs = about.subject_logs(tmp_path / "logs", "sub-01")
    page = reports.subject_report(
        tmp_path / "sub-01" / "sub-01_desc-fit_report.html",
        prefix="sub-01", model="ReducedWongWang", record=record, gof=gof, verdict=verdict,
        labels=LABELS, figures=[(tmp_path / "sub-01" / "figures" / "fc.png", "FC")],
        files=[], methods=["Paragraph <one>."], references=["Ref [1]"],
        about=about.run_info(12.5, ["python", "-m", "tvbo_pipe", "export"]),
        versions=about.software_versions(), logs=logs, warnings=about.log_warnings(logs),
        config={"simulation": {"duration_s": 300.0}}, fcd_ks_flag=0.5,
    )  # fmt: skip
    return page, verdict


def test_verdict_box_states_the_gof_numbers(tmp_path):
    gof = _gof()
    page, _ = _render(tmp_path, gof)
    doc = parse(page)
    # the verdict comes first: before the goodness-of-fit table and figures
    assert page.index('id="verdict"') < page.index("<h2>")
    assert doc.by_id["fit-r"] == f"{gof['Fitted']['FCCorrelation']:.3f}"
    assert doc.by_id["sc-r"] == f"{gof['Baseline']['SCFCCorrelation']:.3f}"
    fresh = gof["FreshSeeds"]
    assert doc.by_id["fresh-r"] == (
        f"{fresh['FCCorrelationMean']:.3f} ± {fresh['FCCorrelationStd']:.3f}"
    )
    assert doc.by_id["fcd-ks"] == f"{gof['Fitted']['FCDKolmogorovSmirnov']:.3f}"
    assert "heldout-r" not in doc.by_id
    assert "beats the SC alone" in doc.by_id["verdict-headline"]
    flags = doc.by_id["flags"]
    assert "fit_global: no improvement (best kept)" in flags
    assert "coupling.a never left its start point" in flags
    assert "model.I_o is at a bound [0.0, 0.6] in 1 of 4 regions" in flags
    assert "FCD KS distance 0.653 > 0.5" in flags
    assert "converged" not in page
    # stage status, methods (escaped), warnings from the logs, log link, labels
    assert "improved by 0.1662" in page
    assert "Paragraph &lt;one&gt;." in page
    assert "step 3 &lt;rejected&gt;" in page
    assert 'href="../logs/sub-01/sub-01_fit_global.log"' in page
    assert "Precentral_L" in page  # region of the regional maximum


def test_held_out_and_regime_flags(tmp_path):
    gof = _gof(HeldOut={"FCCorrelation": 0.41, "FCRMSE": 0.3, "TestRetestFCCorrelation": 0.62})
    fc_sim = np.full((4, 4), 0.97)
    page, verdict = _render(tmp_path, gof, fc_sim=fc_sim, bold=np.ones((20, 4)))
    doc = parse(page)
    assert doc.by_id["heldout-r"] == "0.410" and doc.by_id["retest-r"] == "0.620"
    assert "saturated regime" in doc.by_id["flags"]
    assert "silent regime" in doc.by_id["flags"]
    assert [f.level for f in verdict.flags][:2] == ["bad", "bad"]  # the worst first


def test_nan_fit_and_no_baseline_win(tmp_path):
    gof = _gof()
    gof["Baseline"]["SCFCCorrelation"] = 0.7
    bold = np.ones((10, 4))
    bold[3, 1] = np.nan
    v = subject_verdict(gof, _record(), _stage_jsons(), bold=bold)
    texts = [f.text for f in v.flags]
    assert "the simulated BOLD holds NaN or infinite values" in texts
    assert any("does not beat the SC alone" in t for t in texts)
    assert "does not beat" in v.headline
    gof["FreshSeeds"] = {"Seeds": [1, 2], "FCCorrelation": [0.5, None], "FCRMSE": [0.3, None],
                         "FCCorrelationMean": None, "FCCorrelationStd": None}  # fmt: skip
    v = subject_verdict(gof, _record(), _stage_jsons())
    assert "1 of 2 fresh noise seeds gave no finite FC r" in [f.text for f in v.flags]


def test_fit_that_fits_its_own_noise_is_flagged():
    gof = _gof()
    gof["Fitted"]["FCCorrelation"] = 0.60
    v = subject_verdict(gof, _record(), _stage_jsons())
    assert any("partly fits its own noise" in f.text for f in v.flags)
    assert not any("varies by" in f.text for f in v.flags)
    gof["FreshSeeds"]["FCCorrelationStd"] = 0.13
    v = subject_verdict(gof, _record(), _stage_jsons())
    assert any("varies by ± 0.130 over fresh noise seeds" in f.text for f in v.flags)


@pytest.mark.parametrize(
    "stage, expected",
    [
        ({"Loss": 0.5, "StartLoss": 0.9, "Steps": 30, "StopReason": "steps"},
         "improved by 0.4 (loss 0.9 -> 0.5); all 30 steps used"),
        ({"Loss": 0.5, "StartLoss": 0.9, "Steps": 12, "StopReason": "plateau"},
         "improved by 0.4 (loss 0.9 -> 0.5); stopped on a plateau after 12 steps"),
        ({"Loss": 0.5, "StartLoss": 0.9, "Steps": 12, "StopReason": "converged"},
         "improved by 0.4 (loss 0.9 -> 0.5); stopped on a plateau after 12 steps"),
        ({"Loss": 0.9662, "StartLoss": 0.9662, "Steps": 16, "StopReason": "plateau"},
         "no improvement (best kept): loss 0.9662"),
        ({"Loss": float("nan"), "StartLoss": 0.9, "StopReason": "no finite loss"},
         "stopped: NaN"),
        ({"Loss": 0.4, "Points": 36}, "best of 36 points: loss 0.4"),
    ],
)  # fmt: skip
def test_stage_status_is_honest(stage, expected):
    assert stage_status(stage) == expected


def test_outliers_by_iqr_and_z():
    why = reports.column_outliers([0.5, 0.52, 0.51, 0.49, 0.95, "n/a", None])
    assert why[4] and "IQR" in why[4]
    assert all(w is None for i, w in enumerate(why) if i != 4)
    assert reports.column_outliers([1.0, 2.0]) == [None, None]  # too few to tell
    assert reports.column_outliers([1.0, 1.0, 1.0, 1.0]) == [None] * 4


def test_group_report_sorts_marks_outliers_and_lists_flags(tmp_path):
    header = ["participant_id", "session_id", "coupling.a", "fitted_FCCorrelation"]
    values = [0.40, 0.42, 0.41, 0.43, 1.40]
    rows = [[f"sub-0{i}", "n/a", v, 0.5] for i, v in enumerate(values, 1)]
    gof = _gof()
    verdicts = [subject_verdict(gof, _record(), _stage_jsons()) for _ in rows]
    page = reports.group_report(
        tmp_path / "group" / "desc-fit_report.html", header=header, rows=rows,
        descriptions={"coupling.a": {"Description": "Fitted global parameter coupling.a"}},
        figure=tmp_path / "group" / "fig.png",
        subject_pages=[(r[0], tmp_path / r[0] / "report.html") for r in rows],
        verdicts=verdicts, model="ReducedWongWang", model_files=[],
        about=about.run_info(None), versions={"python": "3"},
    )  # fmt: skip
    doc = parse(page)
    assert page.count('class="outlier"') == 1 and 'data-value="1.4"' in page
    assert "<script>" in page and "sorted-asc" in page
    assert 'title="Fitted global parameter coupling.a"' in page
    assert 'href="../sub-01/report.html"' in page
    summary = doc.by_id["group-verdict"]
    assert "5 of 5 beat the SC-alone baseline" in summary
    assert "fit_global improved for 0 of 5; fit_regional improved for 5 of 5" in summary
    assert "sub-05" in page and "never left its start point" in page
    assert "table-layout: fixed" in page  # every column within the page width


def test_methods_cite_the_model_and_tools():
    exp = Experiment.load("config/experiment.yaml")
    params = {
        "simulation": {"duration_s": 300.0, "transient_s": 20.0, "bold_period_ms": "auto",
                       "warmup": True},
        "connectome": {"normalise": "max"},
        "empirical_fc": {"fcd": {"enabled": True, "window_s": 60.0, "step_s": 10.0}},
        "observation": {"loss": "combined", "weights": {"corr": 1.0, "rmse": 1.0}},
        "fit_global": {"parameters": {"coupling.a": [0.0, 1.5]}, "optimizer": "adam",
                       "learning_rate": 0.05, "steps": 30, "patience": 15, "tol": 1e-4},
        "simulate_fitted": {"fresh_seeds": 5},
    }  # fmt: skip
    paragraphs, refs = methods_text(exp, params)
    text = " ".join(paragraphs)
    assert "ReducedWongWang" in text and "Heun" in text and "dt = 4 ms" in text
    assert "coupling.a in [0, 1.5]" in text and "learning rate 0.05" in text
    assert "5 fresh noise seeds" in text
    assert any("Deco" in r for r in refs) and any("Snakemake" in r for r in refs)
    cited = {int(c) for c in re.findall(r"\[(\d+)\]", text)}
    assert cited == set(range(1, len(refs) + 1))


def test_about_leaves_the_configuration_out_of_the_command():
    info = about.run_info(3.0, ["tvbo_pipe", "export", "--params", '{"a": 1}', "--log", "x"])
    assert info["command"] == "tvbo_pipe export --params '<configuration>' --log x"
    assert info["run_time"] == "3.0 s" and info["date"].endswith("Z")
    assert about.software_versions()["jinja2"]


def test_figures_without_fcd_and_with_every_measure(tmp_path):
    from matplotlib.image import imread

    from tvbo_pipe.export import figures

    rng = np.random.default_rng(0)
    fcd = np.corrcoef(rng.normal(size=(12, 30)))
    figures.fcd_matrices(tmp_path / "fcd.png", None, fcd, step_s=10.0, ks=None)
    figures.goodness_of_fit_panels(
        tmp_path / "gof.png",
        {"FCCorrelation": 0.5, "FCRMSE": 0.3, "FCDKolmogorovSmirnov": 0.6},
        {"FCCorrelation": 0.2, "FCRMSE": 0.4},
        fresh={"FCCorrelation": [0.45, 0.5, 0.52]},
        baseline={"FCCorrelation": 0.23},
    )
    figures.fc_matrices(tmp_path / "fc.png", fcd, fcd, labels=[f"R{k}" for k in range(12)])
    for name in ("fcd.png", "gof.png", "fc.png"):
        img = imread(tmp_path / name)
        assert float(img[..., :3].std()) > 0.02, name

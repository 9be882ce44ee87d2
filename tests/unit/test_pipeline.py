"""The workflow declaration (tvbo_pipe.pipeline): consistent with the layout and the
stage functions, and each stage reads exactly the config sections it declares."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import make_tiny_bids, tiny_config

from tvbo_pipe import pipeline, stages
from tvbo_pipe.config import validate_config
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import files, layout
from tvbo_pipe.io.bids import dataset_task, discover


def test_stages_are_the_stage_functions():
    assert list(pipeline.BY_NAME) == list(stages.STAGES)


def test_every_output_is_written_by_one_stage_and_declared_in_the_layout():
    written = [p.output for s in pipeline.STAGES for p in s.outputs]
    assert len(written) == len(set(written))
    declared = {*layout.SUBJECT_OUTPUTS, *layout.DATASET_OUTPUTS}
    assert set(written) == declared
    for s in pipeline.STAGES:
        for p in s.outputs:
            assert (p.output in layout.SUBJECT_OUTPUTS) == s.per_subject, (s.name, p.output)


def test_an_output_declared_on_a_port_is_in_the_layout_and_written():
    """One port is the whole declaration of a new output: its name, its file, when."""
    curve = files.bids("curve", ".tsv", "model", desc="extra")
    extra = pipeline.Stage(
        "extra",
        per_subject=True,
        outputs=(pipeline.Port("curve", "extra_curve", when=pipeline.fcd_enabled, file=curve),),
        enabled=pipeline.exporting,
    )
    summary = pipeline.Stage(
        "extra_summary",
        per_subject=False,
        outputs=(pipeline.Port("notes", "extra_notes", file=files.FixedFile("code/notes.txt")),),
    )
    declared = (*pipeline.STAGES, extra, summary)
    tables = layout.tables(declared)
    assert tables.subject["extra_curve"] == curve
    assert tables.dataset_files["extra_notes"] == "code/notes.txt"
    assert layout.tables(pipeline.STAGES) == layout.tables(declared[:-2])
    assert tables.subject["sim_fc"] == layout.SUBJECT_OUTPUTS["sim_fc"]
    cfg = _config()
    subject, dataset = pipeline.enabled_outputs(cfg, declared)
    assert subject[-1] == "extra_curve" and dataset[-1] == "extra_notes"
    cfg["empirical_fc"]["fcd"]["enabled"] = False
    assert "extra_curve" not in pipeline.enabled_outputs(cfg, declared)[0]
    assert "extra_curve" not in pipeline.enabled_outputs(cfg)[0] + layout.enabled_outputs(cfg)[0]


@pytest.mark.parametrize(
    ("per_subject", "ports", "message"),
    [
        (True, (pipeline.Port("x", "x"),), "stage 'bad', output 'x': an output port needs"),
        (True, (pipeline.Port("x", "x", file=files.FixedFile("x.txt")),), "needs BIDS entities"),
        (False, (pipeline.Port("r", "readme", file=files.FixedFile("R.md")),), "declared twice"),
    ],
)
def test_bad_output_declarations_are_refused(per_subject, ports, message):
    bad = pipeline.Stage("bad", per_subject=per_subject, outputs=ports)
    with pytest.raises(ValueError, match=message):
        layout.tables((*pipeline.STAGES, bad))


def test_inputs_come_from_earlier_stages():
    seen: set[str] = set()
    for s in pipeline.STAGES:
        for p in s.inputs:
            if p.output is not None:
                assert p.output in seen, (s.name, p.output)
            else:
                assert p.unit or p.start, (s.name, p.key)
        seen |= {p.output for p in s.outputs}


def test_resources_scale_with_the_attempt():
    res = pipeline.stage("fit_global").resources
    assert res.at(1) == {"mem_mb": res.mem_mb, "runtime": res.runtime}
    assert res.at(2) == {"mem_mb": 2 * res.mem_mb, "runtime": 2 * res.runtime}
    assert pipeline.stage("dataset_description").resources is None  # a local rule


def _config(**switches) -> dict:
    cfg = validate_config(tiny_config(Path("bids"), Path("out"), fitting=True))
    for stage, on in switches.items():
        cfg[stage]["enabled"] = on
    return cfg


def test_a_stage_starts_from_the_last_enabled_stage_before_it():
    cfg = _config()
    assert pipeline.start_output("explore", cfg) is None
    assert pipeline.start_output("fit_global", cfg) == "explore_best"
    assert pipeline.start_output("simulate_fitted", cfg) == "fit_regional_params"
    cfg = _config(explore=False, fit_regional=False)
    assert pipeline.start_output("fit_global", cfg) is None
    assert pipeline.start_output("simulate_fitted", cfg) == "fit_global_params"
    assert "start" not in {p.key for p in pipeline.inputs("fit_global", cfg)}


def test_outputs_follow_their_conditions():
    cfg = _config()
    cfg["empirical_fc"]["fcd"]["enabled"] = False
    subject, dataset = pipeline.enabled_outputs(cfg)
    assert "empirical_fcd" not in subject and "sim_fcd" not in subject
    assert "empirical_fcd" not in {p.key for p in pipeline.inputs("export", cfg)}
    cfg = _config(simulate_fitted=False)
    subject, dataset = pipeline.enabled_outputs(cfg)
    assert "report" not in subject and "group_table" not in dataset
    assert "readme" in dataset and "fit_regional_params" in subject


# ---------------------------------------------------------------- sections read
class Recording(Mapping):
    """A read-only mapping that records which of its keys a stage reads.

    ``read``: keys read that are there; ``missing``: keys asked for that are
    not (``params.get("explore")`` of a run without exploration).
    Iterating reads every key.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)
        self.read: set[str] = set()
        self.missing: set[str] = set()

    def _note(self, key: str) -> None:
        (self.read if key in self._data else self.missing).add(key)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        self._note(key)  # type: ignore[arg-type]
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        self.read |= set(self._data)
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _run_stages(cfg: dict, names: list[str]) -> dict[str, Recording]:
    """Run the stages ``names`` (in order) on the dataset of ``cfg`` as the workflow
    would (files from the declaration and the layout), each with recording params."""
    units = discover(cfg)
    prefixes = [u.prefix for u in units]
    experiment = Experiment.load(cfg["experiment"]).to_dict()
    context = {
        "experiment": experiment,
        "prefixes": prefixes,
        "task": dataset_task(units),
        "model": experiment["model"]["name"],
    }
    root = cfg["output_dir"]
    places = {"work_dir": cfg["work_dir"], "log_dir": cfg["log_dir"]}

    def path(name: str, prefix: str | None) -> str:
        if name in layout.SUBJECT_OUTPUTS:
            return str(
                layout.subject_path(
                    name, root, prefix=prefix, atlas=cfg["atlas"], task=context["task"]
                )
            )
        return str(layout.dataset_path(name, root, model=context["model"]))

    recorded = {}
    for name in names:
        stage = pipeline.stage(name)
        for unit in units if stage.per_subject else [None]:
            prefix = unit.prefix if unit else None
            inputs: dict[str, Any] = {}
            for port in pipeline.inputs(name, cfg):
                if port.unit:
                    value = getattr(unit, port.unit)
                    if value:
                        inputs[port.key] = list(value) if isinstance(value, tuple) else value
                elif port.each_subject:
                    inputs[port.key] = [path(port.output, p) for p in prefixes]
                else:
                    output = pipeline.start_output(name, cfg) if port.start else port.output
                    inputs[port.key] = path(output, prefix)
            outputs = {k: path(n, prefix) for k, n in pipeline.outputs(name, cfg).items()}
            params = copy.deepcopy(pipeline.params(name, cfg, context))
            params.update({p: places[p] for p in stage.cli})
            rec = Recording(params)
            stages.resolve(name)(inputs, outputs, rec, subject=prefix)
            for out in outputs.values():
                assert Path(out).is_file(), (name, out)
            recorded[name] = rec
    return recorded


def _unread_sections(name: str, rec: Recording, cfg: dict) -> list[str]:
    """Sections declared for stage ``name`` under ``cfg`` that it did not read.

    The other direction holds by construction: a stage's params hold only its
    declared sections, so a stage cannot read another (``rec.missing`` lists
    what it asked for and did without, e.g. simulate_fitted's observation).
    """
    context = dict.fromkeys(("experiment", "prefixes", "task", "model"))
    declared = set(pipeline.params(name, cfg, context))
    return sorted(declared - rec.read)


INPUT_STAGES = ["dataset_description", "connectome", "empirical_fc", "dataset_files"]


def test_input_stages_read_exactly_their_sections(tmp_path):
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",))
    cfg = validate_config(tiny_config(bids, tmp_path))
    unread = {n: _unread_sections(n, r, cfg) for n, r in _run_stages(cfg, INPUT_STAGES).items()}
    assert unread == {n: [] for n in INPUT_STAGES}, "declared but not read"


def test_an_over_declared_section_is_found(tmp_path, monkeypatch):
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",))
    cfg = validate_config(tiny_config(bids, tmp_path))
    stage = pipeline.stage("connectome")
    more = replace(stage, sections=(*stage.sections, pipeline.Section("explore", "explore")))
    monkeypatch.setitem(pipeline.BY_NAME, "connectome", more)
    rec = _run_stages(cfg, ["connectome"])["connectome"]
    assert _unread_sections("connectome", rec, cfg) == ["explore"]


@pytest.mark.slow
def test_every_stage_reads_exactly_its_sections(tmp_path):
    """The whole chain on a one-subject toy dataset (fitting at toy scale)."""
    bids = make_tiny_bids(tmp_path / "bids", subjects=("01",))
    cfg = validate_config(tiny_config(bids, tmp_path, fitting=True))
    names = list(pipeline.BY_NAME)
    recorded = _run_stages(cfg, names)
    assert set(recorded) == set(names)
    unread = {n: _unread_sections(n, r, cfg) for n, r in recorded.items()}
    assert unread == {n: [] for n in names}, "declared but not read"

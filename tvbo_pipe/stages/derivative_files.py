"""Export stages: the BIDS derivative's model files, reports, provenance and group summary.

- :func:`export_subject` (per subject-session, after ``simulate_fitted``):
  the BEP034 parameter file and its JSON record, the SC node map, the report
  figures and HTML page, and the openMINDS provenance;
- :func:`model_description` (once): the model's equations (BEP034
  ``desc-<Model>_eq.xml``), its Markdown description, the experiment and a
  standalone JAX script in ``code/``;
- :func:`dataset_files` (once): README, participants, ``.bidsignore`` and the
  resolved configuration in ``code/``;
- :func:`group_summary` (once, after every subject): the group table, figure,
  page and the dataset's openMINDS provenance.

Each reads the files the earlier stages wrote, builds what it writes with
the :mod:`tvbo_pipe.export` package (records, figures, pages, provenance)
and writes it; paths of files it only refers to come from
:mod:`tvbo_pipe.export.layout`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..experiment import Experiment
from ..export import layout, openminds
from ..export.derivative import (
    FIT_STAGES,
    bidsignore_text,
    group_table,
    participants,
    pybids_config,
    readme_text,
    source_subjects,
)
from ..export.group_summary import ROBUSTNESS_COLUMNS, draw_group_figure, group_page, group_rows
from ..export.lems import eq_lems
from ..export.provenance import subject_run
from ..export.render import render_code
from ..export.report import model_report
from ..export.subject_export import SubjectResults, subject_export
from ..export.verdict import subject_verdict
from ..io.relmat import read_json, read_relmat, write_json, write_text_atomic, write_tsv_table
from ..io.results import read_series, read_trajectory
from .inputs import as_list

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]


def _fit_experiment(params: Mapping) -> Experiment:
    """The configured experiment (its values warmed up the final simulation)."""
    return Experiment.from_dict(params["experiment"])


# --------------------------------------------------------------------------- per subject
def _read_subject(inputs: Paths, *, root: Path, subject: str) -> SubjectResults:
    """The earlier stages' results of one subject-session, from the export stage's inputs."""
    fc_emp, labels, _ = read_relmat(inputs["empirical_fc"])
    fc_sim, _, _ = read_relmat(inputs["sim_fc"])
    return SubjectResults(
        fc_emp=fc_emp,
        fc_sim=fc_sim,
        labels=tuple(labels or read_relmat(inputs["sc_weights"])[1]),
        experiment=Experiment.from_dict(  # paths kept relative
            yaml.safe_load(Path(inputs["fitted_experiment"]).read_text())
        ),
        stage_results=[
            (stage, read_json(inputs[name], subject=subject), layout.bids_uri(inputs[name], root))
            for stage, name in FIT_STAGES
            if inputs.get(name)
        ],
        gof=read_json(inputs["gof"], subject=subject),
        bold_meta=read_json(inputs["sim_bold_json"], subject=subject),
        series=read_series(inputs["sim_bold"]),
        curves={
            stage: read_trajectory(inputs[f"{stage}_trajectory"])
            for stage in ("fit_global", "fit_regional")
            if inputs.get(f"{stage}_trajectory")
        },
        fcd_emp=read_relmat(inputs["empirical_fcd"])[0] if inputs.get("empirical_fcd") else None,
        fcd_sim=read_relmat(inputs["sim_fcd"])[0] if inputs.get("sim_fcd") else None,
    )


def export_subject(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Export stage of one subject-session (see the module docstring).

    ``inputs``: the SC and FC relmats, the fit stages' JSON and trajectories
    (those that ran), the simulated outputs, the goodness of fit, the fitted
    experiment and the dataset's ``model_eq``. ``params``: ``experiment``,
    ``simulation``, ``atlas``, ``bids_dir`` and the fit stages' sections.
    What is made is :func:`~tvbo_pipe.export.subject_export.subject_export`.
    """
    root = layout.dataset_root("fitted_param", outputs["fitted_param"], prefix=subject)
    results = _read_subject(inputs, root=root, subject=subject)
    made = subject_export(
        results, subject=subject, params=params, root=root, inputs=inputs, outputs=outputs
    )
    write_tsv_table(outputs["sc_nodeindices"], *made.nodeindices)
    write_text_atomic(outputs["fitted_param_xml"], made.param_xml)
    write_json(outputs["fitted_param"], made.record)
    write_text_atomic(outputs["report"], made.page)
    openminds.write_jsonld(made.provenance, outputs["provenance"])
    fitted = results.stage_results[-1][1].get("AllValues", {}) if results.stage_results else {}
    log.info(
        "subject %s: exported %d fitted parameters, report and provenance", subject, len(fitted)
    )
    return made.record


# --------------------------------------------------------------------------- dataset level
def model_description(inputs: Paths, outputs: Paths, params: Mapping, *, subject=None) -> None:
    """The model's equations (LEMS), its description (Markdown) and a JAX script.

    ``params``: ``experiment`` (the configured experiment as a mapping).
    """
    exp = _fit_experiment(params)
    write_text_atomic(outputs["model_eq"], eq_lems(exp))
    write_text_atomic(outputs["model_report"], model_report(exp, format="markdown"))
    try:
        script = render_code(exp, "jax")
    except NotImplementedError as exc:
        script = (
            f'"""No standalone script: {exc}.\n\nRun the experiment with tvbo_pipe '
            '(tvbo_pipe.export.readback.load_fitted) instead."""\n'
        )
    write_text_atomic(outputs["machine_code"], script)


def dataset_files(inputs: Paths, outputs: Paths, params: Mapping, *, subject=None) -> None:
    """README, participants, ``.bidsignore``, the resolved configuration and experiment,
    the pybids entity configuration and the bids-validator configuration (``code/``).

    ``params``: ``config`` (the resolved configuration, its ``experiment``
    pointing at ``code/experiment.yaml``, without the participant and session
    selection), ``experiment`` (the experiment as a mapping) and ``model``
    (its name, or ``None``).

    These files describe the dataset, not one run: they do not depend on
    which participants a run selects, so every BIDS-app participant-level
    run (one per node, say) writes the same bytes and a later run has
    nothing to redo. ``participants.tsv`` lists the source dataset's
    subjects, so that it names every ``sub-*`` folder as BIDS requires.
    """
    config = params["config"]
    bids_dir = config["bids_dir"]
    subjects = source_subjects(bids_dir)
    source_name = str(bids_dir)
    desc = Path(bids_dir) / "dataset_description.json"
    if desc.is_file():
        source_name = read_json(desc).get("Name") or source_name
    write_text_atomic(
        outputs["readme"],
        readme_text(config, subjects=subjects, model=params.get("model"), source_name=source_name),
    )
    header, rows, meta = participants(subjects, bids_dir)
    write_tsv_table(outputs["participants"], header, rows)
    write_json(outputs["participants_json"], meta)
    write_text_atomic(outputs["bidsignore"], bidsignore_text())
    write_json(outputs["code_pybids_config"], pybids_config())
    write_json(outputs["code_validator_config"], layout.validator_config())
    write_text_atomic(
        outputs["code_config"],
        "# The resolved tvbo_pipe configuration of this dataset (defaults filled in).\n"
        + yaml.safe_dump(config, sort_keys=True, default_flow_style=False),
    )
    write_text_atomic(
        outputs["code_experiment"], Experiment.from_dict(params["experiment"]).dumps()
    )


def _group_verdict(root: Path, prefix: str, record: Mapping, gof: Mapping, params: Mapping):
    """A subject's verdict for the group page (stage JSONs and simulated FC read back)."""
    stage_jsons = {
        s["Stage"]: read_json(root / s["Source"].removeprefix("bids::")) for s in record["Stages"]
    }
    fc_path = layout.subject_path(
        "sim_fc", root, prefix=prefix, atlas=params["atlas"], task=params["task"]
    )
    fc_sim = read_relmat(fc_path)[0] if fc_path.is_file() else None
    ks_flag = float(params.get("simulate_fitted", {}).get("fcd_ks_flag", 0.5))
    return subject_verdict(gof, record, stage_jsons, fc_sim=fc_sim, fcd_ks_flag=ks_flag)


def group_summary(inputs: Paths, outputs: Paths, params: Mapping, *, subject=None) -> list[dict]:
    """Group table (one row per subject-session), figure, page and provenance.

    ``inputs``: ``fitted_param``, ``gof`` and ``report`` of every
    subject-session (lists, in ``params['prefixes']`` order), ``model_eq``,
    ``model_report``. ``params``: ``prefixes``, ``atlas``, ``bids_dir`` and
    what :func:`~tvbo_pipe.export.provenance.subject_run` records.
    """
    prefixes = list(params["prefixes"])
    records = [read_json(p) for p in as_list(inputs["fitted_param"])]
    gofs = [read_json(p) for p in as_list(inputs["gof"])]
    pages = as_list(inputs["report"])
    root = layout.dataset_root("group_table", outputs["group_table"])
    stage_seconds = [
        {
            s["Stage"]: read_json(root / s["Source"].removeprefix("bids::")).get("Seconds")
            for s in rec["Stages"]
        }
        for rec in records
    ]
    rows = group_rows(prefixes, records, gofs, stage_seconds)
    header, table, desc = group_table(rows)
    desc.update({k: v for k, v in ROBUSTNESS_COLUMNS.items() if k in desc})
    write_tsv_table(outputs["group_table"], header, table)
    write_json(outputs["group_table_json"], desc)
    draw_group_figure(outputs["group_figure"], prefixes, header, rows, gofs)
    verdicts = [
        _group_verdict(root, p, rec, gof, params)
        for p, rec, gof in zip(prefixes, records, gofs, strict=True)
    ]
    page = group_page(
        outputs["group_report"],
        header=header,
        table=table,
        descriptions=desc,
        figure=outputs["group_figure"],
        subject_pages=list(zip(prefixes, pages, strict=True)),
        verdicts=verdicts,
        model=records[0]["Model"] if records else "",
        model_files=[
            (inputs["model_eq"], "model equations (BEP034, LEMS)"),
            (inputs["model_report"], "model description (Markdown)"),
        ],
    )
    write_text_atomic(outputs["group_report"], page)
    runs = [subject_run(root, p, atlas=params["atlas"], params=params) for p in prefixes]
    collection = openminds.build_collection(runs, root=root, raw_root=params.get("bids_dir"))
    failures = collection.validate()
    if failures:
        log.warning("openMINDS validation failures: %s", failures)
    openminds.write_jsonld(collection, outputs["group_provenance"])
    log.info("group: %d subject-sessions", len(rows))
    return rows


__all__: Sequence[str] = [
    "dataset_files",
    "export_subject",
    "group_summary",
    "model_description",
]

"""Export stages: the BIDS derivative's model files, reports, provenance and group summary.

- :func:`export_subject` (per subject-session, after ``simulate_fitted``):
  the BEP034 parameter file and its JSON record, the SC node map, the report
  figures and HTML page, and the openMINDS provenance;
- :func:`model_description` (once): the model's equations (BEP034
  ``desc-<Model>_eq.xml``), its Markdown description, the experiment and a
  standalone JAX script in ``code/``;
- :func:`dataset_files` (once): README, participants, ``.bidsignore`` and the
  resolved configuration in ``code/``;
- :func:`group` (once, after every subject): the group table, figure, page
  and the dataset's openMINDS provenance.

Each reads the files the earlier stages wrote; paths of files it only refers
to come from :mod:`tvbo_pipe.export.layout`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]


def _json(path) -> dict:
    return json.loads(Path(path).read_text())


def _read_trajectory(path) -> tuple[np.ndarray, np.ndarray]:
    lines = Path(path).read_text().splitlines()
    header = lines[0].split("\t")
    i_step, i_loss = header.index("step"), header.index("loss")
    rows = [ln.split("\t") for ln in lines[1:] if ln.strip()]
    steps = np.array([float(r[i_step]) for r in rows])
    loss = np.array([float(r[i_loss]) if r[i_loss] != "n/a" else np.nan for r in rows])
    return steps, loss


def _fit_experiment(params: Mapping):
    """The configured experiment (its values warmed up the final simulation)."""
    from ..experiment import Experiment

    return Experiment.from_dict(params["experiment"])


# --------------------------------------------------------------------------- provenance
_STAGE_TEXT = {
    "connectome": "Load, check and normalise the structural connectome.",
    "empirical_fc": "Empirical FC (and FCD) of the functional runs.",
    "explore": "Loss of the simulated FC on a grid of global parameters.",
    "fit_global": "Gradient-based fit (optax) of the global parameters.",
    "fit_regional": "Gradient-based fit (optax) of the regional parameters.",
    "simulate_fitted": "Simulation with the fitted values: BOLD, FC, FCD, goodness of fit.",
}


def _raw_sources(sidecar_path, bids_dir) -> list[Path]:
    """The source dataset files a sidecar's ``Sources`` name (``bids:raw:...``)."""
    out = []
    if bids_dir is None or not Path(sidecar_path).is_file():
        return out
    for uri in _json(sidecar_path).get("Sources", []):
        if isinstance(uri, str) and uri.startswith("bids:raw:"):
            p = Path(bids_dir) / uri[len("bids:raw:") :]
            if p.is_file():
                out.append(p)
    return out


def subject_run(root: str | Path, prefix: str, *, atlas: str, params: Mapping[str, Any]):
    """The :class:`~tvbo_pipe.export.openminds.SubjectRun` of one subject-session.

    Files are found through the layout; stages that did not run are left out.
    """
    from ..export import layout
    from ..export.openminds import Stage, SubjectRun
    from ..models import get_model

    def p(name: str) -> Path:
        return layout.subject_path(name, root, prefix=prefix, atlas=atlas, task=params["task"])

    def existing(*names: str) -> list[Path]:
        return [p(n) for n in names if p(n).is_file()]

    bids_dir = params.get("bids_dir")
    sc = existing("sc_weights", "sc_weights_json", "sc_lengths", "sc_lengths_json")
    fc = existing("empirical_fc", "empirical_fc_json", "empirical_fcd", "empirical_fcd_json")
    stages = [
        Stage(
            "analysis",
            "connectome",
            _STAGE_TEXT["connectome"],
            _raw_sources(p("sc_weights_json"), bids_dir) or sc[:1],
            sc,
            configuration={"connectome": params.get("connectome")},
        ),
        Stage(
            "analysis",
            "empirical_fc",
            _STAGE_TEXT["empirical_fc"],
            _raw_sources(p("empirical_fc_json"), bids_dir) + sc[:1],
            fc,
            configuration={"empirical_fc": params.get("empirical_fc")},
        ),
    ]
    sim_inputs = [*existing("sc_weights", "sc_lengths"), *existing("empirical_fc")]
    previous: list[Path] = []
    for stage, main, extra in (
        ("explore", "explore_best", ("explore_table", "explore_heatmap")),
        ("fit_global", "fit_global_params", ("fit_global_trajectory",)),
        ("fit_regional", "fit_regional_params", ("fit_regional_trajectory",)),
    ):
        if not p(main).is_file():
            continue
        stages.append(
            Stage(
                "optimization",
                stage,
                _STAGE_TEXT[stage],
                sim_inputs + previous,
                existing(main, *extra),
                seconds=_json(p(main)).get("Seconds"),
                configuration={stage: params.get(stage)},
            )
        )
        previous = [p(main)]
    stages.append(
        Stage(
            "simulation",
            "simulate_fitted",
            _STAGE_TEXT["simulate_fitted"],
            sim_inputs + existing("empirical_fcd") + previous,
            existing(
                "gof",
                "sim_bold",
                "sim_bold_json",
                "sim_fc",
                "sim_fc_json",
                "sim_fcd",
                "sim_fcd_json",
                "fitted_experiment",
            ),
            seconds=_json(p("gof")).get("Seconds"),
            configuration={"simulation": params.get("simulation")},
        )
    )
    gof = _json(p("gof"))
    exp = _fit_experiment(params)
    model = get_model(exp.model.name)
    return SubjectRun(
        prefix=prefix,
        model=exp.model.name,
        model_description=model.description,
        fitted=gof.get("Values", {}),
        stages=stages,
        configuration={k: v for k, v in params.items() if k != "experiment"}
        | {"experiment": params["experiment"]},
    )


# --------------------------------------------------------------------------- per subject
def export_subject(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Export stage of one subject-session (see the module docstring).

    ``inputs``: the SC and FC relmats, the fit stages' JSON and trajectories
    (those that ran), the simulated outputs, the goodness of fit, the fitted
    experiment and the dataset's ``model_eq``. ``params``: ``experiment``,
    ``simulation``, ``atlas``, ``bids_dir`` and the fit stages' sections.
    """
    import yaml

    from ..experiment import Experiment
    from ..export import figures, layout, openminds
    from ..export.derivative import FIT_STAGES, fitted_param_record, nodeindices_rows, param_xml
    from ..io.relmat import read_relmat, write_json, write_text_atomic, write_tsv_table

    root = layout.dataset_root("fitted_param", outputs["fitted_param"], prefix=subject)

    def uri(path) -> str:
        return layout.bids_uri(path, root)

    fc_emp, labels, _ = read_relmat(inputs["empirical_fc"])
    fc_sim, _, _ = read_relmat(inputs["sim_fc"])
    labels = tuple(labels or read_relmat(inputs["sc_weights"])[1])
    write_tsv_table(outputs["sc_nodeindices"], ["index", "name"], nodeindices_rows(labels))

    # BEP034 parameters: LEMS components + the JSON record
    fitted_yaml = Path(inputs["fitted_experiment"])
    experiment = Experiment.from_dict(
        yaml.safe_load(fitted_yaml.read_text())
    )  # paths kept relative
    eq_rel = os.path.relpath(
        os.path.abspath(inputs["model_eq"]),
        os.path.dirname(os.path.abspath(outputs["fitted_param_xml"])),
    )
    write_text_atomic(
        outputs["fitted_param_xml"], param_xml(experiment, eq_file=Path(eq_rel).as_posix())
    )
    stage_results = []
    for stage, name in FIT_STAGES:
        if inputs.get(name):
            stage_results.append((stage, _json(inputs[name]), uri(inputs[name])))
    gof = _json(inputs["gof"])
    bold_meta = _json(inputs["sim_bold_json"])
    fitted = stage_results[-1][1].get("AllValues", {}) if stage_results else {}
    record = fitted_param_record(
        experiment,
        stage_results,
        fitted=fitted,
        warmup_experiment=_fit_experiment(params),
        simulation=params["simulation"],
        transient_samples=int(bold_meta["TransientDiscardedForFC"]),
        sources=[uri(inputs["fitted_experiment"]), *(u for _, _, u in stage_results)],
    )
    record["ModelEq"] = uri(inputs["model_eq"])
    write_json(outputs["fitted_param"], record)

    # figures
    title = subject
    series = _read_series(inputs["sim_bold"])
    figures.fc_matrices(outputs["fig_fc"], fc_emp, fc_sim, labels=labels, title=f"{title}: FC")
    figures.fc_scatter(outputs["fig_fc_scatter"], fc_emp, fc_sim, title=title)
    curves = {}
    for stage in ("fit_global", "fit_regional"):
        if inputs.get(f"{stage}_trajectory"):
            curves[stage] = _read_trajectory(inputs[f"{stage}_trajectory"])
    figures.loss_curves(outputs["fig_loss"], curves, title=f"{title}: loss")
    regional = {p["Name"]: np.asarray(p["Value"]) for p in record["Parameters"] if p["Regional"]}
    figures.regional_profiles(
        outputs["fig_regional"], regional, labels, title=f"{title}: regional parameters"
    )
    figures.bold_traces(
        outputs["fig_bold"],
        series,
        float(bold_meta["RepetitionTime"]),
        labels,
        title=f"{title}: simulated BOLD",
    )
    fresh = gof.get("FreshSeeds") or {}
    figures.goodness_of_fit_panels(
        outputs["fig_gof"],
        gof.get("Fitted", {}),
        gof.get("Start", {}),
        fresh={
            k: [x for x in fresh[k] if x is not None]
            for k in ("FCCorrelation", "FCRMSE")
            if k in fresh
        },
        baseline={"FCCorrelation": gof["Baseline"]["SCFCCorrelation"]}
        if "Baseline" in gof
        else None,
        title=f"{title}: goodness of fit",
    )
    fcd_cfg = params.get("empirical_fc", {}).get("fcd", {})
    figures.fcd_matrices(
        outputs["fig_fcd"],
        read_relmat(inputs["empirical_fcd"])[0] if inputs.get("empirical_fcd") else None,
        read_relmat(inputs["sim_fcd"])[0] if inputs.get("sim_fcd") else None,
        step_s=float(fcd_cfg.get("step_s") or 1.0),
        ks=gof.get("Fitted", {}).get("FCDKolmogorovSmirnov"),
        title=f"{title}: FCD",
    )

    # report
    figs = [
        (outputs["fig_fc"], "Empirical and simulated FC"),
        (outputs["fig_fc_scatter"], "Simulated against empirical FC"),
        (outputs["fig_fcd"], "Empirical and simulated FCD"),
        (outputs["fig_gof"], "Goodness of fit, each measure with its direction"),
        (outputs["fig_loss"], "Loss during the fits"),
    ]
    if inputs.get("explore_heatmap"):
        figs.append((inputs["explore_heatmap"], "Loss over the explored grid"))
    figs += [
        (outputs["fig_regional"], "Fitted regional parameters"),
        (outputs["fig_bold"], "Simulated BOLD of a few regions"),
    ]
    files = [
        (outputs["fitted_param_xml"], "fitted parameters (BEP034, LEMS)"),
        (outputs["fitted_param"], "fitted values, bounds, regional or global"),
        (inputs["fitted_experiment"], "experiment with the fitted values (YAML)"),
        (inputs["gof"], "goodness of fit"),
        (inputs["sim_fc"], "simulated FC"),
        (inputs["sim_bold"], "simulated BOLD"),
        (inputs["model_eq"], "model equations (BEP034, LEMS)"),
        (outputs["provenance"], "openMINDS provenance (JSON-LD)"),
    ]
    page = _subject_page(
        outputs["report"],
        subject=subject,
        params=params,
        experiment=experiment,
        record=record,
        gof=gof,
        stage_jsons={stage: result for stage, result, _ in stage_results},
        series=series,
        fc_sim=fc_sim,
        labels=labels,
        figures=figs,
        files=files,
    )
    write_text_atomic(outputs["report"], page)

    # provenance
    run = subject_run(root, subject, atlas=params["atlas"], params=params)
    collection = openminds.build_collection([run], root=root, raw_root=params.get("bids_dir"))
    failures = collection.validate()
    if failures:
        log.warning("subject %s: openMINDS validation failures: %s", subject, failures)
    openminds.write_jsonld(collection, outputs["provenance"])
    log.info(
        "subject %s: exported %d fitted parameters, report and provenance", subject, len(fitted)
    )
    return record


def _subject_page(path, *, subject, params, experiment, record, gof, stage_jsons, series,
                  fc_sim, labels, figures, files) -> str:  # fmt: skip
    """The subject's HTML report: verdict, figures, methods, warnings, About."""
    from ..export import about, reports
    from ..export.methods import methods_text
    from ..export.verdict import subject_verdict

    ks_flag = float(params.get("simulate_fitted", {}).get("fcd_ks_flag", 0.5))
    verdict = subject_verdict(
        gof, record, stage_jsons, bold=series, fc_sim=fc_sim, fcd_ks_flag=ks_flag
    )
    paragraphs, references = methods_text(_fit_experiment(params), params)
    logs = about.subject_logs(params.get("log_dir"), subject)
    seconds = [s.get("Seconds") for s in stage_jsons.values()] + [gof.get("Seconds")]
    known = [float(x) for x in seconds if x is not None]
    return reports.subject_report(
        path,
        prefix=subject,
        model=experiment.model.name,
        record=record,
        gof=gof,
        verdict=verdict,
        labels=labels,
        figures=figures,
        files=files,
        methods=paragraphs,
        references=references,
        about=about.run_info(sum(known) if known else None),
        versions=about.software_versions(),
        logs=logs,
        warnings=about.log_warnings(logs),
        config={k: v for k, v in params.items() if k != "log_dir"},
        fcd_ks_flag=ks_flag,
    )


def _read_series(path) -> np.ndarray:
    lines = Path(path).read_text().splitlines()
    return np.array([[float(c) for c in ln.split("\t")] for ln in lines[1:] if ln.strip()])


# --------------------------------------------------------------------------- dataset level
def model_description(inputs: Paths, outputs: Paths, params: Mapping, *, subject=None) -> None:
    """The model's equations (LEMS), its description (Markdown) and a JAX script.

    ``params``: ``experiment`` (the configured experiment as a mapping).
    """
    from ..export.lems import eq_lems
    from ..export.render import render_code
    from ..export.report import model_report
    from ..io.relmat import write_text_atomic

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
    import yaml

    from ..experiment import Experiment
    from ..export import layout
    from ..export.derivative import (
        bidsignore_text,
        participants,
        pybids_config,
        readme_text,
        source_subjects,
    )
    from ..io.relmat import write_json, write_text_atomic, write_tsv_table

    config = params["config"]
    bids_dir = config["bids_dir"]
    subjects = source_subjects(bids_dir)
    source_name = str(bids_dir)
    desc = Path(bids_dir) / "dataset_description.json"
    if desc.is_file():
        source_name = json.loads(desc.read_text()).get("Name") or source_name
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


#: Robustness columns of the group table (from the gof JSON), and their descriptions.
_ROBUSTNESS_COLUMNS: dict[str, dict[str, str]] = {
    "baseline_SCFCCorrelation": {
        "Description": "Pearson r between the SC weights and the empirical FC (upper "
        "triangles): the baseline a model has to beat"
    },
    "fresh_FCCorrelationMean": {
        "Description": "Mean FC correlation of the fitted model over fresh noise seeds"
    },
    "fresh_FCCorrelationStd": {
        "Description": "Standard deviation (ddof 0) of the FC correlation over fresh noise seeds"
    },
    "heldout_FCCorrelation": {
        "Description": "FC correlation of the fitted model with the held-out runs' FC"
    },
    "heldout_TestRetestFCCorrelation": {
        "Description": "Correlation of the empirical FCs of the fitted and the held-out runs "
        "(test-retest: the ceiling of heldout_FCCorrelation)"
    },
}


def _robustness_columns(row: dict, gof: Mapping[str, Any]) -> dict:
    """``row`` with the gof JSON's Baseline, FreshSeeds and HeldOut FC correlations."""
    fresh, held = gof.get("FreshSeeds") or {}, gof.get("HeldOut") or {}
    values = {
        "baseline_SCFCCorrelation": (gof.get("Baseline") or {}).get("SCFCCorrelation"),
        "fresh_FCCorrelationMean": fresh.get("FCCorrelationMean"),
        "fresh_FCCorrelationStd": fresh.get("FCCorrelationStd"),
        "heldout_FCCorrelation": held.get("FCCorrelation"),
        "heldout_TestRetestFCCorrelation": held.get("TestRetestFCCorrelation"),
    }
    return row | {k: v for k, v in values.items() if v is not None}


def _group_verdict(root: Path, prefix: str, record: Mapping, gof: Mapping, params: Mapping):
    """A subject's verdict for the group page (stage JSONs and simulated FC read back)."""
    from ..export import layout
    from ..export.verdict import subject_verdict
    from ..io.relmat import read_relmat

    stage_jsons = {
        s["Stage"]: _json(root / s["Source"].removeprefix("bids::")) for s in record["Stages"]
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
    what :func:`subject_run` records.
    """
    from ..export import about, figures, layout, openminds, reports
    from ..export.derivative import group_row, group_table
    from ..io.relmat import write_json, write_text_atomic, write_tsv_table

    prefixes = list(params["prefixes"])
    as_list = lambda x: [x] if isinstance(x, str | Path) else list(x)  # noqa: E731
    records = [_json(p) for p in as_list(inputs["fitted_param"])]
    gofs = [_json(p) for p in as_list(inputs["gof"])]
    pages = as_list(inputs["report"])
    root = layout.dataset_root("group_table", outputs["group_table"])
    rows = []
    for prefix, rec, gof in zip(prefixes, records, gofs, strict=True):
        seconds = {}
        for stage in rec["Stages"]:
            src = stage["Source"].removeprefix("bids::")
            seconds[stage["Stage"]] = _json(root / src).get("Seconds")
        seconds["simulate_fitted"] = gof.get("Seconds")
        row = group_row(
            prefix, rec["Values"], gof, {k: v for k, v in seconds.items() if v is not None}
        )
        rows.append(_robustness_columns(row, gof))
    header, table, desc = group_table(rows)
    desc.update({k: v for k, v in _ROBUSTNESS_COLUMNS.items() if k in desc})
    write_tsv_table(outputs["group_table"], header, table)
    write_json(outputs["group_table_json"], desc)
    scalar = {}
    for k in header:
        vals = [r.get(k) for r in rows]
        if (
            k not in ("participant_id", "session_id")
            and k not in _ROBUSTNESS_COLUMNS
            and not k.startswith(("fitted_", "start_", "seconds_"))
            and not k.endswith(("_mean", "_std"))
        ):
            scalar[k] = np.array([np.nan if v is None else v for v in vals], dtype=float)
    figures.group_summary(
        outputs["group_figure"],
        prefixes,
        np.array([g["Fitted"]["FCCorrelation"] for g in gofs]),
        np.array([g["Start"]["FCCorrelation"] for g in gofs]),
        scalar,
        baseline=np.array([r.get("baseline_SCFCCorrelation", np.nan) for r in rows], dtype=float),
        fresh=[(g.get("FreshSeeds") or {}).get("FCCorrelation", []) for g in gofs],
    )
    model = records[0]["Model"] if records else ""
    verdicts = [
        _group_verdict(root, p, rec, gof, params)
        for p, rec, gof in zip(prefixes, records, gofs, strict=True)
    ]
    page = reports.group_report(
        outputs["group_report"],
        header=header,
        rows=table,
        descriptions=desc,
        figure=outputs["group_figure"],
        subject_pages=list(zip(prefixes, pages, strict=True)),
        verdicts=verdicts,
        model=model,
        model_files=[
            (inputs["model_eq"], "model equations (BEP034, LEMS)"),
            (inputs["model_report"], "model description (Markdown)"),
        ],
        about=about.run_info(None),
        versions=about.software_versions(),
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
    "subject_run",
]

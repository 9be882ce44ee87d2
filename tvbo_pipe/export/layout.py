"""Every file the workflow writes, declared in one place.

Patterns are relative to the derivative dataset root (``output_dir``) and use
``{subdir}`` (``sub-01`` or ``sub-01/ses-1``), ``{prefix}`` (``sub-01`` or
``sub-01_ses-1``), ``{atlas}`` and, for dataset-level model files,
``{model}``. Snakemake rules take their outputs from here, and a test
compares the demo's output tree against it, so a file that is not declared
here cannot appear. :func:`enabled_outputs` says which of them a given
configuration writes.

File names carry no timestamps and no random ids; the same inputs give the
same bytes, except for what :data:`VOLATILE_OUTPUTS` and
:data:`VOLATILE_JSON_KEYS` name (run times and the provenance record's
timestamps).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Per subject-session outputs.
SUBJECT_OUTPUTS: dict[str, str] = {
    # connectome stage: the SC used (BEP017 relmats) and its node map
    "sc_weights": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-weight_relmat.dense.tsv",
    "sc_weights_json": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-weight_relmat.json",
    "sc_lengths": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-tractLength_relmat.dense.tsv",
    "sc_lengths_json": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-tractLength_relmat.json",
    # empirical FC stage
    "empirical_fc": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-empirical_relmat.dense.tsv",
    "empirical_fc_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-empirical_relmat.json",
    "empirical_fc_heldout": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-heldout_relmat.dense.tsv",
    "empirical_fc_heldout_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-heldout_relmat.json",
    "empirical_fcd": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-empirical_relmat.dense.tsv",
    "empirical_fcd_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-empirical_relmat.json",
    # fitting stages
    "explore_table": "{subdir}/model/{prefix}_desc-explore_grid.tsv",
    # a stage's result (best values, loss) is the JSON sidecar of its table
    "explore_best": "{subdir}/model/{prefix}_desc-explore_grid.json",
    "explore_heatmap": "{subdir}/figures/{prefix}_desc-explore_heatmap.png",
    "fit_global_params": "{subdir}/model/{prefix}_desc-global_trajectory.json",
    "fit_global_trajectory": "{subdir}/model/{prefix}_desc-global_trajectory.tsv",
    "fit_regional_params": "{subdir}/model/{prefix}_desc-regional_trajectory.json",
    "fit_regional_trajectory": "{subdir}/model/{prefix}_desc-regional_trajectory.tsv",
    # final simulation
    "sim_bold": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_desc-simulated_timeseries.tsv",
    "sim_bold_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_desc-simulated_timeseries.json",
    "sim_fc": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-simulated_relmat.dense.tsv",
    "sim_fc_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-simulated_relmat.json",
    "sim_fcd": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-simulated_relmat.dense.tsv",
    "sim_fcd_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-simulated_relmat.json",
    # the goodness of fit is the JSON sidecar of the fitted experiment
    "gof": "{subdir}/model/{prefix}_desc-fitted_experiment.json",
    "fitted_experiment": "{subdir}/model/{prefix}_desc-fitted_experiment.yaml",
    # export stage: node map (BIDS segmentation look-up table: index, name),
    # BEP034 parameters, figures, report, provenance
    "sc_nodeindices": "{subdir}/dwi/{prefix}_atlas-{atlas}_dseg.tsv",
    "fitted_param_xml": "{subdir}/model/{prefix}_desc-fitted_param.xml",
    "fitted_param": "{subdir}/model/{prefix}_desc-fitted_param.json",
    "fig_fc": "{subdir}/figures/{prefix}_desc-fc_matrix.png",
    "fig_fc_scatter": "{subdir}/figures/{prefix}_desc-fc_scatter.png",
    "fig_loss": "{subdir}/figures/{prefix}_desc-loss_curve.png",
    "fig_regional": "{subdir}/figures/{prefix}_desc-regional_profile.png",
    "fig_bold": "{subdir}/figures/{prefix}_desc-bold_traces.png",
    "fig_gof": "{subdir}/figures/{prefix}_desc-gof_bar.png",
    # report additions (issue 12): FCD figure
    "fig_fcd": "{subdir}/figures/{prefix}_desc-fcd_matrix.png",
    "report": "{subdir}/{prefix}_desc-fit_report.html",
    "provenance": "{subdir}/prov/{prefix}_desc-openminds_prov.jsonld",
}

#: Dataset-level outputs.
DATASET_OUTPUTS: dict[str, str] = {
    "dataset_description": "dataset_description.json",
    "readme": "README.md",
    "participants": "participants.tsv",
    "participants_json": "participants.json",
    "bidsignore": ".bidsignore",
    "code_config": "code/config.yaml",
    "code_experiment": "code/experiment.yaml",
    "code_pybids_config": "code/pybids_config.json",
    "code_validator_config": "code/bids_validator_config.json",
    "machine_code": "code/desc-{model}_simulate.py",
    "model_eq": "model/desc-{model}_eq.xml",
    "model_report": "model/desc-{model}_report.md",
    "group_table": "group/desc-fit_summary.tsv",
    "group_table_json": "group/desc-fit_summary.json",
    "group_figure": "group/desc-fit_summary.png",
    "group_report": "group/desc-fit_report.html",
    "group_provenance": "prov/desc-openminds_prov.jsonld",
}

#: The outputs of the export stage (one rule per subject-session).
EXPORT_OUTPUTS = (
    "sc_nodeindices",
    "fitted_param_xml",
    "fitted_param",
    "fig_fc",
    "fig_fc_scatter",
    "fig_loss",
    "fig_regional",
    "fig_bold",
    "fig_gof",
    "fig_fcd",
    "report",
    "provenance",
)

#: Outputs whose bytes may differ between two runs on the same inputs: they
#: hold run times or the provenance record's timestamps.
#: The reports carry their date, host and run times (About section).
VOLATILE_OUTPUTS = frozenset(
    {"provenance", "group_provenance", "group_table", "group_report", "report"}
)

#: JSON keys holding run times (seconds); the only other content that differs
#: between two runs on the same inputs.
VOLATILE_JSON_KEYS = frozenset({"Seconds"})

#: The dataset-level files of the ``dataset_files`` stage: written at the
#: BIDS-app participant level too, so that its output is a valid dataset.
DATASET_FILE_OUTPUTS = (
    "readme",
    "participants",
    "participants_json",
    "bidsignore",
    "code_config",
    "code_experiment",
    "code_pybids_config",
    "code_validator_config",
)

#: Lines of the derivative's ``.bidsignore``: only the file kinds that no
#: released BIDS version defines (BIDS 1.11.1, the schema of
#: bids-validator-deno 3): BEP017 relationship matrices, region time series,
#: BEP034 model files (``model/`` folders) and tvbo_pipe's figures, HTML
#: reports, group summary and provenance. Everything else (dataset
#: description, README, participants, the ``*_dseg.tsv`` node maps) is
#: checked. Folders are named without a trailing slash: bids-validator-deno
#: then ignores the folder too.
BIDSIGNORE = (
    "*_relmat.dense.tsv",
    "*_relmat.json",
    "*_timeseries.tsv",
    "*_timeseries.json",
    "model",
    "figures",
    "prov",
    "group",
    "*_report.html",
)


def validator_config() -> dict[str, Any]:
    """bids-validator-deno ``--config`` that lets it check the files BIDS does not define.

    Run on the derivative without its ``.bidsignore``, the validator then
    walks every file (relmats and their sidecars included): files of the
    kinds in :data:`BIDSIGNORE` get ``NOT_INCLUDED`` only as an issue of
    severity ``ignore``, and every other check (a JSON without its data
    file, an empty file, invalid JSON, a misnamed BIDS file) still reports
    errors.
    """
    return {"ignore": [{"code": "NOT_INCLUDED", "location": pat} for pat in BIDSIGNORE]}


#: Regular expressions for the Snakemake wildcards.
WILDCARD_CONSTRAINTS = {
    "subdir": r"sub-[a-zA-Z0-9]+(/ses-[a-zA-Z0-9]+)?",
    "prefix": r"sub-[a-zA-Z0-9]+(_ses-[a-zA-Z0-9]+)?",
}


def pattern(name: str, root: str | Path, *, atlas: str, model: str | None = None) -> str:
    """The Snakemake output pattern of ``name`` (wildcards ``{subdir}``, ``{prefix}`` kept)."""
    rel = SUBJECT_OUTPUTS.get(name) or DATASET_OUTPUTS[name]
    rel = rel.replace("{atlas}", atlas)
    if model is not None:
        rel = rel.replace("{model}", model)
    return str(Path(root) / rel)


def subject_path(name: str, root: str | Path, *, prefix: str, atlas: str) -> Path:
    """The concrete path of output ``name`` for one subject-session prefix."""
    subdir = prefix.replace("_ses-", "/ses-")
    return Path(root) / SUBJECT_OUTPUTS[name].format(subdir=subdir, prefix=prefix, atlas=atlas)


def dataset_path(name: str, root: str | Path, *, model: str | None = None) -> Path:
    """The concrete path of dataset-level output ``name``."""
    rel = DATASET_OUTPUTS[name]
    if "{model}" in rel:
        if model is None:
            raise ValueError(f"output {name!r} needs the model name")
        rel = rel.replace("{model}", model)
    return Path(root) / rel


def dataset_root(name: str, path: str | os.PathLike, *, prefix: str | None = None) -> Path:
    """The derivative dataset root, given the path of output ``name``.

    Args:
        name: A declared output name.
        path: Where that output is.
        prefix: The subject-session prefix (for subject outputs).
    """
    if name in SUBJECT_OUTPUTS:
        if prefix is None:
            raise ValueError(f"output {name!r} is per subject: give its prefix")
        subdir = prefix.replace("_ses-", "/ses-")
        rel = SUBJECT_OUTPUTS[name].format(subdir=subdir, prefix=prefix, atlas="x")
    else:
        rel = DATASET_OUTPUTS[name]
    parents = Path(os.path.abspath(path)).parents
    depth = len(Path(rel).parts)
    return parents[min(depth, len(parents)) - 1]


def bids_uri(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """A BIDS URI of a file of this dataset (``bids::sub-01/dwi/...``); a file
    outside ``root`` keeps its path."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root)))
    except ValueError:
        return str(path)
    return f"bids::{rel.as_posix()}"


def enabled_outputs(config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The outputs a run with ``config`` (validated, defaults filled) writes.

    Returns:
        ``(subject_names, dataset_names)``: names of :data:`SUBJECT_OUTPUTS`
        written for every subject-session and of :data:`DATASET_OUTPUTS`
        written once, JSON sidecars included.
    """
    fcd = config["empirical_fc"]["fcd"]["enabled"]
    subject = [
        "sc_weights",
        "sc_weights_json",
        "sc_lengths",
        "sc_lengths_json",
        "empirical_fc",
        "empirical_fc_json",
    ]
    if config["empirical_fc"].get("holdout_runs"):
        subject += ["empirical_fc_heldout", "empirical_fc_heldout_json"]
    if fcd:
        subject += ["empirical_fcd", "empirical_fcd_json"]
    if config["explore"]["enabled"]:
        subject += ["explore_table", "explore_best", "explore_heatmap"]
    for stage in ("fit_global", "fit_regional"):
        if config[stage]["enabled"]:
            subject += [f"{stage}_params", f"{stage}_trajectory"]
    dataset = [
        "dataset_description",
        *DATASET_FILE_OUTPUTS,
    ]
    if config["simulate_fitted"]["enabled"]:
        subject += ["sim_bold", "sim_bold_json", "sim_fc", "sim_fc_json", "gof"]
        subject += ["fitted_experiment"]
        if fcd:
            subject += ["sim_fcd", "sim_fcd_json"]
        subject += list(EXPORT_OUTPUTS)
        dataset += [
            "machine_code",
            "model_eq",
            "model_report",
            "group_table",
            "group_table_json",
            "group_figure",
            "group_report",
            "group_provenance",
        ]
    return subject, dataset


def expected_files(
    config: Mapping[str, Any], root: str | Path, prefixes, *, model: str
) -> dict[Path, str]:
    """Every file a run with ``config`` writes under ``root``, mapped to its output name."""
    subject, dataset = enabled_outputs(config)
    files = {dataset_path(n, root, model=model): n for n in dataset}
    for prefix in prefixes:
        for n in subject:
            files[subject_path(n, root, prefix=prefix, atlas=config["atlas"])] = n
    return files


def match_output(rel_path: str) -> str | None:
    """The name of the declared output pattern ``rel_path`` (relative to the root) matches."""
    import re

    fields = {
        "subdir": WILDCARD_CONSTRAINTS["subdir"],
        "prefix": WILDCARD_CONSTRAINTS["prefix"],
        "atlas": r"[a-zA-Z0-9]+",
        "model": r"[a-zA-Z0-9]+",
    }
    for name, pat in {**SUBJECT_OUTPUTS, **DATASET_OUTPUTS}.items():
        parts = re.split(r"(\{[a-z]+\})", pat)
        regex = "".join(
            f"(?:{fields[p[1:-1]]})" if p.startswith("{") else re.escape(p) for p in parts
        )
        if re.fullmatch(regex, rel_path):
            return name
    return None

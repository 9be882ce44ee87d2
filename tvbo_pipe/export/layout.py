"""Every file the workflow writes, declared in one place.

Patterns are relative to the derivative dataset root (``output_dir``) and use
``{subdir}`` (``sub-01`` or ``sub-01/ses-1``), ``{prefix}`` (``sub-01`` or
``sub-01_ses-1``) and ``{atlas}``. Snakemake rules take their outputs from
here, and a test compares the demo's output tree against it, so a file that
is not declared here cannot appear.
"""

from __future__ import annotations

from pathlib import Path

#: Per subject-session outputs.
SUBJECT_OUTPUTS: dict[str, str] = {
    "sc_weights": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-weight_relmat.dense.tsv",
    "sc_weights_json": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-weight_relmat.json",
    "sc_lengths": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-tractLength_relmat.dense.tsv",
    "sc_lengths_json": "{subdir}/dwi/{prefix}_atlas-{atlas}_meas-tractLength_relmat.json",
    "empirical_fc": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-empirical_relmat.dense.tsv",
    "empirical_fc_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-empirical_relmat.json",
    "empirical_fcd": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-empirical_relmat.dense.tsv",
    "empirical_fcd_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-empirical_relmat.json",
    "explore_table": "{subdir}/model/{prefix}_desc-explore_grid.tsv",
    "explore_best": "{subdir}/model/{prefix}_desc-explore_param.json",
    "explore_heatmap": "{subdir}/figures/{prefix}_desc-explore_heatmap.png",
    "fit_global_params": "{subdir}/model/{prefix}_desc-global_param.json",
    "fit_global_trajectory": "{subdir}/model/{prefix}_desc-global_trajectory.tsv",
    "fit_regional_params": "{subdir}/model/{prefix}_desc-regional_param.json",
    "fit_regional_trajectory": "{subdir}/model/{prefix}_desc-regional_trajectory.tsv",
    "sim_bold": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_desc-simulated_timeseries.tsv",
    "sim_bold_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_desc-simulated_timeseries.json",
    "sim_fc": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-simulated_relmat.dense.tsv",
    "sim_fc_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-pearsonCorrelation_desc-simulated_relmat.json",
    "sim_fcd": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-simulated_relmat.dense.tsv",
    "sim_fcd_json": "{subdir}/func/{prefix}_task-rest_atlas-{atlas}_meas-fcd_desc-simulated_relmat.json",
    "gof": "{subdir}/model/{prefix}_desc-fitted_gof.json",
    "fitted_experiment": "{subdir}/model/{prefix}_desc-fitted_experiment.yaml",
}

#: Dataset-level outputs.
DATASET_OUTPUTS: dict[str, str] = {
    "dataset_description": "dataset_description.json",
}

#: Regular expressions for the Snakemake wildcards.
WILDCARD_CONSTRAINTS = {
    "subdir": r"sub-[a-zA-Z0-9]+(/ses-[a-zA-Z0-9]+)?",
    "prefix": r"sub-[a-zA-Z0-9]+(_ses-[a-zA-Z0-9]+)?",
}


def pattern(name: str, root: str | Path, *, atlas: str) -> str:
    """The Snakemake output pattern of ``name`` (wildcards ``{subdir}``, ``{prefix}`` kept)."""
    rel = SUBJECT_OUTPUTS.get(name) or DATASET_OUTPUTS[name]
    return str(Path(root) / rel.replace("{atlas}", atlas))


def subject_path(name: str, root: str | Path, *, prefix: str, atlas: str) -> Path:
    """The concrete path of output ``name`` for one subject-session prefix."""
    subdir = prefix.replace("_ses-", "/ses-")
    return Path(root) / SUBJECT_OUTPUTS[name].format(subdir=subdir, prefix=prefix, atlas=atlas)

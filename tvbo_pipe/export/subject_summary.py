"""The figures and the HTML page of one subject-session, from what its stages computed.

:func:`draw_subject_figures` draws the report's PNGs (FC, FC scatter, FCD,
goodness of fit, loss curves, regional parameters, BOLD traces);
:func:`subject_page` assembles the page: the verdict
(:mod:`~tvbo_pipe.export.verdict`), the figures and files with their
captions, the methods text, the run's logs and warnings and the About
section, rendered by :func:`tvbo_pipe.export.pages.subject_report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..experiment import Experiment
from . import about, figures, pages
from .methods import methods_text
from .verdict import subject_verdict

PathLike = str | os.PathLike


def draw_subject_figures(
    paths: Mapping[str, PathLike],
    *,
    title: str,
    fc_emp: np.ndarray,
    fc_sim: np.ndarray,
    labels: Sequence[str],
    series: np.ndarray,
    tr_s: float,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    record: Mapping[str, Any],
    gof: Mapping[str, Any],
    fcd_emp: np.ndarray | None,
    fcd_sim: np.ndarray | None,
    fcd_step_s: float,
) -> None:
    """Draw the report's figures into ``paths`` (``fig_fc``, ``fig_fc_scatter``,
    ``fig_loss``, ``fig_regional``, ``fig_bold``, ``fig_gof``, ``fig_fcd``).

    Args:
        title: Title prefix (the subject-session).
        fc_emp: Empirical FC; ``fc_sim``: simulated FC.
        labels: Region labels.
        series: Simulated BOLD ``(n_time, n_regions)``, sampled every ``tr_s`` s.
        curves: ``{stage: (steps, loss)}`` of the fit stages that ran.
        record: The fitted-parameter record (its regional ``Parameters``).
        gof: The goodness-of-fit JSON.
        fcd_emp: Empirical FCD; ``fcd_sim``: simulated FCD (either may be ``None``).
        fcd_step_s: Step between FCD windows in s (the FCD figure's time axis).
    """
    figures.fc_matrices(paths["fig_fc"], fc_emp, fc_sim, labels=labels, title=f"{title}: FC")
    figures.fc_scatter(paths["fig_fc_scatter"], fc_emp, fc_sim, title=title)
    figures.loss_curves(paths["fig_loss"], curves, title=f"{title}: loss")
    regional = {p["Name"]: np.asarray(p["Value"]) for p in record["Parameters"] if p["Regional"]}
    figures.regional_profiles(
        paths["fig_regional"], regional, labels, title=f"{title}: regional parameters"
    )
    figures.bold_traces(paths["fig_bold"], series, tr_s, labels, title=f"{title}: simulated BOLD")
    fresh = gof.get("FreshSeeds") or {}
    figures.goodness_of_fit_panels(
        paths["fig_gof"],
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
    figures.fcd_matrices(
        paths["fig_fcd"],
        fcd_emp,
        fcd_sim,
        step_s=fcd_step_s,
        ks=gof.get("Fitted", {}).get("FCDKolmogorovSmirnov"),
        title=f"{title}: FCD",
    )


def report_figures(
    outputs: Mapping[str, PathLike], explore_heatmap: PathLike | None = None
) -> list[tuple[PathLike, str]]:
    """The subject page's figures with their captions, in page order."""
    figs = [
        (outputs["fig_fc"], "Empirical and simulated FC"),
        (outputs["fig_fc_scatter"], "Simulated against empirical FC"),
        (outputs["fig_fcd"], "Empirical and simulated FCD"),
        (outputs["fig_gof"], "Goodness of fit, each measure with its direction"),
        (outputs["fig_loss"], "Loss during the fits"),
    ]
    if explore_heatmap:
        figs.append((explore_heatmap, "Loss over the explored grid"))
    return [
        *figs,
        (outputs["fig_regional"], "Fitted regional parameters"),
        (outputs["fig_bold"], "Simulated BOLD of a few regions"),
    ]


def report_files(
    inputs: Mapping[str, PathLike], outputs: Mapping[str, PathLike]
) -> list[tuple[PathLike, str]]:
    """The files the subject page links to, with what each holds."""
    return [
        (outputs["fitted_param_xml"], "fitted parameters (BEP034, LEMS)"),
        (outputs["fitted_param"], "fitted values, bounds, regional or global"),
        (inputs["fitted_experiment"], "experiment with the fitted values (YAML)"),
        (inputs["gof"], "goodness of fit"),
        (inputs["sim_fc"], "simulated FC"),
        (inputs["sim_bold"], "simulated BOLD"),
        (inputs["model_eq"], "model equations (BEP034, LEMS)"),
        (outputs["provenance"], "openMINDS provenance (JSON-LD)"),
    ]


def subject_page(
    path: PathLike,
    *,
    subject: str,
    params: Mapping[str, Any],
    experiment: Experiment,
    record: Mapping[str, Any],
    gof: Mapping[str, Any],
    stage_jsons: Mapping[str, Mapping[str, Any]],
    series: np.ndarray,
    fc_sim: np.ndarray,
    labels: Sequence[str],
    figures: Sequence[tuple[PathLike, str]],
    files: Sequence[tuple[PathLike, str]],
) -> str:
    """The subject's HTML report (verdict, figures, methods, warnings, About) as text.

    ``params``: the export stage's (``experiment``, ``simulate_fitted``
    ``fcd_ks_flag``, ``log_dir`` and what the methods text reads);
    ``experiment``: the fitted experiment; ``stage_jsons``: ``{stage: its
    JSON}`` of the fit stages that ran.
    """
    ks_flag = float(params.get("simulate_fitted", {}).get("fcd_ks_flag", 0.5))
    verdict = subject_verdict(
        gof, record, stage_jsons, bold=series, fc_sim=fc_sim, fcd_ks_flag=ks_flag
    )
    paragraphs, references = methods_text(Experiment.from_dict(params["experiment"]), params)
    logs = about.subject_logs(params.get("log_dir"), subject)
    seconds = [s.get("Seconds") for s in stage_jsons.values()] + [gof.get("Seconds")]
    known = [float(x) for x in seconds if x is not None]
    return pages.subject_report(
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

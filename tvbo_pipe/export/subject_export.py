"""What the export stage makes for one subject-session, from what its stages wrote.

:class:`SubjectResults` holds the earlier stages' results as the export
stage read them; :func:`subject_export` makes everything the derivative
holds for the subject: the SC node map, the BEP034 parameter file and its
JSON record, the report figures (drawn into their files) and page, and the
openMINDS provenance. The stage (:func:`tvbo_pipe.stages.derivative_files.export_subject`)
reads, calls it once and writes what it returns.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..experiment import Experiment
from . import layout, openminds
from .derivative import fitted_param_record, nodeindices_rows, param_xml
from .provenance import subject_run
from .subject_summary import draw_subject_figures, report_figures, report_files, subject_page

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


@dataclass(frozen=True)
class SubjectResults:
    """One subject-session's results, as the export stage read them.

    Attributes:
        fc_emp: Empirical FC ``(n, n)``; ``fc_sim``: simulated FC.
        labels: Region labels, in matrix order.
        experiment: The experiment with the fitted values.
        stage_results: ``(stage, its JSON, its BIDS URI)`` of the fit stages
            that ran, in order.
        gof: The goodness-of-fit JSON.
        bold_meta: The simulated BOLD's sidecar (``RepetitionTime`` in s,
            ``TransientDiscardedForFC`` in samples).
        series: Simulated BOLD ``(n_time, n_regions)``.
        curves: ``{stage: (steps, loss)}`` of the gradient fits that ran.
        fcd_emp: Empirical FCD, or ``None``; ``fcd_sim``: simulated FCD, or ``None``.
    """

    fc_emp: np.ndarray
    fc_sim: np.ndarray
    labels: tuple[str, ...]
    experiment: Experiment
    stage_results: Sequence[tuple[str, Mapping[str, Any], str]]
    gof: Mapping[str, Any]
    bold_meta: Mapping[str, Any]
    series: np.ndarray
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]]
    fcd_emp: np.ndarray | None
    fcd_sim: np.ndarray | None


@dataclass(frozen=True)
class SubjectExport:
    """What the export stage writes for one subject-session (figures are drawn already).

    Attributes:
        nodeindices: Header and rows of the SC node map (``index``, ``name``).
        param_xml: The BEP034 parameter file (LEMS XML).
        record: The fitted-parameter record (JSON).
        page: The subject's HTML report.
        provenance: The openMINDS collection of the subject's run.
    """

    nodeindices: tuple[list[str], list[list[Any]]]
    param_xml: str
    record: dict[str, Any]
    page: str
    provenance: Any


def subject_export(
    results: SubjectResults,
    *,
    subject: str,
    params: Mapping[str, Any],
    root: str | Path,
    inputs: Mapping[str, PathLike],
    outputs: Mapping[str, PathLike],
) -> SubjectExport:
    """Everything the derivative holds for one subject-session beyond its stages' files.

    Args:
        results: The earlier stages' results.
        subject: The subject-session (``sub-01`` or ``sub-01_ses-1``).
        params: The export stage's params (``experiment``, ``simulation``,
            ``empirical_fc``, ``atlas``, ``task``, ``bids_dir``, the fit
            stages' sections, ``simulate_fitted``, ``log_dir``).
        root: The derivative dataset root (files are named ``bids::...``).
        inputs: The export stage's input files (the page and the records
            link to them).
        outputs: Its output files: the figures are drawn into theirs; the
            other products are returned for the stage to write.
    """

    def uri(path: PathLike) -> str:
        return layout.bids_uri(path, root)

    # BEP034 parameters: LEMS components + the JSON record
    eq_rel = os.path.relpath(
        os.path.abspath(inputs["model_eq"]),
        os.path.dirname(os.path.abspath(outputs["fitted_param_xml"])),
    )
    xml = param_xml(results.experiment, eq_file=Path(eq_rel).as_posix())
    stage_results = list(results.stage_results)
    fitted = stage_results[-1][1].get("AllValues", {}) if stage_results else {}
    record = fitted_param_record(
        results.experiment,
        stage_results,
        fitted=fitted,
        warmup_experiment=Experiment.from_dict(params["experiment"]),
        simulation=params["simulation"],
        transient_samples=int(results.bold_meta["TransientDiscardedForFC"]),
        sources=[uri(inputs["fitted_experiment"]), *(u for _, _, u in stage_results)],
    )
    record["ModelEq"] = uri(inputs["model_eq"])

    # figures and the page
    fcd_cfg = params.get("empirical_fc", {}).get("fcd", {})
    draw_subject_figures(
        outputs,
        title=subject,
        fc_emp=results.fc_emp,
        fc_sim=results.fc_sim,
        labels=results.labels,
        series=results.series,
        tr_s=float(results.bold_meta["RepetitionTime"]),
        curves=results.curves,
        record=record,
        gof=results.gof,
        fcd_emp=results.fcd_emp,
        fcd_sim=results.fcd_sim,
        fcd_step_s=float(fcd_cfg.get("step_s") or 1.0),
    )
    page = subject_page(
        outputs["report"],
        subject=subject,
        params=params,
        experiment=results.experiment,
        record=record,
        gof=results.gof,
        stage_jsons={stage: result for stage, result, _ in stage_results},
        series=results.series,
        fc_sim=results.fc_sim,
        labels=results.labels,
        figures=report_figures(outputs, inputs.get("explore_heatmap")),
        files=report_files(inputs, outputs),
    )

    # provenance of the stages' files
    run = subject_run(root, subject, atlas=params["atlas"], params=params)
    collection = openminds.build_collection([run], root=root, raw_root=params.get("bids_dir"))
    failures = collection.validate()
    if failures:
        log.warning("subject %s: openMINDS validation failures: %s", subject, failures)
    return SubjectExport(
        nodeindices=(["index", "name"], nodeindices_rows(results.labels)),
        param_xml=xml,
        record=record,
        page=page,
        provenance=collection,
    )

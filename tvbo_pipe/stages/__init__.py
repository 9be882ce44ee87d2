"""One function per workflow rule: read files, call the core, write files.

Every stage has the signature ``stage(inputs, outputs, params, *, subject)``
where ``inputs`` and ``outputs`` map names to paths (or lists of paths) and
``params`` is the configuration the stage uses (exactly what the Snakemake rule
passes as ``params``, so a change there reruns the stage). Each is testable
without Snakemake and is called by ``python -m tvbo_pipe STAGE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .export import dataset_files, export_subject, group_summary, model_description
from .fitting import explore, fit_global, fit_regional, simulate_fitted
from .inputs import connectome, dataset_description, detrend_linear, empirical_fc

STAGES: dict[str, Callable[..., Any]] = {
    "dataset_description": dataset_description,
    "connectome": connectome,
    "empirical_fc": empirical_fc,
    "explore": explore,
    "fit_global": fit_global,
    "fit_regional": fit_regional,
    "simulate_fitted": simulate_fitted,
    "model_description": model_description,
    "dataset_files": dataset_files,
    "export": export_subject,
    "group_summary": group_summary,
}

__all__ = [
    "STAGES",
    "connectome",
    "dataset_description",
    "dataset_files",
    "detrend_linear",
    "empirical_fc",
    "explore",
    "export_subject",
    "fit_global",
    "fit_regional",
    "group_summary",
    "model_description",
    "simulate_fitted",
]

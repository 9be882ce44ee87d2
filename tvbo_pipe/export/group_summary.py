"""The group table's rows, figure and page, from every subject-session's records.

:func:`group_rows` makes one row per subject-session (fitted values,
goodness of fit, stage run times and the robustness columns of
:data:`ROBUSTNESS_COLUMNS`); :func:`draw_group_figure` draws the group
figure from them and :func:`group_page` renders the page
(:func:`tvbo_pipe.export.pages.group_report`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import about, figures, pages
from .derivative import group_row
from .verdict import Verdict

PathLike = str | os.PathLike

#: Robustness columns of the group table (from the gof JSON), and their descriptions.
ROBUSTNESS_COLUMNS: dict[str, dict[str, str]] = {
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


def robustness_columns(row: dict, gof: Mapping[str, Any]) -> dict:
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


def group_rows(
    prefixes: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    gofs: Sequence[Mapping[str, Any]],
    stage_seconds: Sequence[Mapping[str, float | None]],
) -> list[dict]:
    """One row per subject-session: its fitted ``Values``, goodness of fit, the run
    time of every stage (``stage_seconds``, s; the final simulation's from the gof
    JSON) and the robustness columns."""
    rows = []
    for prefix, rec, gof, secs in zip(prefixes, records, gofs, stage_seconds, strict=True):
        seconds = {**secs, "simulate_fitted": gof.get("Seconds")}
        row = group_row(
            prefix, rec["Values"], gof, {k: v for k, v in seconds.items() if v is not None}
        )
        rows.append(robustness_columns(row, gof))
    return rows


def draw_group_figure(
    path: PathLike,
    prefixes: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    gofs: Sequence[Mapping[str, Any]],
) -> None:
    """The group figure: FC correlation fitted and at the start, the scalar columns,
    the SC-FC baseline and the fresh-seed spread of every subject-session."""
    scalar = {}
    for k in header:
        vals = [r.get(k) for r in rows]
        if (
            k not in ("participant_id", "session_id")
            and k not in ROBUSTNESS_COLUMNS
            and not k.startswith(("fitted_", "start_", "seconds_"))
            and not k.endswith(("_mean", "_std"))
        ):
            scalar[k] = np.array([np.nan if v is None else v for v in vals], dtype=float)
    figures.group_summary(
        path,
        prefixes,
        np.array([g["Fitted"]["FCCorrelation"] for g in gofs]),
        np.array([g["Start"]["FCCorrelation"] for g in gofs]),
        scalar,
        baseline=np.array([r.get("baseline_SCFCCorrelation", np.nan) for r in rows], dtype=float),
        fresh=[(g.get("FreshSeeds") or {}).get("FCCorrelation", []) for g in gofs],
    )


def group_page(
    path: PathLike,
    *,
    header: Sequence[str],
    table: Sequence[Sequence[Any]],
    descriptions: Mapping[str, Mapping[str, Any]],
    figure: PathLike,
    subject_pages: Sequence[tuple[str, PathLike]],
    verdicts: Sequence[Verdict],
    model: str,
    model_files: Sequence[tuple[PathLike, str]],
) -> str:
    """The group page as text (with this run's About section and software versions)."""
    return pages.group_report(
        path,
        header=header,
        rows=table,
        descriptions=descriptions,
        figure=figure,
        subject_pages=subject_pages,
        verdicts=verdicts,
        model=model,
        model_files=model_files,
        about=about.run_info(None),
        versions=about.software_versions(),
    )

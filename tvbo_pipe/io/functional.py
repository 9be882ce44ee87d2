"""The functional runs of one subject-session, read in the structural connectome's region order.

:func:`load_runs` reads every run in the configured format (region time
series TSV, BOLD NIfTI parcellated with a ``dseg``, or a precomputed FC
relmat) and puts its regions into the order of the SC's labels (an error
names the run when the regions differ). What is computed from the runs
(FC, FCD, test-retest) is :func:`tvbo_pipe.fit.empirical.empirical_observations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fit.empirical import FunctionalRun
from . import timeseries as iot
from .relmat import parse_entities

FORMATS = ("timeseries", "bold", "fc_relmat")


def region_order(
    labels: Sequence[str], target: Sequence[str], *, path: str, sc_path: str, subject: str
) -> np.ndarray | None:
    """Index array putting ``labels`` into the order of ``target`` (``None``: already so).

    Raises :class:`InputError` naming ``path`` when the region sets differ.
    """
    if len(labels) != len(target):
        raise InputError(
            f"functional data has {len(labels)} regions but the SC ({sc_path}) has "
            f"{len(target)}; both must use the same parcellation",
            path=path,
            subject=subject,
        )
    if tuple(labels) == tuple(target):
        return None
    missing = [lab for lab in target if lab not in labels]
    if missing:
        raise InputError(
            f"region labels differ from the SC's ({sc_path}): SC regions "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} are not in the "
            "functional data",
            path=path,
            subject=subject,
        )
    pos = {lab: k for k, lab in enumerate(labels)}
    return np.array([pos[lab] for lab in target])


def _dseg_table(dseg: str) -> str | None:
    tsv = dseg.replace(".nii.gz", ".tsv").replace(".nii", ".tsv")
    return tsv if Path(tsv).is_file() else None


def load_runs(
    paths: Sequence[str],
    fmt: str,
    *,
    sc_labels: Sequence[str],
    sc_path: str,
    dseg: str | None = None,
    subject: str,
) -> list[FunctionalRun]:
    """Read the functional runs ``paths`` (format ``fmt``, one of :data:`FORMATS`).

    Args:
        paths: The run files, in run order.
        fmt: ``timeseries`` (region time series TSV), ``bold`` (BOLD NIfTI,
            parcellated with ``dseg``) or ``fc_relmat`` (a precomputed FC).
        sc_labels: The SC's region labels: every run is put into their order.
        sc_path: The SC file (named in errors).
        dseg: The parcellation image for ``bold``.
        subject: Subject label for errors.

    Returns:
        One :class:`~tvbo_pipe.fit.empirical.FunctionalRun` per path, time
        series in float64 (volumes by regions, TR in s) or the FC.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown functional format {fmt!r}", key="inputs.functional.format")
    runs = []
    for path in paths:
        label = parse_entities(Path(path).name).get("run")
        if fmt == "fc_relmat":
            fc, labels = iot.load_fc_relmat(path, subject=subject)
            labels = labels or tuple(sc_labels)
            order = region_order(labels, sc_labels, path=path, sc_path=sc_path, subject=subject)
            if order is not None:
                fc = fc[np.ix_(order, order)]
            runs.append(FunctionalRun(path, fc=np.asarray(fc, dtype=float), run_label=label))
            continue
        if fmt == "timeseries":
            ts = iot.load_timeseries_tsv(path, subject=subject)
        else:
            ts = iot.parcellate_bold(path, str(dseg), _dseg_table(str(dseg)), subject=subject)
        order = region_order(ts.labels, sc_labels, path=path, sc_path=sc_path, subject=subject)
        data = ts.data if order is None else ts.data[:, order]
        runs.append(
            FunctionalRun(path, data=np.asarray(data, dtype=float), tr=ts.tr, run_label=label)
        )
    return runs

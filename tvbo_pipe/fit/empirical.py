"""The empirical observations of one subject-session from its functional runs.

Per run of region time series: drop the first ``discard_volumes`` volumes,
remove a least-squares line from every region (``detrend``), Pearson FC,
and the upper triangles of the FCs of sliding windows (``fcd``: ``window_s``
and ``step_s`` rounded to volumes of the run's TR). Runs given as an FC
matrix contribute their FC only.

Runs whose ``run-`` label is in ``holdout_runs`` are left out: the FC of the
others (combined by :func:`~tvbo_pipe.fit.observations.fisher_z_mean`) is
what the fits use; the held-out runs' FC is the out-of-sample test, and the
correlation between the two (test-retest) is the ceiling for it. The FCD
correlates the windows of all fitted runs with each other, so with one run
it is the usual FCD.

Reading the runs is :func:`tvbo_pipe.io.functional.load_runs`. The BOLD
period the fits simulate follows the runs' TR (:func:`bold_period_ms`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jax
import numpy as np

from ..errors import InputError
from . import losses
from . import observations as obs

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FunctionalRun:
    """One functional run, its regions in the SC's order.

    Attributes:
        path: The file it was read from (named in errors).
        data: Region time series ``(n_volumes, n_regions)`` or ``None``.
        fc: The run's FC ``(n_regions, n_regions)`` when given as a matrix.
        tr: Repetition time in s (time series only).
        run_label: The ``run-`` entity of its file name, if any.
    """

    path: str
    data: np.ndarray | None = None
    fc: np.ndarray | None = None
    tr: float | None = None
    run_label: str | None = None


@dataclass
class EmpiricalObservations:
    """What :func:`empirical_observations` computes.

    Attributes:
        fc: FC of the fitted runs (Fisher-z mean when several).
        fc_heldout: FC of the held-out runs, or ``None``.
        retest: Pearson r of the upper triangles of ``fc`` and ``fc_heldout``.
        fcd: FCD of the fitted runs' windows ``(n_windows, n_windows)``, or
            ``None`` (FCD off, or FC-matrix input).
        window_onsets: Onset (s from each run's first volume) of every FCD window.
        window_runs: Index (into the runs) of the run of every FCD window.
        window_s: FCD window length of the first run with windows, in s.
        step_s: FCD window step of that run, in s.
        runs: Per run: ``RepetitionTime``, ``NumberOfVolumes``, the FCD window
            keys and ``HeldOut`` (the sidecars' ``Runs``).
        fitted: Indices of the runs used for fitting.
        heldout: Indices of the held-out runs.
    """

    fc: np.ndarray
    fc_heldout: np.ndarray | None
    retest: float | None
    fcd: np.ndarray | None
    window_onsets: list[float]
    window_runs: list[int]
    window_s: float | None
    step_s: float | None
    runs: list[dict] = field(default_factory=list)
    fitted: list[int] = field(default_factory=list)
    heldout: list[int] = field(default_factory=list)


def detrend_linear(x: np.ndarray) -> np.ndarray:
    """Remove the least-squares line from each column of ``x`` ``(n_time, n)``."""
    t = np.arange(x.shape[0], dtype=float)
    design = np.stack([np.ones_like(t), t - t.mean()], axis=1)
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return x - design @ coef


def _same_run(a: str, b: str) -> bool:
    return a == b or (a.isdigit() and b.isdigit() and int(a) == int(b))


def heldout_runs(labels: Sequence[str | None], holdout: Sequence, *, subject: str) -> set[int]:
    """Indices of the runs whose ``run-`` label (``labels``) is in ``holdout``.

    Raises :class:`InputError` when that leaves no run to fit or none to test.
    """
    if not holdout:
        return set()
    held = {
        k for k, lab in enumerate(labels) if lab and any(_same_run(lab, str(h)) for h in holdout)
    }
    if not held or len(held) == len(labels):
        raise InputError(
            f"holding out runs {list(holdout)} leaves {len(labels) - len(held)} run(s) to fit and "
            f"{len(held)} to test (runs here: {', '.join(str(x) for x in labels)}); both must be at least one",
            subject=subject,
            key="empirical_fc.holdout_runs",
        )
    return held


def _run_observations(
    run: FunctionalRun, settings: Mapping, *, subject: str
) -> tuple[np.ndarray, list[np.ndarray], list[float], dict]:
    """FC, FCD window vectors, window onsets (s) and sidecar keys of one run of time series."""
    discard = settings["discard_volumes"]
    data = np.asarray(run.data, dtype=float)[discard:]
    if data.shape[0] < 3:
        raise InputError(
            f"only {data.shape[0]} volumes left after discarding {discard}; need at least 3",
            path=run.path,
            subject=subject,
        )
    if settings["detrend"]:
        data = detrend_linear(data)
    fc = np.asarray(obs.fc(data))
    info = {"RepetitionTime": run.tr, "NumberOfVolumes": int(data.shape[0])}
    vectors: list[np.ndarray] = []
    onsets: list[float] = []
    if settings["fcd"]["enabled"]:
        window = round(settings["fcd"]["window_s"] / run.tr)
        step = max(1, round(settings["fcd"]["step_s"] / run.tr))
        try:
            starts = obs.sliding_windows(data.shape[0], window, step)
        except ValueError as exc:
            raise InputError(
                str(exc), path=run.path, subject=subject, key="empirical_fc.fcd"
            ) from None
        for s in starts:
            vectors.append(np.asarray(obs.upper_triangle(obs.fc(data[s : s + window]))))
            onsets.append((discard + s) * run.tr)
        info.update(
            {
                "FCDWindowVolumes": window,
                "FCDStepVolumes": step,
                "FCDWindows": len(starts),
                "FCDWindowLength": window * run.tr,
                "FCDWindowStep": step * run.tr,
            }
        )
    return fc, vectors, onsets, info


def empirical_observations(
    runs: Sequence[FunctionalRun], settings: Mapping, *, subject: str
) -> EmpiricalObservations:
    """FC (and FCD, held-out FC, test-retest) of one subject-session's runs, in float64.

    Args:
        runs: The runs, regions in the SC's order.
        settings: The ``empirical_fc`` configuration: ``discard_volumes``,
            ``detrend``, ``fcd`` (``enabled``, ``window_s``, ``step_s`` in s)
            and ``holdout_runs`` (``run-`` labels).
        subject: Subject label for errors.
    """
    fcs, window_vectors, window_onsets, infos = [], [], [], []
    with jax.enable_x64(True):
        for run in runs:
            if run.fc is not None:
                fc, vectors, onsets, info = np.asarray(run.fc, dtype=float), [], [], {}
            else:
                fc, vectors, onsets, info = _run_observations(run, settings, subject=subject)
            fcs.append(fc)
            window_vectors.append(vectors)
            window_onsets.append(onsets)
            infos.append(info)
        held = heldout_runs(
            [r.run_label for r in runs], settings.get("holdout_runs", []), subject=subject
        )
        for k, info in enumerate(infos):
            info["HeldOut"] = k in held
        train = [k for k in range(len(fcs)) if k not in held]

        def combine(idx):
            return (
                np.asarray(obs.fisher_z_mean(np.stack([fcs[k] for k in idx])))
                if len(idx) > 1
                else fcs[idx[0]]
            )

        fc_all = combine(train)
        vectors = [v for k in train for v in window_vectors[k]]
        fcd = np.asarray(obs.fc(np.stack(vectors).T)) if vectors else None
        fc_held = combine(sorted(held)) if held else None
        retest = float(losses.fc_corr(fc_all, fc_held)) if held else None
    first = next((infos[k] for k in train if "FCDWindowLength" in infos[k]), {})
    return EmpiricalObservations(
        fc=fc_all,
        fc_heldout=fc_held,
        retest=retest,
        fcd=fcd,
        window_onsets=[t for k in train for t in window_onsets[k]],
        window_runs=[k for k in train for _ in window_onsets[k]],
        window_s=first.get("FCDWindowLength"),
        step_s=first.get("FCDWindowStep"),
        runs=infos,
        fitted=train,
        heldout=sorted(held),
    )


def repetition_time(fc_sidecar: Mapping, *, subject: str) -> float | None:
    """The TR (s) of the runs, as the empirical FC's sidecar records it (``Runs``).

    Runs with different TRs: the smallest, with a warning naming the subject;
    ``None`` when no run records one (an FC given as a matrix).
    """
    trs = {r.get("RepetitionTime") for r in fc_sidecar.get("Runs", []) if r.get("RepetitionTime")}
    if len(trs) > 1:
        log.warning("subject %s: runs with different TRs %s; using the first", subject, sorted(trs))
    return sorted(trs)[0] if trs else None


def bold_period_ms(
    setting: float | str | None, fc_sidecar: Mapping, *, subject: str
) -> float | None:
    """The period (ms) of the Bold monitor a subject's fits simulate.

    Args:
        setting: ``simulation.bold_period_ms``: a period in ms is used as
            given; ``"auto"`` or ``None``: the runs' TR (:func:`repetition_time`)
            in ms.
        fc_sidecar: The empirical FC's JSON sidecar.
        subject: The subject-session (named in warnings).

    Returns:
        The period in ms, or ``None`` to keep the experiment's (no TR recorded).
    """
    if setting not in (None, "auto"):
        return float(setting)
    tr = repetition_time(fc_sidecar, subject=subject)
    return 1000.0 * tr if tr else None

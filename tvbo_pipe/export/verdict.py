"""Did the fit work? The numbers and flags at the top of a subject's report.

:func:`stage_status` says what a fit stage did in words ("improved by X",
"no improvement (best kept)", "stopped: NaN"); :func:`subject_verdict`
gathers the fit's FC correlation, the SC-alone baseline, the fresh-seed
robustness, the held-out FC and every warning sign (parameters at a bound
or never moved, stages without improvement, a poor FCD, NaN / silent /
saturated dynamics) from the files the stages wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Relative distance to a bound (of the bounds' span) at which a value counts as at it.
BOUND_TOLERANCE = 1e-3
#: Relative change (of the bounds' span) below which a value counts as not moved.
MOVE_TOLERANCE = 1e-6
#: Mean off-diagonal simulated FC above which the regime counts as saturated.
SATURATED_FC = 0.9
#: Standard deviation of the fresh-seed FC correlations above which the fit is flagged.
FRESH_SPREAD = 0.05
#: Standard deviation of the simulated BOLD below which a region counts as silent.
SILENT_STD = 1e-10


@dataclass
class Flag:
    """One warning sign: ``level`` ``"bad"`` (the fit is not to be trusted) or
    ``"warn"`` (look closer); ``text`` for a person."""

    level: str
    text: str


@dataclass
class Verdict:
    """What the first screen of a subject report states.

    Attributes:
        fc_r: FC correlation of the fitted model's final simulation (its own
            noise realisation).
        sc_fc_r: Pearson r of the SC weights and the empirical FC (baseline).
        fresh_r: FC correlations over fresh noise seeds (empty when not computed).
        fresh_mean: Their mean, or ``None``.
        fresh_std: Their standard deviation (ddof 0), or ``None``.
        heldout_r: FC correlation with the held-out runs' FC, or ``None``.
        retest_r: Test-retest FC correlation of the empirical runs (the
            ceiling of ``heldout_r``), or ``None``.
        fcd_ks: FCD Kolmogorov-Smirnov distance, or ``None``.
        stages: ``(stage, status)`` in order.
        flags: Warning signs, the worst first.
    """

    fc_r: float | None
    sc_fc_r: float | None
    fresh_r: list[float] = field(default_factory=list)
    fresh_mean: float | None = None
    fresh_std: float | None = None
    heldout_r: float | None = None
    retest_r: float | None = None
    fcd_ks: float | None = None
    stages: list[tuple[str, str]] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """One sentence: does the fitted model beat the SC alone, robustly?"""
        if self.fc_r is None or not math.isfinite(self.fc_r):
            return "The fit failed: the simulated FC has no finite correlation."
        r = self.fresh_mean if self.fresh_mean is not None else self.fc_r
        if self.sc_fc_r is None or not math.isfinite(self.sc_fc_r):
            return f"The fitted model reaches FC r = {r:.3f}."
        if r > self.sc_fc_r:
            return (
                f"The fitted model (FC r = {r:.3f}) beats the SC alone "
                f"(r = {self.sc_fc_r:.3f}) by {r - self.sc_fc_r:.3f}."
            )
        return (
            f"The fitted model (FC r = {r:.3f}) does not beat the SC alone "
            f"(r = {self.sc_fc_r:.3f})."
        )


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def stage_status(stage: Mapping[str, Any]) -> str:
    """What a stage did, in words, from its JSON (or its ``Stages`` record entry).

    Fit stages: ``"improved by X (from A to B)"`` plus why it stopped,
    ``"no improvement (best kept)"`` when no step lowered the loss, or
    ``"stopped: NaN"`` when no finite loss was seen. Exploration: the number
    of points and the best loss. "Converged" is never said: the optimiser's
    stop on a plateau is no convergence test.
    """
    loss = _finite(stage.get("Loss"))
    if "StartLoss" not in stage:  # exploration
        points = stage.get("Points")
        if loss is None:
            return f"no finite loss on {points} points"
        return f"best of {points} points: loss {loss:.4g}"
    start = _finite(stage.get("StartLoss"))
    if loss is None or stage.get("StopReason") == "no finite loss":
        return "stopped: NaN"
    rejected = int(stage.get("RejectedSteps") or 0)
    tail = f"; {rejected} step(s) rejected (NaN)" if rejected else ""
    if start is None:
        return f"loss {loss:.4g} (the start loss was not finite){tail}"
    gain = start - loss
    if gain <= 1e-9 * max(1.0, abs(start)):
        return f"no improvement (best kept): loss {loss:.4g}{tail}"
    plateau = f"stopped on a plateau after {stage.get('Steps')} steps"
    why = {
        "plateau": plateau,
        "converged": plateau,  # what stage JSONs of earlier versions call a plateau
        "steps": f"all {stage.get('Steps')} steps used",
        "scanned": f"{stage.get('Evaluations')} points scanned",
    }.get(str(stage.get("StopReason")), str(stage.get("StopReason", "")))
    return f"improved by {gain:.4g} (loss {start:.4g} -> {loss:.4g}); {why}{tail}"


def _at_bound(value: np.ndarray, low: float, high: float) -> np.ndarray:
    span = abs(high - low) or 1.0
    return (np.abs(value - low) <= BOUND_TOLERANCE * span) | (
        np.abs(value - high) <= BOUND_TOLERANCE * span
    )


def _parameter_flags(
    parameters: Sequence[Mapping[str, Any]], stage_jsons: Mapping[str, Mapping[str, Any]]
) -> list[Flag]:
    flags = []
    for p in parameters:
        low, high = _finite(p.get("LowerBound")), _finite(p.get("UpperBound"))
        value = np.asarray(p["Value"], dtype=float)
        if low is not None and high is not None:
            at = _at_bound(value, low, high)
            if value.ndim == 0 and at:
                flags.append(
                    Flag("warn", f"{p['Name']} = {float(value):.4g} is at a bound [{low}, {high}]")
                )
            elif value.ndim and at.any():
                flags.append(
                    Flag(
                        "warn",
                        f"{p['Name']} is at a bound [{low}, {high}] in {int(at.sum())} of "
                        f"{at.size} regions",
                    )
                )
        stage = stage_jsons.get(str(p.get("Stage")), {})
        start = stage.get("StartValues", {}).get(p["Name"])
        own = stage.get("Values", {}).get(p["Name"])
        if start is None or own is None:
            continue
        start, own = np.asarray(start, dtype=float), np.asarray(own, dtype=float)
        span = abs(high - low) if low is not None and high is not None and high != low else 1.0
        if start.shape == own.shape and np.all(np.abs(own - start) <= MOVE_TOLERANCE * span):
            where = "its start point" + (
                " (the best exploration grid point)" if p.get("Stage") == "fit_global" else ""
            )
            flags.append(Flag("warn", f"{p['Name']} never left {where} in {p.get('Stage')}"))
    return flags


def _regime_flags(bold: np.ndarray | None, fc_sim: np.ndarray | None) -> list[Flag]:
    flags = []
    if bold is not None:
        bold = np.asarray(bold, dtype=float)
        if not np.all(np.isfinite(bold)):
            return [Flag("bad", "the simulated BOLD holds NaN or infinite values")]
        std = bold.std(axis=0)
        silent = int(np.sum(std < SILENT_STD * max(1.0, float(np.abs(bold).max()))))
        if silent == bold.shape[1]:
            flags.append(Flag("bad", "silent regime: the simulated BOLD does not vary"))
        elif silent:
            flags.append(Flag("warn", f"{silent} region(s) with constant simulated BOLD"))
    if fc_sim is not None:
        fc_sim = np.asarray(fc_sim, dtype=float)
        iu = np.triu_indices(fc_sim.shape[0], k=1)
        upper = fc_sim[iu]
        if not np.all(np.isfinite(upper)):
            flags.append(Flag("bad", "the simulated FC holds NaN (constant regions)"))
        elif upper.size and float(upper.mean()) > SATURATED_FC:
            flags.append(
                Flag(
                    "bad",
                    f"saturated regime: mean simulated FC {float(upper.mean()):.3f} "
                    f"> {SATURATED_FC} (the regions move together)",
                )
            )
    return flags


def subject_verdict(
    gof: Mapping[str, Any],
    record: Mapping[str, Any],
    stage_jsons: Mapping[str, Mapping[str, Any]],
    *,
    bold: np.ndarray | None = None,
    fc_sim: np.ndarray | None = None,
    fcd_ks_flag: float = 0.5,
) -> Verdict:
    """The verdict of one subject-session's fit.

    Args:
        gof: The ``*_desc-fitted_experiment.json`` content (the goodness of fit).
        record: The ``*_desc-fitted_param.json`` record.
        stage_jsons: ``{stage: its JSON}`` of the stages that ran (explore,
            fit_global, fit_regional), for their start and own values.
        bold: The simulated BOLD ``(time, regions)`` (for NaN / silent checks).
        fc_sim: The simulated FC (for the saturation check).
        fcd_ks_flag: FCD KS distance above which the fit is flagged.
    """
    fitted = gof.get("Fitted", {})
    fresh = gof.get("FreshSeeds") or {}
    held = gof.get("HeldOut") or {}
    v = Verdict(
        fc_r=_finite(fitted.get("FCCorrelation")),
        sc_fc_r=_finite((gof.get("Baseline") or {}).get("SCFCCorrelation")),
        fresh_r=[float("nan") if x is None else float(x) for x in fresh.get("FCCorrelation", [])],
        fresh_mean=_finite(fresh.get("FCCorrelationMean")),
        fresh_std=_finite(fresh.get("FCCorrelationStd")),
        heldout_r=_finite(held.get("FCCorrelation")),
        retest_r=_finite(held.get("TestRetestFCCorrelation")),
        fcd_ks=_finite(fitted.get("FCDKolmogorovSmirnov")),
    )
    bad: list[Flag] = []
    warn: list[Flag] = []
    for flag in _regime_flags(bold, fc_sim):
        (bad if flag.level == "bad" else warn).append(flag)
    if v.fc_r is None:
        bad.append(Flag("bad", "the fitted FC correlation is not finite"))
    lost = sum(1 for r in v.fresh_r if not math.isfinite(r))
    if lost:
        bad.append(Flag("bad", f"{lost} of {len(v.fresh_r)} fresh noise seeds gave no finite FC r"))
    for entry in record.get("Stages", []):
        stage = entry["Stage"]
        status = stage_status({**entry, **stage_jsons.get(stage, {})})
        v.stages.append((stage, status))
        if status.startswith("stopped"):
            bad.append(Flag("bad", f"{stage} {status}"))
        elif status.startswith("no improvement"):
            warn.append(Flag("warn", f"{stage}: {status}"))
    warn += _parameter_flags(record.get("Parameters", []), stage_jsons)
    if v.fcd_ks is not None and v.fcd_ks > fcd_ks_flag:
        warn.append(
            Flag(
                "warn",
                f"FCD KS distance {v.fcd_ks:.3f} > {fcd_ks_flag}: the FC dynamics are not matched",
            )
        )
    if v.fc_r is not None and v.sc_fc_r is not None:
        r = v.fresh_mean if v.fresh_mean is not None else v.fc_r
        if r <= v.sc_fc_r:
            bad.append(
                Flag("bad", f"the fitted model (r = {r:.3f}) does not beat the SC alone "
                     f"(r = {v.sc_fc_r:.3f})")
            )  # fmt: skip
    if v.fc_r is not None and v.fresh_mean is not None and v.fresh_std is not None:
        gap = v.fc_r - v.fresh_mean
        if gap > max(2.0 * v.fresh_std, 0.02):
            warn.append(
                Flag(
                    "warn",
                    f"the fit's r = {v.fc_r:.3f} is {gap:.3f} above the fresh-seed mean "
                    f"{v.fresh_mean:.3f} ± {v.fresh_std:.3f}: it partly fits its own noise",
                )
            )
    if v.fresh_std is not None and v.fresh_std > FRESH_SPREAD:
        warn.append(
            Flag(
                "warn",
                f"the FC r varies by ± {v.fresh_std:.3f} over fresh noise seeds "
                f"(> {FRESH_SPREAD}): one simulation does not tell how good the fit is",
            )
        )
    if v.heldout_r is not None and v.retest_r is not None and v.heldout_r > v.retest_r:
        warn.append(
            Flag(
                "warn",
                f"held-out FC r {v.heldout_r:.3f} above the test-retest ceiling {v.retest_r:.3f}",
            )
        )
    v.flags = bad + warn
    return v


__all__ = ["Flag", "Verdict", "stage_status", "subject_verdict"]

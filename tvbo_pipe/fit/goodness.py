"""How well a fitted model reproduces the data: the final simulation and its goodness of fit.

:func:`goodness_of_fit` compares a simulated FC (and FCD) with the empirical
ones; :func:`simulated_fcd` is the FCD of a simulated BOLD series with the
empirical FCD's window and step; :func:`evaluate_fitted` runs the final
simulation of a fit problem at its (fitted) state and at the starting
state and returns everything the ``simulate_fitted`` stage writes: the BOLD,
the FC and FCD, the goodness of fit at both states, the mean FC of the
noise realisations, the held-out runs' FC and the robustness measures
(fresh noise seeds, SC-FC baseline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import numpy as np

from ..connectome import Connectome
from . import losses
from . import observations as obs
from .problem import FitProblem
from .robustness import fresh_seed_fc, fresh_seeds, sc_fc_correlation


def goodness_of_fit(fc_sim, fc_emp, fcd_sim=None, fcd_emp=None) -> dict:
    """FC correlation, FC RMSE (upper triangles); FCD KS and energy distances.

    Returns ``FCCorrelation``, ``FCRMSE`` and, given both FCDs,
    ``FCDKolmogorovSmirnov`` and ``FCDEnergyDistance`` (all dimensionless).
    """
    out = {
        "FCCorrelation": float(losses.fc_corr(fc_sim, fc_emp)),
        "FCRMSE": float(losses.fc_rmse(fc_sim, fc_emp)),
    }
    if fcd_sim is not None and fcd_emp is not None:
        out["FCDKolmogorovSmirnov"] = float(losses.fcd_ks(fcd_sim, fcd_emp))
        out["FCDEnergyDistance"] = float(
            losses.fcd_energy(obs.upper_triangle(fcd_sim), obs.upper_triangle(fcd_emp))
        )
    return out


@dataclass(frozen=True, eq=False)
class WindowedFCD:
    """An FCD and its windows.

    Attributes:
        matrix: ``(n_windows, n_windows)`` correlations of the windows' FCs.
        window: Window length in samples.
        step: Step between window onsets in samples.
        onsets_s: Onset of every window in s from the first sample of the series.
        window_s: ``window`` in s.
        step_s: ``step`` in s.
    """

    matrix: np.ndarray
    window: int
    step: int
    onsets_s: list[float]
    window_s: float
    step_s: float


def fcd_windows(period_s: float, window_s: float, step_s: float) -> tuple[int, int]:
    """Window and step in samples of period ``period_s`` (rounded; the step at least 1)."""
    return round(window_s / period_s), max(1, round(step_s / period_s))


def simulated_fcd(
    series: np.ndarray, *, transient: int, period_s: float, window_s: float, step_s: float
) -> WindowedFCD | None:
    """The FCD of ``series`` ``(n_time, n_regions)`` after its first ``transient`` samples.

    ``None`` when what is left is shorter than one window.
    """
    window, step = fcd_windows(period_s, window_s, step_s)
    kept = series[transient:]
    if window > kept.shape[0]:
        return None
    starts = obs.sliding_windows(kept.shape[0], window, step)
    return WindowedFCD(
        matrix=np.asarray(obs.fcd(kept, window, step)),
        window=window,
        step=step,
        onsets_s=[(transient + k) * period_s for k in starts],
        window_s=window * period_s,
        step_s=step * period_s,
    )


def robustness(problem: FitProblem, conn: Connectome, n_seeds: int) -> dict:
    """``FreshSeeds`` (the model at the problem's state over ``n_seeds`` fresh noise
    seeds) and ``Baseline`` (the SC-FC correlation)."""
    seeds = fresh_seeds(problem.experiment.integration.seed, n_seeds)
    fresh = fresh_seed_fc(problem, problem.state, seeds)
    baseline = sc_fc_correlation(np.asarray(conn.weights), np.asarray(problem.fc_emp))
    return {"FreshSeeds": fresh, "Baseline": {"SCFCCorrelation": baseline}}


@dataclass(frozen=True, eq=False)
class FittedSimulation:
    """What :func:`evaluate_fitted` returns.

    Attributes:
        series: Simulated BOLD of the first realisation ``(n_time, n_regions)``,
            the transient included.
        period_s: BOLD sampling period in s.
        start_time_s: Time of the first BOLD sample in s.
        variable: The monitored state variable.
        transient: BOLD samples discarded before FC and FCD.
        fc: Simulated FC (first realisation, after the transient).
        fcd: Simulated FCD, or ``None`` (off, or the series is shorter than a window).
        fitted: :func:`goodness_of_fit` at the problem's state (with the FCDs).
        start: :func:`goodness_of_fit` at the starting state (FC only).
        mean_fc: With several realisations, the goodness of fit of their mean
            FC at both states (what the fits compared), else ``None``.
        heldout: Goodness of fit against the held-out runs' FC, or ``None``.
        robustness: :func:`robustness`.
    """

    series: np.ndarray
    period_s: float
    start_time_s: float
    variable: str
    transient: int
    fc: np.ndarray
    fcd: WindowedFCD | None
    fitted: dict
    start: dict
    mean_fc: dict | None
    heldout: dict | None
    robustness: dict


def evaluate_fitted(
    problem: FitProblem,
    conn: Connectome,
    start_state: Mapping,
    *,
    fcd: Mapping | None = None,
    fcd_emp: np.ndarray | None = None,
    fc_heldout: np.ndarray | None = None,
    heldout_retest: float | None = None,
    n_fresh_seeds: int = 5,
    enable_x64: bool = True,
) -> FittedSimulation:
    """The final simulation of ``problem`` at its state, compared with the data.

    Args:
        problem: The fit problem, its state holding the fitted values.
        conn: Its connectome (the SC-FC baseline).
        start_state: The state before the fits (the comparison).
        fcd: The FCD settings (``enabled``, ``window_s``, ``step_s`` in s), or ``None``.
        fcd_emp: The empirical FCD, if any.
        fc_heldout: The held-out runs' FC, if any.
        heldout_retest: The test-retest correlation recorded with it.
        n_fresh_seeds: Fresh noise seeds of the robustness check.
        enable_x64: Simulate in float64.
    """
    with jax.enable_x64(enable_x64):
        bold = problem.bold(problem.state)
        series = np.asarray(bold.data[:, 0], dtype=float)
        fc_sim = np.asarray(obs.fc(series[problem.transient :]))
        # the stored BOLD and FC are one realisation (the first); so is the start
        start_bold = problem.bold(start_state).data[problem.transient :, 0]
        fc_start = np.asarray(obs.fc(start_bold))
        fc_emp = np.asarray(problem.fc_emp)
        period_s = bold.period / 1000.0
        windowed = None
        if fcd is not None and fcd["enabled"]:
            windowed = simulated_fcd(
                series,
                transient=problem.transient,
                period_s=period_s,
                window_s=fcd["window_s"],
                step_s=fcd["step_s"],
            )
        fitted = goodness_of_fit(
            fc_sim, fc_emp, None if windowed is None else windowed.matrix, fcd_emp
        )
        start = goodness_of_fit(fc_start, fc_emp)
        mean_fc = None
        if problem.realisations > 1:
            mean_fc = {
                "Realisations": problem.realisations,
                "Fitted": goodness_of_fit(problem.simulated_fc(problem.state), fc_emp),
                "Start": goodness_of_fit(problem.simulated_fc(start_state), fc_emp),
            }
        heldout = None
        if fc_heldout is not None:
            heldout = {
                **goodness_of_fit(fc_sim, fc_heldout),
                "TestRetestFCCorrelation": heldout_retest,
            }
        robust = robustness(problem, conn, n_fresh_seeds)
    return FittedSimulation(
        series=series,
        period_s=period_s,
        start_time_s=float(bold.time[0]) / 1000.0,
        variable=bold.variables[0],
        transient=problem.transient,
        fc=fc_sim,
        fcd=windowed,
        fitted=fitted,
        start=start,
        mean_fc=mean_fc,
        heldout=heldout,
        robustness=robust,
    )

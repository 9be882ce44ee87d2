"""The fit stages' methods other than a single gradient fit: multi-start, CMA-ES, profile.

:func:`run_method` runs the configured method (``fit_*.method``) on a fit
problem and returns the best :class:`~tvbo_pipe.fit.optimize.FitResult` and
what goes into the stage's JSON about the method (every start of a
multi-start fit, the CMA-ES population).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np

from ..errors import ConfigError
from .optimize import FitResult
from .options import FitOptions
from .parameters import ParameterSpace, values_to_json
from .resume import Checkpoint

METHODS = ("adam", "multistart", "cmaes", "profile")


def multistart_points(
    space: ParameterSpace,
    start: Mapping,
    ranked: list[Mapping],
    k: int,
    *,
    seed: int = 0,
    screen=None,
) -> list[dict]:
    """``k`` starting points: ``start``, then the exploration's best points, then Sobol points.

    A ranked point supplies the values of the parameters it has; the others
    keep ``start``'s. Points that repeat one already chosen are skipped;
    Sobol points (inside the bounds, see
    :func:`~tvbo_pipe.fit.multistart.sobol_starts`) fill the rest. With
    ``screen`` (``screen(points) -> codes``, see
    :mod:`~tvbo_pipe.fit.screening`) Sobol points that fail it are skipped
    (four times as many are drawn; if too few pass, failing ones fill up).
    """
    from .multistart import sobol_starts

    base = values_to_json(start)
    points = [base]
    for r in ranked:
        if len(points) >= k:
            break
        cand = {**base, **{p: float(r[p]) for p in space.paths if p in r}}
        if all(not np.allclose(list(cand.values()), list(q.values())) for q in points):
            points.append(cand)
    if len(points) < k:
        if any(p.regional for p in space.params):
            raise ConfigError(
                f"multistart found {len(points)} of {k} starts; Sobol starts need global parameters",
                key="starts",
            )
        need = k - len(points)
        if screen is None:
            points += sobol_starts(space, need, seed=seed)
        else:
            cands = sobol_starts(space, 4 * need, seed=seed)
            codes = screen({p: np.array([c[p] for c in cands]) for p in space.paths})
            order = np.argsort(codes != 0, kind="stable")  # passing candidates first
            points += [cands[i] for i in order[:need]]
    return points[:k]


def _ranked(inputs: Mapping) -> list[dict]:
    start = inputs.get("start")
    if not start:
        return []
    return list(json.loads(Path(start).read_text()).get("RankedPoints", []))


def run_method(
    method: str,
    problem,
    space: ParameterSpace,
    start: Mapping,
    cfg: Mapping,
    inputs: Mapping,
    *,
    label: str,
    connectome=None,
    checkpoint: Checkpoint | None = None,
) -> tuple[FitResult, dict]:
    """Run ``method`` (``multistart``, ``cmaes`` or ``profile``) with the stage settings ``cfg``.

    Returns the best fit and a JSON-able description for the stage's parameter JSON.
    """
    fixed = not cfg["redraw_noise"]
    key = problem.key if fixed else jax.random.fold_in(problem.key, 7)
    loss = problem.loss_fn(space, fixed_noise=fixed)
    if method == "multistart":
        from .multistart import fit_multistart

        screen = None
        screen_cfg = cfg.get("screen", {})
        if screen_cfg.get("enabled", False) and connectome is not None:
            from .screening import make_screen

            screen = make_screen(
                problem.experiment,
                connectome,
                space,
                duration_ms=1000.0 * screen_cfg["duration_s"],
                edge=screen_cfg["edge"],
                enable_x64=problem.fc_emp.dtype == np.float64,
            )
        starts = multistart_points(
            space,
            start,
            _ranked(inputs),
            int(cfg.get("starts", 4)),
            seed=cfg.get("seed", 0),
            screen=screen,
        )
        ms = fit_multistart(
            loss,
            space,
            starts,
            key=key,
            options=FitOptions.from_config(cfg),
            label=label,
            checkpoint=checkpoint,
            checkpoint_every=cfg.get("checkpoint_every", 10),
        )
        info = {
            "BestStart": ms.best,
            "Starts": [
                {
                    "Start": s,
                    "Values": values_to_json(r.values),
                    "Loss": r.loss,
                    "StopReason": r.stop_reason,
                    "StoppedAtStep": r.extra["stopped_at"],
                    "Losses": [None if not np.isfinite(x) else float(x) for x in r.losses],
                    "Trajectory": r.trajectory,
                }
                for s, r in zip(ms.starts, ms.runs, strict=True)
            ],
        }
        return ms.result, info
    if method == "cmaes":
        from .cmaes import fit_cmaes

        res = fit_cmaes(
            loss,
            space,
            start,
            key=key,
            population=cfg.get("population"),
            generations=cfg["steps"],
            sigma=cfg.get("sigma", 0.5),
            tol=cfg["tol"],
            patience=cfg["patience"],
            log_every=cfg["log_every"],
            label=label,
            seed=cfg.get("seed", 0),
            checkpoint=checkpoint,
            checkpoint_every=cfg.get("checkpoint_every", 10),
        )
        return res, {
            "Population": res.extra["population"],
            "Evaluations": res.extra["evaluations"],
            "Sigma": res.extra["sigma"],
        }
    if method == "profile":
        from .profile import fit_profile

        pcfg = cfg.get("profile", {})
        res = fit_profile(
            loss,
            space,
            start,
            key=key,
            scan=pcfg.get("parameter"),
            others=pcfg.get("others", 7),
            coarse=pcfg.get("coarse", 48),
            fine=pcfg.get("fine", 41),
            batch_size=pcfg.get("batch_size", 64),
            label=label,
        )
        return res, {
            "ProfileParameter": res.extra["scan"],
            "Profile": res.extra["profile"],
            "Evaluations": res.extra["evaluations"],
        }
    raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}", key="method")

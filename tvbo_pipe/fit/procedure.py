"""The fitting stages' procedures on a built fit problem: exploration and fits.

A stage reads the subject's files into a :class:`~tvbo_pipe.fit.problem.FitProblem`
and calls one function here:

- :func:`explore_parameters`: the loss, FC correlation and FC RMSE at
  sampled points of the global parameters (after an optional screen);
- :func:`fit_parameters`: the values fitted by earlier stages put into the
  problem, the stage's free parameters, the configured method (one optax
  fit, multi-start or CMA-ES, each resumable through a checkpoint) and, for the
  global fit, the Laplace standard errors.

:func:`apply_values`, :func:`parameter_space` and :func:`parameter_json`
are the pieces the stages share (the last is the ``Values`` /
``AllValues`` / ``FreeParameters`` JSON every fitting stage writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..connectome import Connectome
from ..errors import InputError
from .explore import evaluate, sample_points
from .maps import build_space, parse_maps
from .methods import run_method
from .optimize import FitResult, fit
from .options import FitOptions
from .parameters import ParameterSpace, parse_free_parameters, values_to_json
from .problem import FitProblem
from .resume import Checkpoint
from .screening import make_screen
from .uncertainty import laplace


def apply_values(problem: FitProblem, values: Mapping[str, Any]) -> None:
    """Put values ``{"section.name": value}`` (earlier stages' fits) into the problem's
    state, in place, keeping each parameter's dtype."""
    state = dict(problem.state)
    for path, value in values.items():
        section, name = path.split(".", 1)
        dtype = state[section][name].dtype
        state[section] = {**state[section], name: jnp.asarray(value, dtype=dtype)}
    problem.state = state


def parameter_space(
    problem: FitProblem, spec, *, regional: bool, key: str, labels=None, region_maps=None
):
    """The free parameters ``spec`` (a stage's ``parameters`` config, named ``key`` in
    errors) over the problem's state; with region ``labels``, regional parameters
    may be tied to maps (:mod:`tvbo_pipe.fit.maps`): ``region_maps`` holds them as
    :func:`~tvbo_pipe.io.region_maps.resolve_region_maps` found them for the
    subject (default: the maps of ``spec`` as given, TSV paths or ``fc_gradient``)."""
    free = parse_free_parameters(spec, key=key, regional=regional)
    if labels is not None:
        maps_of = parse_maps(spec, key=key) if region_maps is None else region_maps
        return build_space(free, maps_of, problem.state, labels, np.asarray(problem.fc_emp))
    return ParameterSpace.build(free, problem.state, len(problem.fc_emp))


def parameter_json(problem: FitProblem, space, values, extra: Mapping, previous: Mapping) -> dict:
    """A fitting stage's JSON: model, coupling, the stage's ``Values``, ``AllValues``
    (``previous`` updated with them), ``FreeParameters`` and ``extra``."""
    own = values_to_json(space.expand(values))
    free = values_to_json(values)
    if free.keys() != own.keys():  # map-based: the free values differ from the state's
        extra = {"FreeValues": free, **extra}
    return {
        "Model": problem.experiment.model.name,
        "Coupling": problem.experiment.coupling.name,
        "Values": own,
        "AllValues": {**previous, **own},
        "FreeParameters": space.describe(),
        **extra,
    }


@dataclass(frozen=True, eq=False)
class Exploration:
    """What :func:`explore_parameters` returns.

    Attributes:
        space: The explored (global) parameters.
        points: ``{path: values}``, one value per point.
        metrics: ``(n_points, 3)``: loss, FC correlation, FC RMSE (NaN where screened out).
        codes: Screen result per point (0: kept; see :mod:`tvbo_pipe.fit.screening`).
        loss: The loss with non-finite values as ``inf``.
        best: Index of the lowest loss.
    """

    space: ParameterSpace
    points: dict[str, np.ndarray]
    metrics: np.ndarray
    codes: np.ndarray
    loss: np.ndarray
    best: int


def explore_parameters(
    problem: FitProblem, conn: Connectome, cfg: Mapping, *, enable_x64: bool, subject: str
) -> Exploration:
    """Evaluate the problem's loss at points of the global parameters ``cfg['parameters']``.

    ``cfg``: the ``explore`` config (``method``, ``n``, ``seed``, ``batch_size``,
    ``screen``). Call inside ``jax.enable_x64(enable_x64)``, as the problem was built.
    """
    screen_cfg = cfg.get("screen", {})
    space = parameter_space(problem, cfg["parameters"], regional=False, key="explore.parameters")
    points = sample_points(space.params, method=cfg["method"], n=cfg["n"], seed=cfg["seed"])
    n_points = len(next(iter(points.values())))
    codes = np.zeros(n_points, dtype=int)
    if screen_cfg.get("enabled", False):
        screen = make_screen(
            problem.experiment,
            conn,
            space,
            duration_ms=1000.0 * screen_cfg["duration_s"],
            edge=screen_cfg["edge"],
            enable_x64=enable_x64,
            batch_size=cfg["batch_size"],
        )
        codes = screen(points)
    metrics = np.full((n_points, 3), np.nan)
    kept = np.flatnonzero(codes == 0)
    if not kept.size:
        raise InputError(
            f"every one of the {n_points} explored points failed the screen "
            "(silent, saturated or diverging); widen the bounds or relax explore.screen",
            subject=subject,
            key="explore.screen",
        )
    metrics[kept] = evaluate(
        problem.metrics_fn(space),
        {p: v[kept] for p, v in points.items()},
        batch_size=cfg["batch_size"],
    )
    metrics = np.asarray(metrics, dtype=float)
    loss = np.where(np.isfinite(metrics[:, 0]), metrics[:, 0], np.inf)
    return Exploration(space, points, metrics, codes, loss, int(np.argmin(loss)))


@dataclass(frozen=True, eq=False)
class StageFit:
    """What :func:`fit_parameters` returns.

    Attributes:
        space: The stage's free parameters.
        start: Their starting values.
        start_loss: The loss at the start.
        result: The fit (best values, losses, trajectory, ...).
        method_info: The method's description for the stage JSON (multi-start, CMA-ES).
        uncertainty: Laplace standard errors (global fit with ``uncertainty.enabled``).
    """

    space: ParameterSpace
    start: dict
    start_loss: float
    result: FitResult
    method_info: dict
    uncertainty: dict | None


def gradient_fit(
    problem: FitProblem,
    space: ParameterSpace,
    start: Mapping,
    cfg: Mapping,
    *,
    checkpoint: Checkpoint | None,
    label: str,
) -> FitResult:
    """One optax fit with the stage settings ``cfg`` (noise fixed unless ``redraw_noise``)."""
    return fit(
        problem.loss_fn(space, fixed_noise=not cfg["redraw_noise"]),
        space,
        start,
        key=problem.key if not cfg["redraw_noise"] else jax.random.fold_in(problem.key, 7),
        checkpoint=checkpoint,
        checkpoint_every=cfg["checkpoint_every"],
        label=label,
        options=FitOptions.from_config(cfg),
    )


def fit_parameters(
    problem: FitProblem,
    conn: Connectome,
    cfg: Mapping,
    *,
    stage: str,
    previous: Mapping[str, Any],
    inputs: Mapping[str, Any],
    checkpoint: Checkpoint | None,
    label: str,
    subject: str,
    region_maps: Mapping[str, Any] | None = None,
) -> StageFit:
    """Fit the free parameters of stage ``stage`` (``fit_global``, ``fit_regional``).

    Args:
        problem: The subject's fit problem (its state is updated with ``previous``).
        conn: Its connectome (region labels for maps; the multi-start screen).
        cfg: The stage's config (``parameters``, ``method`` and its settings).
        previous: Values fitted by earlier stages.
        inputs: The stage's inputs (the multi-start reads the exploration's
            ranked points from ``start``).
        checkpoint: Where the fit keeps its state (every method resumes from it).
        label: Name used in log lines.
        subject: Subject label for errors.
        region_maps: The maps of the regional parameters found for this
            subject (:func:`~tvbo_pipe.io.region_maps.resolve_region_maps`).
    """
    regional = stage == "fit_regional"
    apply_values(problem, previous)
    space = parameter_space(
        problem,
        cfg["parameters"],
        regional=regional,
        key=f"{stage}.parameters",
        labels=conn.labels if regional else None,
        region_maps=region_maps,
    )
    if regional and cfg.get("uncertainty", {}).get("enabled", False):
        raise InputError(
            "the Laplace approximation is for global parameters only",
            subject=subject,
            key="fit_regional.uncertainty.enabled",
        )
    start = space.current(problem.state)
    start_loss = float(problem.loss_of_state(problem.state))
    method = cfg.get("method", "adam")
    method_info: dict = {}
    if method != "adam":
        result, method_info = run_method(
            method,
            problem,
            space,
            start,
            cfg,
            inputs,
            label=label,
            connectome=conn,
            checkpoint=checkpoint,
        )
    else:
        result = gradient_fit(problem, space, start, cfg, checkpoint=checkpoint, label=label)
    uncertainty = None
    if stage == "fit_global" and cfg.get("uncertainty", {}).get("enabled", False):
        uncertainty = laplace(
            problem, space, result.values, realisations=cfg["uncertainty"]["realisations"]
        ).to_json()
    return StageFit(space, start, start_loss, result, method_info, uncertainty)

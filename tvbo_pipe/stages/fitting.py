"""Fitting stages: explore -> fit_global -> fit_regional -> simulate_fitted.

Each stage builds the same :class:`~tvbo_pipe.fit.problem.FitProblem` from
the subject's connectome and empirical FC (a warmed-up simulation of the
configured experiment), applies the values fitted by the stages before it,
makes one call into the core (:func:`~tvbo_pipe.fit.procedure.explore_parameters`,
:func:`~tvbo_pipe.fit.procedure.fit_parameters`,
:func:`~tvbo_pipe.fit.goodness.evaluate_fitted`) and writes its results. Parameter values travel between stages as JSON
(``Values``: the stage's own values; ``AllValues``: everything fitted so far).

``params`` of every stage: ``experiment`` (the experiment as a mapping) and
``simulation`` (duration_s, bold_period_ms, transient_s, warmup,
enable_x64, realisations); of explore and the fits also ``observation`` (loss, weights) and
the stage's own section; of the fits ``work_dir`` (checkpoints); of
simulate_fitted ``fcd`` (the empirical FCD's window and step).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..errors import InputError
from ..experiment import Experiment
from ..export.derivative import fcd_window_keys, simulation_sidecar
from ..export.figures import exploration_heatmap
from ..fit.empirical import bold_period_ms
from ..fit.goodness import evaluate_fitted
from ..fit.maps import parse_maps
from ..fit.problem import build_problem, fit_experiment
from ..fit.procedure import apply_values, explore_parameters, fit_parameters, parameter_json
from ..fit.screening import NAMES, summary
from ..io.checkpoint import NpzCheckpoint
from ..io.connectome import load_connectome_outputs
from ..io.region_maps import resolve_region_maps
from ..io.relmat import (
    read_json,
    read_relmat,
    write_json,
    write_relmat,
    write_text_atomic,
    write_tsv_table,
)
from .inputs import as_list

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]

#: The exploration's best points kept in its JSON (starts of multi-start fits).
RANKED_POINTS = 16


# --------------------------------------------------------------------------- shared
def build_subject_problem(inputs: Paths, params: Mapping, *, subject: str):
    """The fit problem of one subject: experiment, connectome, empirical FC, warm-up."""
    conn = load_connectome_outputs(inputs["sc_weights"], inputs.get("sc_lengths"))
    fc_emp, fc_labels, fc_meta = read_relmat(inputs["empirical_fc"])
    if tuple(fc_labels or ()) != conn.labels:
        raise InputError(
            "empirical FC and SC regions differ", path=inputs["empirical_fc"], subject=subject
        )
    sim = params["simulation"]
    experiment = fit_experiment(
        Experiment.from_dict(params["experiment"]),
        duration_ms=None if sim["duration_s"] is None else 1000.0 * sim["duration_s"],
        bold_period_ms=bold_period_ms(sim["bold_period_ms"], fc_meta, subject=subject),
    )
    obs_cfg = params.get("observation", {})
    fcd_kw = {}
    if float((obs_cfg.get("weights") or {}).get("fcd", 0.0)) > 0:
        if not inputs.get("empirical_fcd") or "fcd" not in params:
            raise InputError(
                "observation.weights.fcd > 0 needs the empirical FCD "
                "(set empirical_fc.fcd.enabled: true)",
                subject=subject,
                key="observation.weights.fcd",
            )
        fcd_emp, _, _ = read_relmat(inputs["empirical_fcd"])
        fcd_kw = {
            "fcd_emp": fcd_emp,
            "fcd_window_ms": 1000.0 * params["fcd"]["window_s"],
            "fcd_step_ms": 1000.0 * params["fcd"]["step_s"],
        }
    problem = build_problem(
        experiment,
        conn,
        fc_emp,
        transient_ms=1000.0 * sim["transient_s"],
        # simulate_fitted has no loss to evaluate: its params have no observation
        loss=obs_cfg.get("loss", "combined"),
        loss_weights=obs_cfg.get("weights"),
        warmup=sim["warmup"],
        enable_x64=sim["enable_x64"],
        realisations=sim.get("realisations", 1),
        **fcd_kw,
    )
    return problem, conn


def previous_values(inputs: Paths) -> dict[str, Any]:
    """Values fitted by earlier stages (``AllValues`` of the ``start`` JSON)."""
    start = inputs.get("start")
    if not start:
        return {}
    return dict(read_json(start).get("AllValues", {}))


# --------------------------------------------------------------------------- explore
def explore(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Exploration stage: the loss on a grid (or samples) of global parameters.

    Writes ``explore_table`` (TSV: parameters, loss, FC correlation, FC RMSE
    per point), ``explore_best`` (JSON with the best point) and
    ``explore_heatmap`` (PNG). What is computed is
    :func:`~tvbo_pipe.fit.procedure.explore_parameters`.
    """
    t0 = time.perf_counter()
    cfg = params["explore"]
    precision = cfg.get("precision", "float32")
    x64 = precision == "float64"
    sim = {**params["simulation"], "enable_x64": x64}
    screened = cfg.get("screen", {}).get("enabled", False)
    with jax.enable_x64(x64):
        problem, conn = build_subject_problem(
            inputs, {**params, "simulation": sim}, subject=subject
        )
        ex = explore_parameters(problem, conn, cfg, enable_x64=x64, subject=subject)
    points, metrics, loss, best = ex.points, ex.metrics, ex.loss, ex.best
    paths = list(points)
    rows = [[*(points[p][k] for p in paths), *metrics[k]] for k in range(len(loss))]
    header = [*paths, "loss", "fc_corr", "fc_rmse"]
    if screened:
        header.append("screen")
        rows = [[*r, NAMES[int(c)]] for r, c in zip(rows, ex.codes, strict=True)]
    write_tsv_table(outputs["explore_table"], header, rows)
    best_values = {p: float(points[p][best]) for p in paths}
    ranked = [
        {**{p: float(points[p][k]) for p in paths}, "loss": float(loss[k])}
        for k in np.argsort(loss)[:RANKED_POINTS]
        if np.isfinite(loss[k])
    ]
    seconds = time.perf_counter() - t0
    result = parameter_json(
        problem,
        ex.space,
        best_values,
        {
            "Stage": "explore",
            "Loss": float(loss[best]),
            "FCCorrelation": float(metrics[best, 1]),
            "Method": cfg["method"],
            "Precision": precision,
            "Points": len(loss),
            "RankedPoints": ranked,
            **({"Screen": summary(ex.codes)} if screened else {}),
            "Seconds": round(seconds, 3),
        },
        {},
    )
    write_json(outputs["explore_best"], result)
    if "explore_heatmap" in outputs:
        exploration_heatmap(
            outputs["explore_heatmap"], points, metrics[:, 0], title=f"{subject}: loss"
        )
    log.info(
        "subject %s: explored %d points in %.1f s; best %s loss %.4g FC r %.3f",
        subject,
        len(loss),
        seconds,
        best_values,
        loss[best],
        metrics[best, 1],
    )
    return result


# --------------------------------------------------------------------------- fits
def _fit_stage(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str, stage: str) -> dict:
    t0 = time.perf_counter()
    cfg = params[stage]
    problem, conn = build_subject_problem(inputs, params, subject=subject)
    previous = previous_values(inputs)
    ckpt = NpzCheckpoint(Path(params["work_dir"]) / f"{subject}_{stage}.ckpt.npz")
    method = cfg.get("method", "adam")
    key = f"{stage}.parameters"
    maps = None
    if stage == "fit_regional":  # maps given as pybids filters are found per subject
        given = inputs.get("region_maps")  # the workflow found them when planning
        maps = resolve_region_maps(
            parse_maps(cfg["parameters"], key=key),
            bids_dir=params.get("bids_dir"),
            subject=subject,
            key=key,
            files=None if given is None else as_list(given),
        )
    sf = fit_parameters(
        problem,
        conn,
        cfg,
        stage=stage,
        previous=previous,
        inputs=inputs,
        checkpoint=ckpt,
        label=f"{subject} {stage}",
        subject=subject,
        region_maps=maps,
    )
    result, space = sf.result, sf.space
    _write_trajectory(outputs["trajectory"], space, result)
    seconds = time.perf_counter() - t0
    extra = {
        "Stage": stage,
        "Method": method,
        "Loss": result.loss,
        "StartLoss": sf.start_loss,
        "StartValues": {k: np.asarray(v).tolist() for k, v in space.expand(sf.start).items()},
        "Steps": result.steps,
        "StopReason": result.stop_reason,
        "RejectedSteps": result.rejected,
        "Optimizer": method if method in ("cmaes", "profile") else cfg["optimizer"],
        "LearningRate": cfg["learning_rate"],
        "GradientMode": result.extra["grad_mode"],
        "Seconds": round(seconds, 3),
        **sf.method_info,
    }
    if sf.uncertainty is not None:
        extra["Uncertainty"] = sf.uncertainty
    elif "Uncertainty" in _start_json(inputs):  # carried to the final stage's gof
        extra["Uncertainty"] = _start_json(inputs)["Uncertainty"]
    out = parameter_json(problem, space, result.values, extra, previous)
    write_json(outputs["params"], out)
    log.info(
        "subject %s: %s (%s) loss %.4g -> %.4g in %d steps (%s), %.1f s",
        subject,
        stage,
        method,
        sf.start_loss,
        result.loss,
        result.steps,
        result.stop_reason,
        seconds,
    )
    return out


def _start_json(inputs: Paths) -> dict:
    return read_json(inputs["start"]) if inputs.get("start") else {}


def _write_trajectory(path, space, result) -> None:
    header = ["step", "loss", "accepted"]
    columns: list[tuple[str, int | None]] = []
    for p in space.params:
        if p.regional:
            columns += [(p.path, k) for k in range(space.n_regions)]
        else:
            columns.append((p.path, None))
    header += [path if k is None else f"{path}[{k}]" for path, k in columns]
    rows = []
    for k, (loss, ok, vals) in enumerate(
        zip(result.losses, result.accepted, result.trajectory, strict=True)
    ):
        cells = [vals[path] if i is None else vals[path][i] for path, i in columns]
        rows.append([k, loss, bool(ok), *cells])
    write_tsv_table(path, header, rows)


def fit_global(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Fit global parameters with optax from the best exploration point (``start``)."""
    return _fit_stage(inputs, outputs, params, subject=subject, stage="fit_global")


def fit_regional(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Fit regional parameters, initialised by broadcasting the global fit (``start``)."""
    return _fit_stage(inputs, outputs, params, subject=subject, stage="fit_regional")


# --------------------------------------------------------------------------- final simulation
def simulate_fitted(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Final simulation with the fitted values: BOLD, FC, FCD, goodness of fit.

    Writes the simulated BOLD time series (TSV + JSON), simulated FC and FCD
    relmats, the goodness of fit (JSON, also at the starting values for
    comparison; with ``FreshSeeds``: the fitted model over
    ``simulate_fitted.fresh_seeds`` fresh noise seeds, and ``Baseline``: the
    SC-FC correlation), and the experiment with the fitted values (YAML).
    What is computed is :func:`~tvbo_pipe.fit.goodness.evaluate_fitted`.
    """
    t0 = time.perf_counter()
    problem, conn = build_subject_problem(inputs, params, subject=subject)
    start_state = problem.state
    fitted = previous_values(inputs)
    apply_values(problem, fitted)
    fcd_cfg = params["fcd"]
    fcd_emp = None
    if fcd_cfg["enabled"] and inputs.get("empirical_fcd"):
        fcd_emp, _, _ = read_relmat(inputs["empirical_fcd"])
    fc_held = retest = None
    if inputs.get("empirical_fc_heldout"):
        fc_held, _, held_meta = read_relmat(inputs["empirical_fc_heldout"])
        retest = held_meta.get("TestRetestFCCorrelation")
    ev = evaluate_fitted(
        problem,
        conn,
        start_state,
        fcd=fcd_cfg,
        fcd_emp=fcd_emp,
        fc_heldout=fc_held,
        heldout_retest=retest,
        n_fresh_seeds=int(params.get("simulate_fitted", {}).get("fresh_seeds", 5)),
        enable_x64=params["simulation"]["enable_x64"],
    )
    labels = conn.labels

    def bep034(name, *sources):  # BEP034 keys: model, parameters, SC, code, Sources
        return simulation_sidecar(
            outputs[name],
            name={"bold": "sim_bold", "fc": "sim_fc", "fcd": "sim_fcd"}[name],
            prefix=subject,
            model=problem.experiment.model.name,
            connectivity=[inputs["sc_weights"], inputs.get("sc_lengths")],
            extra_sources=sources,
        )

    write_tsv_table(outputs["bold"], labels, ev.series.tolist())
    write_json(
        outputs["bold_json"],
        {
            "Description": f"Simulated BOLD ({problem.experiment.model.name}, fitted parameters), "
            f"monitored variable {ev.variable}",
            "RepetitionTime": ev.period_s,
            "SamplingFrequency": 1.0 / ev.period_s,
            "StartTime": ev.start_time_s,
            "TransientDiscardedForFC": ev.transient,
            "Units": "arbitrary",
            "NodeLabels": list(labels),
            **bep034("bold", outputs["experiment"]),
        },
    )
    write_relmat(
        outputs["fc"],
        ev.fc,
        labels,
        {
            "Description": "Simulated FC (Pearson correlation of simulated BOLD after the transient)",
            **bep034("fc", outputs["bold"]),
        },
    )
    if "fcd" in outputs and ev.fcd is not None:
        write_relmat(
            outputs["fcd"],
            ev.fcd.matrix,
            None,  # rows and columns are time windows
            {
                "Description": "Simulated FCD (as the empirical FCD, of the simulated BOLD "
                "after the transient); WindowOnsets in s from the first BOLD sample",
                **fcd_window_keys(ev.fcd.onsets_s, ev.fcd.window_s, ev.fcd.step_s),
                **bep034("fcd", outputs["bold"]),
            },
        )
    elif "fcd" in outputs:
        raise InputError(
            f"the simulated BOLD is shorter than one FCD window ({fcd_cfg['window_s']} s)",
            subject=subject,
            key="empirical_fc.fcd.window_s",
        )
    seconds = time.perf_counter() - t0
    gof, gof_start = ev.fitted, ev.start
    result = {
        "Fitted": gof,
        "Start": gof_start,
        "Values": fitted,
        "Seconds": round(seconds, 3),
        "Improvement": {"FCCorrelation": gof["FCCorrelation"] - gof_start["FCCorrelation"]},
    }
    if ev.mean_fc is not None:
        result["MeanFCOfRealisations"] = ev.mean_fc
    if ev.heldout is not None:
        result["HeldOut"] = ev.heldout
    result.update(ev.robustness)
    uncertainty = _start_json(inputs).get("Uncertainty")
    if uncertainty is not None:  # of the global fit (Laplace approximation)
        result["GlobalStandardErrors"] = uncertainty["StandardErrors"]
        result["GlobalUncertainty"] = uncertainty
    write_json(outputs["gof"], result)
    fitted_exp = _fitted_experiment(problem.experiment, fitted, outputs["experiment"], inputs)
    write_text_atomic(outputs["experiment"], fitted_exp.dumps())
    log.info(
        "subject %s: FC r %.3f (start %.3f), RMSE %.3f; %.1f s",
        subject,
        gof["FCCorrelation"],
        gof_start["FCCorrelation"],
        gof["FCRMSE"],
        seconds,
    )
    return result


def _fitted_experiment(experiment, fitted: Mapping, out_path, inputs: Paths):
    """The fit experiment with fitted values and the subject's SC paths (relative to the YAML)."""
    model = {k.split(".", 1)[1]: v for k, v in fitted.items() if k.startswith("model.")}
    coupling = {k.split(".", 1)[1]: v for k, v in fitted.items() if k.startswith("coupling.")}
    exp = experiment.with_parameters(model=model, coupling=coupling)
    here = Path(out_path).resolve().parent

    def rel(p):
        return os.path.relpath(Path(p).resolve(), here) if p else None

    conn = replace(
        exp.connectivity,
        weights=rel(inputs["sc_weights"]),
        lengths=rel(inputs.get("sc_lengths")),
        normative=None,
    )
    if "network.speed" in fitted:
        conn = replace(conn, conduction_speed=float(np.asarray(fitted["network.speed"])))
    return replace(exp, connectivity=conn)

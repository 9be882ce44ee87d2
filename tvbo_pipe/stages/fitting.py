"""Fitting stages: explore -> fit_global -> fit_regional -> simulate_fitted.

Each stage builds the same :class:`~tvbo_pipe.fit.problem.FitProblem` from
the subject's connectome and empirical FC (a warmed-up simulation of the
configured experiment), applies the values fitted by the stages before it,
and writes its results. Parameter values travel between stages as JSON
(``Values``: the stage's own values; ``AllValues``: everything fitted so far).

``params`` of every stage: ``experiment`` (the experiment as a mapping) and
``simulation`` (duration_s, bold_period_ms, transient_s, warmup,
enable_x64, realisations); of explore and the fits also ``observation`` (loss, weights) and
the stage's own section; of the fits ``work_dir`` (checkpoints); of
simulate_fitted ``fcd`` (the empirical FCD's window and step).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..connectome import Connectome
from ..errors import InputError

log = logging.getLogger(__name__)

Paths = Mapping[str, Any]

#: The exploration's best points kept in its JSON (starts of multi-start fits).
RANKED_POINTS = 16


# --------------------------------------------------------------------------- shared
def _read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def load_connectome_outputs(weights_path, lengths_path) -> Connectome:
    """The connectome stage's relmats as a :class:`Connectome` (zero lengths: no delays)."""
    from ..io.relmat import read_relmat

    w, labels, _ = read_relmat(weights_path)
    lengths, _, _ = read_relmat(lengths_path) if lengths_path else (None, None, None)
    if lengths is not None and not lengths.any():
        lengths = None
    return Connectome(w, lengths, tuple(labels), source=str(weights_path)).validate()


def repetition_time(fc_sidecar: Mapping, *, subject: str) -> float | None:
    """The TR (s) recorded by the empirical FC stage, if any."""
    trs = {r.get("RepetitionTime") for r in fc_sidecar.get("Runs", []) if r.get("RepetitionTime")}
    if len(trs) > 1:
        log.warning("subject %s: runs with different TRs %s; using the first", subject, sorted(trs))
    return sorted(trs)[0] if trs else None


def build_subject_problem(inputs: Paths, params: Mapping, *, subject: str):
    """The fit problem of one subject: experiment, connectome, empirical FC, warm-up."""
    from ..experiment import Experiment
    from ..fit.problem import build_problem, fit_experiment
    from ..io.relmat import read_relmat

    conn = load_connectome_outputs(inputs["sc_weights"], inputs.get("sc_lengths"))
    fc_emp, fc_labels, fc_meta = read_relmat(inputs["empirical_fc"])
    if tuple(fc_labels or ()) != conn.labels:
        raise InputError(
            "empirical FC and SC regions differ", path=inputs["empirical_fc"], subject=subject
        )
    sim = params["simulation"]
    period = sim["bold_period_ms"]
    if period in (None, "auto"):
        tr = repetition_time(fc_meta, subject=subject)
        period = 1000.0 * tr if tr else None
    experiment = fit_experiment(
        Experiment.from_dict(params["experiment"]),
        duration_ms=None if sim["duration_s"] is None else 1000.0 * sim["duration_s"],
        bold_period_ms=period,
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
    return dict(_read_json(start).get("AllValues", {}))


def _apply_known(problem, values: Mapping[str, Any]) -> None:
    """Put earlier stages' values into the problem's state (in place)."""
    import jax.numpy as jnp

    state = dict(problem.state)
    for path, value in values.items():
        section, name = path.split(".", 1)
        dtype = state[section][name].dtype
        state[section] = {**state[section], name: jnp.asarray(value, dtype=dtype)}
    problem.state = state


def _space(problem, spec, *, regional: bool, key: str, labels=None, subject="", bids_dir=None):
    from ..fit.parameters import ParameterSpace, parse_free_parameters

    free = parse_free_parameters(spec, key=key, regional=regional)
    if labels is not None:  # regional parameters may be tied to maps (found per subject)
        from ..fit.maps import build_space, parse_maps
        from ..io.region_maps import resolve_region_maps

        maps_of = resolve_region_maps(
            parse_maps(spec, key=key), bids_dir=bids_dir, subject=subject, key=key
        )
        return build_space(free, maps_of, problem.state, labels, np.asarray(problem.fc_emp))
    return ParameterSpace.build(free, problem.state, len(problem.fc_emp))


def _param_json(problem, space, values, extra: Mapping, previous: Mapping) -> dict:
    from ..fit.parameters import values_to_json

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


# --------------------------------------------------------------------------- explore
def explore(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Exploration stage: the loss on a grid (or samples) of global parameters.

    Writes ``explore_table`` (TSV: parameters, loss, FC correlation, FC RMSE
    per point), ``explore_best`` (JSON with the best point) and
    ``explore_heatmap`` (PNG).
    """
    import jax

    from ..fit.explore import evaluate, sample_points
    from ..io.relmat import write_json, write_tsv_table

    t0 = time.perf_counter()
    cfg = params["explore"]
    precision = cfg.get("precision", "float32")
    x64 = precision == "float64"
    sim = {**params["simulation"], "enable_x64": x64}
    screen_cfg = cfg.get("screen", {})
    with jax.enable_x64(x64):
        problem, conn = build_subject_problem(
            inputs, {**params, "simulation": sim}, subject=subject
        )
        space = _space(problem, cfg["parameters"], regional=False, key="explore.parameters")
        points = sample_points(space.params, method=cfg["method"], n=cfg["n"], seed=cfg["seed"])
        n_points = len(next(iter(points.values())))
        codes = np.zeros(n_points, dtype=int)
        if screen_cfg.get("enabled", False):
            from ..fit.screening import make_screen

            screen = make_screen(
                problem.experiment,
                conn,
                space,
                duration_ms=1000.0 * screen_cfg["duration_s"],
                edge=screen_cfg["edge"],
                enable_x64=x64,
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
    best = int(np.argmin(loss))
    paths = list(points)
    from ..fit.screening import NAMES, summary

    rows = [[*(points[p][k] for p in paths), *metrics[k]] for k in range(len(loss))]
    header = [*paths, "loss", "fc_corr", "fc_rmse"]
    if screen_cfg.get("enabled", False):
        header.append("screen")
        rows = [[*r, NAMES[int(c)]] for r, c in zip(rows, codes, strict=True)]
    write_tsv_table(outputs["explore_table"], header, rows)
    best_values = {p: float(points[p][best]) for p in paths}
    ranked = [
        {**{p: float(points[p][k]) for p in paths}, "loss": float(loss[k])}
        for k in np.argsort(loss)[:RANKED_POINTS]
        if np.isfinite(loss[k])
    ]
    seconds = time.perf_counter() - t0
    result = _param_json(
        problem,
        space,
        best_values,
        {
            "Stage": "explore",
            "Loss": float(loss[best]),
            "FCCorrelation": float(metrics[best, 1]),
            "Method": cfg["method"],
            "Precision": precision,
            "Points": len(loss),
            "RankedPoints": ranked,
            **({"Screen": summary(codes)} if screen_cfg.get("enabled", False) else {}),
            "Seconds": round(seconds, 3),
        },
        {},
    )
    write_json(outputs["explore_best"], result)
    if "explore_heatmap" in outputs:
        from ..export.figures import exploration_heatmap

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
    from ..io.relmat import write_json

    t0 = time.perf_counter()
    cfg = params[stage]
    regional = stage == "fit_regional"
    problem, conn = build_subject_problem(inputs, params, subject=subject)
    previous = previous_values(inputs)
    _apply_known(problem, previous)
    space = _space(
        problem,
        cfg["parameters"],
        regional=regional,
        key=f"{stage}.parameters",
        labels=conn.labels if regional else None,
        subject=subject,
        bids_dir=params.get("bids_dir"),
    )
    if regional and cfg.get("uncertainty", {}).get("enabled", False):
        raise InputError(
            "the Laplace approximation is for global parameters only",
            subject=subject,
            key="fit_regional.uncertainty.enabled",
        )
    start = space.current(problem.state)
    start_loss = float(problem.loss_of_state(problem.state))
    ckpt = Path(params["work_dir"]) / f"{subject}_{stage}.ckpt.npz"
    method = cfg.get("method", "adam")
    method_info: dict = {}
    if method != "adam":
        from ..fit.methods import run_method

        result, method_info = run_method(
            method, problem, space, start, cfg, inputs, label=f"{subject} {stage}", connectome=conn
        )
    else:
        result = _adam_fit(problem, space, start, cfg, ckpt, label=f"{subject} {stage}")
    _write_trajectory(outputs["trajectory"], space, result)
    uncertainty = None
    if stage == "fit_global" and cfg.get("uncertainty", {}).get("enabled", False):
        from ..fit.uncertainty import laplace

        uncertainty = laplace(
            problem, space, result.values, realisations=cfg["uncertainty"]["realisations"]
        ).to_json()
    seconds = time.perf_counter() - t0
    extra = {
        "Stage": stage,
        "Method": method,
        "Loss": result.loss,
        "StartLoss": start_loss,
        "StartValues": {k: np.asarray(v).tolist() for k, v in space.expand(start).items()},
        "Steps": result.steps,
        "StopReason": result.stop_reason,
        "RejectedSteps": result.rejected,
        "Optimizer": cfg["optimizer"] if method != "cmaes" else "cmaes",
        "LearningRate": cfg["learning_rate"],
        "GradientMode": result.extra["grad_mode"],
        "Seconds": round(seconds, 3),
        **method_info,
    }
    if uncertainty is not None:
        extra["Uncertainty"] = uncertainty
    elif "Uncertainty" in _start_json(inputs):  # carried to the final stage's gof
        extra["Uncertainty"] = _start_json(inputs)["Uncertainty"]
    out = _param_json(problem, space, result.values, extra, previous)
    write_json(outputs["params"], out)
    log.info(
        "subject %s: %s (%s) loss %.4g -> %.4g in %d steps (%s), %.1f s",
        subject,
        stage,
        method,
        start_loss,
        result.loss,
        result.steps,
        result.stop_reason,
        seconds,
    )
    return out


def _start_json(inputs: Paths) -> dict:
    return _read_json(inputs["start"]) if inputs.get("start") else {}


def _adam_fit(problem, space, start, cfg: Mapping, ckpt: Path, *, label: str):
    import jax

    from ..fit.methods import optimizer_options
    from ..fit.optimize import fit

    return fit(
        problem.loss_fn(space, fixed_noise=not cfg["redraw_noise"]),
        space,
        start,
        key=problem.key if not cfg["redraw_noise"] else jax.random.fold_in(problem.key, 7),
        checkpoint=ckpt,
        checkpoint_every=cfg["checkpoint_every"],
        label=label,
        **optimizer_options(cfg),
    )


def _write_trajectory(path, space, result) -> None:
    from ..io.relmat import write_tsv_table

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
def goodness_of_fit(fc_sim, fc_emp, fcd_sim=None, fcd_emp=None) -> dict:
    """FC correlation, FC RMSE (upper triangles); FCD KS and energy distances."""
    from ..fit import losses
    from ..fit import observations as obs

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


def simulate_fitted(inputs: Paths, outputs: Paths, params: Mapping, *, subject: str) -> dict:
    """Final simulation with the fitted values: BOLD, FC, FCD, goodness of fit.

    Writes the simulated BOLD time series (TSV + JSON), simulated FC and FCD
    relmats, the goodness of fit (JSON, also at the starting values for
    comparison; with ``FreshSeeds``: the fitted model over
    ``simulate_fitted.fresh_seeds`` fresh noise seeds, and ``Baseline``: the
    SC-FC correlation), and the experiment with the fitted values (YAML).
    """
    import jax

    from ..fit import observations as obs
    from ..io.relmat import (
        read_relmat,
        write_json,
        write_relmat,
        write_text_atomic,
        write_tsv_table,
    )

    t0 = time.perf_counter()
    problem, conn = build_subject_problem(inputs, params, subject=subject)
    start_state = problem.state
    fitted = previous_values(inputs)
    _apply_known(problem, fitted)
    with jax.enable_x64(params["simulation"]["enable_x64"]):
        bold = problem.bold(problem.state)
        series = np.asarray(bold.data[:, 0], dtype=float)
        fc_sim = np.asarray(obs.fc(series[problem.transient :]))
        # the stored BOLD and FC are one realisation (the first); so is the start
        start_bold = problem.bold(start_state).data[problem.transient :, 0]
        fc_start = np.asarray(obs.fc(start_bold))
        fc_emp = np.asarray(problem.fc_emp)
        fcd_sim = fcd_emp = None
        fcd_cfg = params["fcd"]
        period_s = bold.period / 1000.0
        if fcd_cfg["enabled"]:
            window = round(fcd_cfg["window_s"] / period_s)
            step = max(1, round(fcd_cfg["step_s"] / period_s))
            kept = series[problem.transient :]
            if window <= kept.shape[0]:
                fcd_sim = np.asarray(obs.fcd(kept, window, step))
            if inputs.get("empirical_fcd"):
                fcd_emp, _, _ = read_relmat(inputs["empirical_fcd"])
        gof = goodness_of_fit(fc_sim, fc_emp, fcd_sim, fcd_emp)
        gof_start = goodness_of_fit(fc_start, fc_emp)
        mean_fc = None
        if problem.realisations > 1:  # what the fits compared with the empirical FC
            mean_fc = {
                "Realisations": problem.realisations,
                "Fitted": goodness_of_fit(problem.simulated_fc(problem.state), fc_emp),
                "Start": goodness_of_fit(problem.simulated_fc(start_state), fc_emp),
            }
        heldout = None
        if inputs.get("empirical_fc_heldout"):
            fc_held, _, held_meta = read_relmat(inputs["empirical_fc_heldout"])
            heldout = {
                **goodness_of_fit(fc_sim, fc_held),
                "TestRetestFCCorrelation": held_meta.get("TestRetestFCCorrelation"),
            }
        # robustness: fresh noise seeds, and the SC alone as the baseline
        robust = _robustness(problem, conn, params)
    labels = conn.labels
    from ..export.derivative import simulation_sidecar

    def bep034(name, *sources):  # BEP034 keys: model, parameters, SC, code, Sources
        return simulation_sidecar(
            outputs[name],
            name={"bold": "sim_bold", "fc": "sim_fc", "fcd": "sim_fcd"}[name],
            prefix=subject,
            model=problem.experiment.model.name,
            connectivity=[inputs["sc_weights"], inputs.get("sc_lengths")],
            extra_sources=sources,
        )

    write_tsv_table(outputs["bold"], labels, series.tolist())
    write_json(
        outputs["bold_json"],
        {
            "Description": f"Simulated BOLD ({problem.experiment.model.name}, fitted parameters), "
            f"monitored variable {bold.variables[0]}",
            "RepetitionTime": period_s,
            "SamplingFrequency": 1.0 / period_s,
            "StartTime": float(bold.time[0]) / 1000.0,
            "TransientDiscardedForFC": problem.transient,
            "Units": "arbitrary",
            "NodeLabels": list(labels),
            **bep034("bold", outputs["experiment"]),
        },
    )
    write_relmat(
        outputs["fc"],
        fc_sim,
        labels,
        {
            "Description": "Simulated FC (Pearson correlation of simulated BOLD after the transient)",
            **bep034("fc", outputs["bold"]),
        },
    )
    if "fcd" in outputs and fcd_sim is not None:
        from ..export.derivative import fcd_window_keys

        starts = obs.sliding_windows(series.shape[0] - problem.transient, window, step)
        write_relmat(
            outputs["fcd"],
            fcd_sim,
            None,  # rows and columns are time windows
            {
                "Description": "Simulated FCD (as the empirical FCD, of the simulated BOLD "
                "after the transient); WindowOnsets in s from the first BOLD sample",
                **fcd_window_keys(
                    [(problem.transient + k) * period_s for k in starts],
                    window * period_s,
                    step * period_s,
                ),
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
    result = {
        "Fitted": gof,
        "Start": gof_start,
        "Values": fitted,
        "Seconds": round(seconds, 3),
        "Improvement": {"FCCorrelation": gof["FCCorrelation"] - gof_start["FCCorrelation"]},
    }
    if mean_fc is not None:
        result["MeanFCOfRealisations"] = mean_fc
    if heldout is not None:
        result["HeldOut"] = heldout
    result.update(robust)
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


def _robustness(problem, conn: Connectome, params: Mapping) -> dict:
    """``FreshSeeds`` (the fitted model over ``simulate_fitted.fresh_seeds``
    fresh noise seeds) and ``Baseline`` (SC-FC correlation) of the gof JSON."""
    from ..fit.robustness import fresh_seed_fc, fresh_seeds, sc_fc_correlation

    k = int(params.get("simulate_fitted", {}).get("fresh_seeds", 5))
    seeds = fresh_seeds(problem.experiment.integration.seed, k)
    fresh = fresh_seed_fc(problem, problem.state, seeds)
    baseline = sc_fc_correlation(np.asarray(conn.weights), np.asarray(problem.fc_emp))
    return {"FreshSeeds": fresh, "Baseline": {"SCFCCorrelation": baseline}}


def _fitted_experiment(experiment, fitted: Mapping, out_path, inputs: Paths):
    """The fit experiment with fitted values and the subject's SC paths (relative to the YAML)."""
    import os
    from dataclasses import replace

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

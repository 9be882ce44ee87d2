"""The demo's global stage improves every subject's loss by more than noise does (slow).

Runs the stage functions (connectome, empirical FC, explore, fit_global) with
``config/config.yaml`` on the embedded demo dataset, then measures the
noise-seed spread: the standard deviation of the stage's own loss at its
start values over :data:`SEEDS` fresh noise seeds (the same number of
realisations per evaluation as the fit). Every subject's fit starts at the
grid's best point, never ends worse and gets standard errors; that it lowers
the loss by more than the spread for every subject is the issue's criterion,
not met (strict xfail, numbers in its reason): for sub-01 and sub-03 the
fit's objective has no point lower than the grid's best by more than the
spread (``benchmarks/bench_global_ridge.py`` measures that room). The numbers
are printed (``pytest -s``) and written to ``demo_global_fit.json`` in the
test's folder. About 4 minutes on 2 otherwise idle cores (12 on busy ones:
728 s at load 10 on 2026-12-03).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from conftest import REPO

from tvbo_pipe import pipeline, stages
from tvbo_pipe.config import validate_config
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export.layout import subject_path
from tvbo_pipe.io.bids import discover

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

SUBJECTS = ("sub-01", "sub-02", "sub-03", "sub-04", "sub-05")
#: Fresh noise seeds of the spread.
SEEDS = 8


def _fit_params(cfg: dict, stage: str, work: str) -> dict:
    """What the workflow hands the stage (:func:`tvbo_pipe.pipeline.params`)."""
    context = {"experiment": Experiment.load(cfg["experiment"]).to_dict()}
    return {**pipeline.params(stage, cfg, context), "work_dir": work}


def _seed_spread(inputs: dict, params: dict, subject: str, start: dict) -> np.ndarray:
    """The stage's loss at ``start`` for :data:`SEEDS` fresh noise seeds."""
    from tvbo_pipe.fit.procedure import parameter_space
    from tvbo_pipe.stages.fitting import build_subject_problem

    problem, _ = build_subject_problem(inputs, params, subject=subject)
    cfg = params["fit_global"]
    space = parameter_space(problem, cfg["parameters"], regional=False, key="fit_global.parameters")
    loss = problem.loss_fn(space, fixed_noise=False)
    values = {p: jnp.asarray(start[p]) for p in space.paths}
    keys = jnp.stack([jax.random.fold_in(problem.key, 50_000 + s) for s in range(SEEDS)])
    return np.asarray(jax.jit(jax.vmap(lambda k: loss(values, k)))(keys))


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo_global")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(
        bids_dir=str(REPO / "resources" / "demo"),
        experiment=str(REPO / "config" / "experiment.yaml"),
        output_dir=str(tmp / "deriv"),
        work_dir=str(tmp / "work"),
    )
    cfg = validate_config(config)
    out = {}
    for unit in discover(cfg):
        sub = unit.prefix
        files = {
            n: str(
                subject_path(n, cfg["output_dir"], prefix=sub, atlas=cfg["atlas"], task=unit.task)
            )
            for n in ("sc_weights", "sc_lengths", "empirical_fc", "empirical_fcd")
        }
        stages.connectome(
            {"weights": unit.sc_weights, "lengths": unit.sc_lengths},
            files,
            _fit_params(cfg, "connectome", ""),
            subject=sub,
        )
        stages.empirical_fc(
            {"functional": list(unit.functional), "sc_weights": files["sc_weights"]},
            files,
            _fit_params(cfg, "empirical_fc", ""),
            subject=sub,
        )
        inputs = {k: files[k] for k in ("sc_weights", "sc_lengths", "empirical_fc")}
        if float(cfg["observation"]["weights"].get("fcd", 0.0)) > 0:
            inputs["empirical_fcd"] = files["empirical_fcd"]
        ex = stages.resolve("explore")(
            inputs,
            {"explore_table": tmp / f"{sub}_explore.tsv", "explore_best": tmp / f"{sub}_ex.json"},
            _fit_params(cfg, "explore", str(tmp / "work")),
            subject=sub,
        )
        params = _fit_params(cfg, "fit_global", str(tmp / "work"))
        fit_in = {**inputs, "start": str(tmp / f"{sub}_ex.json")}
        glob = stages.resolve("fit_global")(
            fit_in,
            {"params": tmp / f"{sub}_global.json", "trajectory": tmp / f"{sub}_global.tsv"},
            params,
            subject=sub,
        )
        seeds = _seed_spread(fit_in, params, sub, glob["StartValues"])
        out[sub] = {
            "ExploreLoss": ex["Loss"],
            "StartLoss": glob["StartLoss"],
            "Loss": glob["Loss"],
            "Values": glob["Values"],
            "StartValues": glob["StartValues"],
            "SeedLosses": seeds.tolist(),
            "SeedSpread": float(np.std(seeds, ddof=1)),
            "StandardErrors": glob.get("Uncertainty", {}).get("StandardErrors"),
            "Approximation": glob.get("Uncertainty", {}).get("Approximation"),
        }
    (tmp / "demo_global_fit.json").write_text(json.dumps(out, indent=2))
    for sub, r in out.items():
        print(
            f"{sub}: global loss {r['StartLoss']:.4f} -> {r['Loss']:.4f} "
            f"(improvement {r['StartLoss'] - r['Loss']:.4f}; seed spread {r['SeedSpread']:.4f}, "
            f"start over seeds {np.mean(r['SeedLosses']):.4f}); SEs {r['StandardErrors']} "
            f"({r['Approximation']})"
        )
    return out


@pytest.mark.parametrize("sub", SUBJECTS)
def test_global_stage_starts_at_the_grid_best_and_never_ends_worse(fits, sub):
    r = fits[sub]
    assert r["StartLoss"] == pytest.approx(r["ExploreLoss"], rel=1e-4)  # the grid's best point
    assert r["Loss"] <= r["StartLoss"]
    # the Laplace step gives numbers for every subject (pseudo-inverse where not a minimum)
    assert all(v is not None and np.isfinite(v) for v in r["StandardErrors"].values())
    assert r["Approximation"] in ("hessian", "pseudo-inverse")


@pytest.mark.xfail(
    strict=True,
    reason="issue 13, open: measured 2026-12-03 (float64, 1 realisation, multistart 4 x 30): "
    "improvement vs seed spread sub-01 0.000/0.032, sub-02 0.121/0.026, sub-03 0.001/0.042, "
    "sub-04 0.012/0.022, sub-05 0.037/0.022. No method can do better on sub-01 and sub-03: "
    "the lowest loss of the fit's objective anywhere on the bifurcation ridge "
    "(benchmarks/bench_global_ridge.py, coupling.a scanned in 0.0005 steps per model.w) is "
    "only 0.010 (sub-01, at a 0.561, w 0) and 0.006 (sub-03, a 0.652, w 0) below the grid's "
    "best, whose loss is low partly because it is chosen on that same noise realisation "
    "(sub-01: 0.966, 1.013 over fresh seeds, where the ridge minimum scores 0.960). "
    "Remove this marker when the test passes.",
)
def test_global_stage_improves_every_subject_by_more_than_the_noise(fits):
    margins = {sub: r["StartLoss"] - r["Loss"] - r["SeedSpread"] for sub, r in fits.items()}
    assert all(m > 0 for m in margins.values()), margins

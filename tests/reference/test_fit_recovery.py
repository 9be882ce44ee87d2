"""Fits that must find known answers: parameter recovery, regional below global."""

import jax
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit.optimize import fit
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.fit.problem import build_problem, fit_experiment

pytestmark = pytest.mark.reference

TRUE = {"coupling.a": 0.5, "model.w": 0.5}


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n = 8
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    conn = Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(n)))
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": TRUE["model.w"], "I_o": 0.32}},
            "coupling": {"name": "Linear", "parameters": {"a": TRUE["coupling.a"]}},
            "integration": {
                "method": "Heun",
                "dt": 4.0,
                "duration": 120000.0,
                "noise": {"sigma": 0.00283},
                "seed": 1,
            },
            "monitors": [{"type": "Bold", "period": 1000.0}],
        }
    )
    prob = build_problem(fit_experiment(exp), conn, np.eye(n), transient_ms=10000.0)
    # the "empirical" FC: simulated at the true values with the fit's own noise realisation
    prob.fc_emp = prob.simulated_fc(prob.state)
    return prob


def test_recovers_global_parameters_from_30_percent_away(problem):
    space = ParameterSpace.build(
        parse_free_parameters({"coupling.a": [0.0, 1.5], "model.w": [0.0, 1.0]}, key="t"),
        problem.state,
        8,
    )
    start = {"coupling.a": 0.3, "model.w": 0.7}  # 40 % away
    res = fit(
        problem.loss_fn(space),
        space,
        start,
        key=problem.key,
        learning_rate=0.1,
        steps=120,
        patience=40,
    )
    for path, true in TRUE.items():
        assert abs(res.values[path] - true) / true < 0.10, (path, res.values, res.loss)
    assert res.loss < 0.05 * res.losses[0]


def test_regional_fit_ends_below_the_global_fit(problem):
    glob = ParameterSpace.build(
        parse_free_parameters({"model.w": [0.0, 1.0]}, key="t"), problem.state, 8
    )
    g = fit(
        problem.loss_fn(glob),
        glob,
        {"model.w": 0.35},
        key=problem.key,
        learning_rate=0.1,
        steps=30,
        patience=0,
    )
    state = glob.apply(problem.state, {"model.w": jax.numpy.asarray(g.values["model.w"])})
    problem_state, problem.state = problem.state, state
    try:
        reg = ParameterSpace.build(
            parse_free_parameters(
                {"model.w": [0.0, 1.0], "model.I_o": [0.0, 0.6]}, key="t", regional=True
            ),
            state,
            8,
        )
        r = fit(
            problem.loss_fn(reg),
            reg,
            reg.current(state),
            key=problem.key,
            learning_rate=0.02,
            steps=30,
            patience=0,
        )
    finally:
        problem.state = problem_state
    assert r.losses[0] == pytest.approx(g.loss, rel=1e-9)  # starts where the global fit ended
    assert r.loss < g.loss
    assert np.ptp(r.values["model.I_o"]) > 0  # regional values differ between regions

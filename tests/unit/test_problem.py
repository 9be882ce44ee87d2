"""Fit problems: one or several noise realisations per evaluation."""

from dataclasses import replace

import jax
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.errors import ConfigError
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.fit.observations import fc
from tvbo_pipe.fit.optimize import value_and_grad
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.fit.problem import build_problem


def _problem(realisations=1, n=5):
    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (n, n))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    conn = Connectome(w / w.max(), None, tuple(f"R{k}" for k in range(n)))
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": 0.32}},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {"method": "Heun", "dt": 4.0, "duration": 40000.0,
                            "noise": {"sigma": 0.00283}, "seed": 5},
            "monitors": [{"type": "Bold", "period": 1000.0}],
        }
    )  # fmt: skip
    fc_emp = np.corrcoef(rng.normal(size=(n, 50)))
    return build_problem(exp, conn, fc_emp, transient_ms=5000.0, realisations=realisations)


def test_one_realisation_is_the_fc_of_the_bold():
    p = _problem(1)
    assert p.noise.shape == (1, 10000, 1, 5)
    expected = fc(p.bold(p.state).data[p.transient :, 0])
    np.testing.assert_array_equal(p.simulated_fc(p.state), expected)


def test_several_realisations_average_their_fcs():
    p = _problem(3)
    keys = [p.key, jax.random.fold_in(p.key, 1), jax.random.fold_in(p.key, 2)]
    singles = [fc(p.model(p.state, k)[p.monitor].data[p.transient :, 0]) for k in keys]
    mean = np.mean(singles, axis=0)
    np.testing.assert_allclose(p.simulated_fc(p.state), mean, rtol=1e-12, atol=1e-14)
    drawn_in_loop = replace(p, noise=None)  # the same numbers, drawn inside the loop
    np.testing.assert_allclose(drawn_in_loop.simulated_fc(p.state), mean, rtol=1e-12, atol=1e-14)
    assert not np.allclose(singles[0], singles[1])  # they are different realisations
    # realisation 0 is the single-realisation problem's
    np.testing.assert_allclose(_problem(1).simulated_fc(p.state), singles[0], rtol=1e-12)


def test_gradients_through_several_realisations():
    p = _problem(2)
    space = ParameterSpace.build(
        parse_free_parameters({"coupling.a": [0.0, 1.5], "model.w": [0.0, 1.5]}, key="t"),
        p.state,
        5,
    )
    loss = p.loss_fn(space, fixed_noise=True)

    def objective(u, key):
        return loss(space.to_values(u), key)

    u = space.to_unconstrained(space.current(p.state))
    (vr, gr), (vf, gf) = (value_and_grad(objective, m)(u, p.key) for m in ("reverse", "forward"))
    np.testing.assert_allclose(vf, vr, rtol=1e-12)
    for k in gr:
        assert np.isfinite(gr[k]) and gr[k] != 0
        np.testing.assert_allclose(gf[k], gr[k], rtol=1e-7)


def test_realisations_must_be_positive():
    with pytest.raises(ConfigError, match="at least 1") as e:
        _problem(0)
    assert e.value.key == "simulation.realisations"

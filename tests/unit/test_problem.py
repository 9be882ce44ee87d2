"""Fit problems: one or several noise realisations per evaluation."""

from dataclasses import replace

import jax
import numpy as np
import pytest

from tvbo_pipe.errors import ConfigError
from tvbo_pipe.fit.observations import fc
from tvbo_pipe.fit.optimize import value_and_grad
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters


def test_one_realisation_is_the_fc_of_the_bold(small_bold_problem):
    p = small_bold_problem(1)
    assert p.noise.shape == (1, 10000, 1, 5)
    expected = fc(p.bold(p.state).data[p.transient :, 0])
    np.testing.assert_array_equal(p.simulated_fc(p.state), expected)


def test_several_realisations_average_their_fcs(small_bold_problem):
    p = small_bold_problem(3)
    keys = [p.key, jax.random.fold_in(p.key, 1), jax.random.fold_in(p.key, 2)]
    singles = [fc(p.model(p.state, k)[p.monitor].data[p.transient :, 0]) for k in keys]
    mean = np.mean(singles, axis=0)
    np.testing.assert_allclose(p.simulated_fc(p.state), mean, rtol=1e-12, atol=1e-14)
    drawn_in_loop = replace(p, noise=None)  # the same numbers, drawn inside the loop
    np.testing.assert_allclose(drawn_in_loop.simulated_fc(p.state), mean, rtol=1e-12, atol=1e-14)
    assert not np.allclose(singles[0], singles[1])  # they are different realisations
    # realisation 0 is the single-realisation problem's
    np.testing.assert_allclose(small_bold_problem(1).simulated_fc(p.state), singles[0], rtol=1e-12)


def test_gradients_through_several_realisations(small_bold_problem):
    p = small_bold_problem(2)
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


def test_realisations_must_be_positive(small_bold_problem):
    with pytest.raises(ConfigError, match="at least 1") as e:
        small_bold_problem(0)
    assert e.value.key == "simulation.realisations"

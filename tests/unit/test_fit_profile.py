"""The profile scan: a fine scan of one parameter at each grid point of the others."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.errors import ConfigError
from tvbo_pipe.fit.parameters import ParameterSpace, parse_free_parameters
from tvbo_pipe.fit.profile import fit_profile, profile_grid

SPEC = {"coupling.a": [0.0, 1.0], "model.w": [0.0, 1.5]}


def _space(spec=SPEC):
    state = {"model": {"w": jnp.asarray(0.5)}, "coupling": {"a": jnp.asarray(0.5)}}
    return ParameterSpace.build(parse_free_parameters(spec, key="t"), state, 3)


def _ridge(values, key):
    """The demo's landscape in miniature: a dip 0.004 wide in ``a`` along the line
    a = 0.56 - 0.5 w, deepest at w = 0 (loss 0.5), on a flat 1.0 elsewhere."""
    a, w = values["coupling.a"], values["model.w"]
    depth = 0.5 - 0.2 * w
    return 1.0 - depth * jnp.exp(-(((a - (0.56 - 0.5 * w)) / 0.002) ** 2))


def test_profile_finds_the_narrow_ridges_minimum():
    start = {"coupling.a": 0.43, "model.w": 0.24}  # a grid point beside the ridge
    res = fit_profile(_ridge, _space(), start, key=jax.random.key(0), others=7, coarse=51, fine=41)
    assert res.values["model.w"] == pytest.approx(0.0)
    assert res.values["coupling.a"] == pytest.approx(0.56, abs=0.001)
    assert res.loss < 0.55 and res.losses[0] == pytest.approx(1.0)
    assert res.stop_reason == "scanned" and res.steps == len(res.trajectory) == 3
    assert res.extra["evaluations"] == 1 + 7 * (51 + 41)
    prof = res.extra["profile"]  # one row per w, each on its own part of the ridge
    assert [r["model.w"] for r in prof] == pytest.approx(np.linspace(0, 1.5, 7))
    for r in prof:
        if 0.56 - 0.5 * r["model.w"] >= 0:
            assert r["coupling.a"] == pytest.approx(0.56 - 0.5 * r["model.w"], abs=0.001)


def test_profile_never_returns_worse_than_its_start_and_checks_its_settings():
    def spike(v, key):  # a well at the start narrower than any scan step
        return 1.0 - 0.5 * jnp.exp(-(((v["coupling.a"] - 0.4321) / 1e-5) ** 2))

    start = {"coupling.a": 0.4321, "model.w": 0.7}
    res = fit_profile(spike, _space(), start, key=jax.random.key(0), others=3, coarse=5, fine=3)
    assert res.loss == pytest.approx(0.5) and res.values == {
        "coupling.a": pytest.approx(0.4321),
        "model.w": pytest.approx(0.7),
    }
    with pytest.raises(ConfigError, match="not a free parameter"):
        fit_profile(spike, _space(), start, key=jax.random.key(0), scan="model.nope")
    with pytest.raises(ConfigError, match="global parameters only"):
        regional = ParameterSpace.build(
            parse_free_parameters(SPEC, key="t", regional=True),
            {"model": {"w": jnp.asarray(0.5)}, "coupling": {"a": jnp.asarray(0.5)}},
            3,
        )
        fit_profile(spike, regional, start, key=jax.random.key(0))


def test_profile_grid_of_the_other_parameters():
    names, grid = profile_grid(_space(), "coupling.a", 4)
    assert names == ["model.w"] and grid[:, 0] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    three = {**SPEC, "model.I_o": [0.0, 0.6]}
    state = {"model": {"w": jnp.asarray(0.5), "I_o": jnp.asarray(0.3)}, "coupling": {"a": 0.5}}
    s3 = ParameterSpace.build(parse_free_parameters(three, key="t"), state, 3)
    names, grid = profile_grid(s3, "model.w", 3)
    assert names == ["coupling.a", "model.I_o"] and grid.shape == (9, 2)

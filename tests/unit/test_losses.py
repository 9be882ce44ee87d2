"""Loss registry: every FC loss in ``LOSSES`` through the same assertions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.fit.losses import (
    LOSSES,
    combined,
    energy_distance,
    fc_corr,
    fc_rmse,
    fcd_energy,
    make_fc_loss,
)

jax.config.update("jax_enable_x64", True)

LOSS_NAMES = list(LOSSES)
N = 8  # regions


def _fc(seed: int, n: int = N) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, 40))
    return np.corrcoef(x)


def _symmetric_noise(seed: int, n: int = N) -> np.ndarray:
    e = np.random.default_rng(seed).normal(size=(n, n))
    e = (e + e.T) / 2
    np.fill_diagonal(e, 0.0)
    return e


def test_registry_names_and_unknown_loss() -> None:
    assert {"rmse", "one_minus_corr", "combined"} <= set(LOSSES)
    with pytest.raises(KeyError) as info:
        make_fc_loss("mae")
    assert all(name in str(info.value) for name in LOSS_NAMES)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_zero_for_identical_fc(name: str) -> None:
    fc = jnp.asarray(_fc(0))
    assert float(make_fc_loss(name)(fc, fc)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_grows_with_the_perturbation(name: str) -> None:
    loss = make_fc_loss(name)
    fc, e = _fc(0), _symmetric_noise(1)
    values = [float(loss(jnp.asarray(fc + s * e), jnp.asarray(fc))) for s in (0.01, 0.05, 0.2)]
    assert 0.0 < values[0] < values[1] < values[2]
    assert all(np.isfinite(values))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_symmetric_and_blind_to_the_diagonal(name: str) -> None:
    loss = make_fc_loss(name)
    a, b = jnp.asarray(_fc(0)), jnp.asarray(_fc(2))
    assert float(loss(a, b)) == pytest.approx(float(loss(b, a)), rel=1e-12)
    a_diag = a + jnp.diag(jnp.arange(N, dtype=a.dtype))  # self-correlations never count
    assert float(loss(a_diag, b)) == pytest.approx(float(loss(a, b)), rel=1e-12)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_gradient_matches_finite_differences(name: str) -> None:
    loss = make_fc_loss(name)
    a, b = jnp.asarray(_fc(0)), jnp.asarray(_fc(2))
    direction = jnp.asarray(_symmetric_noise(3))
    g = jax.grad(loss)(a, b)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
    eps = 1e-6
    fd = (loss(a + eps * direction, b) - loss(a - eps * direction, b)) / (2 * eps)
    assert float(jnp.sum(g * direction)) == pytest.approx(float(fd), rel=1e-6)


def test_losses_are_their_formulas() -> None:
    a, b = _fc(0), _fc(2)
    iu = np.triu_indices(N, k=1)
    d = a[iu] - b[iu]
    r = np.corrcoef(a[iu], b[iu])[0, 1]
    assert float(fc_rmse(a, b)) == pytest.approx(np.sqrt(np.mean(d * d)), rel=1e-12)
    assert float(fc_corr(a, b)) == pytest.approx(r, rel=1e-12)
    assert float(make_fc_loss("one_minus_corr")(a, b)) == pytest.approx(1 - r, rel=1e-12)
    weighted = make_fc_loss("combined", {"corr": 2.0, "rmse": 0.5, "fcd": 3.0})
    expected = 2.0 * (1 - r) + 0.5 * np.sqrt(np.mean(d * d))
    assert float(weighted(a, b)) == pytest.approx(expected, rel=1e-12)
    assert float(make_fc_loss("combined")(a, b)) == pytest.approx(float(combined(a, b)))


def test_energy_distance_is_zero_only_for_equal_samples() -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=300))
    assert float(energy_distance(x, x)) == pytest.approx(0.0, abs=1e-12)
    shifted = [float(energy_distance(x, x + s)) for s in (0.1, 0.5, 1.0)]
    assert 0.0 < shifted[0] < shifted[1] < shifted[2]
    # 2 * integral of (F_a - F_b)^2 for 1-D samples: a shift s of one point mass
    assert float(energy_distance(jnp.zeros(1), jnp.full(1, 0.3))) == pytest.approx(0.6)
    g = jax.grad(lambda v: fcd_energy(v, x))(x + 0.2)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0

"""Coupling registry: metadata consistency and JAX behaviour of every coupling."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.sim.coupling import COUPLINGS, Coupling, coupling_value, get_coupling

jax.config.update("jax_enable_x64", True)

COUPLING_NAMES = list(COUPLINGS)
SEPARABLE = [name for name, c in COUPLINGS.items() if c.dense is None]
N = 5


def _n_cvar(coupling: Coupling) -> int:
    return coupling.n_cvar or 2


def _inputs(coupling: Coupling, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_cvar = _n_cvar(coupling)
    weights = rng.uniform(size=(N, N))
    np.fill_diagonal(weights, 0.0)
    weights[1, 3] = 0.0
    weights[4, :] = 0.0
    x_i = rng.uniform(-1, 1, size=(n_cvar, N))
    x_j = rng.uniform(-1, 1, size=(n_cvar, N, N))
    return weights, x_i, x_j


def _numeric_params(coupling: Coupling) -> dict[str, jnp.ndarray]:
    return {p.name: jnp.asarray(float(p.default)) for p in coupling.parameters if not p.boolean}


# --------------------------------------------------------------------------- registry


def test_registry_keys_are_coupling_names() -> None:
    expected = {
        "Linear",
        "Scaling",
        "Difference",
        "Kuramoto",
        "Sigmoidal",
        "SigmoidalJansenRit",
        "HyperbolicTangent",
        "PreSigmoidal",
    }
    assert expected <= set(COUPLINGS)
    for name, coupling in COUPLINGS.items():
        assert coupling.name == name
        assert get_coupling(name) is coupling


def test_get_coupling_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError) as info:
        get_coupling("NoSuchCoupling")
    message = str(info.value)
    assert "NoSuchCoupling" in message
    for name in COUPLING_NAMES:
        assert name in message


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_metadata(name: str) -> None:
    coupling = COUPLINGS[name]
    names = coupling.parameter_names
    assert len(set(names)) == len(names)
    for p in coupling.parameters:
        assert math.isfinite(p.default)
        assert p.description
        if p.domain is not None:
            assert p.domain[0] <= p.default <= p.domain[1], f"{name}.{p.name}"
        if p.boolean:
            assert p.default in (0.0, 1.0)
    assert set(coupling.equations) == {"pre", "post"}
    assert coupling.description
    assert coupling.parameter(names[0]).name == names[0]
    with pytest.raises(KeyError, match="valid"):
        coupling.parameter("no_such_parameter")


def test_output_rows() -> None:
    assert COUPLINGS["Linear"].output_rows(3) == 3
    assert COUPLINGS["SigmoidalJansenRit"].output_rows(2) == 1
    with pytest.raises(ValueError, match="exactly 2"):
        COUPLINGS["SigmoidalJansenRit"].output_rows(1)


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_coupling_value_shape_and_finite(name: str) -> None:
    coupling = COUPLINGS[name]
    weights, x_i, x_j = _inputs(coupling)
    out = coupling_value(coupling, weights, x_i, x_j, coupling.default_parameters())
    assert out.shape == (coupling.output_rows(x_i.shape[0]), N)
    assert bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("name", SEPARABLE)
def test_pre_post_shapes(name: str) -> None:
    coupling = COUPLINGS[name]
    n_cvar, k = _n_cvar(coupling), 3
    params = coupling.default_parameters()
    pre = coupling.pre(jnp.ones((n_cvar, N, 1)), jnp.ones((n_cvar, N, k)), params)
    n_out = coupling.output_rows(n_cvar)
    assert pre.shape == (n_out, N, k)
    assert coupling.post(jnp.ones((n_out, N)), params).shape == (n_out, N)


@pytest.mark.parametrize("name", SEPARABLE)
def test_sparse_evaluation_matches_dense(name: str) -> None:
    """Gathering K afferent entries per node (as a sparse engine does) gives the same."""
    coupling = COUPLINGS[name]
    weights, x_i, x_j = _inputs(coupling)
    params = coupling.default_parameters()
    k = int((weights != 0).sum(axis=1).max())
    idx = np.zeros((N, k), dtype=int)
    w_sparse = np.zeros((N, k))
    for i in range(N):
        (cols,) = np.nonzero(weights[i])
        idx[i, : cols.size] = cols
        w_sparse[i, : cols.size] = weights[i, cols]
    x_j_sparse = np.take_along_axis(x_j, idx[None], axis=2)  # (n_cvar, N, K)
    pre = coupling.pre(jnp.asarray(x_i)[:, :, None], jnp.asarray(x_j_sparse), params)
    sparse = coupling.post(jnp.sum(w_sparse[None] * pre, axis=-1), params)
    dense = coupling_value(coupling, weights, x_i, x_j, params)
    np.testing.assert_allclose(sparse, dense, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", [n for n in SEPARABLE if not COUPLINGS[n].uses_x_i])
def test_uses_x_i_false_means_independent_of_x_i(name: str) -> None:
    """Without delays the coupling is then ``post(W @ pre(x))``."""
    coupling = COUPLINGS[name]
    weights, x_i, _ = _inputs(coupling)
    params = coupling.default_parameters()
    x_j = np.broadcast_to(x_i[:, None, :], (x_i.shape[0], N, N))  # no delays
    expected = coupling_value(coupling, weights, x_i, x_j, params)
    garbage = np.full_like(x_i, np.nan)[:, :, None]
    pre = coupling.pre(garbage, jnp.asarray(x_i)[:, None, :], params)[:, 0, :]  # (n_out, N)
    matmul = coupling.post(jnp.einsum("ij,cj->ci", weights, pre), params)
    np.testing.assert_allclose(matmul, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", SEPARABLE)
def test_per_target_parameters(name: str) -> None:
    """A ``(n_nodes,)`` parameter acts on the target node of that index."""
    coupling = COUPLINGS[name]
    weights, x_i, x_j = _inputs(coupling)
    rng = np.random.default_rng(3)
    regional = {k: v * rng.uniform(0.5, 1.5, size=N) for k, v in _numeric_params(coupling).items()}
    out = coupling_value(coupling, weights, x_i, x_j, regional)
    for i in range(N):
        scalar = {k: v[i] for k, v in regional.items()}
        np.testing.assert_allclose(
            out[:, i], coupling_value(coupling, weights, x_i, x_j, scalar)[:, i], rtol=1e-14
        )


@pytest.mark.parametrize("name", SEPARABLE)
def test_jit_and_grad(name: str) -> None:
    coupling = COUPLINGS[name]
    weights, x_i, x_j = _inputs(coupling)
    params = _numeric_params(coupling)

    def f(p, xj):
        return coupling_value(coupling, weights, x_i, xj, p)

    np.testing.assert_allclose(jax.jit(f)(params, x_j), f(params, x_j), rtol=1e-13, atol=1e-15)
    grads = jax.grad(lambda p: jnp.sum(f(p, x_j) ** 2))(params)
    assert set(grads) == set(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())
    g_x = jax.grad(lambda xj: jnp.sum(f(params, xj)))(jnp.asarray(x_j))
    assert g_x.shape == x_j.shape
    assert bool(jnp.all(jnp.isfinite(g_x)))


def test_linear_and_difference_closed_form() -> None:
    weights, x_i, x_j = _inputs(COUPLINGS["Linear"])
    params = {"a": 0.3, "b": 0.7}
    expected = 0.3 * np.einsum("ij,cij->ci", weights, x_j) + 0.7
    np.testing.assert_allclose(
        coupling_value(COUPLINGS["Linear"], weights, x_i, x_j, params), expected, rtol=1e-14
    )
    expected = 0.2 * np.einsum("ij,cij->ci", weights, x_j - x_i[:, :, None])
    np.testing.assert_allclose(
        coupling_value(COUPLINGS["Difference"], weights, x_i, x_j, {"a": 0.2}),
        expected,
        rtol=1e-13,
    )


@pytest.mark.parametrize("n_cvar", [1, 2])
def test_kuramoto_divides_by_number_of_coupling_variables(n_cvar: int) -> None:
    """TVB 2.10's simulator divides by gx.shape[0] = n_cvar (not by the node count)."""
    rng = np.random.default_rng(5)
    weights = rng.uniform(size=(N, N))
    x_i = rng.uniform(0, 6, size=(n_cvar, N))
    x_j = rng.uniform(0, 6, size=(n_cvar, N, N))
    expected = np.einsum("ij,cij->ci", weights, np.sin(x_j - x_i[:, :, None])) / n_cvar
    out = coupling_value(COUPLINGS["Kuramoto"], weights, x_i, x_j, {"a": 1.0})
    np.testing.assert_allclose(out, expected, rtol=1e-13)


# --------------------------------------------------------------------------- PreSigmoidal


def test_presigmoidal_is_dense_only() -> None:
    coupling = COUPLINGS["PreSigmoidal"]
    assert coupling.dense is not None
    with pytest.raises(NotImplementedError, match="coupling_value"):
        coupling.pre(jnp.ones((2, N, 1)), jnp.ones((2, N, 3)), coupling.default_parameters())


def test_presigmoidal_options() -> None:
    coupling = COUPLINGS["PreSigmoidal"]
    weights, x_i, x_j = _inputs(coupling)
    params = coupling.default_parameters()
    with pytest.raises(NotImplementedError, match="globalT"):
        coupling_value(coupling, weights, x_i, x_j, {**params, "globalT": 1.0})
    with pytest.raises(ValueError, match="two coupling variables"):
        coupling_value(coupling, weights, x_i[:1], x_j[:1], params)
    with pytest.raises(ValueError, match="scalar"):
        coupling_value(coupling, weights, x_i, x_j, {**params, "G": np.full(N, 60.0)})
    static = coupling_value(coupling, weights, x_i[:1], x_j[:1], {**params, "dynamic": 0.0})
    assert static.shape == (1, N)
    # numeric parameters can be traced; the option switches cannot
    numeric = _numeric_params(coupling)
    flags = {"dynamic": True, "globalT": False}
    grads = jax.grad(
        lambda p: jnp.sum(coupling_value(coupling, weights, x_i, x_j, {**p, **flags}))
    )(numeric)
    assert all(bool(jnp.isfinite(g)) for g in grads.values())
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda d: coupling_value(coupling, weights, x_i, x_j, {**params, "dynamic": d}))(
            1.0
        )

"""Model registry: metadata consistency and JAX behaviour of every registered model."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.models import MODELS, Model, get_model
from tvbo_pipe.models.expressions import check_model, evaluate_dfun

jax.config.update("jax_enable_x64", True)

MODEL_NAMES = list(MODELS)
N_NODES = 4


def _initial_state(model: Model, n: int = N_NODES) -> jnp.ndarray:
    return jnp.array([[sv.initial_value] * n for sv in model.state_variables])


def _zero_coupling(model: Model, n: int = N_NODES) -> jnp.ndarray:
    return jnp.zeros((model.n_cvar, n))


def _float_params(model: Model) -> dict[str, jnp.ndarray]:
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in model.default_parameters().items()}


# --------------------------------------------------------------------------- registry


def test_registry_keys_are_model_names() -> None:
    assert MODEL_NAMES, "empty model registry"
    for name, model in MODELS.items():
        assert model.name == name
        assert get_model(name) is model


def test_registry_contains_the_tvb_models() -> None:
    expected = {
        "ReducedWongWang",
        "ReducedWongWangExcInh",
        "Generic2dOscillator",
        "SupHopf",
        "Kuramoto",
        "JansenRit",
        "WilsonCowan",
        "MontbrioPazoRoxin",
        "Epileptor",
        "LarterBreakspear",
    }
    assert expected <= set(MODELS)


def test_get_model_unknown_name_lists_valid_names() -> None:
    with pytest.raises(KeyError) as info:
        get_model("NoSuchModel")
    message = str(info.value)
    assert "NoSuchModel" in message
    for name in MODEL_NAMES:
        assert name in message


# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_names_are_unique_and_identifiers(name: str) -> None:
    model = MODELS[name]
    for names in (model.state_variable_names, model.parameter_names):
        assert len(set(names)) == len(names)
        assert all(n.isidentifier() for n in names)
    assert not set(model.state_variable_names) & set(model.parameter_names)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_defaults_inside_domain(name: str) -> None:
    for p in MODELS[name].parameters:
        assert isinstance(p.default, float | int)
        assert math.isfinite(p.default)
        if p.boolean:
            assert p.default in (0.0, 1.0), f"{name}.{p.name}: boolean default must be 0 or 1"
        if p.domain is not None:
            lo, hi = p.domain
            assert lo <= p.default <= hi, f"{name}.{p.name}={p.default} outside {p.domain}"
        assert p.description, f"{name}.{p.name}: missing description"
        assert isinstance(p.unit, str)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_state_variable_ranges_and_boundaries(name: str) -> None:
    for sv in MODELS[name].state_variables:
        lo, hi = sv.range
        assert lo < hi
        assert lo <= sv.initial_value <= hi
        if sv.boundaries is not None:
            b_lo, b_hi = sv.boundaries
            assert b_lo is None or b_lo <= lo
            assert b_hi is None or hi <= b_hi
            assert b_lo is None or b_hi is None or b_lo < b_hi


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_cvar_and_coupling_rows(name: str) -> None:
    model = MODELS[name]
    n_sv = len(model.state_variables)
    assert len(model.cvar) >= 1
    assert len(set(model.cvar)) == len(model.cvar)
    assert all(0 <= c < n_sv for c in model.cvar)
    assert 1 <= model.n_cvar


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_equations_description_references(name: str) -> None:
    model = MODELS[name]
    assert set(model.equations) == set(model.state_variable_names)
    assert all(isinstance(eq, str) and eq for eq in model.equations.values())
    assert model.description
    assert model.references
    assert all("doi:10." in ref for ref in model.references)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_variables_of_interest_are_state_variable_expressions(name: str) -> None:
    model = MODELS[name]
    assert model.variables_of_interest
    svs = set(model.state_variable_names)
    for voi in model.variables_of_interest:
        tokens = re.findall(r"[A-Za-z_]\w*", voi)
        assert tokens and set(tokens) <= svs, f"{name}: {voi!r} is not over {svs}"


def test_registry_metadata_imports_no_jax() -> None:
    """Parsing the workflow and checking a configuration read the model and coupling
    registries; they must not pay for importing JAX (it loads when a dfun runs)."""
    code = (
        "import sys\n"
        "from tvbo_pipe.experiment import Experiment\n"
        "from tvbo_pipe.models import MODELS\n"
        "Experiment.from_dict({'model': {'name': 'JansenRit'}, "
        "'coupling': {'name': 'SigmoidalJansenRit'}})\n"
        "assert all(m.equations and m.default_parameters() for m in MODELS.values())\n"
        "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if 'jax' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- dfun


def _random_params(model: Model, rng: np.random.Generator, n: int) -> dict[str, jnp.ndarray]:
    """Random parameter values in their domains, about half of them regional."""
    out = {}
    for p in model.parameters:
        if p.boolean:
            out[p.name] = jnp.asarray(float(rng.integers(0, 2)))
            continue
        lo, hi = p.domain if p.domain else (0.5 * p.default, 1.5 * p.default)
        lo, hi = min(lo, hi), max(lo, hi)
        hi = lo + 1.0 if hi == lo else hi
        shape = (n,) if rng.uniform() < 0.5 else ()
        out[p.name] = jnp.asarray(rng.uniform(lo, hi, shape))
    return out


def _random_state(model: Model, rng: np.random.Generator, n: int) -> jnp.ndarray:
    return jnp.asarray(np.stack([rng.uniform(*sv.range, n) for sv in model.state_variables]))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_equals_the_expression_form(name: str) -> None:
    """The expressions are the source of truth (renderings, LEMS, LaTeX are made from
    them); the hand-written JAX dfun must compute the same values and derivatives."""
    model = MODELS[name]
    check_model(model)
    rng = np.random.default_rng(sum(map(ord, name)))
    n = 7
    for _ in range(3):
        state = _random_state(model, rng, n)
        coupling = jnp.asarray(rng.normal(size=(model.n_cvar, n)))
        params = _random_params(model, rng, n)
        want = np.asarray(evaluate_dfun(model, state, coupling, params))
        got = np.asarray(model.dfun(state, coupling, params))
        assert got.shape == want.shape == state.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    # and the same Jacobian with respect to the state (what fits differentiate)
    jac_want = jax.jacfwd(lambda x: evaluate_dfun(model, x, coupling, params))(state)
    jac_got = jax.jacfwd(lambda x: model.dfun(x, coupling, params))(state)
    np.testing.assert_allclose(jac_got, jac_want, rtol=1e-10, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_shape_and_finite_at_initial_values(name: str) -> None:
    model = MODELS[name]
    out = model.dfun(_initial_state(model), _zero_coupling(model), model.default_parameters())
    assert out.shape == (len(model.state_variables), N_NODES)
    assert out.dtype == jnp.float64
    assert bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_accepts_regional_parameters(name: str) -> None:
    model = MODELS[name]
    state, coupling = _initial_state(model), _zero_coupling(model)
    scalar = model.dfun(state, coupling, model.default_parameters())
    regional = {
        k: (jnp.full((N_NODES,), v) if not model.parameter(k).boolean else v)
        for k, v in model.default_parameters().items()
    }
    np.testing.assert_allclose(model.dfun(state, coupling, regional), scalar, rtol=1e-15)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_jit_matches_eager(name: str) -> None:
    model = MODELS[name]
    rng = np.random.default_rng(1)
    lo = np.array([sv.range[0] for sv in model.state_variables])[:, None]
    hi = np.array([sv.range[1] for sv in model.state_variables])[:, None]
    state = lo + (hi - lo) * rng.uniform(size=(len(lo), N_NODES))
    coupling = rng.uniform(-0.1, 0.1, size=(model.n_cvar, N_NODES))
    params = _float_params(model)
    eager = model.dfun(state, coupling, params)
    jitted = jax.jit(model.dfun)(state, coupling, params)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_grad_wrt_parameters_is_finite(name: str) -> None:
    model = MODELS[name]
    state, coupling = _initial_state(model), _zero_coupling(model)
    params = _float_params(model)

    def loss(p):
        return jnp.sum(model.dfun(state, coupling, p) ** 2)

    grads = jax.grad(loss)(params)
    assert set(grads) == set(model.parameter_names)
    for k, g in grads.items():
        assert bool(jnp.all(jnp.isfinite(g))), f"{name}: d/d{k} not finite"
    # the gradient w.r.t. the coupling input exists too
    g_c = jax.grad(lambda c: jnp.sum(model.dfun(state, c, params)))(coupling)
    assert g_c.shape == coupling.shape
    assert bool(jnp.all(jnp.isfinite(g_c)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_vmaps_over_parameter_sets(name: str) -> None:
    model = MODELS[name]
    state, coupling = _initial_state(model), _zero_coupling(model)
    params = _float_params(model)
    batch = {k: jnp.stack([v, v]) for k, v in params.items()}
    out = jax.vmap(lambda p: model.dfun(state, coupling, p))(batch)
    single = model.dfun(state, coupling, params)
    np.testing.assert_allclose(out, jnp.stack([single, single]), rtol=1e-15)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_depends_on_coupling_when_coupling_parameters_are_nonzero(name: str) -> None:
    """Each coupling row the model reads changes the derivative (with coupling gains on)."""
    model = MODELS[name]
    params = model.default_parameters()
    # TVB defaults switch some coupling paths off; turn them on for this check.
    for gain in ("Kvf", "Kf", "Ks", "cv"):
        if gain in params:
            params[gain] = 0.5
    state = _initial_state(model)
    base = model.dfun(state, _zero_coupling(model), params)
    for row in range(model.n_cvar):
        if name == "WilsonCowan" and row == 1:
            continue  # TVB's WilsonCowan declares I as cvar but only uses row 0
        coupling = _zero_coupling(model).at[row].set(0.5)
        changed = model.dfun(state, coupling, params)
        assert np.max(np.abs(changed - base)) > 1e-9, f"{name}: coupling row {row} has no effect"

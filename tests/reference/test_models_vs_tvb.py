"""Model dfuns and metadata against TVB 2.10.

The stored part compares with ``data/tvb_dfun_<Name>.npz`` (written by
``make_tvb_dfun_references.py``) and always runs; the live part builds TVB's
models directly and is skipped when ``tvb`` is not installed. Every model in
the registry is covered; a model without stored reference data fails.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np
import pytest

from tvbo_pipe.models import MODELS, Model

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.reference


def _load_reference_helpers():
    name = "tvbo_pipe_tests_tvb_references"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "make_tvb_dfun_references.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


refs = _load_reference_helpers()
MODEL_NAMES = list(MODELS)


def _stored(name: str) -> dict[str, np.ndarray]:
    path = refs.DATA_DIR / f"tvb_dfun_{name}.npz"
    assert path.exists(), (
        f"no TVB reference data for model {name}: run "
        "`python tests/reference/make_tvb_dfun_references.py` and commit the result"
    )
    return refs.load_npz(path)


def _check_metadata(model: Model, meta: Mapping[str, np.ndarray]) -> None:
    """Compare our model's metadata with TVB's (``meta_*`` arrays)."""
    assert list(model.state_variable_names) == meta["meta_state_variables"].tolist()
    np.testing.assert_array_equal(
        [sv.range for sv in model.state_variables], meta["meta_state_variable_range"]
    )
    for sv, tvb_bounds in zip(
        model.state_variables, meta["meta_state_variable_boundaries"], strict=True
    ):
        if np.all(np.isnan(tvb_bounds)):
            assert sv.boundaries is None, f"{model.name}.{sv.name}: TVB has no boundaries"
        else:
            assert sv.boundaries is not None, f"{model.name}.{sv.name}: TVB has boundaries"
            lo, hi = sv.boundaries
            ours = [-math.inf if lo is None else lo, math.inf if hi is None else hi]
            np.testing.assert_array_equal(ours, tvb_bounds)
    assert list(model.cvar) == meta["meta_cvar"].tolist()
    assert list(model.variables_of_interest) == meta["meta_variables_of_interest"].tolist()
    assert list(model.parameter_names) == meta["meta_parameter_names"].tolist()
    np.testing.assert_allclose(
        [p.default for p in model.parameters], meta["meta_parameter_defaults"], rtol=1e-15
    )
    for p, tvb_domain, tvb_bool in zip(
        model.parameters,
        meta["meta_parameter_domains"],
        meta["meta_parameter_boolean"],
        strict=True,
    ):
        if np.all(np.isnan(tvb_domain)):
            assert p.domain is None, f"{model.name}.{p.name}: TVB declares no domain"
        else:
            assert p.domain is not None, f"{model.name}.{p.name}: TVB declares a domain"
            np.testing.assert_allclose(p.domain, tvb_domain, rtol=1e-15)
        assert p.boolean == bool(tvb_bool), f"{model.name}.{p.name}: boolean flag"


# --------------------------------------------------------------------------- stored


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_metadata_matches_stored_tvb(name: str) -> None:
    _check_metadata(MODELS[name], _stored(name))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_matches_stored_tvb(name: str) -> None:
    model = MODELS[name]
    data = _stored(name)
    jitted = jax.jit(model.dfun)
    for case in data["cases"].tolist():
        params = refs.params_from_arrays(data, case)
        assert set(params) == set(model.parameter_names)
        state, coupling = data[f"{case}_state"], data[f"{case}_coupling"]
        ref = data[f"{case}_dfun"]
        refs.assert_close_to_tvb(model.dfun(state, coupling, params), ref, f"{name} {case}")
        refs.assert_close_to_tvb(jitted(state, coupling, params), ref, f"{name} {case} (jit)")


# --------------------------------------------------------------------------- live


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_metadata_matches_live_tvb(name: str) -> None:
    pytest.importorskip("tvb.simulator.models")
    _check_metadata(MODELS[name], refs.tvb_model_metadata(name))


@pytest.mark.parametrize("case", ["default", "regional"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_dfun_matches_live_tvb(name: str, case: str) -> None:
    pytest.importorskip("tvb.simulator.models")
    model = MODELS[name]
    rng = refs.rng_for(name, f"live-{case}")
    state, coupling, params = refs.draw_model_case(name, model.n_cvar, case, rng)
    variants = [params]
    if case == "regional" and any(p.boolean for p in model.parameters):
        # regional values with the boolean switches back at their defaults
        variants.append(
            {
                k: (np.array(model.parameter(k).default) if model.parameter(k).boolean else v)
                for k, v in params.items()
            }
        )
    for values in variants:
        ref = refs.tvb_dfun(name, state, coupling, values)
        ours = jax.jit(model.dfun)(state, coupling, values)
        refs.assert_close_to_tvb(ours, ref, f"{name} {case} (live)")

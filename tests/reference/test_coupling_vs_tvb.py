"""Coupling functions and their metadata against TVB 2.10.

The stored part compares with ``data/tvb_coupling_<Name>.npz`` (written by
``make_tvb_dfun_references.py``, which runs TVB's own coupling ``__call__`` on
a float64 stand-in for its history) and always runs; the live part calls TVB
directly and is skipped when ``tvb`` is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

import jax
import numpy as np
import pytest

from tvbo_pipe.sim.coupling import COUPLINGS, Coupling, coupling_value

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
COUPLING_NAMES = list(COUPLINGS)


def _stored(name: str) -> dict[str, np.ndarray]:
    path = refs.DATA_DIR / f"tvb_coupling_{name}.npz"
    assert path.exists(), (
        f"no TVB reference data for coupling {name}: run "
        "`python tests/reference/make_tvb_dfun_references.py` and commit the result"
    )
    return refs.load_npz(path)


def _check_metadata(coupling: Coupling, meta: Mapping[str, np.ndarray]) -> None:
    assert list(coupling.parameter_names) == meta["meta_parameter_names"].tolist()
    np.testing.assert_allclose(
        [p.default for p in coupling.parameters], meta["meta_parameter_defaults"], rtol=1e-15
    )
    for p, tvb_domain, tvb_bool in zip(
        coupling.parameters,
        meta["meta_parameter_domains"],
        meta["meta_parameter_boolean"],
        strict=True,
    ):
        if np.all(np.isnan(tvb_domain)):
            assert p.domain is None, f"{coupling.name}.{p.name}: TVB has no domain"
        else:
            assert p.domain is not None
            np.testing.assert_allclose(p.domain, tvb_domain, rtol=1e-15)
        assert p.boolean == bool(tvb_bool), f"{coupling.name}.{p.name}: boolean flag"


# --------------------------------------------------------------------------- stored


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_metadata_matches_stored_tvb(name: str) -> None:
    _check_metadata(COUPLINGS[name], _stored(name))


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_coupling_matches_stored_tvb(name: str) -> None:
    coupling = COUPLINGS[name]
    data = _stored(name)
    for case in data["cases"].tolist():
        params = refs.params_from_arrays(data, case)
        assert set(params) == set(coupling.parameter_names)
        args = (data[f"{case}_weights"], data[f"{case}_x_i"], data[f"{case}_x_j"])
        ours = coupling_value(coupling, *args, params)
        refs.assert_close_to_tvb(ours, data[f"{case}_out"], f"{name} {case}")
        if coupling.dense is None:  # also under jit, parameters traced
            jitted = jax.jit(lambda w, xi, xj, p, c=coupling: coupling_value(c, w, xi, xj, p))
            refs.assert_close_to_tvb(
                jitted(*args, params), data[f"{case}_out"], f"{name} {case} (jit)"
            )


# --------------------------------------------------------------------------- live


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_metadata_matches_live_tvb(name: str) -> None:
    pytest.importorskip("tvb.simulator.coupling")
    _check_metadata(COUPLINGS[name], refs.tvb_coupling_metadata(name))


@pytest.mark.parametrize("name", COUPLING_NAMES)
def test_coupling_matches_live_tvb(name: str) -> None:
    pytest.importorskip("tvb.simulator.coupling")
    coupling = COUPLINGS[name]
    for case, n_cvar, options in refs.coupling_cases(name):
        rng = refs.rng_for(name, f"live-{case}")
        weights, x_i, x_j, params = refs.draw_coupling_case(name, n_cvar, options, rng)
        ref = refs.tvb_coupling_value(name, weights, x_i, x_j, params)
        ours = coupling_value(coupling, weights, x_i, x_j, params)
        refs.assert_close_to_tvb(ours, ref, f"{name} {case} (live)")


def test_presigmoidal_dynamic_global_threshold_fails_in_tvb_too() -> None:
    """The one PreSigmoidal option combination we refuse is broken in TVB 2.10."""
    pytest.importorskip("tvb.simulator.coupling")
    rng = np.random.default_rng(0)
    weights, x_i, x_j, params = refs.draw_coupling_case(
        "PreSigmoidal", 2, {"dynamic": 1.0, "globalT": 1.0}, rng
    )
    with pytest.raises(ValueError, match="read-only"):
        refs.tvb_coupling_value("PreSigmoidal", weights, x_i, x_j, params)
    with pytest.raises(NotImplementedError, match=r"TVB 2\.10"):
        coupling_value(COUPLINGS["PreSigmoidal"], weights, x_i, x_j, params)

"""Whole simulations against TVB 2.10's ``Simulator``.

The stored part rebuilds every case of ``make_tvb_sim_references.py`` (files
``data/tvb_sim_<case>.npz``) as an :class:`~tvbo_pipe.experiment.Experiment`
with the stored connectome, parameters and initial state, runs it in float64
and compares every monitor with TVB's output: Raw (all state variables, at
the stored steps), TemporalAverage, SubSample and Bold, values and time axes
(TVB's times are ours plus ``tvb_step_offset * dt``, see the script). Every
model of ``MODELS`` (with and without delays) and every coupling of
``COUPLINGS`` has a case; one without stored data fails. It does not need TVB.

The live part (``slow``, skipped without ``tvb``) reruns cases through TVB.

Error measure: the largest relative error of the state over the compared
time points, ``max_t ||x_ours(t) - x_tvb(t)|| / ||x_tvb(t)||`` (2-norm over
variables and regions), and per variable relative to the variable's scale,
``max_t ||x_ours,v(t) - x_tvb,v(t)|| / max_t ||x_tvb,v(t)||``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.models import MODELS
from tvbo_pipe.sim.coupling import COUPLINGS
from tvbo_pipe.sim.simulator import (
    build_simulator,
    default_params,
    initial_state,
    integrate,
    prepare,
)

jax.config.update("jax_enable_x64", True)

pytestmark = pytest.mark.reference

#: Largest relative error accepted (see the module docstring).
RTOL = 1e-6


def _load_script():
    name = "tvbo_pipe_tests_tvb_sim_references"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "make_tvb_sim_references.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


make = _load_script()
CASES = make.all_cases()


def _stored(case: str) -> dict[str, np.ndarray]:
    path = make.DATA_DIR / f"tvb_sim_{case}.npz"
    assert path.exists(), (
        f"no TVB reference simulation {case}: run "
        "`python tests/reference/make_tvb_sim_references.py` and commit the result"
    )
    return make.refs.load_npz(path)


def _param_value(v: np.ndarray):
    return float(v) if v.ndim == 0 else [float(x) for x in v]


def experiment_for(data: dict[str, np.ndarray], *, given_x0: bool = False) -> Experiment:
    """The stored case as an experiment (``given_x0``: x0 as given initial conditions)."""
    monitors = []
    for name in data["monitors"].tolist():
        spec = {"type": str(data[f"{name}_type"]), "variables": data[f"{name}_variables"].tolist()}
        if spec["type"] != "Raw":
            spec["period"] = float(data[f"{name}_period"])
        monitors.append(spec)
    params = {
        section: {
            k[len(prefix) :]: _param_value(v) for k, v in data.items() if k.startswith(prefix)
        }
        for section, prefix in (("model", "model_param_"), ("coupling", "coupling_param_"))
    }
    spec = {
        "model": {"name": str(data["model"]), "parameters": params["model"]},
        "coupling": {"name": str(data["coupling"]), "parameters": params["coupling"]},
        "connectivity": {"conduction_speed": float(data["speed"])},
        "integration": {
            "method": str(data["integrator"]),
            "dt": float(data["dt"]),
            "duration": float(data["duration"]),
        },
        "monitors": monitors,
    }
    if given_x0:
        values = {
            sv: [float(v) for v in row]
            for sv, row in zip(data["state_variables"].tolist(), data["x0"], strict=True)
        }
        spec["initial_conditions"] = {"type": "given", "values": values}
    return Experiment.from_dict(spec)


def connectome_for(data: dict[str, np.ndarray]) -> Connectome:
    return Connectome(data["weights"], data["lengths"], tuple(data["labels"].tolist()))


def run_ours(data: dict[str, np.ndarray]) -> dict:
    """Build the stored case with ``build_simulator`` and ``integrate`` it (float64)."""
    sim, conn = build_simulator(experiment_for(data), connectome_for(data), dtype=jnp.float64)
    assert sim.n_steps == int(data["n_steps"])
    assert (sim.horizon > 0) == (int(data["tvb_horizon"]) > 1), "delays on one side only"
    state = initial_state(sim, jnp.asarray(data["x0"]))
    return integrate(sim, default_params(sim, conn), all_states=state)


def relative_errors(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``(per time point, per variable)`` relative errors of ``(time, var, node)`` arrays."""
    diff = np.asarray(ours, dtype=float) - ref
    tiny = np.finfo(float).tiny
    ref_t = np.linalg.norm(ref.reshape(len(ref), -1), axis=1)
    err_t = np.linalg.norm(diff.reshape(len(diff), -1), axis=1) / np.maximum(ref_t, tiny)
    ref_v = np.linalg.norm(ref, axis=2).max(axis=0)  # (var,)
    err_v = np.linalg.norm(diff, axis=2).max(axis=0) / np.maximum(ref_v, tiny)
    return float(err_t.max()), float(err_v.max())


def compare(case: str, data: dict[str, np.ndarray], outputs: dict) -> dict[str, tuple]:
    """Assert every monitor agrees with TVB's; return the errors per monitor."""
    dt = float(data["dt"])
    t_offset = int(data["tvb_step_offset"]) * dt
    errors = {}
    for name in data["monitors"].tolist():
        ts = outputs[name]
        assert list(ts.variables) == data[f"{name}_variables"].tolist()
        ours, time = np.asarray(ts.data), np.asarray(ts.time)
        if str(data[f"{name}_type"]) == "Raw":
            idx = data["raw_index"]
            ours, time = ours[idx], time[idx]
        ref, ref_time = data[f"{name}_data"], data[f"{name}_time"]
        assert ours.shape == ref.shape, f"{case} {name}: shape {ours.shape} != TVB {ref.shape}"
        np.testing.assert_allclose(
            time + t_offset, ref_time, rtol=1e-12, atol=1e-9, err_msg=f"{case} {name}: time axis"
        )
        err_t, err_v = relative_errors(ours, ref)
        errors[name] = (err_t, err_v)
        assert err_t <= RTOL and err_v <= RTOL, (
            f"{case} {name}: relative error {err_t:.3g} (per time point), "
            f"{err_v:.3g} (per variable) > {RTOL:g}"
        )
    return errors


# --------------------------------------------------------------------------- coverage


def test_every_model_and_coupling_has_cases() -> None:
    for name in MODELS:
        for label in ("nodelay", "delay"):
            assert f"model_{name}_{label}" in CASES
    assert set(make.COUPLING_CASES) == set(COUPLINGS), "a coupling without a reference case"


def test_stored_files_match_cases() -> None:
    stored = {p.name[len("tvb_sim_") : -len(".npz")] for p in make.DATA_DIR.glob("tvb_sim_*.npz")}
    assert stored >= set(CASES), f"missing: {sorted(set(CASES) - stored)}"
    assert stored <= set(CASES), f"stale files without a case: {sorted(stored - set(CASES))}"


# --------------------------------------------------------------------------- stored

#: Cases run without ``-m slow``: every model once (with delays, which exercises the
#: model, its coupling and the delay buffer; the monitors are in
#: ``test_prepare_matches_stored_tvb``). Each case costs about 0.3-0.6 s of CPU,
#: nearly all of it XLA compilation; the others are marked ``slow``.
FAST_CASES = {f"model_{name}_delay" for name in MODELS}


@pytest.mark.parametrize(
    "case",
    [c if c in FAST_CASES else pytest.param(c, marks=pytest.mark.slow) for c in CASES],
)
def test_simulation_matches_stored_tvb(case: str) -> None:
    data = _stored(case)
    assert str(data["case"]) == case
    compare(case, data, run_ours(data))


def test_prepare_matches_stored_tvb() -> None:
    """The monitors case through ``prepare`` (jitted, checkpointed, given initial conditions)."""
    data = _stored("monitors_delay")
    model, state = prepare(experiment_for(data, given_x0=True), connectome_for(data))
    np.testing.assert_array_equal(state["initial"]["x"], data["x0"])
    compare("monitors_delay (prepare)", data, model(state))


# --------------------------------------------------------------------------- live

LIVE_CASES = ["model_JansenRit_delay", "coupling_PreSigmoidal", "monitors_delay"]


@pytest.mark.slow
@pytest.mark.parametrize("case", LIVE_CASES)
def test_simulation_matches_live_tvb(case: str) -> None:
    """Rerun a case through the installed TVB: it matches tvbo_pipe and the stored file."""
    pytest.importorskip("tvb.simulator.simulator")
    data = make.simulate_tvb(CASES[case])
    compare(case, data, run_ours(data))
    stored = _stored(case)
    for name in data["monitors"].tolist():
        np.testing.assert_array_equal(data[f"{name}_time"], stored[f"{name}_time"])
        err_t, err_v = relative_errors(data[f"{name}_data"], stored[f"{name}_data"])
        assert max(err_t, err_v) <= 1e-10, f"{case} {name}: TVB no longer reproduces the file"

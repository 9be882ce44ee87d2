"""Monitor registry: every kind's metadata, validation and output against an
independent computation from the raw trajectory (or a closed form)."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.errors import ConfigError
from tvbo_pipe.experiment import MONITORS, Experiment, MonitorSpec
from tvbo_pipe.sim import hrf
from tvbo_pipe.sim.monitor_kinds import (
    BOLD_HRF_LENGTH,
    BOLD_INTERIM_PERIOD,
    HRF_KERNELS,
    MONITOR_KINDS,
    get_monitor_kind,
)
from tvbo_pipe.sim.monitors import (
    MONITOR_RULES,
    compute_outputs,
    monitor_rule,
    plan_monitors,
)
from tvbo_pipe.sim.simulator import build_simulator, default_params, integrate

jax.config.update("jax_enable_x64", True)

KINDS = list(MONITOR_KINDS)
DT = 1.0  # ms
PERIOD = {"Raw": None, "SubSample": 10.0, "TemporalAverage": 10.0, "Bold": 1000.0}  # ms
DURATION = 24000.0  # ms: longer than the 20 s HRF kernel
N_NODES = 3


# --------------------------------------------------------------------------- independent
def _tvb_bold(interim: np.ndarray, period_samples: int) -> np.ndarray:
    """TVB's Bold monitor as plain dot products: a stock of 5000 interim samples
    (zeros before the run, oldest first) times TVB's reversed-and-rolled kernel
    at every ``period_samples``-th interim sample, then ``(. - 1) k_1 V_0``."""
    n_stock = round(BOLD_HRF_LENGTH / BOLD_INTERIM_PERIOD)
    g = hrf.first_order_volterra(np.arange(n_stock) * BOLD_INTERIM_PERIOD / 1000.0)
    weights = np.append(g[n_stock - 2 :: -1], g[-1])  # oldest first; newest meets g[-1]
    full = np.concatenate([np.zeros((n_stock,) + interim.shape[1:]), interim])
    out = []
    for m in range(1, interim.shape[0] // period_samples + 1):
        end = n_stock + m * period_samples  # one past the newest sample
        out.append(np.tensordot(weights, full[end - n_stock : end], axes=(0, 0)))
    k1v0 = hrf.VOLTERRA["k_1"] * hrf.VOLTERRA["V_0"]
    return (np.asarray(out) - 1.0) * k1v0


def _from_raw(kind: str, raw: np.ndarray, period: float | None, dt: float):
    """``(data, time)`` of a monitor computed from the raw samples ``(n, var, nodes)``."""
    n_steps = raw.shape[0]
    if kind == "Raw":
        return raw, dt * np.arange(1, n_steps + 1)
    k = round(period / dt)
    n = n_steps // k
    end = period * np.arange(1, n + 1)
    if kind == "SubSample":
        return raw[k - 1 :: k][:n], end
    if kind == "TemporalAverage":
        return raw[: n * k].reshape((n, k) + raw.shape[1:]).mean(axis=1), end - period / 2
    if kind == "Bold":
        per_interim = round(BOLD_INTERIM_PERIOD / dt)
        n_interim = n_steps // per_interim
        interim = raw[: n_interim * per_interim].reshape((n_interim, per_interim) + raw.shape[1:])
        return _tvb_bold(interim.mean(axis=1), round(period / BOLD_INTERIM_PERIOD)), end
    raise AssertionError(f"no independent computation for monitor {kind}")


# --------------------------------------------------------------------------- registry
def test_kinds_and_rules_are_the_same_registry() -> None:
    assert KINDS and set(MONITOR_RULES) == set(MONITOR_KINDS)
    assert MONITORS == tuple(MONITOR_KINDS)
    for name, kind in MONITOR_KINDS.items():
        assert kind.name == name and get_monitor_kind(name) is kind
        assert monitor_rule(name) is MONITOR_RULES[name]
    assert set(PERIOD) == set(KINDS), "give every monitor kind a test period"


def test_unknown_monitor_lists_valid_names() -> None:
    for lookup in (get_monitor_kind, monitor_rule):
        with pytest.raises(KeyError) as info:
            lookup("Spectrum")
        assert all(name in str(info.value) for name in KINDS)
    with pytest.raises(ConfigError, match=r"valid: Raw, SubSample") as info:
        Experiment.from_dict({"monitors": [{"type": "Spectrum", "period": 1.0}]})
    assert info.value.key == "monitors[0].type"


def test_experiment_reads_the_kinds_without_jax() -> None:
    code = (
        "import sys; from tvbo_pipe.experiment import MONITORS, MonitorSpec; "
        "assert MonitorSpec('Bold', 1000.0).kind.bold and 'Raw' in MONITORS; "
        "assert 'jax' not in sys.modules, 'jax imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_is_consistent(kind: str) -> None:
    k = MONITOR_KINDS[kind]
    assert k.description and 0.0 <= k.time_offset < 1.0
    assert k.stock_length == (round(BOLD_HRF_LENGTH / BOLD_INTERIM_PERIOD) if k.bold else 0)
    assert k.hrf_kernels == (HRF_KERNELS if k.bold else ())
    assert not k.bold or (k.periodic and k.averages)  # BOLD: means over 4 ms, sampled
    assert k.periodic or k.time_offset == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_validation_asks_for_a_period_and_an_hrf(kind: str) -> None:
    k = MONITOR_KINDS[kind]
    if k.periodic:
        with pytest.raises(ConfigError, match="needs a period") as info:
            Experiment.from_dict({"monitors": [{"type": kind}]})
        assert info.value.key == "monitors[0].period"
    else:
        assert Experiment.from_dict({"monitors": [{"type": kind}]}).monitors[0].kind is k
    bad_hrf = {"type": kind, "period": PERIOD[kind], "hrf": "Gamma"}
    if k.bold:
        with pytest.raises(ConfigError, match="FirstOrderVolterra"):
            Experiment.from_dict({"monitors": [bad_hrf]})
    else:  # the hrf of a monitor without one is not looked at
        assert Experiment.from_dict({"monitors": [bad_hrf]}).monitors[0].kind is k


# --------------------------------------------------------------------------- outputs
def _simulate(kind: str, *, replace_temporal_averaging: bool = False):
    rng = np.random.default_rng(1)
    w = rng.uniform(size=(N_NODES, N_NODES))
    np.fill_diagonal(w, 0.0)
    conn = Connectome(w, None, tuple(f"R{i}" for i in range(N_NODES)))
    spec = {"type": kind, "period": PERIOD[kind], "variables": ["V", "W"]}
    exp = Experiment.from_dict(
        {
            "model": {"name": "Generic2dOscillator"},
            "coupling": {"name": "Linear", "parameters": {"a": 0.1}},
            "integration": {"method": "Heun", "dt": DT, "duration": DURATION,
                            "noise": {"sigma": 0.01}, "seed": 4},
            "monitors": [{"type": "Raw", "variables": ["V", "W"]}]
            + ([spec] if kind != "Raw" else []),
        }
    )  # fmt: skip
    sim, conn = build_simulator(exp, conn, replace_temporal_averaging=replace_temporal_averaging)
    out = integrate(sim, default_params(sim, conn))
    return out["Raw"], out[MonitorSpec(kind, PERIOD[kind]).name]


@pytest.mark.parametrize("kind", KINDS)
def test_output_matches_an_independent_computation(kind: str) -> None:
    raw, got = _simulate(kind)
    raw_data = np.asarray(raw.data)
    data, time = _from_raw(kind, raw_data, PERIOD[kind], DT)
    assert got.period == (PERIOD[kind] or DT)
    assert got.variables == ("V", "W") and got.labels == raw.labels
    assert got.data.shape == data.shape == (len(time), 2, N_NODES)
    np.testing.assert_allclose(np.asarray(got.time), time, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(got.data), data, rtol=1e-10, atol=1e-12)
    assert np.isfinite(np.asarray(got.data)).all() and np.ptp(data) > 0  # not a flat signal


@pytest.mark.parametrize("kind", [k for k in KINDS if MONITOR_KINDS[k].averages])
def test_replace_temporal_averaging_subsamples(kind: str) -> None:
    raw, got = _simulate(kind, replace_temporal_averaging=True)
    raw_data = np.asarray(raw.data)
    if MONITOR_KINDS[kind].bold:  # interim samples are the state every 4 ms
        per = round(BOLD_INTERIM_PERIOD / DT)
        expected = _tvb_bold(raw_data[per - 1 :: per], round(PERIOD[kind] / BOLD_INTERIM_PERIOD))
    else:
        expected = _from_raw("SubSample", raw_data, PERIOD[kind], DT)[0]
    np.testing.assert_allclose(np.asarray(got.data), expected, rtol=1e-10, atol=1e-12)
    k = round(PERIOD[kind] / DT)
    np.testing.assert_allclose(np.asarray(got.time), DT * k * np.arange(1, len(expected) + 1))


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_have_finite_gradients(kind: str) -> None:
    spec = MonitorSpec(kind, PERIOD[kind])
    exp = Experiment.from_dict(
        {
            "model": {"name": "Generic2dOscillator"},
            "coupling": {"name": "Linear", "parameters": {"a": 0.1}},
            "integration": {"method": "Heun", "dt": 2.0, "duration": 2000.0},
            "monitors": [{"type": kind, "period": PERIOD[kind]}],
        }
    )
    conn = Connectome(np.ones((2, 2)) - np.eye(2), None, ("A", "B"))
    sim, conn = build_simulator(exp, conn)
    params = default_params(sim, conn)

    def mean_output(a):
        p = {**params, "coupling": {**params["coupling"], "a": a}}
        return integrate(sim, p)[spec.name].data.mean()

    g = jax.jit(jax.grad(mean_output))(jnp.asarray(0.1))
    f = jax.jit(mean_output)
    eps = 1e-6
    fd = (f(jnp.asarray(0.1 + eps)) - f(jnp.asarray(0.1 - eps))) / (2 * eps)
    assert np.isfinite(float(g)) and float(g) == pytest.approx(float(fd), rel=1e-5, abs=1e-10)


# --------------------------------------------------------------------------- BOLD closed form
@pytest.mark.parametrize("hrf_kernel", HRF_KERNELS)
def test_bold_step_response(hrf_kernel: str) -> None:
    """A unit step at ``t = onset``: FirstOrderVolterra gives ``(sum of the kernel
    taps since the onset - 1) k_1 V_0``; the balloon model settles from its
    resting value 0 to a positive plateau."""

    class _Model:
        state_variable_names = ("x",)
        variables_of_interest = ("x",)

    spec = MonitorSpec("Bold", 1000.0, hrf=hrf_kernel)
    dt = BOLD_INTERIM_PERIOD
    plans, _, block = plan_monitors([spec], _Model(), dt)
    n_steps, onset = 40_000 // round(dt), 5_000 // round(dt)  # 40 s, step after 5 s
    x = np.zeros((n_steps // block, 1, 1))
    x[onset:] = 1.0
    stock = jnp.zeros((MONITOR_KINDS["Bold"].stock_length, 1, 1))
    out, stocks = compute_outputs(
        plans, None, jnp.asarray(x), block, dt, 0, ("R0",), {spec.name: stock}, fft=False
    )
    bold = np.asarray(out[spec.name].data[:, 0, 0])
    np.testing.assert_allclose(np.asarray(out[spec.name].time), 1000.0 * np.arange(1, 41))
    np.testing.assert_array_equal(np.asarray(stocks[spec.name]), x[-stock.shape[0] :])
    if hrf_kernel == "FirstOrderVolterra":
        n_stock = stock.shape[0]
        g = hrf.first_order_volterra(np.arange(n_stock) * dt / 1000.0)
        taps = np.append(g[-1], g[:-1])  # taps[k]: the sample k before the newest
        since = np.arange(1, 41) * round(1000.0 / dt) - onset  # samples since the onset
        expected = np.array([taps[: min(s, n_stock)].sum() if s > 0 else 0.0 for s in since])
        k1v0 = hrf.VOLTERRA["k_1"] * hrf.VOLTERRA["V_0"]
        np.testing.assert_allclose(bold, (expected - 1.0) * k1v0, rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_allclose(bold[:5], 0.0, atol=1e-12)  # at rest before the step
        assert bold[-1] > 0 and abs(bold[-1] - bold[-2]) < 1e-3 * bold[-1]

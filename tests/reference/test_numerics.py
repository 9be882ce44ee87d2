"""Numerical references: analytic solutions, stationary statistics, finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.sim import integrators
from tvbo_pipe.sim.simulator import build_simulator, default_params, integrate, prepare

pytestmark = pytest.mark.reference

A = np.array([[-0.2, -1.0], [1.0, -0.2]])  # damped rotation, exact solution expm(A t) x0


@pytest.mark.parametrize("name", list(integrators.SCHEMES))
def test_order_of_convergence_on_a_linear_system(name):
    scheme = integrators.get_scheme(name)
    x0 = jnp.array([[1.0], [0.5]])
    t_end = 2.0
    exact = expm(A * t_end) @ np.asarray(x0)

    def solve(dt):
        n = round(t_end / dt)
        step = jax.jit(lambda x: scheme(lambda y: jnp.asarray(A) @ y, x, dt))
        x = x0
        for _ in range(n):
            x = step(x)
        return x

    dts = 2.0 ** -np.arange(3, 8)
    errors = [float(np.abs(np.asarray(solve(dt)) - exact).max()) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert slope == pytest.approx(integrators.ORDER[name], abs=0.15), errors


def _hopf_ou(sigma, convention, a=-1.0, duration=40000.0, dt=0.5):
    """SupHopf far below the bifurcation: an isotropic 2-D Ornstein-Uhlenbeck process."""
    conn = Connectome(np.zeros((1, 1)), None, ("R0",))
    exp = Experiment.from_dict(
        {
            "model": {"name": "SupHopf", "parameters": {"a": a, "omega": 0.3}},
            "integration": {
                "method": "Heun",
                "dt": dt,
                "duration": duration,
                "seed": 11,
                "noise": {"sigma": sigma, "convention": convention},
            },
            "monitors": [{"type": "Raw", "variables": ["x", "y"]}],
            "initial_conditions": {"type": "given", "values": {"x": 0.0, "y": 0.0}},
        }
    )
    sim, c = build_simulator(exp, conn)
    return np.asarray(integrate(sim, default_params(sim, c))["Raw"].data[2000:, :, 0])


def _heun_stationary_covariance(a, omega, dt, noise_var_per_step):
    """Exact stationary covariance of TVB's stochastic Heun on dx = A x dt + dW.

    For linear f the scheme is x' = M x + B dW with M = I + A dt + (A dt)^2 / 2
    and B = I + A dt / 2; the covariance solves S = M S M^T + q B B^T.
    """
    from scipy.linalg import solve_discrete_lyapunov

    lin = np.array([[a, -omega], [omega, a]])
    m = np.eye(2) + lin * dt + (lin * dt) @ (lin * dt) / 2
    b = np.eye(2) + lin * dt / 2
    return solve_discrete_lyapunov(m, noise_var_per_step * b @ b.T)


@pytest.mark.parametrize(("convention", "amplitude"), [("sigma", 0.01), ("tvb", 5e-5)])
@pytest.mark.parametrize("dt", [0.5, 0.05])
def test_stochastic_heun_ou_stationary_variance(convention, amplitude, dt):
    """Variance of the discrete scheme (exact), and the continuous OU limit sigma^2 / (2|a|)."""
    x = _hopf_ou(amplitude, convention, dt=dt, duration=40000.0 if dt == 0.5 else 8000.0)
    q = amplitude**2 * dt if convention == "sigma" else 2 * amplitude * dt
    discrete = np.diag(_heun_stationary_covariance(-1.0, 0.3, dt, q))
    continuous = q / dt / 2.0
    # >= 8 000 ms / 1 ms correlation time: a few % standard error of the variance
    np.testing.assert_allclose(x.var(axis=0), discrete, rtol=0.06)
    if dt == 0.05:
        np.testing.assert_allclose(x.var(axis=0), continuous, rtol=0.08)
    else:  # at a*dt = -0.5 the scheme's bias is clearly visible and predicted
        assert discrete[0] < 0.95 * continuous


def _fd_connectome(n=5):
    rng = np.random.default_rng(7)
    w = rng.uniform(0, 1, (n, n))
    np.fill_diagonal(w, 0)
    lengths = rng.uniform(10, 60, (n, n))
    return Connectome(w / w.max(), (lengths + lengths.T) / 2, tuple(f"R{k}" for k in range(n)))


def _loss_model(speed=float("inf"), interpolation="nearest"):
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.6, "I_o": 0.3}},
            "connectivity": {"conduction_speed": speed, "delay_interpolation": interpolation},
            "coupling": {"name": "Linear", "parameters": {"a": 0.4}},
            "integration": {
                "method": "Heun",
                "dt": 1.0,
                "duration": 600.0,
                "seed": 5,
                "noise": {"sigma": 0.002},
            },
            "monitors": [{"type": "TemporalAverage", "period": 20.0}],
        }
    )
    model, state = prepare(exp, _fd_connectome())

    def loss(s):
        y = model(s)["TemporalAverage_20ms"].data[:, 0]
        return jnp.sum((y - 0.3) ** 2) + jnp.sum(y[:, 0] * y[:, 1])

    return loss, state


def _fd(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(("section", "name"), [("coupling", "a"), ("model", "w"), ("model", "I_o")])
def test_gradient_global_parameters_vs_finite_differences(section, name):
    loss, state = _loss_model()

    def f(v):
        return loss({**state, section: {**state[section], name: v}})

    v0 = state[section][name]
    g = jax.grad(f)(v0)
    np.testing.assert_allclose(g, _fd(f, v0, 1e-6), rtol=1e-6)


def test_gradient_regional_parameters_vs_finite_differences():
    loss, state = _loss_model(speed=6.0)
    v0 = jnp.full(5, 0.3)

    def f(v):
        return loss({**state, "model": {**state["model"], "I_o": v}})

    g = jax.grad(f)(v0)
    for k in range(5):
        e = jnp.zeros(5).at[k].set(1.0)
        fd = (f(v0 + 1e-6 * e) - f(v0 - 1e-6 * e)) / 2e-6
        np.testing.assert_allclose(g[k], fd, rtol=1e-6)


def test_gradient_wrt_conduction_speed_with_interpolated_delays():
    loss, state = _loss_model(speed=4.0, interpolation="linear")

    def f(v):
        return loss({**state, "network": {**state["network"], "speed": v}})

    v0 = state["network"]["speed"]
    g = jax.grad(f)(v0)
    assert g != 0
    # piecewise linear in the delay: the step must stay inside one interpolation cell
    np.testing.assert_allclose(g, _fd(f, v0, 1e-7), rtol=1e-5)

"""Haemodynamic models turning neural activity into BOLD.

- :func:`first_order_volterra`: TVB's default HRF kernel (the first Volterra
  kernel of the balloon model), used by a linear convolution.
- :func:`balloon_windkessel`: the nonlinear balloon-windkessel ODE
  (Friston et al. 2000; Stephan et al. 2007), integrated on the interim grid.

Time in these functions is in **seconds** (as in the references); the monitor
converts from ms.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: TVB's FirstOrderVolterra defaults.
VOLTERRA = {"tau_s": 0.8, "tau_f": 0.4, "k_1": 5.6, "V_0": 0.02}

#: Balloon-windkessel constants (Stephan et al. 2007, Table 1; Friston et al. 2000).
BALLOON = {"kappa": 0.65, "gamma": 0.41, "tau": 0.98, "alpha": 0.32, "rho": 0.34, "V_0": 0.02}


def first_order_volterra(t_s: np.ndarray, tau_s: float = 0.8, tau_f: float = 0.4) -> np.ndarray:
    r"""TVB's FirstOrderVolterra kernel.

    .. math:: G(t) = \frac{1}{3} e^{-t / (2\tau_s)}
              \frac{\sin(\omega t)}{\omega}, \quad
              \omega = \sqrt{1/\tau_f - 1/(4\tau_s^2)}

    Args:
        t_s: Times in s.

    References:
        Friston KJ, Mechelli A, Turner R, Price CJ (2000). Nonlinear responses
        in fMRI: the Balloon model, Volterra kernels, and other hemodynamics.
        NeuroImage 12:466-477. doi:10.1006/nimg.2000.0630
    """
    omega = np.sqrt(1.0 / tau_f - 1.0 / (4.0 * tau_s**2))
    return 1.0 / 3.0 * np.exp(-0.5 * (t_s / tau_s)) * np.sin(omega * t_s) / omega


def balloon_windkessel(z: jax.Array, dt_s: float, **constants: float) -> jax.Array:
    r"""BOLD from the balloon-windkessel model driven by ``z``.

    .. math::
        \dot s = z - \kappa s - \gamma (f - 1), \quad \dot f = s, \quad
        \tau \dot v = f - v^{1/\alpha}, \quad
        \tau \dot q = \frac{f}{\rho}\left(1 - (1-\rho)^{1/f}\right) - v^{1/\alpha} \frac{q}{v}

    .. math:: y = V_0 \left(k_1 (1 - q) + k_2 (1 - q/v) + k_3 (1 - v)\right),
              \; k_1 = 7\rho, \; k_2 = 2, \; k_3 = 2\rho - 0.2

    Integrated with forward Euler from rest (s = 0, f = v = q = 1).

    Args:
        z: Neural activity ``(n_time, ...)`` sampled every ``dt_s`` seconds.
        dt_s: Sampling interval in s.
        constants: Overrides of :data:`BALLOON`.

    Returns:
        BOLD ``(n_time, ...)``.

    References:
        Stephan KE, Weiskopf N, Drysdale PM, Robinson PA, Friston KJ (2007).
        Comparing hemodynamic models with DCM. NeuroImage 38:387-401.
        doi:10.1016/j.neuroimage.2007.07.040
    """
    c = {**BALLOON, **constants}
    kappa, gamma, tau, alpha, rho, v0 = (
        c[k] for k in ("kappa", "gamma", "tau", "alpha", "rho", "V_0")
    )
    k1, k2, k3 = 7.0 * rho, 2.0, 2.0 * rho - 0.2

    def step(carry, zt):
        s, f, v, q = carry
        vpow = v ** (1.0 / alpha)
        ds = zt - kappa * s - gamma * (f - 1.0)
        dv = (f - vpow) / tau
        dq = (f / rho * (1.0 - (1.0 - rho) ** (1.0 / f)) - vpow * q / v) / tau
        s, f, v, q = s + dt_s * ds, f + dt_s * s, v + dt_s * dv, q + dt_s * dq
        return (s, f, v, q), v0 * (k1 * (1.0 - q) + k2 * (1.0 - q / v) + k3 * (1.0 - v))

    ones = jnp.ones_like(z[0])
    _, y = jax.lax.scan(step, (jnp.zeros_like(z[0]), ones, ones, ones), z)
    return y

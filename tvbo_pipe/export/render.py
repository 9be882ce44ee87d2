"""Render a model or a whole experiment as a program in another language.

:func:`render_code` turns a registry model or an :class:`~tvbo_pipe.experiment.Experiment`
into source text for one of :data:`TARGETS`:

- ``jax``: a standalone script (imports NumPy and JAX only) of the whole
  experiment: the model's ``dfun``, the coupling, the integrator (Euler, Heun
  or RK4 with the experiment's ``dt``, additive noise, state bounds), conduction
  delays through a ring buffer (nearest step or linear interpolation, as the
  engine) and the monitors (Raw, SubSample, TemporalAverage, Bold with the
  FirstOrderVolterra kernel or the balloon model). ``simulate(weights, lengths)``
  runs it; without noise it reproduces :func:`tvbo_pipe.sim.simulator.prepare`
  to rounding. Its noise is drawn with ``jax.random`` and so is a different
  realisation than the engine's (same distribution).
- ``python``: ``dfun(t, y, coupling=..., **parameters)`` of one node with NumPy,
  parameters as keyword arguments with their (experiment) values, for
  ``scipy.integrate.solve_ivp``.
- ``julia``: a DifferentialEquations.jl network problem: in-place
  ``dfun!(du, u, p, t)`` with the coupling summed over the weights, the
  parameter named tuple, initial conditions, ``tspan`` and the ``solve`` call
  (an ``SDEProblem`` when the experiment has noise). Conduction delays are not
  rendered (it is an ODE/SDE, not a DDE).

Everything is generated from the registry's expression form
(:mod:`tvbo_pipe.models.expressions`), the same definitions the LEMS export
(:mod:`tvbo_pipe.export.lems`) uses, and the numbers the engine's own planning
functions compute (monitor sampling, noise amplitudes), so the renderings and
the engine cannot disagree.

Example usage:
    >>> from tvbo_pipe.export import render_code
    >>> print(render_code("ReducedWongWang", "python"))
    >>> script = render_code(Experiment.load("config/experiment.yaml"), "jax")
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError, InputError
from ..experiment import CouplingSpec, Experiment, IntegrationSpec, ModelSpec, MonitorSpec
from ..models import MODELS, Model, get_model
from ..models.expressions import (
    CouplingExpressions,
    check_model,
    coupling_expressions,
    coupling_names,
    free_names,
    to_julia,
    to_python,
)

#: Code targets of :func:`render_code`.
TARGETS = ("jax", "python", "julia")

#: Connectomes up to this many regions are embedded as literals in the jax script.
MAX_LITERAL_REGIONS = 32


# --------------------------------------------------------------------------- inputs
def default_experiment(model: Model | str) -> Experiment:
    """A small deterministic experiment for a model alone.

    The coupling is the model's namesake coupling if there is one (Kuramoto),
    else ``Linear`` when the numbers of coupling rows agree, else the first
    registered coupling that fits (``SigmoidalJansenRit`` for JansenRit).
    Heun, ``dt = 0.1`` ms, 100 ms, Raw monitor, default initial conditions.
    """
    from ..sim.coupling import COUPLINGS

    model = get_model(model) if isinstance(model, str) else model
    names = [model.name, "Linear", *COUPLINGS]
    for name in names:
        cpl = COUPLINGS.get(name)
        if cpl is None or name not in _renderable_couplings():
            continue
        try:
            rows = cpl.output_rows(len(model.cvar))
        except ValueError:
            continue
        if rows == model.n_cvar:
            break
    else:  # pragma: no cover - every registry model has a fitting coupling
        raise ValueError(f"no renderable coupling fits model {model.name}")
    return Experiment(
        model=ModelSpec(name=model.name),
        coupling=CouplingSpec(name=name),
        integration=IntegrationSpec(method="Heun", dt=0.1, duration=100.0),
        monitors=(MonitorSpec(type="Raw", variables=_default_voi(model)),),
    ).validate()


def _renderable_couplings() -> tuple[str, ...]:
    from ..models.expressions import COUPLING_EXPRESSIONS

    return tuple(COUPLING_EXPRESSIONS)


def as_experiment(obj: Model | Experiment | str | Path) -> Experiment:
    """An experiment from a model, a model name, an experiment or a YAML path."""
    if isinstance(obj, Experiment):
        return obj.validate()
    if isinstance(obj, Model):
        return default_experiment(obj)
    if isinstance(obj, str) and obj in MODELS:
        return default_experiment(MODELS[obj])
    if isinstance(obj, str | Path):
        return Experiment.load(obj)
    raise TypeError(
        f"expected a Model, a model name, an Experiment or an experiment YAML path, got {obj!r}"
    )


def as_model(obj: Model | Experiment | str | Path) -> Model:
    """The model of ``obj`` (a model, a model name, an experiment or a YAML path)."""
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, str) and obj in MODELS:
        return MODELS[obj]
    return get_model(as_experiment(obj).model.name)


def _default_voi(model: Model) -> tuple[str, ...]:
    """The model's variables of interest that are state variables (Epileptor lists
    an expression, ``x2 - x1``, which monitors cannot record), else the first one."""
    names = model.state_variable_names
    voi = tuple(v for v in model.variables_of_interest if v in names)
    return voi or names[:1]


def _resolved(values: Mapping[str, Any], parameters) -> dict[str, float | list[float]]:
    out: dict[str, float | list[float]] = {}
    for p in parameters:
        v = values.get(p.name, p.default)
        out[p.name] = [float(x) for x in v] if isinstance(v, tuple | list) else float(v)
    return out


# --------------------------------------------------------------------------- literals
def _lit(value: Any) -> str:
    """Python literal of a number or a (nested) sequence of numbers."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | np.integer):
        return repr(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "math.nan"
        if math.isinf(v):
            return "math.inf" if v > 0 else "-math.inf"
        return repr(v)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(_lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list | np.ndarray):
        return "[" + ", ".join(_lit(v) for v in list(value)) + "]"
    raise TypeError(f"no literal for {value!r}")


def _jl(value: Any) -> str:
    """Julia literal of a number or a vector of numbers."""
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(_jl(v) for v in value) + "]"
    v = float(value)
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(v)


def _safe_names(names: Iterable[str], internal: Iterable[str]) -> dict[str, str]:
    """Rename the ``names`` that collide with a rendering's internal names (``u`` -> ``u_``)."""
    names = list(names)
    internal = set(internal)
    taken = set(names) | internal
    out: dict[str, str] = {}
    for n in names:
        if n in internal:
            new = n + "_"
            while new in taken:
                new += "_"
            taken.add(new)
            out[n] = new
    return out


def _derivative_names(model: Model, taken: Iterable[str]) -> dict[str, str]:
    taken = set(taken)
    out = {}
    for v in model.state_variable_names:
        name = f"d{v}_dt"
        while name in taken:
            name += "_"
        taken.add(name)
        out[v] = name
    return out


def _model_names(model: Model) -> list[str]:
    return [
        *model.state_variable_names,
        *model.parameter_names,
        *coupling_names(model),
        *(n for n, _ in model.auxiliaries),
    ]


def _comment_block(text: str, prefix: str = "# ") -> list[str]:
    return [(prefix + line).rstrip() for line in text.splitlines()]


# --------------------------------------------------------------------------- python


def render_python(obj: Model | Experiment | str | Path) -> str:
    """A SciPy-style ODE right-hand side of the model (one node).

    ``dfun(t, y, coupling=(0.0, ...), **parameters)`` returns ``dy/dt`` for the
    flattened state ``y`` (state variables in registry order); parameters are
    keyword arguments whose defaults are the experiment's scalar values (the
    model's defaults for a model alone; regional values fall back to the
    default, noted in the code). State bounds are not applied.
    """
    model = as_model(obj)
    check_model(model)
    exp = obj if isinstance(obj, Experiment) else None
    given = dict(exp.model.parameters) if exp is not None else {}
    names = _model_names(model)
    y_arg = next(n for n in ("y", "u", "state", "y_") if n not in names)
    t_arg = "t" if "t" not in names else "t_"
    cpl_arg = "coupling" if "coupling" not in names else "coupling_"
    internal = {"np", "math", y_arg, t_arg, cpl_arg}
    ren = _safe_names(
        [*model.state_variable_names, *coupling_names(model), *(n for n, _ in model.auxiliaries)],
        internal,
    )
    bad = [p for p in model.parameter_names if p in {"np", "math", y_arg, t_arg, cpl_arg}]
    if bad:  # pragma: no cover - guarded by the registry test
        raise ValueError(f"model {model.name}: parameter names {bad} clash with the rendering")

    def rn(name: str) -> str:
        return ren.get(name, name)

    dnames = _derivative_names(model, set(names) | set(ren.values()) | internal)
    svs = model.state_variable_names
    n_c = model.n_cvar
    lines = [
        '"""' + f"{model.name}: one node as a SciPy ODE right-hand side.",
        "",
        f"Rendered by tvbo_pipe {__version__} from its model registry (render_code(..., "
        '"python")).',
        "",
        *model.description.splitlines(),
        "",
        "Example usage:",
        "    from scipy.integrate import solve_ivp",
        "    sol = solve_ivp(dfun, (0.0, 100.0), Y0, max_step=0.1)",
        '"""',
        "",
        "import math",
        "",
        "import numpy as np",
        "",
        f"STATE_VARIABLES = {_lit(tuple(svs))}",
        "#: Initial state (the model's initial values).",
        f"Y0 = np.array({_lit([sv.initial_value for sv in model.state_variables])})",
        "",
        "",
    ]
    args = [t_arg, y_arg, f"{cpl_arg}={_lit((0.0,) * n_c)}"]
    regional_note = []
    for p in model.parameters:
        v = given.get(p.name, p.default)
        if isinstance(v, tuple | list):
            regional_note.append(p.name)
            v = p.default
        args.append(f"{p.name}={_lit(float(v))}")
    lines.append(f"def dfun({', '.join(args)}):")
    doc = [
        f'    """Time derivative of {y_arg} = [{", ".join(svs)}] (per ms) of TVB\'s {model.name}.',
        "",
        "    Args:",
        f"        {t_arg}: Time in ms (unused: the model is autonomous).",
        f"        {y_arg}: State vector [{', '.join(svs)}].",
        f"        {cpl_arg}: Long-range coupling inputs "
        f"[{', '.join(coupling_names(model))}], held constant.",
    ]
    for p in model.parameters:
        unit = f" [{p.unit}]" if p.unit else ""
        doc.append(f"        {p.name}: {p.description}{unit}".rstrip())
    if regional_note:
        doc += [
            "",
            f"    Regional values of {', '.join(regional_note)} in the experiment are not",
            "    rendered (one node); their defaults are the model's.",
        ]
    doc.append('    """')
    lines += doc
    for i, v in enumerate(svs):
        lines.append(f"    {rn(v)} = {y_arg}[{i}]")
    for k, c in enumerate(coupling_names(model)):
        lines.append(f"    {rn(c)} = {cpl_arg}[{k}]")
    for n, e in model.auxiliaries:
        lines.append(f"    {rn(n)} = {to_python(e, module='np', rename=rn)}")
    for v in svs:
        lines.append(f"    {dnames[v]} = {to_python(model.rhs[v], module='np', rename=rn)}")
    rows = ", ".join(dnames[v] for v in svs)
    lines += [
        f"    return np.stack(np.broadcast_arrays({rows}, {y_arg}[0])[:-1])",
        "",
        "",
        'if __name__ == "__main__":',
        "    from scipy.integrate import solve_ivp",
        "",
        "    sol = solve_ivp(dfun, (0.0, 100.0), Y0, max_step=0.1)",
        "    print(dict(zip(STATE_VARIABLES, sol.y[:, -1], strict=True)))",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- jax
_JAX_INTERNAL = {"np", "jnp", "jax", "math", "state", "coupling", "params", "argparse"}
_CPL_INTERNAL = {"np", "jnp", "jax", "math", "x_i", "x_j", "gx", "params", "n_cvar", "edge"}


def _jax_dfun(model: Model) -> list[str]:
    names = _model_names(model)
    ren = _safe_names(names, _JAX_INTERNAL)

    def rn(name: str) -> str:
        return ren.get(name, name)

    dnames = _derivative_names(model, set(names) | set(ren.values()) | _JAX_INTERNAL)
    used = set()
    for _, e in model.auxiliaries:
        used |= free_names(e)
    for e in model.rhs.values():
        used |= free_names(e)
    svs = model.state_variable_names
    lines = [
        "def dfun(state, coupling, params):",
        f'    """Time derivatives of {", ".join(svs)} (per ms): TVB\'s {model.name}.',
        "",
        "    Args:",
        f"        state: ``({len(svs)}, n_nodes)`` rows {', '.join(svs)}.",
        f"        coupling: ``({model.n_cvar}, n_nodes)`` long-range inputs "
        f"{', '.join(coupling_names(model))}.",
        "        params: Parameter name -> scalar or ``(n_nodes,)`` array.",
        '    """',
    ]
    for i, v in enumerate(svs):
        lines.append(f"    {rn(v)} = state[{i}]")
    for k, c in enumerate(coupling_names(model)):
        if c in used:
            lines.append(f"    {rn(c)} = coupling[{k}]")
    for p in model.parameter_names:
        if p in used:
            lines.append(f"    {rn(p)} = params[{p!r}]")
    for n, e in model.auxiliaries:
        lines.append(f"    {rn(n)} = {to_python(e, module='jnp', rename=rn)}")
    for v in svs:
        lines.append(f"    {dnames[v]} = {to_python(model.rhs[v], module='jnp', rename=rn)}")
    rows = ", ".join(dnames[v] for v in svs)
    lines.append(f"    return jnp.stack(jnp.broadcast_arrays({rows}, state[0])[:-1])")
    return lines


def _jax_coupling(ce: CouplingExpressions, parameters) -> list[str]:
    pnames = [p.name for p in parameters]
    ren = _safe_names(pnames, _CPL_INTERNAL)

    def rn(n: str) -> str:
        return ren.get(n, n)

    pre_used = free_names(ce.pre)
    post_used = free_names(ce.post)
    lines = [
        "def coupling_pre(x_i, x_j, params):",
        '    """``pre`` of the coupling, elementwise on the edges.',
        "",
        "    ``x_i``: ``(n_cvar, n_nodes, 1)`` targets' current values; ``x_j``:",
        "    ``(n_cvar, n_nodes, K)`` sources' (delayed) values. Regional",
        "    parameters are per target node.",
        '    """',
    ]
    for p in pnames:
        if p in pre_used:
            lines.append(f"    {rn(p)} = edge(params[{p!r}])")
    if ce.rowwise:
        lines.append(f"    return {to_python(ce.pre, module='jnp', rename=rn)}")
    else:
        for n in sorted(pre_used):
            if n.startswith(("x_i_", "x_j_")):
                lines.append(f"    {n} = {n[:3]}[{int(n[4:])}]")
        lines.append(f"    return ({to_python(ce.pre, module='jnp', rename=rn)})[None]")
    lines += [
        "",
        "",
        "def coupling_post(gx, params):",
        '    """``post`` of the coupling on the weighted sums ``gx`` ``(n_out, n_nodes)``."""',
    ]
    if "n_cvar" in post_used:
        lines.append("    n_cvar = gx.shape[0]")
    for p in pnames:
        if p in post_used:
            lines.append(f"    {rn(p)} = params[{p!r}]")
    lines.append(f"    return {to_python(ce.post, module='jnp', rename=rn)}")
    return lines


_JAX_RUNTIME = '''
def edge(value):
    """A scalar or per-target ``(n_nodes,)`` parameter, broadcastable against edges."""
    value = jnp.asarray(value)
    return value if value.ndim == 0 else value[..., None]


# --------------------------------------------------------------------------- delays
def delay_plan(weights, lengths):
    """Delays of every connection (``(n, n)``, target x source) or None without delays."""
    if lengths is None or not math.isfinite(CONDUCTION_SPEED):
        return None
    w = np.asarray(weights)
    lengths = np.where(w != 0, np.asarray(lengths, dtype=float), 0.0)
    if DELAY_INTERPOLATION == "linear":
        horizon = int(np.floor(lengths.max() / (CONDUCTION_SPEED / 2.0) / DT)) + 2
        return {"horizon": horizon, "tau": lengths / (CONDUCTION_SPEED * DT)}
    idelay = np.rint(lengths / CONDUCTION_SPEED / DT).astype(np.int64)
    if not idelay.any():
        return None
    return {"horizon": int(idelay.max()) + 1, "idelay": idelay}


def coupling_input(x, history, t, weights, cparams, plan):
    """Long-range coupling of step ``t``: ``post(sum_j w_ij pre(x_i, x_j(t - d_ij)))``."""
    x_now = x[CVAR_INDEX]
    n = weights.shape[0]
    if plan is None:
        if not USES_X_I:
            pre = coupling_pre(x_now[:, :1, None], x_now[:, None, :], cparams)[:, 0, :]
            return coupling_post(pre @ weights.T, cparams)
        pre = coupling_pre(x_now[:, :, None], x_now[:, None, :], cparams)
        return coupling_post(jnp.sum(weights[None] * pre, axis=-1), cparams)
    horizon = plan["horizon"]
    src = np.broadcast_to(np.arange(n)[None, :], (n, n))
    if "tau" in plan:
        tau = jnp.asarray(plan["tau"], dtype=x.dtype)
        d0 = jnp.floor(tau)
        frac = tau - d0
        d0 = jnp.minimum(d0.astype(jnp.int32), horizon - 2)
        newer = history[:, (t - 1 - d0) % horizon, src]
        older = history[:, (t - 2 - d0) % horizon, src]
        x_j = newer + frac * (older - newer)
    else:
        x_j = history[:, (t - 1 - jnp.asarray(plan["idelay"])) % horizon, src]
    pre = coupling_pre(x_now[:, :, None], x_j, cparams)
    return coupling_post(jnp.sum(weights * pre, axis=-1), cparams)


# --------------------------------------------------------------------------- integrators
def clamp(x):
    """Clamp to the state-variable boundaries (TVB's bound_and_clamp)."""
    if BOUNDS is None:
        return x
    lo = jnp.asarray(BOUNDS[0], x.dtype)[:, None]
    hi = jnp.asarray(BOUNDS[1], x.dtype)[:, None]
    x = jnp.where(x < lo, lo, x)
    return jnp.where(x > hi, hi, x)


def euler(f, x, dt, noise):
    return clamp(x + dt * f(x) + noise)


def heun(f, x, dt, noise):
    k1 = f(x)
    inter = clamp(x + dt * k1 + noise)
    return clamp(x + 0.5 * dt * (k1 + f(inter)) + noise)


def rk4(f, x, dt, noise):
    k1 = f(x)
    k2 = f(clamp(x + 0.5 * dt * k1))
    k3 = f(clamp(x + 0.5 * dt * k2))
    k4 = f(clamp(x + dt * k3))
    return clamp(x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4) + noise)


SCHEMES = {"Euler": euler, "Heun": heun, "RK4": rk4}


# --------------------------------------------------------------------------- monitors
def volterra_kernel():
    """TVB's FirstOrderVolterra HRF taps over 20 s at the 4 ms interim sampling."""
    t_s = np.arange(BOLD_STOCK) * (20.0 / BOLD_STOCK)
    tau_s, tau_f = 0.8, 0.4
    omega = np.sqrt(1.0 / tau_f - 1.0 / (4.0 * tau_s**2))
    g = 1.0 / 3.0 * np.exp(-0.5 * (t_s / tau_s)) * np.sin(omega * t_s) / omega
    return np.roll(g, 1)


def balloon_windkessel(z, dt_s):
    """BOLD of the balloon-windkessel model driven by ``z`` (forward Euler from rest)."""
    kappa, gamma, tau, alpha, rho, v0 = 0.65, 0.41, 0.98, 0.32, 0.34, 0.02
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


def bold(interim, per, n_t, hrf):
    """BOLD every ``per`` interim samples from the 4 ms interim means (zero pre-history)."""
    full = jnp.concatenate([jnp.zeros((BOLD_STOCK,) + interim.shape[1:], interim.dtype), interim])
    idx = BOLD_STOCK - 1 + per * np.arange(1, n_t + 1)
    if hrf == "BalloonWindkessel":
        return balloon_windkessel(full, 0.004)[idx]
    h = volterra_kernel().astype(full.dtype)
    nfft = 1 << (full.shape[0] + h.shape[0] - 1).bit_length()
    spectrum = jnp.fft.rfft(full, nfft, axis=0) * jnp.fft.rfft(jnp.asarray(h), nfft)[:, None, None]
    conv = jnp.fft.irfft(spectrum, nfft, axis=0)[idx]
    return (conv - 1.0) * 5.6 * 0.02


def monitor_outputs(last, mean):
    """Monitors from the per-block states ``last`` and means ``mean`` (n_blocks, n_rec, n)."""
    out = {}
    for m in MONITORS:
        voi = np.asarray(m["voi"])
        if m["type"] in ("Raw", "SubSample"):
            k = m["istep"] // BLOCK
            n_t = last.shape[0] // k
            data = last[k - 1 : n_t * k : k][:, voi]
            time = m["istep"] * np.arange(1, n_t + 1) * DT
        elif m["type"] == "TemporalAverage":
            k = m["istep"] // BLOCK
            n_t = mean.shape[0] // k
            data = mean[: n_t * k].reshape((n_t, k) + mean.shape[1:]).mean(axis=1)[:, voi]
            time = (m["istep"] * np.arange(1, n_t + 1) - m["istep"] / 2.0) * DT
        else:  # Bold
            k = m["interim_istep"] // BLOCK
            n_i = mean.shape[0] // k
            interim = mean[: n_i * k].reshape((n_i, k) + mean.shape[1:]).mean(axis=1)[:, voi]
            per = m["istep"] // m["interim_istep"]
            n_t = n_i // per
            data = bold(interim, per, n_t, m["hrf"])
            time = m["istep"] * np.arange(1, n_t + 1) * DT
        out[m["name"]] = {"time": np.asarray(time), "data": np.asarray(data), "variables": m["variables"]}
    return out


# --------------------------------------------------------------------------- simulation
def initial_state(n):
    """The experiment's initial conditions for ``n`` nodes, ``(n_sv, n)``."""
    rng = np.random.default_rng(SEED)
    rows = []
    for value, (lo, hi) in zip(INITIAL_VALUES, STATE_RANGES):
        if INITIAL_RANDOM:
            rows.append(rng.uniform(lo, hi, n))
        else:
            rows.append(np.broadcast_to(np.asarray(value, dtype=float), (n,)))
    return np.stack(rows)


def simulate(weights, lengths=None, *, model_parameters=None, coupling_parameters=None, x0=None, key=None):
    """Run the experiment on a connectome.

    Args:
        weights: ``(n, n)`` structural weights, ``weights[i, j]`` from node j to node i.
        lengths: ``(n, n)`` tract lengths in mm, or None (no conduction delays).
        model_parameters: Overrides of MODEL_PARAMETERS (scalars or ``(n,)`` arrays).
        coupling_parameters: Overrides of COUPLING_PARAMETERS.
        x0: ``(n_state_variables, n)`` initial state (default: the experiment's).
        key: ``jax.random`` key of the noise (default: from SEED).

    Returns:
        Monitor name -> {"time": (n_t,) ms, "data": (n_t, n_variables, n), "variables": names}.
    """
    dtype = jnp.result_type(float)
    w = jnp.asarray(weights, dtype)
    n = w.shape[0]
    mparams = {k: jnp.asarray(v, dtype) for k, v in {**MODEL_PARAMETERS, **(model_parameters or {})}.items()}
    cparams = {k: jnp.asarray(v, dtype) for k, v in {**COUPLING_PARAMETERS, **(coupling_parameters or {})}.items()}
    plan = delay_plan(weights, lengths)
    x = jnp.asarray(initial_state(n) if x0 is None else x0, dtype)
    horizon = 0 if plan is None else plan["horizon"]
    history = jnp.broadcast_to(x[CVAR_INDEX][:, None, :], (len(CVAR), horizon, n))
    key = jax.random.PRNGKey(SEED) if key is None else key
    scheme = SCHEMES[METHOD]
    scale = None if NOISE_SCALE is None else jnp.asarray(NOISE_SCALE, dtype)[:, None]
    record = np.asarray(RECORD)

    def step(x, history, t):
        c = coupling_input(x, history, t, w, cparams, plan)
        noise = 0.0
        if scale is not None:
            noise = scale * jax.random.normal(jax.random.fold_in(key, t), x.shape, dtype)
        x = scheme(lambda y: dfun(y, c, mparams), x, DT, noise)
        if plan is not None:
            history = jax.lax.dynamic_update_index_in_dim(history, x[CVAR_INDEX], t % horizon, axis=1)
        return x, history

    def block(carry, _):
        def body(i, c):
            x, history, t, acc = c
            t = t + 1
            x, history = step(x, history, t)
            return x, history, t, acc + x[record]

        x, history, t = carry
        acc = jnp.zeros((len(record), n), dtype)
        x, history, t, acc = jax.lax.fori_loop(0, BLOCK, body, (x, history, t, acc))
        return (x, history, t), (x[record], acc / BLOCK)

    @jax.jit
    def run(x, history):
        carry = (x, history, jnp.asarray(0, jnp.int32))
        _, (last, mean) = jax.lax.scan(block, carry, None, length=N_STEPS // BLOCK)
        return last, mean

    return monitor_outputs(*run(x, history))


def read_matrix(path):
    """A connectivity matrix from a tab-separated file (BEP017 dense relmat; a
    header row and a label column are skipped)."""
    rows = [line.split("\\t") for line in open(path).read().splitlines() if line.strip()]
    try:
        return np.array(rows, dtype=float)
    except ValueError:
        return np.array([r[1:] for r in rows[1:]], dtype=float)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=WEIGHTS_PATH, help="weights matrix (TSV)")
    parser.add_argument("--lengths", default=LENGTHS_PATH, help="tract lengths in mm (TSV)")
    parser.add_argument("--n-nodes", type=int, default=8, help="size of the random network used without weights")
    parser.add_argument("--out", default=None, help="write the monitors to this .npz file")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    if args.weights:
        weights = read_matrix(args.weights)
        lengths = read_matrix(args.lengths) if args.lengths else None
    elif WEIGHTS is not None:
        weights, lengths = np.array(WEIGHTS), None if LENGTHS is None else np.array(LENGTHS)
    else:
        rng = np.random.default_rng(SEED)
        weights = rng.uniform(0.0, 1.0, (args.n_nodes, args.n_nodes))
        np.fill_diagonal(weights, 0.0)
        lengths = rng.uniform(10.0, 100.0, weights.shape)
        lengths = (lengths + lengths.T) / 2.0
        print(f"no --weights given: random network of {args.n_nodes} nodes")
    out = simulate(weights, lengths)
    for name, o in out.items():
        print(f"{name}: {o['data'].shape[0]} samples of {', '.join(o['variables'])}, "
              f"{o['data'].shape[2]} nodes, mean {o['data'].mean():.6g}")
    if args.out:
        np.savez(args.out, **{f"{k}_{f}": v[f] for k, v in out.items() for f in ("time", "data")})


if __name__ == "__main__":
    main()
'''


def render_jax(obj: Model | Experiment | str | Path, *, connectome: Any | None = None) -> str:
    """A standalone JAX script of a whole experiment (see the module docstring).

    Args:
        obj: A model (then :func:`default_experiment`), an experiment or a YAML path.
        connectome: Optional :class:`~tvbo_pipe.connectome.Connectome`; embedded
            as a literal when it has at most :data:`MAX_LITERAL_REGIONS` regions.

    Raises:
        NotImplementedError: For a coupling without a pre/sum/post form
            (``PreSigmoidal``).
    """
    from ..sim.coupling import get_coupling
    from ..sim.monitors import plan_monitors
    from ..sim.noise import increment_scale

    exp = as_experiment(obj)
    model = get_model(exp.model.name)
    check_model(model)
    cpl = get_coupling(exp.coupling.name)
    ce = coupling_expressions(cpl.name)
    n_out = cpl.output_rows(len(model.cvar))
    if n_out != model.n_cvar:
        raise ConfigError(
            f"coupling {cpl.name} gives {n_out} rows, {model.name} expects {model.n_cvar}",
            key="coupling.name",
        )
    integ = exp.integration
    dt = integ.dt
    n_steps = round(integ.duration / dt)
    monitors = tuple(
        m if m.variables else MonitorSpec(m.type, m.period, _default_voi(model), m.hrf)
        for m in exp.monitors
    )
    plans, record, block = plan_monitors(monitors, model, dt)
    if n_steps % block:
        raise ConfigError(
            f"duration must be a multiple of {block * dt:g} ms (the monitors' common sampling)",
            key="integration.duration",
        )
    noise_scale = None
    if integ.noise is not None:
        scale = increment_scale(
            integ.noise.sigma, integ.noise.convention, model.state_variable_names, dt
        )[:, 0]
        noise_scale = [float(v) for v in scale] if np.any(scale) else None
    bounds = None
    if any(sv.boundaries for sv in model.state_variables):
        lo = [(sv.boundaries or (None, None))[0] for sv in model.state_variables]
        hi = [(sv.boundaries or (None, None))[1] for sv in model.state_variables]
        bounds = (
            [-math.inf if v is None else float(v) for v in lo],
            [math.inf if v is None else float(v) for v in hi],
        )
    ics = exp.initial_conditions
    init_values = []
    for sv in model.state_variables:
        v = ics.values.get(sv.name) if ics.type == "given" else None
        v = sv.initial_value if v is None else v
        init_values.append([float(x) for x in v] if isinstance(v, tuple | list) else float(v))
    weights = lengths = None
    if connectome is not None and connectome.n_regions <= MAX_LITERAL_REGIONS:
        weights = np.asarray(connectome.weights, dtype=float).tolist()
        if connectome.lengths is not None:
            lengths = np.asarray(connectome.lengths, dtype=float).tolist()
    monitor_dicts = tuple(
        {
            "type": p.type,
            "name": p.name,
            "istep": p.istep,
            "voi": p.voi,
            "variables": p.variables,
            "hrf": p.hrf,
            "interim_istep": p.interim_istep,
        }
        for p in plans
    )
    conn = exp.connectivity
    header = [
        "#!/usr/bin/env python3",
        f'"""{model.name} network simulation with {cpl.name} coupling ({integ.method}, '
        f"dt = {dt:g} ms).",
        "",
        f'Rendered by tvbo_pipe {__version__} (render_code(..., "jax")) from the model',
        "registry and the experiment below. Standalone: it needs only NumPy and JAX.",
        "``simulate(weights, lengths)`` runs the experiment on a connectome and returns",
        "the monitors' outputs. From the command line::",
        "",
        "    python this_script.py --weights W.tsv [--lengths L.tsv] [--out out.npz]",
        "",
        "with the matrices as tab-separated text (BIDS BEP017 ``*_relmat.dense.tsv``);",
        "without ``--weights`` a small random network is simulated.",
        "",
        "Noise, if any, is drawn with jax.random: a different realisation than",
        "tvbo_pipe's engine, with the same distribution.",
        '"""',
        "",
        "# The experiment (YAML):",
        *_comment_block(exp.dumps()),
        "",
        "import argparse",
        "import math",
        "",
        "import jax",
        "import jax.numpy as jnp",
        "import numpy as np",
        "",
        "# --------------------------------------------------------------------------- experiment",
        f"MODEL = {model.name!r}",
        f"STATE_VARIABLES = {_lit(model.state_variable_names)}",
        f"CVAR = {_lit(tuple(model.cvar))}  # indices of the coupling variables",
        "CVAR_INDEX = np.asarray(CVAR)",
        f"MODEL_PARAMETERS = {_lit(_resolved(exp.model.parameters, model.parameters))}",
        f"COUPLING = {cpl.name!r}",
        f"COUPLING_PARAMETERS = {_lit(_resolved(exp.coupling.parameters, cpl.parameters))}",
        f"USES_X_I = {ce.uses_x_i!r}  # pre reads the target's own state",
        f"METHOD = {integ.method!r}",
        f"DT = {_lit(float(dt))}  # ms",
        f"N_STEPS = {n_steps}  # {integ.duration:g} ms",
        f"SEED = {integ.seed}",
        "#: Standard deviation of each state variable's noise increment per step, or None.",
        f"NOISE_SCALE = {_lit(noise_scale)}",
        "#: (lower, upper) bounds of each state variable, or None.",
        f"BOUNDS = {_lit(bounds)}",
        f"CONDUCTION_SPEED = {_lit(float(conn.conduction_speed))}  # mm/ms (math.inf: no delays)",
        f"DELAY_INTERPOLATION = {conn.delay_interpolation!r}",
        f"INITIAL_RANDOM = {ics.type == 'random'!r}  # uniform in STATE_RANGES (seeded by SEED)",
        f"INITIAL_VALUES = {_lit(init_values)}",
        f"STATE_RANGES = {_lit([list(sv.range) for sv in model.state_variables])}",
        "#: Recorded state variables, and the steps per block of the time loop.",
        f"RECORD = {_lit(tuple(record))}",
        f"BLOCK = {block}",
        f"MONITORS = {_lit(monitor_dicts)}",
        "BOLD_STOCK = 5000  # interim samples (4 ms each) of the 20 s HRF",
        f"WEIGHTS_PATH = {conn.weights!r}",
        f"LENGTHS_PATH = {conn.lengths!r}",
        f"WEIGHTS = {_lit(weights)}",
        f"LENGTHS = {_lit(lengths)}",
        "",
        "",
        "# --------------------------------------------------------------------------- model",
        *_jax_dfun(model),
        "",
        "",
        "# --------------------------------------------------------------------------- coupling",
        *_jax_coupling(ce, cpl.parameters),
        "",
    ]
    return "\n".join(header) + _JAX_RUNTIME


# --------------------------------------------------------------------------- julia
_JL_INTERNAL = {"du", "u", "p", "t", "n", "k", "j", "weights", "ifelse", "pi", "Inf", "NaN"}

_JL_METHODS = {"Euler": "Euler()", "Heun": "Heun()", "RK4": "RK4()"}
_JL_SDE_METHODS = {"Euler": "EM()", "Heun": "EulerHeun()", "RK4": "SRA1()"}


def render_julia(obj: Model | Experiment | str | Path) -> str:
    """A DifferentialEquations.jl problem of the experiment's network (no delays).

    ``u`` is ``(n_state_variables, n_nodes)``; the coupling of node ``k`` is
    ``post(sum_j weights[k, j] * pre(u[cvar, k], u[cvar, j]))``. Coupling
    parameters carry a ``cpl_`` prefix in ``p``. Regional parameter values are
    vectors indexed by node.
    """
    from ..sim.coupling import get_coupling
    from ..sim.noise import increment_scale

    exp = as_experiment(obj)
    model = get_model(exp.model.name)
    check_model(model)
    cpl = get_coupling(exp.coupling.name)
    ce = coupling_expressions(cpl.name)
    mvals = _resolved(exp.model.parameters, model.parameters)
    cvals = _resolved(exp.coupling.parameters, cpl.parameters)
    names = _model_names(model)
    cpl_names = {p.name: f"cpl_{p.name}" for p in cpl.parameters}
    ren = _safe_names(names, _JL_INTERNAL | set(cpl_names.values()))
    regional = {k for k, v in mvals.items() if isinstance(v, list)}
    cregional = {k for k, v in cvals.items() if isinstance(v, list)}

    def rn(name: str) -> str:
        new = ren.get(name, name)
        return f"{new}[k]" if name in regional else new

    def rn_cpl(name: str) -> str:
        if name in cpl_names:
            return f"{cpl_names[name]}[k]" if name in cregional else cpl_names[name]
        return name

    svs = model.state_variable_names
    row = {v: i + 1 for i, v in enumerate(svs)}
    used: set[str] = set()
    for _, e in model.auxiliaries:
        used |= free_names(e)
    for e in model.rhs.values():
        used |= free_names(e)
    pnames = [p for p in model.parameter_names if p in used]
    cp_used = free_names(ce.pre) | free_names(ce.post)
    cnames = [cpl_names[p.name] for p in cpl.parameters if p.name in cp_used]
    integ = exp.integration
    dt = integ.dt
    conn = exp.connectivity
    lines = [
        f"# {model.name} network with {cpl.name} coupling as a DifferentialEquations.jl problem.",
        f'# Rendered by tvbo_pipe {__version__} (render_code(..., "julia")) from its model',
        "# registry and the experiment below. Run: julia this_file.jl [weights.tsv]",
        "# (weights: tab-separated, weights[k, j] from node j to node k).",
        "#",
        *_comment_block(model.description),
    ]
    if math.isfinite(conn.conduction_speed):
        lines += [
            "#",
            f"# NOTE: the experiment has conduction delays (speed {conn.conduction_speed:g} mm/ms);",
            "# they are not rendered: this is an ODE/SDE problem without delays.",
        ]
    lines += [
        "#",
        "# The experiment (YAML):",
        *_comment_block(exp.dumps(), "#   "),
        "",
        "using DifferentialEquations",
        "using DelimitedFiles",
        "",
        '"""',
        "    dfun!(du, u, p, t)",
        "",
        "In-place right-hand side of the network: `u[i, k]` is state variable `i`",
        f"({', '.join(svs)}) of node `k`; `p` holds the parameters and `weights`.",
        '"""',
        "function dfun!(du, u, p, t)",
    ]
    unpack = [ren.get(x, x) for x in pnames] + cnames + ["weights"]
    if any(ren.get(x, x) != x for x in pnames):
        raise ValueError(  # pragma: no cover - registry parameters avoid Julia's names
            f"model {model.name}: a parameter name clashes with the Julia rendering"
        )
    lines.append(f"    (; {', '.join(unpack)}) = p")
    lines.append("    n = size(u, 2)")
    lines.append("    @inbounds for k in 1:n")
    # coupling
    lines.append(f"        # long-range input of node k ({cpl.name}): post(sum_j w[k, j] pre)")
    n_cvar = len(model.cvar)
    cnames_model = coupling_names(model)
    rowwise_rows = range(n_cvar) if ce.rowwise else range(1)
    for r in rowwise_rows:
        lines.append(f"        gx_{r} = 0.0")
    lines.append("        for j in 1:n")
    for r in rowwise_rows:
        if ce.rowwise:
            env = {"x_i": f"u[{model.cvar[r] + 1}, k]", "x_j": f"u[{model.cvar[r] + 1}, j]"}
        else:
            env = {}
            for c in range(n_cvar):
                env[f"x_i_{c}"] = f"u[{model.cvar[c] + 1}, k]"
                env[f"x_j_{c}"] = f"u[{model.cvar[c] + 1}, j]"

        def pre_ren(name: str, env=env) -> str:
            return env.get(name) or rn_cpl(name)

        lines.append(f"            gx_{r} += weights[k, j] * ({to_julia(ce.pre, rename=pre_ren)})")
    lines.append("        end")
    for r, cname in enumerate(cnames_model):

        def post_ren(name: str, r=r) -> str:
            if name == "gx":
                return f"gx_{r}"
            if name == "n_cvar":
                return f"{n_cvar}"
            return rn_cpl(name)

        lines.append(f"        {rn(cname)} = {to_julia(ce.post, rename=post_ren)}")
    lines.append("        # the model")
    for v in svs:
        lines.append(f"        {rn(v)} = u[{row[v]}, k]")
    for n_, e in model.auxiliaries:
        lines.append(f"        {rn(n_)} = {to_julia(e, rename=rn)}")
    for v in svs:
        lines.append(f"        du[{row[v]}, k] = {to_julia(model.rhs[v], rename=rn)}")
    lines += ["    end", "    return nothing", "end", ""]
    # parameters
    lines.append("# model parameters, then coupling parameters (prefix cpl_)")
    entries = [f"    {p} = {_jl(mvals[p])}," for p in model.parameter_names]
    entries += [f"    {cpl_names[p]} = {_jl(cvals[p])}," for p in cvals]
    lines += ["const PARAMETERS = (", *entries, ")", ""]
    lines += [
        "weights = if length(ARGS) >= 1",
        "    readdlm(ARGS[1], '\\t', Float64)",
        "else",
        "    # a small random network",
        "    w = rand(8, 8)",
        "    for i in 1:8",
        "        w[i, i] = 0.0",
        "    end",
        "    w",
        "end",
        "n_nodes = size(weights, 1)",
        "p = merge(PARAMETERS, (weights = weights,))",
        "",
    ]
    init = []
    ics = exp.initial_conditions
    for sv in model.state_variables:
        v = ics.values.get(sv.name) if ics.type == "given" else None
        v = sv.initial_value if v is None else v
        init.append(v)
    if ics.type == "random":
        lo = _jl([sv.range[0] for sv in model.state_variables])
        hi = _jl([sv.range[1] for sv in model.state_variables])
        lines.append(f"# initial state: uniform in the state-variable ranges ({', '.join(svs)})")
        lines.append(f"u0 = {lo} .+ ({hi} .- {lo}) .* rand({len(svs)}, n_nodes)")
    elif any(isinstance(v, tuple | list) for v in init):
        rows = [
            _jl(list(v)) + "'" if isinstance(v, tuple | list) else f"fill({_jl(v)}, 1, n_nodes)"
            for v in init
        ]
        lines.append(f"u0 = vcat({', '.join(rows)})  # {', '.join(svs)}")
    else:
        lines.append(f"u0 = repeat({_jl(init)}, 1, n_nodes)  # {', '.join(svs)} of every node")
    lines.append(f"tspan = (0.0, {_jl(integ.duration)})  # ms")
    saveat = dt
    for m in exp.monitors:
        if m.type != "Raw" and m.period:
            saveat = m.period
            break
    solve_kw = f"dt = {_jl(dt)}, adaptive = false, saveat = {_jl(saveat)}"
    if any(sv.boundaries for sv in model.state_variables):
        lo = [(sv.boundaries or (None, None))[0] for sv in model.state_variables]
        hi = [(sv.boundaries or (None, None))[1] for sv in model.state_variables]
        lines += [
            f"const LOWER = {_jl([-math.inf if v is None else v for v in lo])}",
            f"const UPPER = {_jl([math.inf if v is None else v for v in hi])}",
            "# clamp to the state-variable boundaries after every step",
            "bounds = DiscreteCallback((u, t, integrator) -> true,",
            "    integrator -> (integrator.u .= clamp.(integrator.u, LOWER, UPPER));",
            "    save_positions = (false, false))",
        ]
        solve_kw += ", callback = bounds"
    scale = None
    if integ.noise is not None:
        # the diffusion coefficient: the increment's standard deviation for dt = 1
        s = increment_scale(
            integ.noise.sigma, integ.noise.convention, model.state_variable_names, 1.0
        )[:, 0]
        scale = [float(v) for v in s] if np.any(s) else None
    if scale is None:
        lines += [
            "prob = ODEProblem(dfun!, u0, tspan, p)",
            f"sol = solve(prob, {_JL_METHODS[integ.method]}; {solve_kw})",
        ]
    else:
        lines += [
            f"# additive noise: amplitude per state variable ({integ.noise.convention} convention)",
            f"const NOISE = {_jl(scale)}",
            "function noise!(du, u, p, t)",
            "    du .= NOISE",
            "    return nothing",
            "end",
            "prob = SDEProblem(dfun!, noise!, u0, tspan, p)",
            f"sol = solve(prob, {_JL_SDE_METHODS[integ.method]}; {solve_kw})",
        ]
    lines += ['println("final state: ", sol.u[end])', ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- entry points
_RENDERERS: dict[str, Callable[..., str]] = {
    "jax": render_jax,
    "python": render_python,
    "julia": render_julia,
}


def render_code(
    model_or_experiment: Model | Experiment | str | Path, target: str, **options: Any
) -> str:
    """Source code of a model or experiment in ``target`` (one of :data:`TARGETS`).

    Args:
        model_or_experiment: A registry :class:`Model`, a model name, an
            :class:`Experiment`, or the path of an experiment YAML file. A model
            alone gets :func:`default_experiment` where a target needs one.
        target: ``jax`` (standalone simulation script of the experiment),
            ``python`` (SciPy ODE function of the model) or ``julia``
            (DifferentialEquations.jl problem).
        **options: Target options (``connectome=`` for ``jax``).

    Returns:
        The program text.

    Raises:
        ValueError: Unknown target.
        NotImplementedError: The experiment's coupling cannot be rendered.
    """
    try:
        renderer = _RENDERERS[target]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}") from None
    return renderer(model_or_experiment, **options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tvbo_pipe render --target TARGET EXPERIMENT_YAML [-o FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tvbo_pipe render",
        description="Print the code, LEMS or report an experiment (or a model) becomes.",
    )
    parser.add_argument(
        "--target",
        required=True,
        choices=(*TARGETS, "lems", "report"),
        help="jax/python/julia code, BEP034-style LEMS XML, or the model report",
    )
    parser.add_argument(
        "--format", default="markdown", choices=("markdown", "html"), help="report format"
    )
    parser.add_argument("experiment", help="experiment YAML file, or a registry model name")
    parser.add_argument("-o", "--output", default=None, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        source: Any = (
            args.experiment if args.experiment in MODELS else Experiment.load(args.experiment)
        )
        if args.target == "lems":
            from .lems import to_lems

            text = to_lems(source)
        elif args.target == "report":
            from .report import model_report

            text = model_report(source, format=args.format)
        else:
            text = render_code(source, args.target)
    except (InputError, NotImplementedError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        from ..io.relmat import write_text_atomic

        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


__all__ = ["TARGETS", "as_experiment", "as_model", "default_experiment", "main", "render_code"]

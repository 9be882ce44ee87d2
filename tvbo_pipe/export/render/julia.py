"""The ``julia`` target: a DifferentialEquations.jl problem of an experiment's
network (no conduction delays), written out from the expression forms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ... import __version__
from ...experiment import Experiment
from ...models import Model, get_model
from ...models.expressions import (
    check_model,
    coupling_expressions,
    coupling_names,
    free_names,
    to_julia,
)
from ...sim.coupling import get_coupling
from ...sim.noise import increment_scale
from .common import (
    as_experiment,
    comment_block,
    jl,
    model_names,
    resolved,
    safe_names,
)

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
    exp = as_experiment(obj)
    model = get_model(exp.model.name)
    check_model(model)
    cpl = get_coupling(exp.coupling.name)
    ce = coupling_expressions(cpl.name)
    mvals = resolved(exp.model.parameters, model.parameters)
    cvals = resolved(exp.coupling.parameters, cpl.parameters)
    names = model_names(model)
    cpl_names = {p.name: f"cpl_{p.name}" for p in cpl.parameters}
    ren = safe_names(names, _JL_INTERNAL | set(cpl_names.values()))
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
        *comment_block(model.description),
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
        *comment_block(exp.dumps(), "#   "),
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
    entries = [f"    {p} = {jl(mvals[p])}," for p in model.parameter_names]
    entries += [f"    {cpl_names[p]} = {jl(cvals[p])}," for p in cvals]
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
        lo = jl([sv.range[0] for sv in model.state_variables])
        hi = jl([sv.range[1] for sv in model.state_variables])
        lines.append(f"# initial state: uniform in the state-variable ranges ({', '.join(svs)})")
        lines.append(f"u0 = {lo} .+ ({hi} .- {lo}) .* rand({len(svs)}, n_nodes)")
    elif any(isinstance(v, tuple | list) for v in init):
        rows = [
            jl(list(v)) + "'" if isinstance(v, tuple | list) else f"fill({jl(v)}, 1, n_nodes)"
            for v in init
        ]
        lines.append(f"u0 = vcat({', '.join(rows)})  # {', '.join(svs)}")
    else:
        lines.append(f"u0 = repeat({jl(init)}, 1, n_nodes)  # {', '.join(svs)} of every node")
    lines.append(f"tspan = (0.0, {jl(integ.duration)})  # ms")
    saveat = dt
    for m in exp.monitors:
        if m.kind.periodic and m.period:
            saveat = m.period
            break
    solve_kw = f"dt = {jl(dt)}, adaptive = false, saveat = {jl(saveat)}"
    if any(sv.boundaries for sv in model.state_variables):
        lo = [(sv.boundaries or (None, None))[0] for sv in model.state_variables]
        hi = [(sv.boundaries or (None, None))[1] for sv in model.state_variables]
        lines += [
            f"const LOWER = {jl([-math.inf if v is None else v for v in lo])}",
            f"const UPPER = {jl([math.inf if v is None else v for v in hi])}",
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
            f"const NOISE = {jl(scale)}",
            "function noise!(du, u, p, t)",
            "    du .= NOISE",
            "    return nothing",
            "end",
            "prob = SDEProblem(dfun!, noise!, u0, tspan, p)",
            f"sol = solve(prob, {_JL_SDE_METHODS[integ.method]}; {solve_kw})",
        ]
    lines += ['println("final state: ", sol.u[end])', ""]
    return "\n".join(lines)

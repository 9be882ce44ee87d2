"""The ``jax`` target: a script of a whole experiment that runs on tvbo_pipe's engine.

One engine: the script holds what makes the experiment (the model's
equations and the coupling written out from the registry's expression form,
parameter values, integration, noise, delay and monitor settings, optionally
a small connectome) and imports :mod:`tvbo_pipe.export.render.runtime` for
the time loop, which is the pipeline's own simulator
(:func:`tvbo_pipe.sim.simulator.build_simulator` and
:func:`~tvbo_pipe.sim.simulator.integrate`) with the script's functions
swapped in. A script's numbers therefore equal the pipeline's by construction
(to the rounding of the written-out equations, which a test checks against the
registry's ``dfun`` for every model), including the noise realisation.

Why import rather than generate a standalone copy of the runtime: a second
copy of delays, integrators and the Balloon-Windkessel model is a second
implementation to keep equal to the first (the former 264-line string
runtime was exactly that, unlinted and untested except through the script).
The cost is that the script needs tvbo_pipe installed; it records the version
it was rendered with and warns when another one runs it
(:func:`~tvbo_pipe.export.render.runtime.check_version`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ...errors import ConfigError
from ...experiment import Experiment
from ...models import Model, get_model
from ...models.expressions import (
    CouplingExpressions,
    check_model,
    coupling_expressions,
    coupling_names,
    free_names,
    to_python,
)
from ...sim.coupling import get_coupling
from .common import (
    as_experiment,
    comment_block,
    derivative_names,
    lit,
    model_names,
    resolved,
    safe_names,
)

#: Connectomes up to this many regions are embedded as literals in the jax script.
MAX_LITERAL_REGIONS = 32

_JAX_INTERNAL = {"np", "jnp", "jax", "math", "state", "coupling", "params", "runtime"}
_CPL_INTERNAL = {
    "np",
    "jnp",
    "jax",
    "math",
    "x_i",
    "x_j",
    "gx",
    "params",
    "n_cvar",
    "edge",
    "runtime",
}


def _jax_dfun(model: Model) -> list[str]:
    names = model_names(model)
    ren = safe_names(names, _JAX_INTERNAL)

    def rn(name: str) -> str:
        return ren.get(name, name)

    dnames = derivative_names(model, set(names) | set(ren.values()) | _JAX_INTERNAL)
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
    ren = safe_names(pnames, _CPL_INTERNAL)

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


def render_jax(obj: Model | Experiment | str | Path, *, connectome: Any | None = None) -> str:
    """A JAX script of a whole experiment, run by tvbo_pipe's engine (see the module docstring).

    Args:
        obj: A model (then :func:`~tvbo_pipe.export.render.default_experiment`),
            an experiment or a YAML path.
        connectome: Optional :class:`~tvbo_pipe.connectome.Connectome`; embedded
            as a literal when it has at most :data:`MAX_LITERAL_REGIONS` regions.

    Raises:
        NotImplementedError: For a coupling without a pre/sum/post form
            (``PreSigmoidal``).
        ConfigError: The coupling's output rows do not fit the model.
    """
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
    integ, conn, ics = exp.integration, exp.connectivity, exp.initial_conditions
    noise = None
    if integ.noise is not None:
        noise = {"sigma": integ.noise.sigma, "convention": integ.noise.convention}
    monitors = [
        {"type": m.type, "period": m.period, "variables": list(m.variables), "hrf": m.hrf}
        for m in exp.monitors
    ]
    weights = lengths = None
    if connectome is not None and connectome.n_regions <= MAX_LITERAL_REGIONS:
        weights = np.asarray(connectome.weights, dtype=float).tolist()
        if connectome.lengths is not None:
            lengths = np.asarray(connectome.lengths, dtype=float).tolist()
    coupling_lines = _jax_coupling(ce, cpl.parameters)
    uses_edge = any("edge(" in line for line in coupling_lines)
    lines = [
        "#!/usr/bin/env python3",
        f'"""{model.name} network simulation with {cpl.name} coupling ({integ.method}, '
        f"dt = {integ.dt:g} ms).",
        "",
        f'Rendered by tvbo_pipe {__version__} (render_code(..., "jax")) from the model',
        "registry and the experiment below. The model's equations and the coupling are",
        "written out here; the time loop (delays, integrator, noise, monitors) is",
        f"tvbo_pipe's own, so it needs tvbo_pipe (rendered with {__version__}; another",
        "version warns). ``simulate(weights, lengths)`` runs the experiment on a",
        "connectome and returns the monitors' outputs. From the command line::",
        "",
        "    python this_script.py --weights W.tsv [--lengths L.tsv] [--out out.npz]",
        "",
        "with the matrices as tab-separated text (BIDS BEP017 ``*_relmat.dense.tsv``);",
        "without ``--weights`` a small random network is simulated.",
        '"""',
        "",
        "# The experiment (YAML):",
        *comment_block(exp.dumps()),
        "",
        "import math",
        "",
        "import jax.numpy as jnp",
        "",
        "from tvbo_pipe.export.render import runtime",
        *(["from tvbo_pipe.export.render.runtime import edge"] if uses_edge else []),
        "",
        f"RENDERED_WITH = {__version__!r}  # tvbo_pipe version",
        "runtime.check_version(RENDERED_WITH)",
        "",
        "# --------------------------------------------------------------------------- experiment",
        f"MODEL = {model.name!r}",
        f"MODEL_PARAMETERS = {lit(resolved(exp.model.parameters, model.parameters))}",
        f"COUPLING = {cpl.name!r}",
        f"COUPLING_PARAMETERS = {lit(resolved(exp.coupling.parameters, cpl.parameters))}",
        f"METHOD = {integ.method!r}",
        f"DT = {lit(float(integ.dt))}  # ms",
        f"DURATION = {lit(float(integ.duration))}  # ms",
        f"SEED = {integ.seed}  # noise and random initial conditions",
        "#: Additive noise (sigma per state variable or for all; convention), or None.",
        f"NOISE = {lit(noise)}",
        f"CONDUCTION_SPEED = {lit(float(conn.conduction_speed))}  # mm/ms (math.inf: no delays)",
        f"DELAY_INTERPOLATION = {conn.delay_interpolation!r}",
        f"INITIAL_CONDITIONS = {lit({'type': ics.type, 'values': dict(ics.values)})}",
        f"MONITORS = {lit(monitors)}",
        f"WEIGHTS_PATH = {conn.weights!r}",
        f"LENGTHS_PATH = {conn.lengths!r}",
        f"WEIGHTS = {lit(weights)}",
        f"LENGTHS = {lit(lengths)}",
        "",
        "",
        "def experiment():",
        '    """The experiment as tvbo_pipe\'s experiment mapping."""',
        "    return {",
        '        "model": {"name": MODEL, "parameters": MODEL_PARAMETERS},',
        '        "coupling": {"name": COUPLING, "parameters": COUPLING_PARAMETERS},',
        '        "connectivity": {',
        '            "conduction_speed": CONDUCTION_SPEED,',
        '            "delay_interpolation": DELAY_INTERPOLATION,',
        "        },",
        '        "integration": {',
        '            "method": METHOD,',
        '            "dt": DT,',
        '            "duration": DURATION,',
        '            "seed": SEED,',
        '            "noise": NOISE,',
        "        },",
        '        "monitors": MONITORS,',
        '        "initial_conditions": INITIAL_CONDITIONS,',
        "    }",
        "",
        "",
        "# --------------------------------------------------------------------------- model",
        *_jax_dfun(model),
        "",
        "",
        "# --------------------------------------------------------------------------- coupling",
        *coupling_lines,
        "",
        "",
        "# --------------------------------------------------------------------------- run",
        "def simulate(",
        "    weights, lengths=None, *, model_parameters=None, coupling_parameters=None, x0=None, key=None",
        "):",
        '    """Run the experiment on a connectome.',
        "",
        "    Args:",
        "        weights: ``(n, n)`` structural weights, ``weights[i, j]`` from node j to node i.",
        "        lengths: ``(n, n)`` tract lengths in mm, or None (no conduction delays).",
        "        model_parameters: Overrides of MODEL_PARAMETERS (scalars or ``(n,)`` arrays).",
        "        coupling_parameters: Overrides of COUPLING_PARAMETERS.",
        "        x0: ``(n_state_variables, n)`` initial state (default: the experiment's).",
        "        key: ``jax.random`` key of the noise (default: from SEED).",
        "",
        "    Returns:",
        '        Monitor name -> {"time": (n_t,) ms, "data": (n_t, n_variables, n), '
        '"variables": names}.',
        '    """',
        "    return runtime.simulate(",
        "        experiment(),",
        "        weights,",
        "        lengths,",
        "        dfun=dfun,",
        "        coupling_pre=coupling_pre,",
        "        coupling_post=coupling_post,",
        "        model_parameters=model_parameters,",
        "        coupling_parameters=coupling_parameters,",
        "        x0=x0,",
        "        key=key,",
        "    )",
        "",
        "",
        "read_matrix = runtime.read_matrix",
        "",
        "",
        "def main(argv=None):",
        "    return runtime.main(",
        "        simulate,",
        "        argv,",
        "        description=__doc__.splitlines()[0],",
        "        weights_path=WEIGHTS_PATH,",
        "        lengths_path=LENGTHS_PATH,",
        "        weights=WEIGHTS,",
        "        lengths=LENGTHS,",
        "        seed=SEED,",
        "    )",
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
        "",
    ]
    return "\n".join(lines)

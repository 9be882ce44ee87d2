"""The ``python`` target: one node of a model as a SciPy ODE right-hand side,
written out from the model's expression form."""

from __future__ import annotations

from pathlib import Path

from ... import __version__
from ...experiment import Experiment
from ...models import Model
from ...models.expressions import check_model, coupling_names, to_python
from .common import as_model, derivative_names, lit, model_names, safe_names


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
    names = model_names(model)
    y_arg = next(n for n in ("y", "u", "state", "y_") if n not in names)
    t_arg = "t" if "t" not in names else "t_"
    cpl_arg = "coupling" if "coupling" not in names else "coupling_"
    internal = {"np", "math", y_arg, t_arg, cpl_arg}
    ren = safe_names(
        [*model.state_variable_names, *coupling_names(model), *(n for n, _ in model.auxiliaries)],
        internal,
    )
    bad = [p for p in model.parameter_names if p in {"np", "math", y_arg, t_arg, cpl_arg}]
    if bad:  # pragma: no cover - guarded by the registry test
        raise ValueError(f"model {model.name}: parameter names {bad} clash with the rendering")

    def rn(name: str) -> str:
        return ren.get(name, name)

    dnames = derivative_names(model, set(names) | set(ren.values()) | internal)
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
        f"STATE_VARIABLES = {lit(tuple(svs))}",
        "#: Initial state (the model's initial values).",
        f"Y0 = np.array({lit([sv.initial_value for sv in model.state_variables])})",
        "",
        "",
    ]
    args = [t_arg, y_arg, f"{cpl_arg}={lit((0.0,) * n_c)}"]
    regional_note = []
    for p in model.parameters:
        v = given.get(p.name, p.default)
        if isinstance(v, tuple | list):
            regional_note.append(p.name)
            v = p.default
        args.append(f"{p.name}={lit(float(v))}")
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

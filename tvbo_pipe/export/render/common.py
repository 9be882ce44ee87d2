"""What every renderer shares: the experiment a model or YAML path stands for,
literals of numbers in Python and Julia, and names that avoid a rendering's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...experiment import CouplingSpec, Experiment, IntegrationSpec, ModelSpec, MonitorSpec
from ...models import MODELS, Model, get_model
from ...models.expressions import COUPLING_EXPRESSIONS, coupling_names
from ...sim.coupling import COUPLINGS

#: Code targets of :func:`~tvbo_pipe.export.render.render_code`.
TARGETS = ("jax", "python", "julia")


# --------------------------------------------------------------------------- inputs
def default_experiment(model: Model | str) -> Experiment:
    """A small deterministic experiment for a model alone.

    The coupling is the model's namesake coupling if there is one (Kuramoto),
    else ``Linear`` when the numbers of coupling rows agree, else the first
    registered coupling that fits (``SigmoidalJansenRit`` for JansenRit).
    Heun, ``dt = 0.1`` ms, 100 ms, Raw monitor, default initial conditions.
    """
    model = get_model(model) if isinstance(model, str) else model
    names = [model.name, "Linear", *COUPLINGS]
    for name in names:
        cpl = COUPLINGS.get(name)
        if cpl is None or name not in COUPLING_EXPRESSIONS:
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
        monitors=(MonitorSpec(type="Raw", variables=default_voi(model)),),
    ).validate()


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


def default_voi(model: Model) -> tuple[str, ...]:
    """The model's variables of interest that are state variables (Epileptor lists
    an expression, ``x2 - x1``, which monitors cannot record), else the first one."""
    names = model.state_variable_names
    voi = tuple(v for v in model.variables_of_interest if v in names)
    return voi or names[:1]


def resolved(values: Mapping[str, Any], parameters) -> dict[str, float | list[float]]:
    out: dict[str, float | list[float]] = {}
    for p in parameters:
        v = values.get(p.name, p.default)
        out[p.name] = [float(x) for x in v] if isinstance(v, tuple | list) else float(v)
    return out


# --------------------------------------------------------------------------- literals
def lit(value: Any) -> str:
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
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list | np.ndarray):
        return "[" + ", ".join(lit(v) for v in list(value)) + "]"
    raise TypeError(f"no literal for {value!r}")


def jl(value: Any) -> str:
    """Julia literal of a number or a vector of numbers."""
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(jl(v) for v in value) + "]"
    v = float(value)
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(v)


def safe_names(names: Iterable[str], internal: Iterable[str]) -> dict[str, str]:
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


def derivative_names(model: Model, taken: Iterable[str]) -> dict[str, str]:
    taken = set(taken)
    out = {}
    for v in model.state_variable_names:
        name = f"d{v}_dt"
        while name in taken:
            name += "_"
        taken.add(name)
        out[v] = name
    return out


def model_names(model: Model) -> list[str]:
    return [
        *model.state_variable_names,
        *model.parameter_names,
        *coupling_names(model),
        *(n for n, _ in model.auxiliaries),
    ]


def comment_block(text: str, prefix: str = "# ") -> list[str]:
    return [(prefix + line).rstrip() for line in text.splitlines()]


# --------------------------------------------------------------------------- python

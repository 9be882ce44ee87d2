"""An experiment (or a model) as LEMS XML, the equation format of BIDS BEP034.

:func:`to_lems` writes one ``<Lems>`` document with

- a ``ComponentType`` for the model: a ``Parameter`` per model parameter, a
  ``Requirement`` per coupling input (``c_0``, ...), an ``Exposure`` and a
  ``StateVariable`` per state variable, and ``Dynamics`` with a
  ``DerivedVariable`` per auxiliary and a ``TimeDerivative`` per state
  variable; each ``where`` of the expression form becomes a
  ``ConditionalDerivedVariable`` with two ``Case`` elements;
- a ``ComponentType`` for the coupling function, named ``{name}Coupling``
  (``pre`` and ``post`` as derived variables);
- ``ComponentType`` declarations for the experiment's settings
  (connectivity, integrator, noise, monitors, initial conditions);
- ``Component`` elements with the experiment's values: every model and
  coupling parameter (regional values are written space-separated), the
  integration, noise, monitors and initial conditions.

All equations come from the registry's expression form
(:mod:`tvbo_pipe.models.expressions`), the same definitions the code
renderings use; :func:`read_lems` and :func:`experiment_from_lems` read the
document back (tests check both against the registry for every model).

Quantities are dimensionless in LEMS terms (``dimension="none"``): the
models mix unit conventions (TVB's), so units are given in the descriptions
(``[ms]``) rather than as LEMS dimensions.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..experiment import Experiment
from ..models import Model, get_model
from ..models.expressions import (
    check_model,
    coupling_expressions,
    coupling_names,
    from_lems,
)
from ..models.expressions import to_lems as expr_to_lems

#: Namespace of the LEMS documents written.
LEMS_NAMESPACE = "http://www.neuroml.org/lems/0.7.6"
_NS = {"lems": LEMS_NAMESPACE}
_NONE = "none"


def _num(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " ".join(_num(v) for v in value)
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _parse_num(text: str) -> float | tuple[float, ...]:
    parts = text.split()
    if len(parts) == 1:
        return float(parts[0])
    return tuple(float(p) for p in parts)


def _describe(description: str, unit: str) -> str:
    return f"{description} [{unit}]" if unit else description


def _sub(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})


def _dynamics_entry(dyn: ET.Element, name: str, expr: str, *, derivative: bool) -> None:
    value, cases = expr_to_lems(expr, name=f"{name}_dt" if derivative else name)
    for c in cases:
        cdv = _sub(dyn, "ConditionalDerivedVariable", name=c.name, dimension=_NONE)
        _sub(cdv, "Case", condition=c.condition, value=c.value)
        _sub(cdv, "Case", value=c.otherwise)
    if derivative:
        _sub(dyn, "TimeDerivative", variable=name, value=value)
    else:
        _sub(dyn, "DerivedVariable", name=name, dimension=_NONE, exposure=name, value=value)


def _model_type(root: ET.Element, model: Model) -> None:
    check_model(model)
    ct = _sub(root, "ComponentType", name=model.name, description=model.description)
    for p in model.parameters:
        desc = p.description + (" Boolean: 0 or 1." if p.boolean else "")
        _sub(ct, "Parameter", name=p.name, dimension=_NONE, description=_describe(desc, p.unit))
    for k, c in enumerate(coupling_names(model)):
        _sub(
            ct,
            "Requirement",
            name=c,
            dimension=_NONE,
            description=f"Long-range coupling input row {k} (from the coupling function).",
        )
    for sv in model.state_variables:
        _sub(ct, "Exposure", name=sv.name, dimension=_NONE)
    for n, _ in model.auxiliaries:
        _sub(ct, "Exposure", name=n, dimension=_NONE)
    dyn = _sub(ct, "Dynamics")
    for sv in model.state_variables:
        _sub(dyn, "StateVariable", name=sv.name, dimension=_NONE, exposure=sv.name)
    for n, e in model.auxiliaries:
        _dynamics_entry(dyn, n, e, derivative=False)
    for v in model.state_variable_names:
        _dynamics_entry(dyn, v, model.rhs[v], derivative=True)


def coupling_type_name(name: str) -> str:
    """LEMS ``ComponentType`` name of a coupling: ``{name}Coupling`` (the Kuramoto
    model and the Kuramoto coupling share TVB's name)."""
    return f"{name}Coupling"


def _coupling_type(root: ET.Element, name: str, n_cvar: int) -> None:
    from ..sim.coupling import get_coupling

    cpl = get_coupling(name)
    ce = coupling_expressions(name)
    ct = _sub(root, "ComponentType", name=coupling_type_name(name), description=cpl.description)
    for p in cpl.parameters:
        _sub(ct, "Parameter", name=p.name, dimension=_NONE, description=p.description)
    _sub(ct, "Constant", name="n_cvar", dimension=_NONE, value=str(n_cvar))
    inputs = (
        ("x_i", "x_j")
        if ce.rowwise
        else tuple(f"x_{s}_{c}" for c in range(n_cvar) for s in ("i", "j"))
    )
    for x in inputs:
        _sub(ct, "Requirement", name=x, dimension=_NONE)
    _sub(
        ct,
        "Requirement",
        name="gx",
        dimension=_NONE,
        description="Weighted sum over the sources: sum_j w_ij pre(x_i, x_j).",
    )
    for part in ("pre", "post"):
        _sub(ct, "Exposure", name=part, dimension=_NONE)
    dyn = _sub(ct, "Dynamics")
    for part in ("pre", "post"):
        _dynamics_entry(dyn, part, getattr(ce, part), derivative=False)


_SETTING_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # name: (numeric parameters, text fields, description)
    "Connectivity": (
        ("conduction_speed",),
        ("weights", "lengths", "normative", "delay_interpolation"),
        "Structural connectivity: relmat paths or a normative connectome; speed in mm/ms.",
    ),
    "Integrator": (
        ("dt", "duration", "seed"),
        ("method",),
        "Fixed-step integration: method (Euler, Heun, RK4), dt and duration in ms.",
    ),
    "Monitor": (
        ("period",),
        ("kind", "variables", "hrf"),
        "A monitor (Raw, SubSample, TemporalAverage, Bold); period in ms.",
    ),
}


def _setting_types(root: ET.Element, model: Model) -> None:
    for name, (params, texts, desc) in _SETTING_TYPES.items():
        ct = _sub(root, "ComponentType", name=name, description=desc)
        for p in params:
            _sub(ct, "Parameter", name=p, dimension=_NONE)
        for t in texts:
            _sub(ct, "Text", name=t)
    svs = model.state_variable_names
    ct = _sub(
        root,
        "ComponentType",
        name="AdditiveNoise",
        description="Additive white noise: sigma for every state variable, or "
        "sigma_<variable> each; convention sigma or tvb.",
    )
    for p in ("sigma", *(f"sigma_{v}" for v in svs)):
        _sub(ct, "Parameter", name=p, dimension=_NONE)
    _sub(ct, "Text", name="convention")
    ct = _sub(
        root,
        "ComponentType",
        name="InitialConditions",
        description="Initial conditions: kind default, random or given (values per variable).",
    )
    for v in svs:
        _sub(ct, "Parameter", name=v, dimension=_NONE)
    _sub(ct, "Text", name="kind")


def to_lems(obj: Model | Experiment | str | Path) -> str:
    """The LEMS XML document of an experiment (a model alone gets
    :func:`~tvbo_pipe.export.render.default_experiment`).

    Raises:
        NotImplementedError: For a coupling without a pre/sum/post form.
    """
    from ..sim.coupling import get_coupling
    from .render import as_experiment

    exp = as_experiment(obj)
    model = get_model(exp.model.name)
    cpl = get_coupling(exp.coupling.name)
    root = ET.Element(
        "Lems",
        {
            "xmlns": LEMS_NAMESPACE,
            "description": f"{model.name} experiment written by tvbo_pipe {__version__} "
            "from its model registry (BEP034-style model description).",
        },
    )
    _sub(root, "Dimension", name=_NONE)
    _model_type(root, model)
    _coupling_type(root, cpl.name, len(model.cvar))
    _setting_types(root, model)

    mvals = {p.name: exp.model.parameters.get(p.name, p.default) for p in model.parameters}
    _sub(root, "Component", id="model", type=model.name, **{k: _num(v) for k, v in mvals.items()})
    cvals = {p.name: exp.coupling.parameters.get(p.name, p.default) for p in cpl.parameters}
    _sub(
        root,
        "Component",
        id="coupling",
        type=coupling_type_name(cpl.name),
        **{k: _num(v) for k, v in cvals.items()},
    )
    c = exp.connectivity
    _sub(
        root,
        "Component",
        id="connectivity",
        type="Connectivity",
        conduction_speed=_num(c.conduction_speed),
        weights=c.weights,
        lengths=c.lengths,
        normative=c.normative,
        delay_interpolation=c.delay_interpolation,
    )
    i = exp.integration
    integ = _sub(
        root,
        "Component",
        id="integration",
        type="Integrator",
        method=i.method,
        dt=_num(i.dt),
        duration=_num(i.duration),
        seed=str(i.seed),
    )
    if i.noise is not None:
        sig = i.noise.sigma
        sig_attrs = (
            {f"sigma_{k}": _num(v) for k, v in sig.items()}
            if isinstance(sig, Mapping)
            else {"sigma": _num(sig)}
        )
        _sub(
            integ,
            "Component",
            id="noise",
            type="AdditiveNoise",
            convention=i.noise.convention,
            **sig_attrs,
        )
    for k, m in enumerate(exp.monitors):
        _sub(
            root,
            "Component",
            id=f"monitor_{k}",
            type="Monitor",
            kind=m.type,
            period=None if m.period is None else _num(m.period),
            variables=" ".join(m.variables) if m.variables else None,
            hrf=m.hrf,
        )
    ics = exp.initial_conditions
    _sub(
        root,
        "Component",
        id="initial_conditions",
        type="InitialConditions",
        kind=ics.type,
        **{k: _num(v) for k, v in ics.values.items()},
    )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- reading
@dataclass
class LemsModel:
    """A model ``ComponentType`` read back from LEMS, in the expression syntax.

    Attributes:
        name: The component type's name.
        parameters: Parameter name -> description.
        state_variables: In document order.
        requirements: Required inputs (the coupling inputs ``c_0``, ...).
        auxiliaries: Derived and conditional variables, in document order, as
            ``(name, expression)`` (conditionals as ``where(...)``).
        rhs: State variable -> expression of its time derivative.
    """

    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    state_variables: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    auxiliaries: list[tuple[str, str]] = field(default_factory=list)
    rhs: dict[str, str] = field(default_factory=dict)


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _read_type(ct: ET.Element) -> LemsModel:
    out = LemsModel(ct.get("name", ""))
    for el in ct:
        tag = _tag(el)
        if tag == "Parameter":
            out.parameters[el.get("name")] = el.get("description", "")
        elif tag == "Requirement":
            out.requirements.append(el.get("name"))
        elif tag == "Dynamics":
            for d in el:
                dtag = _tag(d)
                if dtag == "StateVariable":
                    out.state_variables.append(d.get("name"))
                elif dtag == "DerivedVariable":
                    out.auxiliaries.append((d.get("name"), from_lems(d.get("value"))))
                elif dtag == "ConditionalDerivedVariable":
                    cases = list(d)
                    cond = from_lems(cases[0].get("condition"))
                    yes = from_lems(cases[0].get("value"))
                    no = from_lems(cases[1].get("value"))
                    out.auxiliaries.append((d.get("name"), f"where({cond}, {yes}, {no})"))
                elif dtag == "TimeDerivative":
                    out.rhs[d.get("variable")] = from_lems(d.get("value"))
    return out


def read_lems(text: str) -> dict[str, Any]:
    """Parse a document written by :func:`to_lems`.

    Returns:
        ``{"types": {name: LemsModel}, "components": {id: {"type": ..., attrs...,
        "children": {...}}}}``.

    Raises:
        ValueError: Not well-formed XML, or not a ``Lems`` document.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if _tag(root) != "Lems":
        raise ValueError(f"not a LEMS document (root element {_tag(root)!r})")
    types = {}
    components = {}
    for el in root:
        tag = _tag(el)
        if tag == "ComponentType":
            types[el.get("name")] = _read_type(el)
        elif tag == "Component":
            comp = dict(el.attrib)
            comp["children"] = {ch.get("id"): dict(ch.attrib) for ch in el}
            components[el.get("id")] = comp
    return {"types": types, "components": components}


def experiment_from_lems(text: str) -> Experiment:
    """The experiment of a document written by :func:`to_lems` (every model and
    coupling parameter is listed, defaults included)."""
    doc = read_lems(text)
    comps = doc["components"]

    def values(comp: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _parse_num(v) for k, v in comp.items() if k not in ("id", "type", "children")}

    model = comps["model"]
    coupling = comps["coupling"]
    conn = comps["connectivity"]
    integ = comps["integration"]
    data: dict[str, Any] = {
        "model": {"name": model["type"], "parameters": values(model)},
        "coupling": {
            "name": coupling["type"].removesuffix("Coupling"),
            "parameters": values(coupling),
        },
        "connectivity": {
            "weights": conn.get("weights"),
            "lengths": conn.get("lengths"),
            "normative": conn.get("normative"),
            "conduction_speed": float(conn["conduction_speed"]),
            "delay_interpolation": conn["delay_interpolation"],
        },
        "integration": {
            "method": integ["method"],
            "dt": float(integ["dt"]),
            "duration": float(integ["duration"]),
            "seed": int(integ["seed"]),
        },
    }
    noise = integ["children"].get("noise")
    if noise is not None:
        if "sigma" in noise:
            sigma: Any = float(noise["sigma"])
        else:
            sigma = {
                k[len("sigma_") :]: float(v) for k, v in noise.items() if k.startswith("sigma_")
            }
        data["integration"]["noise"] = {"sigma": sigma, "convention": noise["convention"]}
    monitors = []
    k = 0
    while f"monitor_{k}" in comps:
        m = comps[f"monitor_{k}"]
        monitors.append(
            {
                "type": m["kind"],
                "period": float(m["period"]) if "period" in m else None,
                "variables": m.get("variables", "").split(),
                "hrf": m["hrf"],
            }
        )
        k += 1
    data["monitors"] = monitors
    ics = comps["initial_conditions"]
    data["initial_conditions"] = {
        "type": ics["kind"],
        "values": {
            kk: _parse_num(v)
            for kk, v in ics.items()
            if kk not in ("id", "type", "kind", "children")
        },
    }
    return Experiment.from_dict(data)


__all__ = [
    "LEMS_NAMESPACE",
    "LemsModel",
    "coupling_type_name",
    "experiment_from_lems",
    "read_lems",
    "to_lems",
]

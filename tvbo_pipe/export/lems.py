"""An experiment (or a model) as LEMS XML, the model format of BIDS BEP034.

Three documents are written, all of which PyLEMS (the reader BEP034 names)
imports and resolves (``lems.api.Model().import_from_file(path)`` then
``resolve()``):

- :func:`eq_lems`, the equations file (``model/desc-<Model>_eq.xml``): only
  ``ComponentType`` declarations,

  - the model: a ``Parameter`` per model parameter, a ``Requirement`` per
    coupling input (``c_0``, ...), an ``Exposure`` and a ``StateVariable`` per
    state variable, and ``Dynamics`` with a ``DerivedVariable`` per auxiliary
    and a ``TimeDerivative`` per state variable; each ``where`` of the
    expression form becomes a ``ConditionalDerivedVariable`` with two
    ``Case`` elements;
  - the coupling function, named ``{name}Coupling`` (``pre`` and ``post`` as
    derived variables);
  - ``{type}Regions`` for per-region values (see below);
  - the experiment's settings: ``Connectivity``, ``Integrator``,
    ``AdditiveNoise``, ``Monitor`` / ``PeriodicMonitor``,
    ``InitialConditions`` and ``InitialValue``;

- :func:`param_lems`, a parameter file (``*_param.xml``): an ``Include`` of
  the equations file and one ``Component`` per setting with the values;
- :func:`to_lems`: both in one standalone document (``tvbo-pipe render
  --target lems``).

Every declared ``Parameter`` is set by every component of its type (PyLEMS
refuses a component that leaves one unset), so optional settings get types
of their own: a monitor without a period is a ``Monitor``, one with a period
a ``PeriodicMonitor``; the noise sets ``sigma_<v>`` for every state variable
(its ``variables`` text lists the variables the experiment named; empty means
one amplitude for all); given initial values are child components.

Per-region values: LEMS has no list-valued parameter (PyLEMS reads
``0.31 0.33`` as the number ``0.31`` in an unknown unit ``0.33``), and
declaring ``I_o_0, I_o_1, ...`` would make the equations depend on the
parcellation. A network of nodes that differ in their parameters is what
LEMS (and NeuroML) express as one ``Component`` per node, so a model,
coupling or initial value with regional values is written as a
``{type}Regions`` component (its ``regional`` text names the parameters that
vary) holding one complete component of the type per region, in the order of
the connectome's rows (``region k`` is row ``k`` of the SC; global values are
repeated in each). Each region component is then a valid node on its own,
and the equations file does not change with the number of regions.

Names: LEMS's built-in names (``H``, ``t``, ... see
:data:`~tvbo_pipe.models.expressions.LEMS_RESERVED`) are reserved in the
registry, so no renaming is needed between the registry and these files.
Expressions are fully bracketed (PyLEMS's parser has its own precedence).

Quantities are dimensionless in LEMS terms (``dimension="none"``): the
models mix unit conventions (TVB's), so units are given in the descriptions
(``[ms]``) rather than as LEMS dimensions and values are plain numbers.

The documents are built with ElementTree rather than PyLEMS's classes:
PyLEMS keeps derived and conditional variables in separate maps and writes
them grouped by kind, while the element order here is the order the
equations are evaluated in (a reader evaluating top to bottom gets them
right). PyLEMS is the reader:
:func:`load_lems` and :func:`experiment_from_lems` read the values back with
it; :func:`read_lems` reads the equations back in the registry's expression
syntax (tests check both against the registry for every model).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..experiment import Experiment
from ..models import Model, get_model
from ..models.expressions import (
    LEMS_RESERVED,
    check_model,
    coupling_expressions,
    coupling_names,
    from_lems,
)
from ..models.expressions import to_lems as expr_to_lems
from ..sim.monitor_kinds import MONITOR_KINDS

#: Namespace of the LEMS documents written.
LEMS_NAMESPACE = "http://www.neuroml.org/lems/0.7.6"
_NONE = "none"
_XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
#: Suffix of the component types holding one component per region.
REGIONS_SUFFIX = "Regions"


def _num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _describe(description: str, unit: str) -> str:
    return f"{description} [{unit}]" if unit else description


def _sub(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})


def _root(description: str) -> ET.Element:
    return ET.Element("Lems", {"xmlns": LEMS_NAMESPACE, "description": description})


def _text(root: ET.Element) -> str:
    ET.indent(root)
    return _XML_HEADER + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- types
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


def _component_type(
    root: ET.Element,
    name: str,
    description: str,
    *,
    parameters: Sequence[tuple[str, str]],
    constants: Sequence[tuple[str, str]] = (),
    requirements: Sequence[tuple[str, str | None]],
    exposures: Sequence[str],
    state_variables: Sequence[str] = (),
    dynamics: Sequence[tuple[str, str, bool]],
) -> None:
    """A ``ComponentType`` with dimensionless parameters ``(name, description)``,
    constants ``(name, value)``, requirements ``(name, description)``, exposures
    and dynamics: the state variables (exposed under their names), then one
    entry ``(name, expression, is_time_derivative)`` each, in order."""
    ct = _sub(root, "ComponentType", name=name, description=description)
    for p, desc in parameters:
        _sub(ct, "Parameter", name=p, dimension=_NONE, description=desc)
    for c, value in constants:
        _sub(ct, "Constant", name=c, dimension=_NONE, value=value)
    for r, desc in requirements:
        _sub(ct, "Requirement", name=r, dimension=_NONE, description=desc)
    for e in exposures:
        _sub(ct, "Exposure", name=e, dimension=_NONE)
    dyn = _sub(ct, "Dynamics")
    for sv in state_variables:
        _sub(dyn, "StateVariable", name=sv, dimension=_NONE, exposure=sv)
    for entry, expr, derivative in dynamics:
        _dynamics_entry(dyn, entry, expr, derivative=derivative)


def _model_type(root: ET.Element, model: Model) -> None:
    check_model(model)  # also rejects LEMS's built-in names
    aux = [n for n, _ in model.auxiliaries]
    _component_type(
        root,
        model.name,
        model.description,
        parameters=[
            (p.name, _describe(p.description + (" Boolean: 0 or 1." if p.boolean else ""), p.unit))
            for p in model.parameters
        ],
        requirements=[
            (c, f"Long-range coupling input row {k} (from the coupling function).")
            for k, c in enumerate(coupling_names(model))
        ],
        exposures=[*model.state_variable_names, *aux],
        state_variables=model.state_variable_names,
        dynamics=[(n, e, False) for n, e in model.auxiliaries]
        + [(v, model.rhs[v], True) for v in model.state_variable_names],
    )


def coupling_type_name(name: str) -> str:
    """LEMS ``ComponentType`` name of a coupling: ``{name}Coupling`` (the Kuramoto
    model and the Kuramoto coupling share TVB's name)."""
    return f"{name}Coupling"


def _coupling_type(root: ET.Element, name: str, n_cvar: int) -> None:
    from ..sim.coupling import get_coupling

    cpl = get_coupling(name)
    ce = coupling_expressions(name)
    clash = sorted({p.name for p in cpl.parameters} & LEMS_RESERVED)
    if clash:
        raise ValueError(
            f"coupling {name}: parameter name(s) {clash} are LEMS built-ins; "
            "rename them before writing LEMS"
        )
    inputs = (
        ("x_i", "x_j")
        if ce.rowwise
        else tuple(f"x_{s}_{c}" for c in range(n_cvar) for s in ("i", "j"))
    )
    _component_type(
        root,
        coupling_type_name(name),
        cpl.description,
        parameters=[(p.name, p.description) for p in cpl.parameters],
        constants=[("n_cvar", str(n_cvar))],
        requirements=[(x, None) for x in inputs]
        + [("gx", "Weighted sum over the sources: sum_j w_ij pre(x_i, x_j).")],
        exposures=("pre", "post"),
        dynamics=[(part, getattr(ce, part), False) for part in ("pre", "post")],
    )


def _regions_type(root: ET.Element, of: str) -> None:
    ct = _sub(
        root,
        "ComponentType",
        name=of + REGIONS_SUFFIX,
        description=f"One {of} per region, in the order of the connectome's rows; "
        "'regional' names the parameters whose values differ between regions.",
    )
    _sub(ct, "Text", name="regional")
    _sub(ct, "Children", name="regions", type=of)


_SETTING_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # name: (numeric parameters, text fields, description)
    "Connectivity": (
        ("conduction_speed",),
        ("weights", "lengths", "normative", "delay_interpolation"),
        "Structural connectivity: relmat paths or a normative connectome; speed in "
        "mm/ms (inf: no delays).",
    ),
    "Monitor": (
        (),
        ("kind", "variables", "hrf"),
        "A monitor without a period (Raw: every step): kind, monitored variables "
        "(empty: the model's variables of interest), hrf for Bold.",
    ),
    "PeriodicMonitor": (
        ("period",),
        ("kind", "variables", "hrf"),
        "A monitor sampling every period "
        f"({', '.join(k.name for k in MONITOR_KINDS.values() if k.periodic)}); period in ms.",
    ),
    "InitialValue": (
        ("value",),
        ("variable",),
        "The given initial value of one state variable.",
    ),
}


def _setting_types(root: ET.Element, model: Model) -> None:
    for name, (params, texts, desc) in _SETTING_TYPES.items():
        ct = _sub(root, "ComponentType", name=name, description=desc)
        for p in params:
            _sub(ct, "Parameter", name=p, dimension=_NONE)
        for t in texts:
            _sub(ct, "Text", name=t)
    ct = _sub(
        root,
        "ComponentType",
        name="Integrator",
        description="Fixed-step integration: method (Euler, Heun, RK4), dt and duration "
        "in ms, seed of every random draw; stochastic with an AdditiveNoise child.",
    )
    for p in ("dt", "duration", "seed"):
        _sub(ct, "Parameter", name=p, dimension=_NONE)
    _sub(ct, "Text", name="method")
    _sub(ct, "Children", name="noise", type="AdditiveNoise")
    ct = _sub(
        root,
        "ComponentType",
        name="AdditiveNoise",
        description="Additive white noise: sigma_<variable> for each state variable; "
        "'variables' lists those the experiment named (empty: one sigma for all); "
        "convention sigma (increment sigma sqrt(dt) N(0,1)) or tvb (sigma is TVB's "
        "nsig: sqrt(2 nsig dt) N(0,1)).",
    )
    for v in model.state_variable_names:
        _sub(ct, "Parameter", name=f"sigma_{v}", dimension=_NONE)
    _sub(ct, "Text", name="variables")
    _sub(ct, "Text", name="convention")
    ct = _sub(
        root,
        "ComponentType",
        name="InitialConditions",
        description="Initial conditions: kind default, random or given (one InitialValue "
        "child per given variable).",
    )
    _sub(ct, "Text", name="kind")
    _sub(ct, "Children", name="values", type="InitialValue")
    _sub(ct, "Children", name="regional_values", type="InitialValue" + REGIONS_SUFFIX)


def _types(root: ET.Element, model: Model, coupling: str) -> None:
    _sub(root, "Dimension", name=_NONE)
    _model_type(root, model)
    _coupling_type(root, coupling, len(model.cvar))
    _setting_types(root, model)
    for of in (model.name, coupling_type_name(coupling), "InitialValue"):
        _regions_type(root, of)


# --------------------------------------------------------------------------- components
def _component(
    parent: ET.Element,
    cid: str,
    ctype: str,
    values: Mapping[str, Any],
    texts: Mapping[str, str | None] | None = None,
) -> ET.Element:
    """A component of ``ctype`` (or, with per-region values, a ``{ctype}Regions``
    component holding one ``ctype`` per region)."""
    texts = dict(texts or {})
    regional = {k: tuple(v) for k, v in values.items() if isinstance(v, tuple | list)}
    if not regional:
        return _sub(parent, "Component", id=cid, type=ctype, **texts, **_nums(values))
    lengths = {len(v) for v in regional.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"LEMS component {cid!r}: regional parameters {sorted(regional)} have "
            f"different or zero lengths {sorted(lengths)}"
        )
    wrapper = _sub(
        parent,
        "Component",
        id=cid,
        type=ctype + REGIONS_SUFFIX,
        regional=" ".join(regional),
    )
    for r in range(lengths.pop()):
        node = {k: (regional[k][r] if k in regional else v) for k, v in values.items()}
        _sub(wrapper, "Component", id=f"{cid}_{r}", type=ctype, **texts, **_nums(node))
    return wrapper


def _nums(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: _num(v) for k, v in values.items()}


def _components(root: ET.Element, exp: Experiment) -> None:
    from ..sim.coupling import get_coupling

    model = get_model(exp.model.name)
    cpl = get_coupling(exp.coupling.name)
    for cid, ctype, given, declared in (
        ("model", model.name, exp.model.parameters, model.parameters),
        ("coupling", coupling_type_name(cpl.name), exp.coupling.parameters, cpl.parameters),
    ):  # every parameter, the defaults included
        _component(root, cid, ctype, {p.name: given.get(p.name, p.default) for p in declared})
    c = exp.connectivity
    _component(
        root,
        "connectivity",
        "Connectivity",
        {"conduction_speed": c.conduction_speed},
        {
            "weights": c.weights,
            "lengths": c.lengths,
            "normative": c.normative,
            "delay_interpolation": c.delay_interpolation,
        },
    )
    i = exp.integration
    integ = _component(
        root,
        "integration",
        "Integrator",
        {"dt": i.dt, "duration": i.duration, "seed": i.seed},
        {"method": i.method},
    )
    if i.noise is not None:
        sig = i.noise.sigma
        named = tuple(sig) if isinstance(sig, Mapping) else ()
        unknown = [v for v in named if v not in model.state_variable_names]
        if unknown:
            raise ValueError(
                f"integration.noise.sigma names {unknown}, which are not state variables "
                f"of {model.name} ({', '.join(model.state_variable_names)})"
            )
        sigmas = {
            f"sigma_{v}": (sig.get(v, 0.0) if isinstance(sig, Mapping) else sig)
            for v in model.state_variable_names
        }
        _component(
            integ,
            "noise",
            "AdditiveNoise",
            sigmas,
            {"variables": " ".join(named) or None, "convention": i.noise.convention},
        )
    for k, m in enumerate(exp.monitors):
        texts = {
            "kind": m.type,
            "variables": " ".join(m.variables) or None,
            "hrf": m.hrf,
        }
        if m.period is None:
            _component(root, f"monitor_{k}", "Monitor", {}, texts)
        else:
            _component(root, f"monitor_{k}", "PeriodicMonitor", {"period": m.period}, texts)
    ics = exp.initial_conditions
    ic = _component(root, "initial_conditions", "InitialConditions", {}, {"kind": ics.type})
    for v, value in ics.values.items():
        _component(ic, f"initial_{v}", "InitialValue", {"value": value}, {"variable": v})


# --------------------------------------------------------------------------- documents
def _typed_document(obj: Model | Experiment | str | Path, what: str, note: str):
    """``(root, experiment)``: a document holding the types of the experiment's
    model and coupling, described as ``"{model} {what} written by ... ({note})."``."""
    from ..sim.coupling import get_coupling
    from .render import as_experiment

    exp = as_experiment(obj)
    model = get_model(exp.model.name)
    root = _root(
        f"{model.name} {what} written by tvbo_pipe {__version__} from its model registry ({note})."
    )
    _types(root, model, get_coupling(exp.coupling.name).name)
    return root, exp


def eq_lems(obj: Model | Experiment | str | Path) -> str:
    """The BEP034 equations file of an experiment (or of a model with
    :func:`~tvbo_pipe.export.render.default_experiment`): component types
    only, the same for every subject.

    Raises:
        NotImplementedError: For a coupling without a pre/sum/post form.
    """
    root, _ = _typed_document(
        obj, "equations", "BEP034 equations file; values in the *_param.xml files"
    )
    return _text(root)


def param_lems(experiment: Experiment, *, eq_file: str) -> str:
    """A BEP034 parameter file of ``experiment``: an ``Include`` of the equations
    file ``eq_file`` (a path relative to the parameter file, as written by
    :func:`eq_lems` for the same model and coupling) and the experiment's
    values: every model and coupling parameter (defaults included, regional
    ones one component per region), connectivity, integration, noise,
    monitors and initial conditions. :func:`experiment_from_lems` reads it
    back."""
    root = _root(
        f"{experiment.model.name} parameters written by tvbo_pipe {__version__} "
        f"(BEP034 parameter file; equations in {eq_file})."
    )
    _sub(root, "Include", file=eq_file)
    _components(root, experiment)
    return _text(root)


def to_lems(obj: Model | Experiment | str | Path) -> str:
    """The experiment (a model alone gets
    :func:`~tvbo_pipe.export.render.default_experiment`) as one standalone LEMS
    document: the types of :func:`eq_lems` and the components of
    :func:`param_lems`.

    Raises:
        NotImplementedError: For a coupling without a pre/sum/post form.
    """
    root, exp = _typed_document(
        obj, "experiment", "BEP034 equations and parameters in one document"
    )
    _components(root, exp)
    return _text(root)


# --------------------------------------------------------------------------- reading (PyLEMS)
def load_lems(source: str | Path, *, base_dir: str | Path | None = None) -> Any:
    """Import and resolve a LEMS document with PyLEMS.

    Args:
        source: A file path, or the document's text (starting with ``<``).
        base_dir: Where ``Include`` paths of a text are relative to (default:
            the working directory); a file's own directory for a path.

    Returns:
        The resolved ``lems.model.model.Model`` (``fat_components`` by id).

    Raises:
        ValueError: PyLEMS cannot import or resolve it; the message names the
            file and PyLEMS's complaint.
    """
    from lems.api import Model as LemsApiModel
    from lems.parser.LEMS import LEMSFileParser

    is_text = isinstance(source, str) and source.lstrip().startswith("<")
    where = "LEMS text" if is_text else str(source)
    m = LemsApiModel(include_includes=True, fail_on_missing_includes=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # PyLEMS prints each Include
            if is_text:
                inc = [os.fspath(base_dir) if base_dir is not None else os.getcwd()]
                LEMSFileParser(m, inc, True).parse(source)
            else:
                if not Path(source).is_file():
                    raise FileNotFoundError(f"no such file: {source}")
                m.import_from_file(os.fspath(source))
            return m.resolve()
    except Exception as exc:  # PyLEMS raises plain Exception for several problems
        raise ValueError(f"{where}: PyLEMS cannot load it: {exc}") from exc


def _fat_values(fc: Any, *, what: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Type, numeric values and texts of a resolved component; a ``*Regions``
    component gives its region components' type and tuples for the regional
    parameters."""
    if not fc.type.endswith(REGIONS_SUFFIX):
        values = {p.name: p.numeric_value for p in fc.parameters}
        return fc.type, values, {t.name: t.value for t in fc.texts}
    regions = list(fc.child_components)
    regional = fc.texts["regional"].value.split() if "regional" in fc.texts else []
    if not regions or not regional:
        raise ValueError(f"LEMS {what}: {fc.type} {fc.id!r} has no regions or no 'regional'")
    values = {}
    for p in regions[0].parameters:
        per_region = tuple(r.parameters[p.name].numeric_value for r in regions)
        if p.name in regional:
            values[p.name] = per_region
        elif len(set(per_region)) != 1:
            raise ValueError(
                f"LEMS {what}: {p.name} differs between regions of {fc.id!r} but is "
                "not listed as regional"
            )
        else:
            values[p.name] = per_region[0]
    texts = {t.name: t.value for t in regions[0].texts}
    return regions[0].type, values, texts


def experiment_from_lems(source: str | Path, *, base_dir: str | Path | None = None) -> Experiment:
    """The experiment of a document written by :func:`to_lems` or
    :func:`param_lems` (with its equations file), read with PyLEMS.

    Args:
        source: A file path or the document's text (see :func:`load_lems`).
        base_dir: For a text with an ``Include``: the directory it is relative to.

    Raises:
        ValueError: PyLEMS cannot load it, or a component is missing or malformed.
    """
    resolved = load_lems(source, base_dir=base_dir)
    comps = resolved.fat_components

    where = "LEMS text" if str(source).lstrip().startswith("<") else str(source)

    def get(cid: str) -> Any:
        if cid not in comps:
            raise ValueError(f"{where}: no {cid!r} component (not a tvbo_pipe parameter file?)")
        return comps[cid]

    mtype, mvals, _ = _fat_values(get("model"), what="model")
    ctype, cvals, _ = _fat_values(get("coupling"), what="coupling")
    _, conn_vals, conn_texts = _fat_values(get("connectivity"), what="connectivity")
    integ = get("integration")
    _, ivals, itexts = _fat_values(integ, what="integration")
    data: dict[str, Any] = {
        "model": {"name": mtype, "parameters": mvals},
        "coupling": {"name": ctype.removesuffix("Coupling"), "parameters": cvals},
        "connectivity": {
            "weights": conn_texts["weights"] or None,
            "lengths": conn_texts["lengths"] or None,
            "normative": conn_texts["normative"] or None,
            "conduction_speed": conn_vals["conduction_speed"],
            "delay_interpolation": conn_texts["delay_interpolation"],
        },
        "integration": {
            "method": itexts["method"],
            "dt": ivals["dt"],
            "duration": ivals["duration"],
            "seed": int(ivals["seed"]),
        },
    }
    for noise in integ.child_components:
        _, nvals, ntexts = _fat_values(noise, what="noise")
        sig = {k.removeprefix("sigma_"): v for k, v in nvals.items()}
        named = ntexts["variables"].split()
        sigma: Any = {v: sig[v] for v in named} if named else next(iter(sig.values()))
        data["integration"]["noise"] = {"sigma": sigma, "convention": ntexts["convention"]}
    monitors = []
    k = 0
    while f"monitor_{k}" in comps:
        _, mv, mt = _fat_values(comps[f"monitor_{k}"], what=f"monitor_{k}")
        monitors.append(
            {
                "type": mt["kind"],
                "period": mv.get("period"),
                "variables": mt["variables"].split(),
                "hrf": mt["hrf"],
            }
        )
        k += 1
    data["monitors"] = monitors
    ic = get("initial_conditions")
    values = {}
    for child in ic.child_components:
        _, vv, vt = _fat_values(child, what="initial value")
        values[vt["variable"]] = vv["value"]
    data["initial_conditions"] = {"type": ic.texts["kind"].value, "values": values}
    return Experiment.from_dict(data)


# --------------------------------------------------------------------------- reading (equations)
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
    """The component types of a document written here, with their equations in
    the registry's expression syntax (document order kept, which PyLEMS's
    maps do not keep across derived and conditional variables).

    Returns:
        ``{"types": {name: LemsModel}, "components": {id: {attrs..., "children":
        {id: attrs}}}}`` (attributes as written).

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
            comp: dict[str, Any] = dict(el.attrib)
            comp["children"] = {ch.get("id"): dict(ch.attrib) for ch in el}
            components[el.get("id")] = comp
    return {"types": types, "components": components}


def lems_names(text: str) -> set[str]:
    """Every name a document declares (parameters, requirements, exposures,
    state, derived and conditional variables, constants, texts)."""
    root = ET.fromstring(text)
    kinds = {
        "Parameter",
        "Requirement",
        "Exposure",
        "StateVariable",
        "DerivedVariable",
        "ConditionalDerivedVariable",
        "Constant",
        "Text",
        "Children",
    }
    return {el.get("name") for el in root.iter() if _tag(el) in kinds}


__all__ = [
    "LEMS_NAMESPACE",
    "REGIONS_SUFFIX",
    "LemsModel",
    "coupling_type_name",
    "eq_lems",
    "experiment_from_lems",
    "lems_names",
    "load_lems",
    "param_lems",
    "read_lems",
    "to_lems",
]

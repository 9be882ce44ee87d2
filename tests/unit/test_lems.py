"""LEMS export: documents PyLEMS (BEP034's reader) imports and resolves, whose
equations PyLEMS parses to what the registry computes, and whose values
(regional ones included) PyLEMS reads back."""

from __future__ import annotations

import operator
import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lems.parser.expr import Func1Node, OpNode, ValueNode
from lems.parser.expr import known_functions as pylems_functions

from tvbo_pipe.experiment import CouplingSpec, Experiment
from tvbo_pipe.export.derivative import param_xml
from tvbo_pipe.export.lems import (
    LEMS_NAMESPACE,
    REGIONS_SUFFIX,
    coupling_type_name,
    eq_lems,
    experiment_from_lems,
    lems_names,
    load_lems,
    param_lems,
    read_lems,
    to_lems,
)
from tvbo_pipe.export.render import default_experiment
from tvbo_pipe.models import MODELS
from tvbo_pipe.models.expressions import (
    COUPLING_EXPRESSIONS,
    LEMS_RESERVED,
    ExpressionError,
    check_model,
    evaluate,
    evaluate_dfun,
)
from tvbo_pipe.sim.coupling import COUPLINGS, get_coupling

jax.config.update("jax_enable_x64", True)

MODEL_NAMES = list(MODELS)


def _fits(model_name: str, coupling: str) -> bool:
    model = MODELS[model_name]
    try:
        return COUPLINGS[coupling].output_rows(len(model.cvar)) == model.n_cvar
    except ValueError:
        return False


#: Every registered model with every renderable coupling that fits it.
MODEL_COUPLINGS = [(m, c) for m in MODEL_NAMES for c in COUPLING_EXPRESSIONS if _fits(m, c)]


def _experiment(name: str) -> Experiment:
    """A model's default experiment with a scalar and a regional override, noise,
    delays, several monitors and given initial conditions."""
    model = MODELS[name]
    base = default_experiment(model)
    free = [p for p in model.parameters if not p.boolean]
    svs = model.state_variable_names
    data = base.to_dict()
    data["model"]["parameters"] = {
        free[0].name: free[0].default * 1.1 + 0.01,
        free[-1].name: [free[-1].default, free[-1].default + 0.5, free[-1].default - 0.25],
    }
    data["connectivity"].update(conduction_speed=4.5, weights="sc/w.tsv")
    data["integration"].update(noise={"sigma": {svs[0]: 0.01}, "convention": "tvb"}, seed=7)
    data["monitors"] = [
        {"type": "Raw"},
        {"type": "TemporalAverage", "period": 1.0, "variables": list(svs[:2])},
        {"type": "Bold", "period": 2000.0, "hrf": "BalloonWindkessel"},
    ]
    data["initial_conditions"] = {"type": "given", "values": {svs[-1]: 0.25}}
    return Experiment.from_dict(data)


def _resolved(exp: Experiment) -> dict:
    """The experiment as plain data with every model and coupling parameter listed."""
    model = MODELS[exp.model.name]
    cpl = get_coupling(exp.coupling.name)
    full = exp.with_parameters(
        {p.name: exp.model.parameters.get(p.name, p.default) for p in model.parameters},
        {p.name: exp.coupling.parameters.get(p.name, p.default) for p in cpl.parameters},
    )
    return full.to_dict()


def _write_bep034(tmp_path: Path, exp: Experiment) -> tuple[Path, Path]:
    """The equations file and a subject's parameter file, laid out as in the
    derivative (``model/`` and ``sub-01/model/``, relative ``Include``)."""
    eq = tmp_path / "model" / f"desc-{exp.model.name}_eq.xml"
    param = tmp_path / "sub-01" / "model" / "sub-01_desc-fitted_param.xml"
    eq.parent.mkdir(parents=True)
    param.parent.mkdir(parents=True)
    eq.write_text(eq_lems(exp))
    rel = Path(os.path.relpath(eq, param.parent)).as_posix()
    text = param_xml(exp, eq_file=rel)  # what the export stage writes
    assert text == param_lems(exp, eq_file=rel)
    param.write_text(text)
    return eq, param


# --------------------------------------------------------------------------- PyLEMS evaluation
_PYLEMS_OPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": np.power,
    ".lt.": operator.lt,
    ".le.": operator.le,
    ".leq.": operator.le,
    ".gt.": operator.gt,
    ".ge.": operator.ge,
    ".geq.": operator.ge,
    ".eq.": operator.eq,
    ".neq.": operator.ne,
    ".ne.": operator.ne,
}


def _eval_tree(node, env: dict):
    """Evaluate a PyLEMS expression parse tree (PyLEMS's reading of the text)."""
    if isinstance(node, ValueNode):
        try:
            return float(node.value)
        except ValueError:
            return env[node.value]
    if isinstance(node, OpNode):
        return _PYLEMS_OPS[node.op](_eval_tree(node.left, env), _eval_tree(node.right, env))
    if isinstance(node, Func1Node):
        return getattr(np, node.func)(_eval_tree(node.param, env))
    raise AssertionError(f"unexpected PyLEMS node {node!r}")


def _eval_dynamics(dyn, env: dict) -> dict:
    """Every derived and conditional variable of PyLEMS ``Dynamics`` (in
    dependency order, which PyLEMS's maps do not keep)."""
    env = dict(env)
    pending = {**dyn.derived_variables, **dyn.conditional_derived_variables}
    while pending:
        done = []
        for name, dv in pending.items():
            try:
                if hasattr(dv, "cases"):
                    cond, other = dv.cases
                    env[name] = np.where(
                        _eval_tree(cond.condition_expression_tree, env),
                        _eval_tree(cond.value_expression_tree, env),
                        _eval_tree(other.value_expression_tree, env),
                    )
                else:
                    env[name] = _eval_tree(dv.expression_tree, env)
            except KeyError:
                continue
            done.append(name)
        assert done, f"unresolvable derived variables {sorted(pending)}"
        for name in done:
            del pending[name]
    return env


# --------------------------------------------------------------------------- PyLEMS loads
@pytest.mark.parametrize("noise", [False, True], ids=["deterministic", "noise"])
@pytest.mark.parametrize(("name", "cname"), MODEL_COUPLINGS)
def test_pylems_imports_and_resolves_every_model_and_coupling(
    tmp_path: Path, name: str, cname: str, noise: bool
) -> None:
    exp = replace(default_experiment(MODELS[name]), coupling=CouplingSpec(name=cname))
    if noise:
        exp = replace(exp, integration=_experiment(name).integration)
    eq, param = _write_bep034(tmp_path, exp)
    for path in (eq, param):
        resolved = load_lems(path)
        assert name in resolved.component_types
        assert coupling_type_name(cname) in resolved.component_types
    full = tmp_path / "full.xml"
    full.write_text(to_lems(exp))
    resolved = load_lems(full)
    assert set(resolved.fat_components.keys()) >= {"model", "coupling", "integration"}
    has_noise = bool(resolved.fat_components["integration"].child_components)
    assert has_noise == noise
    assert experiment_from_lems(param).to_dict() == _resolved(exp)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pylems_reads_the_equations_as_the_registry_computes(tmp_path: Path, name: str) -> None:
    model = MODELS[name]
    path = tmp_path / "eq.xml"
    path.write_text(eq_lems(name))
    resolved = load_lems(path)
    ct = resolved.component_types[name]
    assert list(ct.parameters.keys()) == list(model.parameter_names)
    assert list(ct.dynamics.state_variables.keys()) == list(model.state_variable_names)
    rng = np.random.default_rng(3)
    n = 6
    state = np.stack([rng.uniform(*sv.range, n) for sv in model.state_variables])
    coupling = rng.normal(size=(model.n_cvar, n))
    params = {p.name: np.asarray(p.default) for p in model.parameters}
    env = dict(params)
    env.update({v: state[i] for i, v in enumerate(model.state_variable_names)})
    env.update({f"c_{k}": coupling[k] for k in range(model.n_cvar)})
    env = _eval_dynamics(ct.dynamics, env)
    got = np.stack(
        [
            np.broadcast_to(_eval_tree(ct.dynamics.time_derivatives[v].expression_tree, env), n)
            for v in model.state_variable_names
        ]
    )
    want = np.asarray(model.dfun(jnp.asarray(state), jnp.asarray(coupling), params))
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    # PyLEMS can write the model it read (its own DOM export)
    assert resolved.export_to_dom().documentElement.tagName == "Lems"


@pytest.mark.parametrize("cname", list(COUPLING_EXPRESSIONS))
def test_pylems_reads_coupling_pre_and_post(tmp_path: Path, cname: str) -> None:
    name = next(m for m, c in MODEL_COUPLINGS if c == cname)
    exp = replace(default_experiment(MODELS[name]), coupling=CouplingSpec(name=cname))
    path = tmp_path / "eq.xml"
    path.write_text(eq_lems(exp))
    ct = load_lems(path).component_types[coupling_type_name(cname)]
    env = {p.name: 0.7 + 0.1 * k for k, p in enumerate(get_coupling(cname).parameters)}
    env.update(x_i=0.3, x_j=-0.4, x_i_0=0.3, x_i_1=0.1, x_j_0=-0.4, x_j_1=0.2, gx=1.3)
    env["n_cvar"] = float(ct.constants["n_cvar"].value)
    got = _eval_dynamics(ct.dynamics, env)
    ce = COUPLING_EXPRESSIONS[cname]
    for part in ("pre", "post"):
        assert got[part] == pytest.approx(evaluate(getattr(ce, part), env, np), rel=1e-14)


# --------------------------------------------------------------------------- values
def test_parameter_file_round_trip_global_and_regional_values(tmp_path: Path) -> None:
    """A subject's parameter file read by PyLEMS gives the fitted values back:
    global ones, regional model and coupling values (one component per
    region) and regional initial values."""
    n = 5
    rng = np.random.default_rng(0)
    i_o = tuple(float(v) for v in rng.uniform(0.2, 0.4, n))
    a_cpl = tuple(float(v) for v in rng.uniform(0.01, 0.1, n))
    s0 = tuple(float(v) for v in rng.uniform(0.0, 1.0, n))
    base = default_experiment(MODELS["ReducedWongWang"])
    exp = Experiment.from_dict(
        {
            **base.to_dict(),
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.52, "I_o": list(i_o)}},
            "coupling": {"name": "Linear", "parameters": {"a": list(a_cpl), "b": 0.001}},
            "integration": {
                "method": "Heun",
                "dt": 0.5,
                "duration": 1e4,
                "noise": {"sigma": 1e-3, "convention": "sigma"},
                "seed": 3,
            },
            "connectivity": {"weights": "sc.tsv", "conduction_speed": float("inf")},
            "initial_conditions": {"type": "given", "values": {"S": list(s0)}},
        }
    )
    _, param = _write_bep034(tmp_path, exp)
    # the raw PyLEMS reading: one component per region, each with every parameter
    comps = load_lems(param).fat_components
    model = comps["model"]
    assert model.type == "ReducedWongWang" + REGIONS_SUFFIX
    assert model.texts["regional"].value == "I_o"
    regions = model.child_components
    assert [r.id for r in regions] == [f"model_{k}" for k in range(n)]
    assert tuple(r.parameters["I_o"].numeric_value for r in regions) == i_o
    assert {r.parameters["w"].numeric_value for r in regions} == {0.52}
    assert tuple(r.parameters["a"].numeric_value for r in comps["coupling"].child_components) == (
        a_cpl
    )
    assert comps["connectivity"].parameters["conduction_speed"].numeric_value == float("inf")
    # and the experiment read back with PyLEMS equals the one written
    back = experiment_from_lems(param)
    assert back.model.parameters["I_o"] == i_o
    assert back.coupling.parameters["a"] == a_cpl
    assert back.initial_conditions.values["S"] == s0
    assert back.to_dict() == _resolved(exp)


def test_param_file_without_its_equations_fails_clearly(tmp_path: Path) -> None:
    eq, param = _write_bep034(tmp_path, _experiment("ReducedWongWang"))
    eq.unlink()
    with pytest.raises(ValueError, match=r"sub-01_desc-fitted_param\.xml: PyLEMS cannot load"):
        load_lems(param)


def test_equations_file_alone_is_not_an_experiment(tmp_path: Path) -> None:
    eq, _ = _write_bep034(tmp_path, _experiment("SupHopf"))
    with pytest.raises(ValueError, match=r"desc-SupHopf_eq\.xml: no 'model' component"):
        experiment_from_lems(eq)


def test_regional_values_of_different_lengths_are_rejected() -> None:
    exp = Experiment.from_dict(
        {
            "model": {"name": "SupHopf", "parameters": {"a": [0.1, 0.2], "omega": [1.0, 2.0, 3.0]}},
        }
    )
    with pytest.raises(ValueError, match=r"'model'.*different or zero lengths"):
        to_lems(exp)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_yaml_and_lems_exports_describe_the_same_experiment(name: str) -> None:
    exp = _experiment(name)
    from_yaml = Experiment.from_dict(__import__("yaml").safe_load(exp.dumps()))
    from_lems = experiment_from_lems(to_lems(from_yaml))
    assert from_lems.to_dict() == _resolved(exp)
    assert from_yaml == exp


def test_scalar_noise_and_default_monitors_round_trip() -> None:
    exp = Experiment.load(Path(__file__).parents[2] / "config" / "experiment.yaml")
    assert experiment_from_lems(to_lems(exp)).to_dict() == _resolved(exp)


# --------------------------------------------------------------------------- names
def test_lems_reserved_names_cover_pylems_functions() -> None:
    assert set(pylems_functions) <= LEMS_RESERVED
    assert "H" in LEMS_RESERVED and "t" in LEMS_RESERVED


@pytest.mark.parametrize(("name", "cname"), MODEL_COUPLINGS)
def test_no_lems_document_declares_a_reserved_name(name: str, cname: str) -> None:
    exp = replace(_experiment(name), coupling=CouplingSpec(name=cname))
    declared = lems_names(to_lems(exp))
    assert not declared & LEMS_RESERVED


def test_a_model_using_a_lems_builtin_name_is_rejected() -> None:
    rww = MODELS["ReducedWongWang"]
    clash = replace(
        rww,
        auxiliaries=(*rww.auxiliaries[:-1], ("H", rww.auxiliaries[-1][1])),
        rhs={"S": rww.rhs["S"].replace("H_x", "H")},
    )
    with pytest.raises(ExpressionError, match="'H' is reserved"):
        check_model(clash)  # what the LEMS writer (and every renderer) checks first
    for model in MODELS.values():
        check_model(model)


# --------------------------------------------------------------------------- structure
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_lems_is_well_formed_and_matches_the_registry(name: str) -> None:
    model = MODELS[name]
    exp = _experiment(name)
    text = to_lems(exp)
    root = ET.fromstring(text)
    assert root.tag == f"{{{LEMS_NAMESPACE}}}Lems"
    doc = read_lems(text)
    ct = doc["types"][name]
    assert list(ct.parameters) == list(model.parameter_names)
    assert ct.state_variables == list(model.state_variable_names)
    assert ct.requirements == [f"c_{k}" for k in range(model.n_cvar)]
    assert set(ct.rhs) == set(model.state_variable_names)
    for p in model.parameters:
        if p.unit:
            assert ct.parameters[p.name].endswith(f"[{p.unit}]")
    # the equations read back from LEMS compute what the simulator's dfun computes
    back = replace(model, auxiliaries=tuple(ct.auxiliaries), rhs=ct.rhs)
    rng = np.random.default_rng(11)
    n = 4
    state = jnp.asarray(np.stack([rng.uniform(*sv.range, n) for sv in model.state_variables]))
    coupling = jnp.asarray(rng.normal(size=(model.n_cvar, n)))
    params = {p.name: jnp.asarray(p.default) for p in model.parameters}
    np.testing.assert_allclose(
        np.asarray(evaluate_dfun(back, state, coupling, params)),
        np.asarray(model.dfun(state, coupling, params)),
        rtol=1e-12,
        atol=1e-12,
    )
    # the model component is one component per region (the override is regional)
    comp = doc["components"]["model"]
    assert comp["type"] == name + REGIONS_SUFFIX
    assert list(comp["children"]) == [f"model_{k}" for k in range(3)]
    first = comp["children"]["model_0"]
    for p in model.parameters:
        value = exp.model.parameters.get(p.name, p.default)
        assert float(first[p.name]) == (value[0] if isinstance(value, tuple) else value)


def test_equations_file_holds_types_only() -> None:
    root = ET.fromstring(eq_lems("ReducedWongWang"))
    tags = {el.tag.rsplit("}", 1)[-1] for el in root}
    assert tags == {"Dimension", "ComponentType"}


def test_where_becomes_a_conditional_derived_variable() -> None:
    root = ET.fromstring(to_lems("Epileptor"))
    ns = {"l": LEMS_NAMESPACE}
    cdvs = root.findall(
        ".//l:ComponentType[@name='Epileptor']/l:Dynamics/l:ConditionalDerivedVariable", ns
    )
    names = {c.get("name") for c in cdvs}
    assert {"f1_case0", "h_linear_case0", "h_case0", "f2_case0"} <= names
    f1 = next(c for c in cdvs if c.get("name") == "f1_case0")
    cases = f1.findall("l:Case", ns)
    assert cases[0].get("condition") == "x1 .lt. 0.0"
    assert cases[1].get("condition") is None
    assert "^" in cases[0].get("value") and "**" not in cases[0].get("value")


def test_lems_expressions_are_fully_bracketed() -> None:
    """PyLEMS reads ``a - b * c - d`` as ``a - (b * c - d)``; the printer leaves
    nothing to precedence."""
    from tvbo_pipe.models.expressions import to_lems as expr_to_lems

    assert expr_to_lems("a - b * c - d", name="q")[0] == "(a - (b * c)) - d"
    assert expr_to_lems("-x ** 2", name="q")[0] == "-(x ^ 2)"
    assert expr_to_lems("a ** b ** c", name="q")[0] == "a ^ (b ^ c)"


def test_read_lems_rejects_other_documents() -> None:
    with pytest.raises(ValueError, match="well-formed"):
        read_lems("<Lems><unclosed></Lems>")
    with pytest.raises(ValueError, match="not a LEMS document"):
        read_lems("<NeuroML/>")

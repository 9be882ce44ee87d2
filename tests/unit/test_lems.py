"""LEMS export: well-formed XML that reads back to the registry's equations and
to the same experiment as the YAML export."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export.lems import (
    LEMS_NAMESPACE,
    coupling_type_name,
    experiment_from_lems,
    read_lems,
    to_lems,
)
from tvbo_pipe.export.render import default_experiment
from tvbo_pipe.models import MODELS
from tvbo_pipe.models.expressions import COUPLING_EXPRESSIONS, evaluate, evaluate_dfun
from tvbo_pipe.sim.coupling import get_coupling

jax.config.update("jax_enable_x64", True)

MODEL_NAMES = list(MODELS)


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
    # the model component carries the experiment's values, defaults included
    comp = doc["components"]["model"]
    assert comp["type"] == name
    for p in model.parameters:
        value = exp.model.parameters.get(p.name, p.default)
        expected = (
            " ".join(repr(float(v)) for v in value)
            if isinstance(value, tuple)
            else (repr(float(value)))
        )
        assert comp[p.name] == expected


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_yaml_and_lems_exports_describe_the_same_experiment(name: str) -> None:
    exp = _experiment(name)
    from_yaml = Experiment.from_dict(__import__("yaml").safe_load(exp.dumps()))
    from_lems = experiment_from_lems(to_lems(from_yaml))
    assert from_lems.to_dict() == _resolved(exp)
    assert from_yaml == exp


@pytest.mark.parametrize("cname", list(COUPLING_EXPRESSIONS))
def test_coupling_component_type_carries_pre_and_post(cname: str) -> None:
    model = MODELS["JansenRit" if cname == "SigmoidalJansenRit" else "SupHopf"]
    if cname == "SigmoidalJansenRit":
        exp = default_experiment(model)
    else:
        exp = replace(
            default_experiment(model),
            coupling=replace(default_experiment(model).coupling, name=cname),
        )
    doc = read_lems(to_lems(exp))
    ct = doc["types"][coupling_type_name(cname)]
    defs = dict(ct.auxiliaries)
    ce = COUPLING_EXPRESSIONS[cname]
    env = {p.name: 0.7 + 0.1 * k for k, p in enumerate(get_coupling(cname).parameters)}
    env.update(x_i=0.3, x_j=-0.4, x_i_0=0.3, x_i_1=0.1, x_j_0=-0.4, x_j_1=0.2, gx=1.3, n_cvar=2)
    for part in ("pre", "post"):
        assert evaluate(defs[part], env, np) == evaluate(getattr(ce, part), env, np)
    assert list(ct.parameters) == [p.name for p in get_coupling(cname).parameters]


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


def test_read_lems_rejects_other_documents() -> None:
    with pytest.raises(ValueError, match="well-formed"):
        read_lems("<Lems><unclosed></Lems>")
    with pytest.raises(ValueError, match="not a LEMS document"):
        read_lems("<NeuroML/>")


def test_scalar_noise_and_default_monitors_round_trip() -> None:
    exp = Experiment.load(
        __import__("pathlib").Path(__file__).parents[2] / "config" / "experiment.yaml"
    )
    assert experiment_from_lems(to_lems(exp)).to_dict() == _resolved(exp)

"""Code rendering: the expression form equals dfun, and every rendered program
(JAX script, SciPy function, Julia problem) is valid and agrees with the engine."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tvbo_pipe.cli import main as cli_main
from tvbo_pipe.connectome import Connectome
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import render_code
from tvbo_pipe.export.render import TARGETS, default_experiment
from tvbo_pipe.models import MODELS, Model
from tvbo_pipe.models.expressions import (
    COUPLING_EXPRESSIONS,
    ExpressionError,
    check_model,
    coupling_expressions,
    evaluate,
    evaluate_coupling,
    from_lems,
    to_julia,
    to_lems,
)
from tvbo_pipe.sim.coupling import COUPLINGS, coupling_value
from tvbo_pipe.sim.simulator import prepare

jax.config.update("jax_enable_x64", True)

MODEL_NAMES = list(MODELS)
GOLDEN = Path(__file__).parent / "golden"


def random_params(model: Model, rng: np.random.Generator, n: int) -> dict[str, jnp.ndarray]:
    """Random parameter values in their domains, half of them regional."""
    out = {}
    for p in model.parameters:
        if p.boolean:
            out[p.name] = jnp.asarray(float(rng.integers(0, 2)))
            continue
        lo, hi = p.domain if p.domain else (0.5 * p.default, 1.5 * p.default)
        lo, hi = min(lo, hi), max(lo, hi)
        if hi == lo:
            hi = lo + 1.0
        shape = (n,) if rng.uniform() < 0.5 else ()
        out[p.name] = jnp.asarray(rng.uniform(lo, hi, shape))
    return out


def random_state(model: Model, rng: np.random.Generator, n: int) -> jnp.ndarray:
    return jnp.asarray(np.stack([rng.uniform(*sv.range, n) for sv in model.state_variables]))


def small_connectome(n: int = 5, seed: int = 0) -> Connectome:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    np.fill_diagonal(w, 0)
    lengths = rng.uniform(10, 80, (n, n))
    return Connectome(w / w.max(), (lengths + lengths.T) / 2, tuple(f"R{k}" for k in range(n)))


@pytest.fixture(scope="module")
def conn() -> Connectome:
    return small_connectome()


# --------------------------------------------------------------------------- expression form
# (the model registry test, tests/unit/test_models.py, checks the models' expression form
# against their dfun; here: couplings, the parser and the translators)
@pytest.mark.parametrize("name", [c for c in COUPLINGS if COUPLINGS[c].dense is None])
def test_coupling_expression_form_equals_coupling(name: str) -> None:
    cpl = COUPLINGS[name]
    ce = coupling_expressions(name)
    assert ce.uses_x_i == cpl.uses_x_i
    rng = np.random.default_rng(1)
    n = 6
    n_cvar = cpl.n_cvar or 2
    w = rng.uniform(0, 1, (n, n))
    x_i = rng.normal(size=(n_cvar, n))
    x_j = rng.normal(size=(n_cvar, n, n))
    params = {}
    for k, p in enumerate(cpl.parameters):
        value = p.default + 0.1 * (k + 1)
        params[p.name] = jnp.asarray(value if k % 2 else np.full(n, value) + rng.normal(size=n))
    want = coupling_value(cpl, w, x_i, x_j, params)
    got = evaluate_coupling(name, w, jnp.asarray(x_i), jnp.asarray(x_j), params)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-14)


def test_every_separable_coupling_has_an_expression_form() -> None:
    separable = {c for c, cpl in COUPLINGS.items() if cpl.dense is None}
    assert separable == set(COUPLING_EXPRESSIONS)
    with pytest.raises(NotImplementedError, match="PreSigmoidal"):
        coupling_expressions("PreSigmoidal")


@pytest.mark.parametrize(
    "text",
    ["x.real", "lambda: 1", "foo(x)", "a < b < c", "exp(x, y)", "where(a, b)", "x[0]", "'s'"],
)
def test_parser_rejects_constructs_outside_the_syntax(text: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(text, {"x": 1.0, "y": 1.0, "a": 1.0, "b": 1.0, "c": 1.0})


def test_check_model_reports_incomplete_or_clashing_forms() -> None:
    rww = MODELS["ReducedWongWang"]
    with pytest.raises(ExpressionError, match="no expression form"):
        check_model(replace(rww, rhs={}))
    with pytest.raises(ExpressionError, match="missing"):
        check_model(replace(rww, rhs={"T": "1"}))
    with pytest.raises(ExpressionError, match="unknown name"):
        check_model(replace(rww, rhs={"S": "S + nonexistent"}))
    with pytest.raises(ExpressionError, match="has the name of a"):
        check_model(replace(rww, auxiliaries=(("w", "1.0"),)))
    with pytest.raises(ExpressionError, match="reserved"):
        check_model(replace(rww, auxiliaries=(("end", "1.0"),)))


def _julia_to_python(text: str) -> str:
    return text.replace("^", "**").replace("ifelse(", "where(")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_julia_and_lems_translations_keep_the_value(name: str) -> None:
    """Julia and Python share operator precedence (``^`` over unary minus over
    ``*``), so translating back must give the same numbers bit for bit."""
    model = MODELS[name]
    rng = np.random.default_rng(3)
    n = 5
    env = {k: np.asarray(v) for k, v in random_params(model, rng, n).items()}
    env.update(
        zip(model.state_variable_names, np.asarray(random_state(model, rng, n)), strict=True)
    )
    env.update({f"c_{k}": rng.normal(size=n) for k in range(model.n_cvar)})
    with np.errstate(all="ignore"):  # random points may overflow exp: same inf everywhere
        for aux, expr in [*model.auxiliaries, *model.rhs.items()]:
            want = evaluate(expr, env, np)
            back = evaluate(_julia_to_python(to_julia(expr)), env, np)
            np.testing.assert_array_equal(back, want)
            value, cases = to_lems(expr, name=aux)
            lenv = dict(env)
            for c in cases:
                case = f"where({from_lems(c.condition)}, {from_lems(c.value)}, "
                lenv[c.name] = evaluate(case + f"{from_lems(c.otherwise)})", lenv, np)
            np.testing.assert_array_equal(evaluate(from_lems(value), lenv, np), want)
            env[aux] = want


@pytest.mark.parametrize(
    ("text", "julia"),
    [
        ("-x**2", "-x ^ 2"),
        ("(-x)**2", "(-x) ^ 2"),
        ("a - (b - c)", "a - (b - c)"),
        ("a * (b * c)", "a * (b * c)"),
        ("x**y**z", "x ^ y ^ z"),
        ("(x**y)**z", "(x ^ y) ^ z"),
        ("2**-x", "2 ^ (-x)"),
        ("a * -b", "a * (-b)"),
        ("where(x < 0.0, 1.0, 2.0)", "ifelse(x < 0.0, 1.0, 2.0)"),
    ],
)
def test_julia_precedence(text: str, julia: str) -> None:
    assert to_julia(text) == julia


# --------------------------------------------------------------------------- python target
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_python_target_matches_dfun(name: str) -> None:
    model = MODELS[name]
    src = render_code(model, "python")
    ns: dict = {}
    exec(compile(src, f"<{name}.py>", "exec"), ns)
    rng = np.random.default_rng(7)
    for _ in range(3):
        y = np.asarray(random_state(model, rng, 1))[:, 0]
        c = rng.normal(size=model.n_cvar)
        params = {k: float(v) for k, v in random_params(model, rng, 1).items() if v.ndim == 0}
        got = ns["dfun"](0.0, y, tuple(c), **params)
        full = {**model.default_parameters(), **params}
        want = model.dfun(
            jnp.asarray(y)[:, None],
            jnp.asarray(c)[:, None],
            {k: jnp.asarray(v) for k, v in full.items()},
        )[:, 0]
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ns["Y0"], [sv.initial_value for sv in model.state_variables])


def test_python_target_runs_with_solve_ivp() -> None:
    from scipy.integrate import solve_ivp

    model = MODELS["Generic2dOscillator"]
    ns: dict = {}
    exec(render_code(model, "python"), ns)
    sol = solve_ivp(ns["dfun"], (0.0, 20.0), ns["Y0"], rtol=1e-10, atol=1e-12)
    assert sol.success
    # the same trajectory with the engine's dfun and a classical RK4 (dt = 0.1 ms)
    params = {k: jnp.asarray(v) for k, v in model.default_parameters().items()}
    f = jax.jit(lambda y: model.dfun(y, jnp.zeros((1, 1)), params))
    x, dt = jnp.asarray(ns["Y0"])[:, None], 0.1
    for _ in range(200):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(sol.y[:, -1], np.asarray(x)[:, 0], rtol=1e-6, atol=1e-8)


def test_python_target_uses_the_experiments_scalar_values() -> None:
    exp = Experiment.from_dict(
        {"model": {"name": "ReducedWongWang", "parameters": {"w": 0.5, "I_o": [0.3, 0.31]}}}
    )
    src = render_code(exp, "python")
    assert "w=0.5" in src
    assert "I_o=0.33" in src  # regional: the default, with a note
    assert "Regional values of I_o" in src


# --------------------------------------------------------------------------- jax target
def _run_script(exp: Experiment, conn: Connectome) -> dict:
    src = render_code(exp, "jax", connectome=conn)
    # one engine: the script writes out the experiment and imports the time loop
    assert "from tvbo_pipe.export.render import runtime" in src
    assert "def dfun(" in src and "def coupling_pre(" in src
    for copy in ("def rk4", "def heun", "lax.scan", "balloon", "def delay_plan"):
        assert copy not in src
    ns: dict = {"__name__": "rendered"}
    exec(compile(src, "<rendered>", "exec"), ns)
    return ns["simulate"](conn.weights, conn.lengths)


def _engine(exp: Experiment, conn: Connectome) -> dict:
    model, state = prepare(exp, conn, checkpoint_lengths=None)
    return model(state)


def _compare(out: dict, ref: dict, rtol: float = 1e-8) -> None:
    assert set(out) == set(ref)
    for name, ts in ref.items():
        np.testing.assert_allclose(out[name]["time"], np.asarray(ts.time), rtol=1e-12)
        assert tuple(out[name]["variables"]) == ts.variables
        data = np.asarray(ts.data)
        assert out[name]["data"].shape == data.shape, name
        scale = np.abs(data).max() + 1e-300
        np.testing.assert_allclose(out[name]["data"], data, rtol=rtol, atol=rtol * scale)


_STRONG = {"Linear": {"a": 0.2}, "Scaling": {"a": 0.2}, "Difference": {"a": 0.2}}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_jax_script_matches_engine(name: str, conn: Connectome) -> None:
    exp = default_experiment(MODELS[name])
    exp = replace(
        exp,
        coupling=replace(exp.coupling, parameters=_STRONG.get(exp.coupling.name, {})),
        integration=replace(exp.integration, duration=3.0),
    ).validate()
    _compare(_run_script(exp, conn), _engine(exp, conn))


def test_jax_script_with_delays_rk4_random_ics_regional_and_monitors(conn: Connectome) -> None:
    exp = Experiment.from_dict(
        {
            "model": {"name": "SupHopf", "parameters": {"a": [0.1, -0.2, 0.3, 0.05, -0.1]}},
            "connectivity": {"conduction_speed": 3.0},
            "coupling": {"name": "Difference", "parameters": {"a": 0.3}},
            "integration": {"method": "RK4", "dt": 0.05, "duration": 6.0, "seed": 5},
            "monitors": [
                {"type": "Raw", "variables": ["x", "y"]},
                {"type": "SubSample", "period": 0.5},
                {"type": "TemporalAverage", "period": 1.0, "variables": ["y"]},
            ],
            "initial_conditions": {"type": "random"},
        }
    )
    _compare(_run_script(exp, conn), _engine(exp, conn))


def test_jax_script_with_linear_delays_bounds_euler_and_bold(conn: Connectome) -> None:
    exp = Experiment.from_dict(
        {
            "model": {"name": "ReducedWongWang", "parameters": {"w": 0.9, "I_o": 0.4}},
            "connectivity": {"conduction_speed": 2.5, "delay_interpolation": "linear"},
            "coupling": {"name": "Linear", "parameters": {"a": 0.5}},
            "integration": {"method": "Euler", "dt": 1.0, "duration": 400.0},
            "monitors": [
                {"type": "Bold", "period": 200.0},
                {"type": "Bold", "period": 100.0, "hrf": "BalloonWindkessel"},
            ],
            "initial_conditions": {"type": "given", "values": {"S": 0.99}},
        }
    )
    out = _run_script(exp, conn)
    _compare(out, _engine(exp, conn), rtol=1e-9)


def test_jax_script_noise_has_the_configured_amplitude() -> None:
    n, steps, dt, sigma = 400, 50, 0.5, 0.2
    exp = Experiment.from_dict(
        {
            "model": {"name": "Kuramoto", "parameters": {"omega": 0.0}},
            "coupling": {"name": "Kuramoto"},
            "integration": {
                "method": "Heun",
                "dt": dt,
                "duration": steps * dt,
                "noise": {"sigma": sigma},
            },
            "initial_conditions": {"type": "given", "values": {"theta": 0.0}},
        }
    )
    ns: dict = {}
    exec(render_code(exp, "jax"), ns)
    out = ns["simulate"](np.zeros((n, n)))
    theta = out["Raw"]["data"][-1, 0]
    # Brownian motion: variance sigma^2 T (n = 400 samples: 4 standard errors ~ 28%)
    assert abs(theta.var() / (sigma**2 * steps * dt) - 1.0) < 0.3


def test_jax_script_draws_the_engines_noise(conn: Connectome) -> None:
    """The script runs the engine's loop, so even the noise realisation is the pipeline's."""
    exp = Experiment.from_dict(
        {
            "model": {"name": "Generic2dOscillator"},
            "connectivity": {"conduction_speed": 4.0},
            "coupling": {"name": "Linear", "parameters": {"a": 0.1}},
            "integration": {
                "method": "Heun",
                "dt": 0.1,
                "duration": 5.0,
                "seed": 3,
                "noise": {"sigma": {"V": 0.05}},
            },
        }
    )
    _compare(_run_script(exp, conn), _engine(exp, conn))


def test_jax_script_warns_when_run_with_another_version() -> None:
    src = render_code("SupHopf", "jax")
    assert re.search(r"^RENDERED_WITH = ", src, flags=re.M)
    exec(compile(src, "<rendered>", "exec"), {"__name__": "rendered"})  # no warning
    other = re.sub(r"^RENDERED_WITH = .*$", "RENDERED_WITH = '0.0.0'", src, flags=re.M)
    with pytest.warns(RuntimeWarning, match="rendered by tvbo_pipe 0.0.0"):
        exec(compile(other, "<rendered>", "exec"), {"__name__": "rendered"})


def test_jax_script_parameter_overrides_are_checked(conn: Connectome) -> None:
    ns: dict = {"__name__": "rendered"}
    exec(render_code(default_experiment(MODELS["SupHopf"]), "jax"), ns)
    with pytest.raises(KeyError, match="model parameter 'nope' unknown"):
        ns["simulate"](conn.weights, model_parameters={"nope": 1.0})
    with pytest.raises(ValueError, match="one value per node"):
        ns["simulate"](conn.weights, model_parameters={"a": jnp.ones(conn.n_regions + 1)})


def test_jax_script_embeds_small_connectomes_and_runs_standalone(
    tmp_path: Path, conn: Connectome
) -> None:
    exp = replace(
        default_experiment(MODELS["SupHopf"]),
        integration=replace(default_experiment(MODELS["SupHopf"]).integration, duration=1.0),
    )
    src = render_code(exp, "jax", connectome=conn)
    assert "WEIGHTS = [[" in src
    script = tmp_path / "sim.py"
    script.write_text(src)
    ns: dict = {"__name__": "rendered"}
    exec(compile(src, str(script), "exec"), ns)
    out_file = tmp_path / "out.npz"
    ns["main"](["--out", str(out_file)])
    with np.load(out_file) as saved:
        assert saved["Raw_data"].shape == (10, 1, conn.n_regions)
    matrix = tmp_path / "w.tsv"
    matrix.write_text(
        "".join("\t".join(repr(float(v)) for v in row) + "\n" for row in conn.weights)
    )
    np.testing.assert_array_equal(ns["read_matrix"](str(matrix)), conn.weights)


def test_presigmoidal_cannot_be_rendered() -> None:
    exp = Experiment.from_dict({"model": {"name": "SupHopf"}, "coupling": {"name": "PreSigmoidal"}})
    with pytest.raises(NotImplementedError, match="PreSigmoidal"):
        render_code(exp, "jax")


def test_unknown_target() -> None:
    with pytest.raises(ValueError, match="valid: jax, python, julia"):
        render_code("SupHopf", "fortran")


# --------------------------------------------------------------------------- julia target
def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_julia_golden() -> None:
    """The ReducedWongWang tutorial experiment (noise, bounds, an auxiliary named
    ``u`` that the rendering renames) against a reviewed golden file; comment
    lines (version, YAML) are not compared."""
    exp = Experiment.load(Path(__file__).parents[2] / "config" / "experiment.yaml")
    got = render_code(exp, "julia")
    golden = (GOLDEN / "ReducedWongWang.jl").read_text()
    assert _strip_comments(got) == _strip_comments(golden)


def _balanced(text: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_string = False
    for ch in re.sub(r"'.'|'\\t'", "", text):
        if ch == '"':
            in_string = not in_string
        if in_string:
            continue
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_julia_structure(name: str) -> None:
    model = MODELS[name]
    src = render_code(model, "julia")
    code = _strip_comments(src)
    code = re.sub(r'"""(.|\n)*?"""', "", code)
    assert _balanced(code)
    assert "function dfun!(du, u, p, t)" in code
    assert "ODEProblem(dfun!, u0, tspan, p)" in code
    assert re.search(r"sol = solve\(prob, \w+\(\); dt = ", code)
    openers = len(re.findall(r"^\s*(@inbounds\s+)?(function|for|if)\b|= if\b", code, flags=re.M))
    ends = len(re.findall(r"^\s*end\b", code, flags=re.M))
    assert openers == ends
    for i, _ in enumerate(model.state_variables, start=1):
        assert f"du[{i}, k] = " in code
    for token in ("**", "np.", "jnp.", "where(", "math."):
        assert token not in code
    for p in model.parameters:
        assert re.search(rf"^    {re.escape(p.name)} = ", code, flags=re.M)


def test_julia_noise_delays_and_regional_values() -> None:
    exp = Experiment.from_dict(
        {
            "model": {"name": "SupHopf", "parameters": {"a": [0.1, 0.2]}},
            "connectivity": {"conduction_speed": 3.0},
            "coupling": {"name": "Difference"},
            "integration": {"method": "Euler", "noise": {"sigma": {"x": 0.1}}},
        }
    )
    src = render_code(exp, "julia")
    assert "SDEProblem(dfun!, noise!, u0, tspan, p)" in src
    assert "solve(prob, EM();" in src
    assert "they are not rendered" in src
    assert "a = [0.1, 0.2]," in src
    assert "(a[k] - x ^ 2" in src
    assert f"const NOISE = [{0.1!r}, 0.0]" in src


# --------------------------------------------------------------------------- all targets, CLI
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("target", TARGETS)
def test_every_model_renders_to_every_target(name: str, target: str) -> None:
    src = render_code(name, target)
    assert name in src
    if target != "julia":
        compile(src, f"<{name}.{target}>", "exec")


def test_cli_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yaml_path = tmp_path / "exp.yaml"
    exp = Experiment.from_dict({"model": {"name": "SupHopf"}, "integration": {"duration": 1.0}})
    exp.dump(yaml_path)
    out = tmp_path / "sim.py"
    assert cli_main(["render", "--target", "jax", str(yaml_path), "-o", str(out)]) == 0
    compile(out.read_text(), str(out), "exec")
    for target in ("python", "julia", "lems", "report"):
        assert cli_main(["render", "--target", target, str(yaml_path)]) == 0
        assert "SupHopf" in capsys.readouterr().out
    assert cli_main(["render", "--target", "report", "--format", "html", "Kuramoto"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert cli_main(["render", "--target", "jax", str(tmp_path / "missing.yaml")]) == 1
    assert "error:" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    Experiment.from_dict({"model": {"name": "SupHopf"}, "coupling": {"name": "PreSigmoidal"}}).dump(
        bad
    )
    assert cli_main(["render", "--target", "jax", str(bad)]) == 1
    assert "PreSigmoidal" in capsys.readouterr().err


def test_rendered_numbers_round_trip() -> None:
    """Literal floats are written with repr, so values survive exactly."""
    exp = Experiment.from_dict(
        {"model": {"name": "ReducedWongWang", "parameters": {"w": 0.1 + 0.2}}}
    )
    ns: dict = {}
    exec(render_code(exp, "jax"), ns)
    assert ns["MODEL_PARAMETERS"]["w"] == 0.1 + 0.2
    assert math.isinf(ns["CONDUCTION_SPEED"])

"""LaTeX derived from the expression form: symbols, precedence, every model's equations."""

from __future__ import annotations

import re

import pytest

from tvbo_pipe.models import MODELS
from tvbo_pipe.models.expressions import COUPLING_EXPRESSIONS, free_names
from tvbo_pipe.models.latex import coupling_equations, latex_symbol, model_equations, to_latex
from tvbo_pipe.sim.coupling import COUPLINGS


@pytest.mark.parametrize(
    ("name", "kwargs", "latex"),
    [
        ("a", {}, "a"),
        ("tau_s", {}, r"\tau_s"),
        ("nu_max", {}, r"\nu_{\mathrm{max}}"),
        ("lamda", {}, r"\lambda"),
        ("Delta", {}, r"\Delta"),
        ("y0", {"node": True}, "y_{0,k}"),
        ("gCa", {}, r"g_{\mathrm{Ca}}"),
        ("Iext", {}, r"I_{\mathrm{ext}}"),
        ("S_y1_y2", {"node": True}, "S_{y1,y2,k}"),
        ("slope", {}, r"\mathrm{slope}"),
        ("theta", {"node": True, "dot": True}, r"\dot{\theta}_k"),
        ("S_e", {"node": True, "dot": True}, r"\dot{S}_{e,k}"),
    ],
)
def test_symbols(name: str, kwargs: dict, latex: str) -> None:
    assert latex_symbol(name, **kwargs) == latex


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("a / b", r"\frac{a}{b}"),
        ("(a + b) * c", r"\left(a + b\right)\,c"),
        ("a * (b * c)", r"a\,b\,c"),
        ("a - (b - c)", r"a - \left(b - c\right)"),
        ("a - b - c", "a - b - c"),
        ("a + -b", r"a + \left(-b\right)"),
        ("-(a + b)", r"-\left(a + b\right)"),
        ("(a * b) ** 2", r"\left(a\,b\right)^{2}"),
        ("x ** (1.0 / alpha)", r"x^{\frac{1}{\alpha}}"),
        ("2.0 * x * 0.5", r"2\,x \cdot 0.5"),
        ("exp(-d * u)", r"\exp\left(-d\,u\right)"),
        ("sqrt(x) + abs(y)", r"\sqrt{x} + \left|y\right|"),
        ("2 * pi", r"2\,\pi"),
        ("1e-05 * x", r"10^{-5}\,x"),
        (
            "where(x <= 0, a, b)",
            r"\begin{cases} a & \text{if } x \le 0 \\ b & \text{otherwise} \end{cases}",
        ),
    ],
)
def test_expressions(text: str, latex: str) -> None:
    assert to_latex(text) == latex


def _balanced(latex: str) -> bool:
    depth = 0
    for ch in latex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_has_derived_equations(name: str) -> None:
    """One equation per state variable, well formed, and every auxiliary the
    equations need defined exactly once."""
    model = MODELS[name]
    eqs = model.equations
    assert list(eqs) == list(model.state_variable_names)
    text = "\n".join(eqs.values())
    assert _balanced(text)
    assert text.count(r"\left") == text.count(r"\right")
    assert text.count(r"\begin{cases}") == text.count(r"\end{cases}")
    for v, eq in eqs.items():
        assert eq.startswith(latex_symbol(v, node=True, dot=True) + " = ")
    used = set().union(*(free_names(e) for e in model.rhs.values()))
    aux = dict(model.auxiliaries)
    for n, e in reversed(model.auxiliaries):
        if n in used:
            used |= free_names(e)
    for n in aux:
        definition = f"{latex_symbol(n, node=True)} = "
        assert text.count(definition) == (1 if n in used else 0), n
    for p in model.parameter_names:
        if p in used:
            assert re.search(re.escape(latex_symbol(p)) + r"(?![A-Za-z_{])", text), p


def test_equations_follow_the_expressions() -> None:
    """Edit the expression, and the LaTeX changes with it (nothing written by hand)."""
    eqs = model_equations(["x"], ["a"], 1, (("u", "a * x"),), {"x": "-u + c_0"})
    assert eqs == {"x": r"\dot{x}_k = -u_k + c_k,\quad u_k = a\,x_k"}
    two = model_equations(["x"], [], 2, (), {"x": "c_0 - c_1"})
    assert two == {"x": r"\dot{x}_k = c_{0,k} - c_{1,k}"}


@pytest.mark.parametrize("name", list(COUPLING_EXPRESSIONS))
def test_coupling_latex_is_derived(name: str) -> None:
    eqs = COUPLINGS[name].equations
    assert eqs == coupling_equations(name)
    assert set(eqs) == {"pre", "post"} and all(_balanced(e) for e in eqs.values())


def test_coupling_latex_symbols() -> None:
    assert coupling_equations("Kuramoto") == {
        "pre": r"\sin\left(x_j - x_i\right)",
        "post": r"\frac{a}{n_{\mathrm{cvar}}}\,g_x",
    }
    assert r"x_{j,0} - x_{j,1}" in coupling_equations("SigmoidalJansenRit")["pre"]

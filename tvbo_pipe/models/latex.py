"""LaTeX of the expression form: the typeset equations are derived, not written.

:func:`to_latex` prints one expression of :mod:`tvbo_pipe.models.expressions`
(``a / b`` as ``\\frac{a}{b}``, ``x**2`` as ``x^{2}``, ``where`` as a
``cases`` block, Greek names as Greek letters); :func:`latex_symbol` turns a
name into a symbol (``tau_s`` -> ``\\tau_{s}``, ``nu_max`` ->
``\\nu_{\\mathrm{max}}``, ``y0`` -> ``y_{0}``, ``gCa`` -> ``g_{\\mathrm{Ca}}``);
:func:`model_equations` gives a model's equations, one per state variable, each
followed by the auxiliary definitions it is the first to use. State
variables, coupling inputs and auxiliaries carry the node index ``k``;
parameters do not (they may still be regional).

Precedence follows the expression's tree: parentheses appear where the
evaluation order needs them, so the typeset formula reads as the code computes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

from tvbo_pipe.models.expressions import (
    _BINOPS,
    _PREC_ATOM,
    _PREC_UNARY,
    CONSTANTS,
    _prec,
    coupling_expressions,
    free_names,
    parse,
)

#: Names printed as Greek letters (``lamda`` is the spelling Python allows).
GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi pi rho sigma "
    "tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi "
    "Psi Omega".split()
)
_GREEK_ALIASES = {"lamda": r"\lambda", "Lamda": r"\Lambda"}
_FUNCTIONS = {"exp": r"\exp", "log": r"\log", "tanh": r"\tanh", "sin": r"\sin", "cos": r"\cos"}
_COMPARE_TEX = {
    ast.Lt: "<",
    ast.LtE: r"\le",
    ast.Gt: ">",
    ast.GtE: r"\ge",
    ast.Eq: "=",
    ast.NotEq: r"\ne",
}


def _word(text: str, *, subscript: bool = False) -> str:
    if text in GREEK:
        return "\\" + text
    if text in _GREEK_ALIASES:
        return _GREEK_ALIASES[text]
    plain = len(text) == 1 or text.isdigit()
    if subscript:  # y1 in S_y1_y2 reads fine as it is
        plain = plain or re.fullmatch(r"[A-Za-z]\d+", text) is not None
    return text if plain else rf"\mathrm{{{text}}}"


def _split(name: str) -> tuple[str, list[str]]:
    """Base and subscripts of a name: on underscores, else at a letter-digit or
    lower-upper boundary after a one-letter base (``y0``, ``gCa``, ``TK``, ``Iext``)."""
    parts = name.split("_")
    base, subs = parts[0], [p for p in parts[1:] if p]
    if base in GREEK or base in _GREEK_ALIASES or len(base) == 1:
        return base, subs
    m = re.fullmatch(r"([A-Za-z])(\d+)", base) or re.fullmatch(r"([a-zA-Z])([A-Z]\w*)", base)
    m = m or re.fullmatch(r"([A-Z])([a-z]+\d*)", base)
    if m:
        return m.group(1), [m.group(2), *subs]
    return base, subs


def latex_symbol(name: str, *, node: bool = False, dot: bool = False) -> str:
    """The LaTeX symbol of a name.

    Args:
        name: A state variable, parameter, coupling input or auxiliary name.
        node: Append the node index ``k`` to the subscripts.
        dot: Put a dot (time derivative) over the base symbol.
    """
    base, subs = _split(name)
    sym = _word(base)
    if dot:
        sym = rf"\dot{{{sym}}}"
    subs = [_word(s, subscript=True) for s in subs] + (["k"] if node else [])
    if not subs:
        return sym
    return (
        f"{sym}_{{{','.join(subs)}}}" if len(subs) > 1 or len(subs[0]) > 1 else f"{sym}_{subs[0]}"
    )


def _number(value: float) -> str:
    text = repr(float(value))
    if "e" in text:
        mant, exp = text.split("e")
        mant = mant[:-2] if mant.endswith(".0") else mant
        power = rf"10^{{{int(exp)}}}"
        return power if mant == "1" else rf"{mant} \times {power}"
    return text[:-2] if text.endswith(".0") else text


def _tex_prec(node: ast.expr) -> int:
    """The printers' precedence (:func:`~tvbo_pipe.models.expressions._prec`),
    except that ``\frac{}{}`` and ``x^{}`` need no parentheses around them."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div | ast.Pow):
        return _PREC_ATOM
    return _prec(node)


def _paren(text: str) -> str:
    return rf"\left({text}\right)"


class _LatexPrinter:
    def __init__(self, symbols: Mapping[str, str]):
        self.symbols = symbols

    def emit(self, node: ast.expr) -> str:
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.emit(node.operand)
            if _tex_prec(node.operand) <= _PREC_UNARY:
                operand = _paren(operand)
            return ("-" if isinstance(node.op, ast.USub) else "+") + operand
        if isinstance(node, ast.Compare):
            op = _COMPARE_TEX[type(node.ops[0])]
            return f"{self.emit(node.left)} {op} {self.emit(node.comparators[0])}"
        if isinstance(node, ast.Call):
            return self.call(node.func.id, node.args)
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return "\\" + node.id
            return self.symbols.get(node.id) or latex_symbol(node.id)
        return _number(node.value)

    def binop(self, node: ast.BinOp) -> str:
        if isinstance(node.op, ast.Div):
            return rf"\frac{{{self.emit(node.left)}}}{{{self.emit(node.right)}}}"
        if isinstance(node.op, ast.Pow):
            base = self.emit(node.left)
            atomic = isinstance(node.left, ast.Name | ast.Call) or (
                isinstance(node.left, ast.Constant) and node.left.value >= 0
            )
            return f"{base if atomic else _paren(base)}^{{{self.emit(node.right)}}}"
        p = _BINOPS[type(node.op)][1]
        left, right = self.emit(node.left), self.emit(node.right)
        if _tex_prec(node.left) < p:
            left = _paren(left)
        negative = right.startswith(("-", "+"))
        rp = _tex_prec(node.right)
        if rp < p or (rp == p and isinstance(node.op, ast.Sub)) or negative:
            right = _paren(right)
        if isinstance(node.op, ast.Mult):
            numeric = isinstance(node.right, ast.Constant) or right[:1].isdigit()
            return f"{left} \\cdot {right}" if numeric else f"{left}\\,{right}"
        return f"{left} {'+' if isinstance(node.op, ast.Add) else '-'} {right}"

    def call(self, name: str, args: Sequence[ast.expr]) -> str:
        inner = [self.emit(a) for a in args]
        if name == "where":
            cond, yes, no = inner
            return (
                rf"\begin{{cases}} {yes} & \text{{if }} {cond} \\ "
                rf"{no} & \text{{otherwise}} \end{{cases}}"
            )
        if name == "sqrt":
            return rf"\sqrt{{{inner[0]}}}"
        if name == "abs":
            return rf"\left|{inner[0]}\right|"
        return f"{_FUNCTIONS[name]}{_paren(inner[0])}"


def to_latex(text: str, *, symbols: Mapping[str, str] | None = None) -> str:
    """LaTeX of an expression.

    Args:
        text: The expression (syntax of :mod:`tvbo_pipe.models.expressions`).
        symbols: Name -> LaTeX symbol for names that should not get
            :func:`latex_symbol`'s default (e.g. with the node index).
    """
    return _LatexPrinter(symbols or {}).emit(parse(text))


def model_equations(
    state_variables: Sequence[str],
    parameters: Sequence[str],
    n_coupling: int,
    auxiliaries: Sequence[tuple[str, str]],
    rhs: Mapping[str, str],
) -> dict[str, str]:
    """State variable -> LaTeX of its equation, derived from the expression form.

    Each entry is ``\\dot{v}_k = ...``; the auxiliaries an equation is the first
    to need (directly or through other auxiliaries) follow it, after
    ``,\\quad``, in their definition order. A single coupling input prints as
    ``c_k``, several as ``c_{0,k}, c_{1,k}, ...``.
    """
    symbols = {p: latex_symbol(p) for p in parameters}
    for name in (*state_variables, *(n for n, _ in auxiliaries)):
        symbols[name] = latex_symbol(name, node=True)
    for i in range(n_coupling):
        symbols[f"c_{i}"] = "c_k" if n_coupling == 1 else f"c_{{{i},k}}"
    aux = dict(auxiliaries)
    shown: set[str] = set()
    out: dict[str, str] = {}
    for v in state_variables:
        if v not in rhs:
            continue
        need: set[str] = set()
        todo = [n for n in free_names(rhs[v]) if n in aux]
        while todo:
            n = todo.pop()
            if n not in need:
                need.add(n)
                todo += [m for m in free_names(aux[n]) if m in aux]
        parts = [f"{latex_symbol(v, node=True, dot=True)} = {to_latex(rhs[v], symbols=symbols)}"]
        for n, expr in auxiliaries:
            if n in need and n not in shown:
                parts.append(f"{symbols[n]} = {to_latex(expr, symbols=symbols)}")
                shown.add(n)
        out[v] = r",\quad ".join(parts)
    return out


#: Symbols of the names in coupling expressions.
_COUPLING_SYMBOLS = {
    "gx": "g_x",
    "n_cvar": r"n_{\mathrm{cvar}}",
    "cmin": r"c_{\mathrm{min}}",
    "cmax": r"c_{\mathrm{max}}",
    **{f"{side}_{c}": f"x_{{{side[-1]},{c}}}" for side in ("x_i", "x_j") for c in range(4)},
}


def coupling_equations(name: str) -> dict[str, str]:
    """``{"pre": ..., "post": ...}``: LaTeX of a coupling's expression form
    (:data:`~tvbo_pipe.models.expressions.COUPLING_EXPRESSIONS`).

    Raises:
        NotImplementedError: The coupling has no pre/sum/post form.
    """
    ce = coupling_expressions(name)
    return {
        "pre": to_latex(ce.pre, symbols=_COUPLING_SYMBOLS),
        "post": to_latex(ce.post, symbols=_COUPLING_SYMBOLS),
    }


__all__ = ["GREEK", "coupling_equations", "latex_symbol", "model_equations", "to_latex"]

"""The machine-readable equation form of models and couplings, and its translators.

Every registered model carries, beside its JAX ``dfun``, the same right-hand
side as text (:attr:`~tvbo_pipe.models.base.Model.auxiliaries` and
:attr:`~tvbo_pipe.models.base.Model.rhs`); every coupling with a
pre/sum/post form has its ``pre`` and ``post`` as text in
:data:`COUPLING_EXPRESSIONS`. Code in other languages (a JAX script, a SciPy
function, Julia, LEMS) is generated from this text, and tests check that the
text evaluates to exactly what ``dfun`` / ``pre`` / ``post`` compute, so the
renderings cannot drift from the engine.

The syntax is a small subset of Python expressions:

- numbers, names, ``+ - * / **``, unary ``-``/``+``, parentheses;
- one comparison ``< <= > >= == !=`` (only meaningful inside ``where``);
- the functions ``exp log sqrt tanh sin cos abs`` (one argument) and
  ``where(condition, if_true, if_false)`` (elementwise choice);
- the constant ``pi``.

Names in a model expression are the model's state variables, parameters,
the coupling inputs ``c_0, c_1, ...`` (rows of ``dfun``'s ``coupling``) and
earlier auxiliaries. In a coupling ``pre`` expression they are the coupling
parameters and ``x_i`` / ``x_j`` (the target's current and the source's
delayed value of one coupling variable), or ``x_i_0, x_j_1, ...`` for a
coupling that mixes coupling variables; in ``post``: ``gx`` (the weighted sum
over sources) and ``n_cvar`` (the number of coupling variables).

Translators walk the Python AST: :func:`to_python` (NumPy or JAX), :func:`to_julia`
and :func:`to_lems` (LEMS expression syntax, with every ``where`` hoisted into a
conditional variable); :func:`from_lems` goes back.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tvbo_pipe.models.lazy_jax import jnp

if TYPE_CHECKING:
    from tvbo_pipe.models.base import Model

#: Functions of one argument allowed in expressions.
UNARY_FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sin", "cos", "abs")
#: All function names (``where`` takes three arguments).
FUNCTIONS = (*UNARY_FUNCTIONS, "where")
#: Named constants.
CONSTANTS = {"pi": math.pi}

#: Names LEMS gives a meaning of its own inside expressions: the functions of
#: PyLEMS 0.6.9's expression parser (``H`` is the Heaviside step), the further
#: functions of jLEMS (``ln``, ``floor``) and the simulation time ``t``. A
#: quantity with one of these names cannot be written to LEMS (PyLEMS reads
#: ``H * gamma`` as a call of ``H``), so models may not use them.
LEMS_RESERVED = frozenset(
    "exp log sqrt sin cos tan sinh cosh tanh abs ceil factorial random H ln floor t".split()
)

#: Names a model may not use for a state variable, parameter or auxiliary: the
#: functions and constants of the syntax, LEMS's built-in names
#: (:data:`LEMS_RESERVED`) and keywords of the target languages.
#: (Clashes with names a rendering uses internally, such as Julia's ``u`` or
#: ``p``, are resolved by the renderers, which rename the model's quantity.)
RESERVED = frozenset(
    {
        *FUNCTIONS,
        *CONSTANTS,
        *LEMS_RESERVED,
        *keyword.kwlist,
        *(
            "begin end function let local global for while if else elseif in isa "
            "struct mutable module using import export return true false nothing "
            "ifelse quote macro baremodule do try catch finally const abstract "
            "primitive type where"
        ).split(),
    }
)

_BINOPS: dict[type, tuple[str, int, Callable]] = {
    ast.Add: ("+", 2, operator.add),
    ast.Sub: ("-", 2, operator.sub),
    ast.Mult: ("*", 3, operator.mul),
    ast.Div: ("/", 3, operator.truediv),
    ast.Pow: ("**", 5, operator.pow),
}
_UNARY: dict[type, tuple[str, Callable]] = {
    ast.USub: ("-", operator.neg),
    ast.UAdd: ("+", operator.pos),
}
_COMPARE: dict[type, tuple[str, str, Callable]] = {
    ast.Lt: ("<", ".lt.", operator.lt),
    ast.LtE: ("<=", ".leq.", operator.le),
    ast.Gt: (">", ".gt.", operator.gt),
    ast.GtE: (">=", ".geq.", operator.ge),
    ast.Eq: ("==", ".eq.", operator.eq),
    ast.NotEq: ("!=", ".neq.", operator.ne),
}
_PREC_COMPARE, _PREC_UNARY, _PREC_ATOM = 1, 4, 6


class ExpressionError(ValueError):
    """An expression outside the supported syntax, or a model/coupling whose
    expression form is incomplete or inconsistent."""


# --------------------------------------------------------------------------- parsing
@lru_cache(maxsize=4096)
def parse(text: str) -> ast.expr:
    """Parse and validate an expression; returns the body of its Python AST.

    Raises:
        ExpressionError: On a syntax error or a construct outside the subset.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {text!r}: {exc.msg}") from None
    _validate(tree, text)
    return tree


def _validate(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} not allowed in {text!r}")
        _validate(node.left, text)
        _validate(node.right, text)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExpressionError(f"operator {type(node.op).__name__} not allowed in {text!r}")
        _validate(node.operand, text)
    elif isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise ExpressionError(f"only one comparison <, <=, >, >=, ==, != allowed in {text!r}")
        _validate(node.left, text)
        _validate(node.comparators[0], text)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"unknown function in {text!r}; allowed: {', '.join(FUNCTIONS)}")
        want = 3 if node.func.id == "where" else 1
        if node.keywords or len(node.args) != want:
            raise ExpressionError(f"{node.func.id} takes {want} positional argument(s) in {text!r}")
        for arg in node.args:
            _validate(arg, text)
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExpressionError(f"function {node.id} used as a value in {text!r}")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numeric constants allowed in {text!r}")
    else:
        raise ExpressionError(f"{type(node).__name__} not allowed in {text!r}")


def free_names(text: str) -> set[str]:
    """Names an expression reads (functions and ``pi`` excluded)."""
    return {
        n.id
        for n in ast.walk(parse(text))
        if isinstance(n, ast.Name) and n.id not in FUNCTIONS and n.id not in CONSTANTS
    }


# --------------------------------------------------------------------------- evaluation
def evaluate(text: str, env: Mapping[str, Any], xp: Any = jnp) -> Any:
    """Evaluate an expression with values from ``env``.

    Args:
        text: The expression.
        env: Name -> value (scalars or arrays; they broadcast as in NumPy).
        xp: Array module providing the functions (``jax.numpy`` or ``numpy``).

    Raises:
        ExpressionError: A name is missing from ``env``.
    """
    return _eval(parse(text), env, xp, text)


def _eval(node: ast.expr, env: Mapping[str, Any], xp: Any, text: str) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)][2](
            _eval(node.left, env, xp, text), _eval(node.right, env, xp, text)
        )
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)][1](_eval(node.operand, env, xp, text))
    if isinstance(node, ast.Compare):
        return _COMPARE[type(node.ops[0])][2](
            _eval(node.left, env, xp, text), _eval(node.comparators[0], env, xp, text)
        )
    if isinstance(node, ast.Call):
        args = [_eval(a, env, xp, text) for a in node.args]
        if node.func.id == "where":
            return xp.where(xp.asarray(args[0]), args[1], args[2])
        return getattr(xp, node.func.id)(args[0])
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ExpressionError(f"unknown name {node.id!r} in {text!r}")
    return node.value  # ast.Constant (validated)


# --------------------------------------------------------------------------- translators
Rename = Mapping[str, str] | Callable[[str], str] | None


def _renamer(rename: Rename) -> Callable[[str], str]:
    if rename is None:
        return lambda name: name
    if callable(rename):
        return rename
    return lambda name: rename.get(name, name)


def to_python(text: str, *, module: str = "np", rename: Rename = None) -> str:
    """Python source of an expression using ``module`` (``np`` or ``jnp``) functions.

    Args:
        text: The expression.
        module: Name under which the array module is imported in the target code.
        rename: Maps names to the target's spelling (e.g. ``a -> p["a"]``); a
            mapping (unlisted names kept) or a function.
    """
    ren = _renamer(rename)

    class _T(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            args = [self.visit(a) for a in node.args]
            func = ast.Attribute(value=ast.Name(id=module, ctx=ast.Load()), attr=node.func.id)
            return ast.Call(func=func, args=args, keywords=[])

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in CONSTANTS:
                return ast.Attribute(value=ast.Name(id="math", ctx=ast.Load()), attr=node.id)
            return ast.parse(ren(node.id), mode="eval").body

    import copy

    tree = _T().visit(copy.deepcopy(parse(text)))
    return ast.unparse(ast.fix_missing_locations(tree))


def _number(value: int | float) -> str:
    return repr(value)


def _prec(node: ast.expr) -> int:
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)][1]
    if isinstance(node, ast.UnaryOp):
        return _PREC_UNARY
    if isinstance(node, ast.Compare):
        return _PREC_COMPARE
    if isinstance(node, ast.Constant) and node.value < 0:
        return _PREC_UNARY
    return _PREC_ATOM


class _Printer:
    """Precedence-aware printer into infix languages (Julia, LEMS).

    Operator precedence and associativity are Python's (Julia's agree:
    ``^`` binds tighter than unary minus, which binds tighter than ``*``).
    Parentheses keep the exact evaluation order of the expression (also for
    associative operators), so results agree to the last bit where the
    target evaluates in IEEE double precision.
    """

    pow_op = "^"

    def __init__(self, rename: Rename = None):
        self.ren = _renamer(rename)

    def compare(self, op: type) -> str:
        return _COMPARE[op][0]

    def call(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def __call__(self, node: ast.expr) -> str:
        return self.emit(node)

    def emit(self, node: ast.expr) -> str:
        if isinstance(node, ast.BinOp):
            sym, p, _ = _BINOPS[type(node.op)]
            right_assoc = isinstance(node.op, ast.Pow)
            left = self.emit(node.left)
            if _prec(node.left) < p or (right_assoc and _prec(node.left) <= p):
                left = f"({left})"
            right = self.emit(node.right)
            if (
                _prec(node.right) < p
                or (not right_assoc and _prec(node.right) <= p)
                or isinstance(node.right, ast.UnaryOp)
            ):
                right = f"({right})"
            sym = self.pow_op if right_assoc else sym
            return f"{left} {sym} {right}"
        if isinstance(node, ast.UnaryOp):
            operand = self.emit(node.operand)
            if _prec(node.operand) < _PREC_UNARY or isinstance(node.operand, ast.UnaryOp):
                operand = f"({operand})"
            return f"{_UNARY[type(node.op)][0]}{operand}"
        if isinstance(node, ast.Compare):
            left, right = self.emit(node.left), self.emit(node.comparators[0])
            return f"{left} {self.compare(type(node.ops[0]))} {right}"
        if isinstance(node, ast.Call):
            return self.call(node.func.id, [self.emit(a) for a in node.args])
        if isinstance(node, ast.Name):
            return self.ren(node.id)
        return _number(node.value)


class _JuliaPrinter(_Printer):
    def call(self, name: str, args: list[str]) -> str:
        return f"{'ifelse' if name == 'where' else name}({', '.join(args)})"


def to_julia(text: str, *, rename: Rename = None) -> str:
    """Julia source of an expression (``where`` becomes ``ifelse``, ``**`` ``^``)."""
    return _JuliaPrinter(rename)(parse(text))


class _LemsPrinter(_Printer):
    """LEMS infix with every compound operand in parentheses.

    PyLEMS's expression parser does not follow the usual precedence rules
    (it reads ``a - b * c - d`` as ``a - (b * c - d)``, ``-x ^ 2`` as
    ``(-x) ^ 2`` and ``a ^ b ^ c`` as ``(a ^ b) ^ c``), so nothing is left to
    precedence or associativity: each operand that is not a name, a number
    or a function call is bracketed.
    """

    def __init__(self, rename: Rename, hoist: Callable[[str, str, str], str]):
        super().__init__(rename)
        self.hoist = hoist

    def operand(self, node: ast.expr) -> str:
        text = self.emit(node)
        atomic = isinstance(node, ast.Name | ast.Call) or (
            isinstance(node, ast.Constant) and node.value >= 0
        )
        return text if atomic else f"({text})"

    def compare(self, op: type) -> str:
        return _COMPARE[op][1]

    def call(self, name: str, args: list[str]) -> str:
        if name == "where":
            return self.hoist(*args)
        return f"{name}({args[0]})"

    def emit(self, node: ast.expr) -> str:
        if isinstance(node, ast.Name) and node.id in CONSTANTS:
            return _number(CONSTANTS[node.id])
        if isinstance(node, ast.BinOp):
            sym = self.pow_op if isinstance(node.op, ast.Pow) else _BINOPS[type(node.op)][0]
            return f"{self.operand(node.left)} {sym} {self.operand(node.right)}"
        if isinstance(node, ast.UnaryOp):
            return f"{_UNARY[type(node.op)][0]}{self.operand(node.operand)}"
        if isinstance(node, ast.Compare):
            left, right = self.operand(node.left), self.operand(node.comparators[0])
            return f"{left} {self.compare(type(node.ops[0]))} {right}"
        return super().emit(node)


@dataclass(frozen=True)
class Conditional:
    """A LEMS ``ConditionalDerivedVariable`` made from a ``where``.

    Attributes:
        name: Its name.
        condition: LEMS condition (e.g. ``x1 .lt. 0.0``).
        value: Value where the condition holds.
        otherwise: Value elsewhere.
    """

    name: str
    condition: str
    value: str
    otherwise: str


def to_lems(text: str, *, name: str, rename: Rename = None) -> tuple[str, list[Conditional]]:
    """LEMS expression of ``text`` and the conditional variables it needs.

    LEMS has no inline conditional, so every ``where(c, a, b)`` becomes a
    :class:`Conditional` named ``{name}_case{k}`` (innermost first) and the
    expression refers to it by name. ``pi`` is written out as a number.

    Args:
        text: The expression.
        name: Name of the quantity it defines (prefix of the conditionals).
        rename: Name mapping, as for :func:`to_python`.
    """
    cases: list[Conditional] = []

    def hoist(cond: str, a: str, b: str) -> str:
        cname = f"{name}_case{len(cases)}"
        cases.append(Conditional(cname, cond, a, b))
        return cname

    return _LemsPrinter(rename, hoist)(parse(text)), cases


_LEMS_OPS = {spec[1]: spec[0] for spec in _COMPARE.values()}


def from_lems(text: str) -> str:
    """Translate a LEMS expression (``^``, ``.lt.``, ...) back to this syntax."""
    out = text.replace("^", "**")
    for lems_op, py_op in _LEMS_OPS.items():
        out = re.sub(re.escape(lems_op), f" {py_op} ", out, flags=re.IGNORECASE)
    return " ".join(out.split())


# --------------------------------------------------------------------------- models
def coupling_names(model: Model) -> tuple[str, ...]:
    """Names of the coupling inputs of a model: ``c_0, c_1, ...``."""
    return tuple(f"c_{k}" for k in range(model.n_cvar))


def check_model(model: Model) -> None:
    """Check that a model's expression form is complete and well formed.

    Every state variable has an ``rhs``; names are unique across state
    variables, parameters, coupling inputs and auxiliaries, avoid
    :data:`RESERVED`, and every expression reads only names defined before it.

    Raises:
        ExpressionError: Naming the model, the quantity and the problem.
    """
    svs = model.state_variable_names
    if not model.rhs:
        raise ExpressionError(f"model {model.name} has no expression form (Model.rhs is empty)")
    missing = [v for v in svs if v not in model.rhs]
    extra = [v for v in model.rhs if v not in svs]
    if missing or extra:
        raise ExpressionError(
            f"model {model.name}: rhs must have one entry per state variable; "
            f"missing {missing}, unknown {extra}"
        )
    seen: dict[str, str] = {}
    groups = (
        ("state variable", svs),
        ("parameter", model.parameter_names),
        ("coupling input", coupling_names(model)),
        ("auxiliary", tuple(n for n, _ in model.auxiliaries)),
    )
    for kind, names in groups:
        for n in names:
            if not n.isidentifier():
                raise ExpressionError(f"model {model.name}: {kind} {n!r} is not an identifier")
            if n in RESERVED:
                raise ExpressionError(f"model {model.name}: {kind} name {n!r} is reserved")
            if n in seen:
                raise ExpressionError(
                    f"model {model.name}: {kind} {n!r} has the name of a {seen[n]}"
                )
            seen[n] = kind
    known = set(svs) | set(model.parameter_names) | set(coupling_names(model))
    for n, expr in model.auxiliaries:
        _check_names(expr, known, f"model {model.name}, auxiliary {n}")
        known.add(n)
    for v, expr in model.rhs.items():
        _check_names(expr, known, f"model {model.name}, d{v}/dt")


def _check_names(expr: str, known: set[str], where: str) -> None:
    try:
        unknown = free_names(expr) - known
    except ExpressionError as exc:
        raise ExpressionError(f"{where}: {exc}") from None
    if unknown:
        raise ExpressionError(f"{where}: unknown name(s) {sorted(unknown)} in {expr!r}")


def evaluate_dfun(
    model: Model, state: Any, coupling: Any, params: Mapping[str, Any], xp: Any = jnp
) -> Any:
    """Evaluate a model's expression form with ``dfun``'s signature and shapes.

    Args:
        model: The model.
        state: ``(n_state_variables, ...)``.
        coupling: ``(n_coupling, ...)``.
        params: Parameter name -> scalar or array broadcasting with a state row.
        xp: Array module (``jax.numpy`` or ``numpy``).

    Returns:
        The time derivatives, shaped like ``state``.
    """
    env: dict[str, Any] = dict(params)
    env.update({v: state[i] for i, v in enumerate(model.state_variable_names)})
    env.update({c: coupling[k] for k, c in enumerate(coupling_names(model))})
    for n, expr in model.auxiliaries:
        env[n] = evaluate(expr, env, xp)
    rows = [evaluate(model.rhs[v], env, xp) for v in model.state_variable_names]
    rows = [xp.asarray(r) for r in rows]
    return xp.stack(xp.broadcast_arrays(*rows, xp.asarray(state[0]))[:-1])


# --------------------------------------------------------------------------- couplings
@dataclass(frozen=True)
class CouplingExpressions:
    """The expression form of a coupling ``post(sum_j w_ij pre(x_i, x_j))``.

    Attributes:
        pre: Expression of ``pre`` (see the module docstring for names).
        post: Expression of ``post`` in ``gx``.
        rowwise: True when ``pre`` applies to each coupling variable separately
            (names ``x_i``, ``x_j``); False when it combines them (names
            ``x_i_0``, ``x_j_1``, ...) into ``n_out`` rows.
        n_out: Output rows when not ``rowwise`` (then ``pre`` gives one row).
    """

    pre: str
    post: str
    rowwise: bool = True
    n_out: int | None = None

    @property
    def uses_x_i(self) -> bool:
        """True when ``pre`` reads the target node's own state."""
        return any(n == "x_i" or n.startswith("x_i_") for n in free_names(self.pre))


#: Coupling name -> expression form (PreSigmoidal has no pre/sum/post form).
COUPLING_EXPRESSIONS: dict[str, CouplingExpressions] = {
    "Linear": CouplingExpressions("x_j", "a * gx + b"),
    "Scaling": CouplingExpressions("x_j", "a * gx"),
    "Difference": CouplingExpressions("x_j - x_i", "a * gx"),
    "Kuramoto": CouplingExpressions("sin(x_j - x_i)", "a / n_cvar * gx"),
    "Sigmoidal": CouplingExpressions(
        "x_j", "cmin + (cmax - cmin) / (1.0 + exp(-a * ((gx - midpoint) / sigma)))"
    ),
    "SigmoidalJansenRit": CouplingExpressions(
        "cmin + (cmax - cmin) / (1.0 + exp(r * (midpoint - (x_j_0 - x_j_1))))",
        "a * gx",
        rowwise=False,
        n_out=1,
    ),
    "HyperbolicTangent": CouplingExpressions("a * (1 + tanh((b * x_j - midpoint) / sigma))", "gx"),
}


def coupling_expressions(name: str) -> CouplingExpressions:
    """The expression form of the coupling called ``name``.

    Raises:
        NotImplementedError: For couplings without a pre/sum/post form
            (``PreSigmoidal``: TVB's implementation sums over the target axis
            and mixes index conventions, see :mod:`tvbo_pipe.sim.coupling`).
    """
    try:
        return COUPLING_EXPRESSIONS[name]
    except KeyError:
        raise NotImplementedError(
            f"coupling {name!r} has no expression form (pre/sum/post); it cannot be "
            f"rendered. Renderable couplings: {', '.join(COUPLING_EXPRESSIONS)}"
        ) from None


def evaluate_coupling(
    name: str,
    weights: Any,
    x_i: Any,
    x_j_delayed: Any,
    params: Mapping[str, Any],
    xp: Any = jnp,
) -> Any:
    """Dense evaluation of a coupling's expression form (shapes of
    :func:`tvbo_pipe.sim.coupling.coupling_value`).

    Args:
        name: Coupling name.
        weights: ``(N, N)`` (target, source).
        x_i: ``(n_cvar, N)``.
        x_j_delayed: ``(n_cvar, N, N)`` (cvar, target, source).
        params: Name -> scalar or ``(N,)`` per target node.
        xp: Array module.

    Returns:
        ``(n_out, N)``.
    """
    ce = coupling_expressions(name)
    n_cvar = x_i.shape[0]
    edge = {k: (v if xp.ndim(v) == 0 else xp.asarray(v)[:, None]) for k, v in params.items()}
    if ce.rowwise:
        pre = evaluate(ce.pre, {**edge, "x_i": x_i[:, :, None], "x_j": x_j_delayed}, xp)
        pre = xp.broadcast_to(pre, x_j_delayed.shape)
    else:
        env = dict(edge)
        for c in range(n_cvar):
            env[f"x_i_{c}"] = x_i[c][:, None]
            env[f"x_j_{c}"] = x_j_delayed[c]
        pre = evaluate(ce.pre, env, xp)[None]
    gx = xp.sum(xp.asarray(weights)[None] * pre, axis=-1)
    return evaluate(ce.post, {**params, "gx": gx, "n_cvar": n_cvar}, xp)


def sorted_names(names: Sequence[str]) -> list[str]:
    """``names`` sorted case-insensitively (stable output order for renderers)."""
    return sorted(names, key=lambda s: (s.lower(), s))

"""Neural mass model description: metadata plus a pure ``dfun``.

A model is a frozen :class:`Model` whose ``dfun(state, coupling, params)`` maps

- ``state``: array ``(n_state_variables, n_nodes)``,
- ``coupling``: array ``(n_coupling_variables, n_nodes)``, the long-range input
  that the coupling function computed from the coupling variables (``cvar``),
- ``params``: a mapping ``name -> array`` (scalar, or ``(n_nodes,)`` for
  regional values),

to the time derivative, an array shaped like ``state`` (units: state units per ms).
Parameter names, defaults, state-variable ranges and boundaries follow The
Virtual Brain (TVB) so that a TVB user recognises them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tvbo_pipe.models.latex import model_equations

if TYPE_CHECKING:
    from jax import Array
else:
    Array = Any  # jax.Array; JAX is not imported with the registry (see lazy_jax)
DFun = Callable[[Array, Array, Mapping[str, Array]], Array]


@dataclass(frozen=True)
class Parameter:
    """A model or coupling parameter.

    Attributes:
        name: TVB's name for it.
        default: Default value (TVB's default).
        unit: Physical unit as text ("ms", "nA", "mV", "" for dimensionless).
        domain: ``(low, high)`` of the values TVB allows or suggests.
        description: One sentence on what it is.
        boolean: True for an on/off switch that TVB declares as a boolean
            (e.g. WilsonCowan ``shift_sigmoid``); it is passed as ``0.0`` /
            ``1.0`` (any non-zero value means True), is not differentiable and
            should not be fitted.
    """

    name: str
    default: float
    unit: str = ""
    domain: tuple[float, float] | None = None
    description: str = ""
    boolean: bool = False


@dataclass(frozen=True)
class StateVariable:
    """A state variable of a model.

    Attributes:
        name: TVB's name for it.
        range: ``(low, high)`` TVB draws random initial conditions from
            (``state_variable_range``).
        boundaries: ``(low, high)`` hard bounds the integrator clamps to after
            every step (TVB's ``state_variable_boundaries``); ``None`` on a side
            means unbounded. ``None`` for no bounds at all.
        initial: Value used for deterministic initial conditions (defaults to
            the middle of ``range``).
        unit: Unit of the variable.
    """

    name: str
    range: tuple[float, float]
    boundaries: tuple[float | None, float | None] | None = None
    initial: float | None = None
    unit: str = ""

    @property
    def initial_value(self) -> float:
        if self.initial is not None:
            return float(self.initial)
        return 0.5 * (self.range[0] + self.range[1])


@dataclass(frozen=True)
class Model:
    """A neural mass model: metadata and a pure, JAX-traceable ``dfun``.

    Attributes:
        name: Registry name, TVB's class name (e.g. ``"ReducedWongWang"``).
        state_variables: The state variables, in ``state`` row order.
        cvar: Indices of the state variables that couple between nodes
            (TVB's ``cvar``).
        n_coupling: Number of rows of the ``coupling`` input ``dfun`` expects
            (usually ``len(cvar)``).
        parameters: The parameters with TVB's names and defaults.
        dfun: ``dfun(state, coupling, params) -> dstate/dt``.
        variables_of_interest: Default monitored state variables (TVB's).
        description: Short description.
        references: Literature, as citation strings with DOI.
        auxiliaries: The machine-readable form of ``dfun``, part 1: ordered
            ``(name, expression)`` definitions of intermediate quantities (see
            :mod:`tvbo_pipe.models.expressions` for the syntax: NumPy-like infix
            over state variables, parameters, the coupling inputs ``c_0``,
            ``c_1``, ... and earlier auxiliaries).
        rhs: Part 2: state variable -> expression of its time derivative.
            Code renderers, the LEMS export and the LaTeX (:attr:`equations`)
            are generated from ``auxiliaries`` and ``rhs``; a test checks that
            they equal ``dfun`` for every model.
    """

    name: str
    state_variables: tuple[StateVariable, ...]
    cvar: tuple[int, ...]
    parameters: tuple[Parameter, ...]
    dfun: DFun
    variables_of_interest: tuple[str, ...] = ()
    description: str = ""
    references: tuple[str, ...] = ()
    n_coupling: int | None = None
    auxiliaries: tuple[tuple[str, str], ...] = ()
    rhs: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def equations(self) -> dict[str, str]:
        """State variable -> LaTeX of its equation (with the auxiliaries it needs),
        derived from ``auxiliaries`` and ``rhs`` by :func:`~tvbo_pipe.models.latex.model_equations`."""
        return model_equations(
            self.state_variable_names,
            self.parameter_names,
            self.n_cvar,
            self.auxiliaries,
            self.rhs,
        )

    @property
    def state_variable_names(self) -> tuple[str, ...]:
        return tuple(sv.name for sv in self.state_variables)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def n_cvar(self) -> int:
        return len(self.cvar) if self.n_coupling is None else self.n_coupling

    def default_parameters(self) -> dict[str, float]:
        """Parameter name -> TVB default value."""
        return {p.name: p.default for p in self.parameters}

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(
            f"model {self.name} has no parameter {name!r}; valid: {', '.join(self.parameter_names)}"
        )

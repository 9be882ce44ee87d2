"""The simulation experiment spec: model, connectivity, coupling, integration, monitors.

Frozen dataclasses, loaded from and dumped to YAML (``load -> dump -> load``
gives an equal object). Validation names the offending key and lists the
valid choices. Example (``config/experiment.yaml``)::

    model: {name: ReducedWongWang, parameters: {w: 0.5, I_o: 0.32}}
    connectivity: {conduction_speed: .inf}
    coupling: {name: Linear, parameters: {a: 0.5}}
    integration:
      method: Heun
      dt: 4.0            # ms
      duration: 120000.0 # ms
      noise: {sigma: 0.00283, convention: sigma}
      seed: 42
    monitors:
      - {type: Raw}
      - {type: Bold, period: 1000.0}

Parameter values may be scalars or lists with one value per region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .sim.monitor_kinds import MONITOR_KINDS, MonitorKind, get_monitor_kind

INTEGRATORS = ("Euler", "Heun", "RK4")
NOISE_CONVENTIONS = ("sigma", "tvb")
MONITORS = tuple(MONITOR_KINDS)
DELAY_INTERPOLATIONS = ("nearest", "linear")
INITIAL_CONDITIONS = ("default", "random", "given")

ParamValue = float | tuple[float, ...]


def _frozen_params(params: Mapping[str, Any] | None, *, key: str) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple):
            out[str(name)] = tuple(float(v) for v in value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
        else:
            raise ConfigError(
                f"parameter values must be numbers or lists of numbers, got {value!r}",
                key=f"{key}.{name}",
            )
    return out


@dataclass(frozen=True)
class ModelSpec:
    """Which neural mass model, and parameter overrides (TVB names)."""

    name: str = "ReducedWongWang"
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectivitySpec:
    """The network: where the SC comes from and the conduction speed.

    Attributes:
        weights: Path of the SC weights relmat (e.g. the connectome stage's
            output), or ``None`` when the connectome is passed to ``prepare``.
        lengths: Path of the tract lengths relmat (mm), or ``None``.
        normative: Name of a normative connectome (``tvb76``, ``dk68``) used
            when no paths are given.
        conduction_speed: mm/ms; ``inf`` means no delays.
        delay_interpolation: ``nearest`` rounds delays to whole steps (TVB);
            ``linear`` interpolates the history so that the speed is differentiable.
    """

    weights: str | None = None
    lengths: str | None = None
    normative: str | None = None
    conduction_speed: float = math.inf
    delay_interpolation: str = "nearest"


@dataclass(frozen=True)
class CouplingSpec:
    """Coupling function (TVB name) and parameter overrides."""

    name: str = "Linear"
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseSpec:
    """Additive white noise.

    Attributes:
        sigma: Noise amplitude, one number for every state variable or a mapping
            state variable -> amplitude (unlisted ones get none).
        convention: ``sigma``: increment ``sigma * sqrt(dt) * N(0, 1)``
            (tvboptim); ``tvb``: ``sigma`` is TVB's ``nsig`` and the increment
            is ``sqrt(2 * nsig * dt) * N(0, 1)``.
    """

    sigma: float | Mapping[str, float] = 0.0
    convention: str = "sigma"


@dataclass(frozen=True)
class IntegrationSpec:
    """Time stepping.

    Attributes:
        method: ``Euler``, ``Heun`` or ``RK4``; stochastic when ``noise`` is set.
        dt: Step size in ms.
        duration: Simulated time in ms.
        noise: Additive noise, or ``None`` for deterministic runs.
        seed: Seed of every random draw (noise, random initial conditions).
    """

    method: str = "Heun"
    dt: float = 0.1
    duration: float = 1000.0
    noise: NoiseSpec | None = None
    seed: int = 0


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor.

    Attributes:
        type: ``Raw`` (every step), ``SubSample`` (every ``period``),
            ``TemporalAverage`` (mean over each ``period``) or ``Bold``.
        period: Sampling period in ms (ignored for Raw).
        variables: Monitored state variables; empty means the model's
            variables of interest.
        hrf: For Bold: ``FirstOrderVolterra`` (TVB's default kernel) or
            ``BalloonWindkessel`` (the nonlinear balloon model).
    """

    type: str = "Raw"
    period: float | None = None
    variables: tuple[str, ...] = ()
    hrf: str = "FirstOrderVolterra"

    @property
    def name(self) -> str:
        return self.type if self.period is None else f"{self.type}_{self.period:g}ms"

    @property
    def kind(self) -> MonitorKind:
        """The registry entry of :attr:`type` (raises ``KeyError`` for an unknown type)."""
        return get_monitor_kind(self.type)


@dataclass(frozen=True)
class InitialConditionsSpec:
    """Initial state and history.

    Attributes:
        type: ``default`` (each state variable at its model initial value),
            ``random`` (uniform in TVB's state_variable_range, seeded by
            integration.seed) or ``given`` (``values``).
        values: For ``given``: state variable -> value (scalar or per region).
    """

    type: str = "default"
    values: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A whole simulation experiment."""

    model: ModelSpec = field(default_factory=ModelSpec)
    connectivity: ConnectivitySpec = field(default_factory=ConnectivitySpec)
    coupling: CouplingSpec = field(default_factory=CouplingSpec)
    integration: IntegrationSpec = field(default_factory=IntegrationSpec)
    monitors: tuple[MonitorSpec, ...] = (MonitorSpec(),)
    initial_conditions: InitialConditionsSpec = field(default_factory=InitialConditionsSpec)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Experiment:
        """Build and validate from a plain mapping (as read from YAML)."""
        data = dict(data or {})
        _check_keys(data, cls, "")
        model = _section(data, "model", ModelSpec)
        coupling = _section(data, "coupling", CouplingSpec)
        model = replace(model, parameters=_frozen_params(model.parameters, key="model.parameters"))
        coupling = replace(
            coupling, parameters=_frozen_params(coupling.parameters, key="coupling.parameters")
        )
        conn = _section(data, "connectivity", ConnectivitySpec)
        conn = replace(conn, conduction_speed=float(conn.conduction_speed))
        integ_raw = dict(data.get("integration") or {})
        noise_raw = integ_raw.pop("noise", None)
        integ = _section({"integration": integ_raw}, "integration", IntegrationSpec)
        if noise_raw is not None:
            noise = _section({"noise": noise_raw}, "noise", NoiseSpec, prefix="integration.")
            sigma = noise.sigma
            sigma = dict(sigma) if isinstance(sigma, Mapping) else float(sigma)
            integ = replace(integ, noise=replace(noise, sigma=sigma))
        integ = replace(
            integ, dt=float(integ.dt), duration=float(integ.duration), seed=int(integ.seed)
        )
        monitors = []
        raw_monitors = data.get("monitors", [{"type": "Raw"}])
        if not isinstance(raw_monitors, list):
            raise ConfigError("monitors must be a list of mappings", key="monitors")
        for k, m in enumerate(raw_monitors):
            spec = _section({"m": m}, "m", MonitorSpec, label=f"monitors[{k}]")
            spec = replace(
                spec,
                variables=tuple(spec.variables),
                period=None if spec.period is None else float(spec.period),
            )
            monitors.append(spec)
        ics = _section(data, "initial_conditions", InitialConditionsSpec)
        ics = replace(ics, values=_frozen_params(ics.values, key="initial_conditions.values"))
        exp = cls(model, conn, coupling, integ, tuple(monitors), ics)
        exp.validate()
        return exp

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML (tuples as lists, ``inf`` kept as a float)."""
        return _plain(asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> Experiment:
        """Read an experiment YAML file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"experiment file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        try:
            exp = cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        # connectome paths are relative to the experiment file
        conn = exp.connectivity
        fixed = {
            k: str((path.parent / v).resolve())
            for k in ("weights", "lengths")
            if (v := getattr(conn, k)) and not Path(v).is_absolute()
        }
        return replace(exp, connectivity=replace(conn, **fixed)) if fixed else exp

    def dumps(self) -> str:
        """YAML text of the experiment."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def dump(self, path: str | Path) -> None:
        """Write the experiment as YAML (atomically)."""
        from .io.relmat import write_text_atomic

        write_text_atomic(path, self.dumps())

    # ------------------------------------------------------------------ checks
    def validate(self) -> Experiment:
        """Check names and values against the registries; errors list valid choices."""
        # the registries import no JAX (models/lazy_jax.py): the Snakefile validates at DAG time
        from .models import MODELS
        from .sim.coupling import COUPLINGS

        if self.model.name not in MODELS:
            raise ConfigError(
                f"unknown model {self.model.name!r}; valid: {', '.join(MODELS)}", key="model.name"
            )
        model = MODELS[self.model.name]
        name, state_names = model.name, tuple(model.state_variable_names)
        _check_names(self.model.parameters, model.parameter_names, "model.parameters", name)
        if self.coupling.name not in COUPLINGS:
            raise ConfigError(
                f"unknown coupling {self.coupling.name!r}; valid: {', '.join(COUPLINGS)}",
                key="coupling.name",
            )
        _check_names(
            self.coupling.parameters,
            tuple(p.name for p in COUPLINGS[self.coupling.name].parameters),
            "coupling.parameters",
            self.coupling.name,
        )
        _choice(self.integration.method, INTEGRATORS, "integration.method")
        _choice(
            self.connectivity.delay_interpolation,
            DELAY_INTERPOLATIONS,
            "connectivity.delay_interpolation",
        )
        if not self.connectivity.conduction_speed > 0:
            raise ConfigError(
                "must be > 0 (mm/ms; .inf for no delays)", key="connectivity.conduction_speed"
            )
        dt, dur = self.integration.dt, self.integration.duration
        if not (dt > 0 and math.isfinite(dt)):
            raise ConfigError(f"must be a positive step in ms, got {dt}", key="integration.dt")
        if not dur >= dt:
            raise ConfigError(
                f"must be at least one step (dt={dt} ms), got {dur}", key="integration.duration"
            )
        noise = self.integration.noise
        if noise is not None:
            _choice(noise.convention, NOISE_CONVENTIONS, "integration.noise.convention")
            if isinstance(noise.sigma, Mapping):
                _check_names(noise.sigma, state_names, "integration.noise.sigma", name)
        if not self.monitors:
            raise ConfigError("at least one monitor is needed", key="monitors")
        seen = set()
        for k, m in enumerate(self.monitors):
            key = f"monitors[{k}]"
            _choice(m.type, MONITORS, f"{key}.type")
            if m.kind.periodic and not (m.period and m.period > 0):
                raise ConfigError(f"{m.type} needs a period in ms > 0", key=f"{key}.period")
            if m.kind.bold:
                _choice(m.hrf, m.kind.hrf_kernels, f"{key}.hrf")
            for v in m.variables:
                if v not in state_names:
                    raise ConfigError(
                        f"{name} has no state variable {v!r}; valid: {', '.join(state_names)}",
                        key=f"{key}.variables",
                    )
            if m.name in seen:
                raise ConfigError(f"two monitors named {m.name}", key=key)
            seen.add(m.name)
        _choice(self.initial_conditions.type, INITIAL_CONDITIONS, "initial_conditions.type")
        _check_names(
            self.initial_conditions.values,
            state_names,
            "initial_conditions.values",
            name,
        )
        return self

    def with_parameters(
        self, model: Mapping | None = None, coupling: Mapping | None = None
    ) -> Experiment:
        """A copy with model and coupling parameter overrides updated."""
        m = dict(self.model.parameters) | _frozen_params(model, key="model.parameters")
        c = dict(self.coupling.parameters) | _frozen_params(coupling, key="coupling.parameters")
        return replace(
            self,
            model=replace(self.model, parameters=m),
            coupling=replace(self.coupling, parameters=c),
        ).validate()


def _choice(value, choices, key):
    if value not in choices:
        raise ConfigError(f"{value!r} is not valid; valid: {', '.join(choices)}", key=key)


def _check_names(given: Mapping, valid: tuple[str, ...], key: str, owner: str) -> None:
    for name in given:
        if name not in valid:
            raise ConfigError(
                f"{owner} has no parameter or variable {name!r}; valid: {', '.join(valid)}",
                key=f"{key}.{name}",
            )


def _check_keys(data: Mapping, cls, prefix: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a mapping, got {type(data).__name__}", key=prefix.rstrip(".") or None
        )
    valid = [f.name for f in fields(cls)]
    for key in data:
        if key not in valid:
            raise ConfigError(f"unknown key; valid keys: {', '.join(valid)}", key=f"{prefix}{key}")


def _section(data: Mapping, name: str, cls, *, prefix: str = "", label: str | None = None):
    raw = data.get(name)
    label = label or f"{prefix}{name}"
    if raw is None:
        return cls()
    _check_keys(raw, cls, f"{label}.")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(str(exc), key=label) from None


def _plain(obj):
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj

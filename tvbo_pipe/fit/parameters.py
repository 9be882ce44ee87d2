"""Free parameters: which values a fit changes, their bounds, and the transforms.

A free parameter is addressed by a path into the simulation state of
:func:`tvbo_pipe.sim.simulator.prepare`: ``"coupling.a"``, ``"model.w"``,
``"model.I_o"``, ``"network.speed"``. It is *global* (one value) or
*regional* (one value per region). Values stay plain pytrees
(``{path: array}``); the optimiser works on unconstrained values ``u``:

- bounded ``(lo, hi)``: ``value = lo + (hi - lo) * sigmoid(u / scale)``,
- bounded below only: ``value = lo + softplus(u / scale) * scale``,
- unbounded: ``value = u * scale``.

The transforms are smooth, so the gradient never vanishes at a bound as it
does with clipping. ``scale`` (default 1 for bounded, the initial magnitude
otherwise) makes one optimiser step a comparable change for every parameter:
for bounded parameters ``u`` is already in units of the bound range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError

Values = dict[str, jax.Array]


@dataclass(frozen=True)
class FreeParameter:
    """One free parameter.

    Attributes:
        path: ``section.name`` in the simulation state (``model.w``, ``coupling.a``).
        low: Lower bound, or ``None``.
        high: Upper bound, or ``None``.
        regional: One value per region instead of one global value.
        scale: Step scale of the unconstrained value (see module docstring).
    """

    path: str
    low: float | None = None
    high: float | None = None
    regional: bool = False
    scale: float | None = None

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.path.split(".", 1)[1]

    def _scale(self, init) -> float:
        if self.scale is not None:
            return float(self.scale)
        if self.low is not None and self.high is not None:
            return 1.0
        mag = float(np.max(np.abs(np.asarray(init)))) if init is not None else 1.0
        return mag if mag > 0 else 1.0

    def to_value(self, u: jax.Array, scale: float) -> jax.Array:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            return lo + (hi - lo) * jax.nn.sigmoid(u / scale)
        if lo is not None:
            return lo + jax.nn.softplus(u / scale) * scale
        if hi is not None:
            return hi - jax.nn.softplus(-u / scale) * scale
        return u * scale

    def to_unconstrained(self, value, scale: float) -> jax.Array:
        v = jnp.asarray(value)
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            p = jnp.clip((v - lo) / (hi - lo), 1e-9, 1 - 1e-9)
            return scale * jnp.log(p / (1 - p))
        if lo is not None:
            z = jnp.maximum((v - lo) / scale, 1e-9)
            return scale * (z + jnp.log(-jnp.expm1(-z)))  # inverse softplus
        if hi is not None:
            z = jnp.maximum((hi - v) / scale, 1e-9)
            return -scale * (z + jnp.log(-jnp.expm1(-z)))
        return v / scale


def parse_free_parameters(
    spec: Mapping[str, object] | None, *, key: str, regional: bool = False
) -> tuple[FreeParameter, ...]:
    """Free parameters from config: ``{"coupling.a": [0.0, 1.0], "model.w": {"low": 0, "high": 1}}``.

    A list is ``[low, high]`` (``null`` for an open side); a mapping may add
    ``scale``. ``regional`` applies to all of them.
    """
    out = []
    for path, bounds in (spec or {}).items():
        if path.count(".") != 1 or path.split(".")[0] not in ("model", "coupling", "network"):
            raise ConfigError(
                "free parameters are named section.name with section model, coupling or network "
                f"(e.g. model.w, coupling.a), got {path!r}",
                key=f"{key}.{path}",
            )
        scale = None
        if isinstance(bounds, Mapping):
            low, high, scale = bounds.get("low"), bounds.get("high"), bounds.get("scale")
        elif isinstance(bounds, list | tuple) and len(bounds) == 2:
            low, high = bounds
        elif bounds is None:
            low = high = None
        else:
            raise ConfigError(
                "bounds must be [low, high] or {low, high, scale}", key=f"{key}.{path}"
            )
        if low is not None and high is not None and not float(low) < float(high):
            raise ConfigError(f"low {low} must be below high {high}", key=f"{key}.{path}")
        out.append(
            FreeParameter(
                path,
                None if low is None else float(low),
                None if high is None else float(high),
                regional,
                None if scale is None else float(scale),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class ParameterSpace:
    """A set of free parameters over a simulation state.

    Args:
        params: The free parameters.
        n_regions: Regions (size of regional parameters).
        scales: Per path, the step scale used by the transform (from the
            initial values; fixed once the space is built).
    """

    params: tuple[FreeParameter, ...]
    n_regions: int
    scales: Mapping[str, float]

    @classmethod
    def build(
        cls, params: Iterable[FreeParameter], state: Mapping, n_regions: int
    ) -> ParameterSpace:
        params = tuple(params)
        if not params:
            raise ConfigError("no free parameters")
        for p in params:
            section = state.get(p.section)
            if section is None or p.name not in section:
                valid = sorted(
                    f"{s}.{n}" for s in ("model", "coupling", "network") for n in state.get(s, {})
                )
                raise ConfigError(
                    f"unknown parameter {p.path!r}; valid: {', '.join(valid)}", key=p.path
                )
        scales = {p.path: p._scale(state[p.section][p.name]) for p in params}
        return cls(params, n_regions, scales)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.params)

    def current(self, state: Mapping) -> Values:
        """Current values in ``state``, broadcast to regional shape where needed."""
        out = {}
        for p in self.params:
            v = jnp.asarray(state[p.section][p.name])
            out[p.path] = jnp.broadcast_to(v, (self.n_regions,)) if p.regional else v
        return out

    def clip_into_bounds(self, values: Mapping) -> Values:
        """Values moved strictly inside their bounds (for starting points on a bound)."""
        out = {}
        for p in self.params:
            v = jnp.asarray(values[p.path], dtype=jnp.result_type(float))
            if p.low is not None and p.high is not None:
                eps = 1e-6 * (p.high - p.low)
                v = jnp.clip(v, p.low + eps, p.high - eps)
            out[p.path] = v
        return out

    def to_unconstrained(self, values: Mapping) -> Values:
        return {
            p.path: p.to_unconstrained(values[p.path], self.scales[p.path]) for p in self.params
        }

    def to_values(self, u: Mapping) -> Values:
        return {p.path: p.to_value(u[p.path], self.scales[p.path]) for p in self.params}

    def expand(self, values: Mapping) -> dict:
        """The values as they go into the state (see :class:`~tvbo_pipe.fit.maps.MappedSpace`)."""
        return dict(values)

    def apply(self, state: Mapping, values: Mapping) -> dict:
        """A new state with ``values`` put in place (the input is not modified)."""
        new = dict(state)
        for p in self.params:
            new[p.section] = {**new[p.section], p.name: values[p.path]}
        return new

    def describe(self) -> list[dict]:
        """JSON-able description (path, bounds, regional, scale)."""
        return [
            {
                "path": p.path,
                "low": p.low,
                "high": p.high,
                "regional": p.regional,
                "scale": self.scales[p.path],
            }
            for p in self.params
        ]


def values_to_json(values: Mapping) -> dict:
    """``{path: float or list}`` for files."""
    out = {}
    for k, v in values.items():
        a = np.asarray(v, dtype=float)
        out[k] = float(a) if a.ndim == 0 else [float(x) for x in a]
    return out


def is_finite_tree(tree) -> jax.Array:
    """True when every leaf is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)

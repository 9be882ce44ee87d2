"""Map-based regional heterogeneity: ``p_i = p0 + sum_k p_k * map_k,i``.

A regional parameter fitted value by value has one free value per region.
Tied to maps of the regions (a T1w/T2w myelin map, the principal gradient of
the functional connectivity, any per-region TSV), it has one free value
per map plus a baseline, as in Demirtas et al. 2019 and Kong et al. 2021:

.. math:: p_i = \\mathrm{clip}(p_0 + \\sum_k c_k m_{k,i}, \\; low, high)

with the maps z-scored over regions (``c_k`` is the change of ``p`` per
standard deviation of map ``k``). ``p0`` keeps the parameter's bounds
(smooth transform); the coefficients are unbounded; the regional values
are clipped into the bounds.

Config: a regional parameter with a ``maps`` list,
``fit_regional.parameters: {model.w: {low: 0, high: 1.5, maps: [fc_gradient]}}``;
a map is ``fc_gradient`` (computed from the subject's empirical FC by
:func:`fc_gradient`), the path of a dataset-level TSV, or a pybids filter
(``{desc: myelin, suffix: map, extension: .tsv}``) that finds each subject's
own TSV in the BIDS input (:mod:`tvbo_pipe.io.region_maps`). A TSV has one
row per region: a ``label`` column naming the regions and one value column,
or a single value column in the connectome's region order.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError, InputError
from ..io.region_maps import FC_GRADIENT, MapSource, map_name
from ..io.region_maps import parse_maps as parse_maps  # its home before; callers import it here
from .parameters import FreeParameter, ParameterSpace


def fc_gradient(fc: np.ndarray, *, sparsity: float = 0.9, alpha: float = 0.5) -> np.ndarray:
    """The principal gradient of a functional connectivity matrix (Margulies et al. 2016).

    Diffusion-map embedding as in BrainSpace's defaults: every row of the FC
    keeps its top ``1 - sparsity`` fraction of entries (the rest and negative
    values set to 0), the affinity is the cosine similarity between rows,
    normalised with ``alpha`` (0.5: diffusion maps), and the gradient is the
    first non-trivial eigenvector of the resulting Markov matrix, scaled by
    its eigenvalue. The sign is fixed so that the largest entry in absolute
    value is positive.

    Args:
        fc: ``(n, n)`` correlation matrix.

    Returns:
        ``(n,)`` gradient values (unitless).
    """
    x = np.array(fc, dtype=float)
    np.fill_diagonal(x, 0.0)
    n = x.shape[0]
    keep = max(1, round((1.0 - sparsity) * n))
    thr = -np.sort(-x, axis=1)[:, keep - 1 : keep]
    x = np.where((x >= thr) & (x > 0), x, 0.0)
    norms = np.linalg.norm(x, axis=1)
    norms[norms == 0] = 1.0
    xn = x / norms[:, None]
    aff = np.clip(xn @ xn.T, 0.0, None)
    d = aff.sum(axis=1)
    d[d == 0] = 1.0
    lap = aff / np.outer(d**alpha, d**alpha)
    d2 = lap.sum(axis=1)
    d2[d2 == 0] = 1.0
    s = lap / np.sqrt(np.outer(d2, d2))
    vals, vecs = np.linalg.eigh(s)
    order = np.argsort(vals)[::-1]
    psi = vecs[:, order[1]] / np.sqrt(d2)
    g = vals[order[1]] * psi / np.abs(psi).max()
    return g if g[np.argmax(np.abs(g))] > 0 else -g


def read_region_map(path: str | Path, labels: Sequence[str]) -> np.ndarray:
    """One value per region from a TSV (``label`` + value column, or one column in region order)."""
    path = Path(path)
    if not path.exists():
        raise InputError("region map not found", path=path)
    with path.open() as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and any(c.strip() for c in r)]
    header = [c.strip() for c in rows[0]]
    body = rows[1:]
    try:
        if "label" in header:
            i_label = header.index("label")
            i_val = next(k for k in range(len(header)) if k != i_label)
            table = {r[i_label].strip(): float(r[i_val]) for r in body}
            missing = [lab for lab in labels if lab not in table]
            if missing:
                raise InputError(
                    f"region map lacks regions {', '.join(missing[:5])}"
                    f"{' ...' if len(missing) > 5 else ''}",
                    path=path,
                )
            values = np.array([table[lab] for lab in labels])
        else:
            values = np.array([float(r[0]) for r in body])
    except (ValueError, StopIteration) as exc:
        raise InputError(f"region map is not numeric ({exc})", path=path) from exc
    if values.shape != (len(labels),):
        raise InputError(
            f"region map has {values.size} values for {len(labels)} regions", path=path
        )
    if not np.all(np.isfinite(values)):
        raise InputError("region map has non-finite values", path=path)
    return values


def zscore(m: np.ndarray, *, name: str) -> np.ndarray:
    """``m`` minus its mean over regions, divided by its standard deviation."""
    sd = float(np.std(m))
    if sd == 0:
        raise ConfigError(f"map {name!r} is constant over regions", key=name)
    return (m - np.mean(m)) / sd


def coefficient_path(path: str, name: str) -> str:
    """The free value of the map named ``name`` for parameter ``path``
    (``model.w@fc_gradient``; a map's name: :func:`~tvbo_pipe.io.region_maps.map_name`)."""
    return f"{path}@{name}"


@dataclass(frozen=True)
class MappedSpace(ParameterSpace):
    """A parameter space in which some regional parameters are tied to maps.

    ``params`` holds the free values (a parameter's baseline under its own
    path, global; each map coefficient under :func:`coefficient_path`);
    ``mapped`` gives, per mapped parameter, its bounds and its z-scored maps
    ``(n_maps, n_regions)``; unmapped parameters behave as in
    :class:`ParameterSpace`.
    """

    mapped: Mapping[str, tuple[FreeParameter, tuple[str, ...], np.ndarray]] = field(
        default_factory=dict
    )

    def expand(self, values: Mapping) -> dict:
        """The state values: mapped parameters as regional arrays, others unchanged."""
        out = {}
        for p in self.params:
            if p.path in self.mapped:
                base, names, maps = self.mapped[p.path]
                v = values[p.path]
                for k, name in enumerate(names):
                    v = v + values[coefficient_path(p.path, name)] * jnp.asarray(
                        maps[k], dtype=jnp.result_type(float)
                    )
                lo = -jnp.inf if base.low is None else base.low
                hi = jnp.inf if base.high is None else base.high
                out[p.path] = jnp.clip(v, lo, hi)
            elif "@" not in p.path:
                out[p.path] = values[p.path]
        return out

    def apply(self, state: Mapping, values: Mapping) -> dict:
        expanded = self.expand(values)
        new = dict(state)
        for path, v in expanded.items():
            section, name = path.split(".", 1)
            new[section] = {**new[section], name: v}
        return new

    def current(self, state: Mapping) -> dict:
        """Baselines at the mean of the current values, coefficients 0."""
        out = {}
        for p in self.params:
            if "@" in p.path:
                out[p.path] = jnp.asarray(0.0, dtype=jnp.result_type(float))
            elif p.path in self.mapped:
                out[p.path] = jnp.mean(jnp.asarray(state[p.section][p.name]))
            else:
                v = jnp.asarray(state[p.section][p.name])
                out[p.path] = jnp.broadcast_to(v, (self.n_regions,)) if p.regional else v
        return out

    def describe(self) -> list[dict]:
        out = super().describe()
        for d in out:
            if d["path"] in self.mapped:
                d["maps"] = list(self.mapped[d["path"]][1])
                d["form"] = "clip(p0 + sum_k c_k zscore(map_k), low, high)"
        return out


def build_space(
    params: Sequence[FreeParameter],
    maps_of: Mapping[str, Sequence[str | MapSource]],
    state: Mapping,
    labels: Sequence[str],
    fc_emp: np.ndarray,
) -> ParameterSpace:
    """A :class:`MappedSpace` when any parameter has maps, else a plain :class:`ParameterSpace`.

    Args:
        params: The free parameters (regional ones may be mapped).
        maps_of: Maps per parameter path: ``fc_gradient``, TSV paths, or
            :class:`~tvbo_pipe.io.region_maps.MapSource` (a subject's resolved
            map, see :func:`~tvbo_pipe.io.region_maps.resolve_region_maps`).
        state: The simulation state (checks the parameters exist).
        labels: Region labels (order of the maps).
        fc_emp: The subject's empirical FC (for ``fc_gradient``).
    """
    n = len(labels)
    plain = ParameterSpace.build(params, state, n)
    if not any(maps_of.get(p.path) for p in params):
        return plain
    free: list[FreeParameter] = []
    mapped = {}
    scales = dict(plain.scales)
    for p in params:
        sources = [
            m
            if isinstance(m, MapSource)
            else MapSource(map_name(m), None if m == FC_GRADIENT else m)
            for m in maps_of.get(p.path) or ()
        ]
        if not sources:
            free.append(p)
            continue
        if not p.regional:
            raise ConfigError("maps apply to regional parameters", key=f"{p.path}.maps")
        names = tuple(m.name for m in sources)
        if len(set(names)) < len(names):
            raise ConfigError(f"maps of {p.path} have the same name: {names}", key=f"{p.path}.maps")
        arrays = []
        for m in sources:
            raw = fc_gradient(fc_emp) if m.file is None else read_region_map(m.file, labels)
            arrays.append(zscore(raw, name=m.name))
        base = FreeParameter(p.path, p.low, p.high, regional=False, scale=p.scale)
        free.append(base)
        for name in names:
            cp = FreeParameter(coefficient_path(p.path, name), None, None, False, 1.0)
            free.append(cp)
            scales[cp.path] = float(p.scale or 1.0) * (
                0.1 * (p.high - p.low) if p.low is not None and p.high is not None else 1.0
            )
        mapped[p.path] = (p, names, np.stack(arrays))
    return MappedSpace(tuple(free), n, scales, mapped)

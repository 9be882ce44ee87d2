"""Generate TVB 2.10 reference values for every registered model dfun and coupling.

Run from the repository root with the dev environment::

    /work/venv/bin/python tests/reference/make_tvb_dfun_references.py

For every model in ``tvbo_pipe.models.MODELS`` it builds TVB's model, draws
reproducible random inputs for 5 nodes and stores TVB's ``dfun`` output in
``tests/reference/data/tvb_dfun_<Name>.npz``; for every coupling in
``tvbo_pipe.sim.coupling.COUPLINGS`` it evaluates TVB's coupling object on a
random 5x5 weight matrix and random current/delayed states and stores the
result in ``tests/reference/data/tvb_coupling_<Name>.npz``. The files are
byte-for-byte deterministic (fixed seeds, fixed zip timestamps).

Stored cases:

- models, ``default``: TVB default parameters, states uniform within
  ``state_variable_range``;
- models, ``regional``: per-node parameters (uniform within TVB's domain, or
  the default times U(0.5, 1.5) without domain), boolean switches flipped,
  states uniform within the range widened by its width on both sides (to reach
  every branch of the piecewise models);
- couplings, ``default`` and ``regional`` (per-target parameters, evaluated in
  TVB one target at a time since TVB's couplings cannot broadcast regional
  values), plus non-default parameters and the static-threshold variants of
  ``PreSigmoidal`` (``dynamic=True, globalT=True`` raises inside TVB 2.10,
  so it has no reference).

TVB's model ``dfun`` is evaluated as the simulator does (numba for
``ModelNumbaDfun`` subclasses) and cross-checked against its numpy
``_numpy_dfun`` when present. TVB's coupling ``__call__`` is run on a float64
stand-in for its history object (TVB's own history stores float32), so that
the exact code path of TVB's simulator (sparse or dense coupling) is used.

The helper functions are imported by the live tests
(``test_models_vs_tvb.py``, ``test_coupling_vs_tvb.py``); ``tvb`` is only
imported inside them, so importing this module does not need TVB.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

N_NODES = 5
DATA_DIR = Path(__file__).resolve().parent / "data"

# Names of TVB declarative attributes that are not model parameters.
_NOT_PARAMETERS = {
    "state_variable_range",
    "state_variable_boundaries",
    "variables_of_interest",
    "gid",
    "coupling_terms",
    "state_variable_dfuns",
    "parameter_names",
    "noise",
}

# Range of the random coupling-variable states per coupling (default: (-1, 1)).
_COUPLING_STATE_RANGE = {
    "Kuramoto": (0.0, 2.0 * np.pi),
    "SigmoidalJansenRit": (-5.0, 15.0),
    "PreSigmoidal": (0.3, 0.8),
}


# --------------------------------------------------------------------------- utilities

RTOL = 1e-12
"""Relative tolerance of the comparisons with TVB."""

ATOL_SCALE = 1e-14
"""Absolute floor, relative to the largest reference magnitude of the array.

Covers entries that are differences of nearly equal terms (e.g. ``Q + tanh``
near -1, sums of signed weighted terms), where last-bit differences between
XLA's and numpy's ``exp``/``tanh`` or a different summation order are not
small relative to the result."""


def assert_close_to_tvb(ours: Any, ref: Any, err_msg: str = "") -> None:
    """Assert ``ours`` equals TVB's ``ref`` to ``RTOL`` (with the ``ATOL_SCALE`` floor)."""
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{err_msg}: shape {ours.shape} != TVB {ref.shape}"
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL_SCALE * scale, err_msg=err_msg)


def rng_for(name: str, salt: str) -> np.random.Generator:
    """A reproducible generator for ``name`` (independent of Python's hash seed)."""
    return np.random.default_rng(zlib.crc32(f"{salt}:{name}".encode()))


def save_npz(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write an ``.npz`` whose bytes depend only on the arrays (fixed zip metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def params_from_arrays(arrays: Mapping[str, np.ndarray], case: str) -> dict[str, np.ndarray]:
    """Parameter dict of a stored case (keys ``<case>_param_<name>``)."""
    prefix = f"{case}_param_"
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _is_bool_trait(attr: Any) -> bool:
    dtype = getattr(attr, "dtype", None)
    if dtype is not None and np.dtype(dtype) == np.bool_:
        return True
    return getattr(attr, "field_type", None) is bool


def _trait_default(attr: Any) -> float:
    default = attr.default
    return float(np.asarray(default).reshape(-1)[0])


def _trait_domain(attr: Any) -> tuple[float, float] | None:
    domain = getattr(attr, "domain", None)
    return None if domain is None else (float(domain.lo), float(domain.hi))


# --------------------------------------------------------------------------- TVB models


def tvb_model_class(name: str) -> type:
    from tvb.simulator import models

    return getattr(models, name)


def tvb_model_parameters(name: str) -> dict[str, Any]:
    """TVB's parameter traits of a model, in declaration order."""
    from tvb.basic.neotraits.api import NArray

    cls = tvb_model_class(name)
    out = {}
    for key in cls.declarative_attrs:
        attr = getattr(cls, key)
        if key in _NOT_PARAMETERS or not isinstance(attr, NArray):
            continue
        out[key] = attr
    return out


def tvb_model_metadata(name: str) -> dict[str, np.ndarray]:
    """Metadata of TVB's model as arrays (the ``meta_*`` entries of the npz)."""
    cls = tvb_model_class(name)
    model = cls()
    svs = list(model.state_variables)
    ranges = np.array([model.state_variable_range[s] for s in svs], dtype=float)
    bounds = np.full((len(svs), 2), np.nan)
    if model.state_variable_boundaries is not None:
        for k, s in enumerate(svs):
            if s in model.state_variable_boundaries:
                lo, hi = model.state_variable_boundaries[s]
                bounds[k] = [-np.inf if lo is None else lo, np.inf if hi is None else hi]
    traits = tvb_model_parameters(name)
    domains = np.array(
        [_trait_domain(t) or (np.nan, np.nan) for t in traits.values()], dtype=float
    ).reshape(-1, 2)
    return {
        "meta_state_variables": np.array(svs, dtype=str),
        "meta_state_variable_range": ranges,
        "meta_state_variable_boundaries": bounds,
        "meta_cvar": np.asarray(model.cvar, dtype=np.int64),
        "meta_variables_of_interest": np.array(list(model.variables_of_interest), dtype=str),
        "meta_parameter_names": np.array(list(traits), dtype=str),
        "meta_parameter_defaults": np.array([_trait_default(t) for t in traits.values()]),
        "meta_parameter_domains": domains,
        "meta_parameter_boolean": np.array([_is_bool_trait(t) for t in traits.values()]),
    }


def draw_model_case(
    name: str, n_coupling: int, case: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Random ``(state, coupling, params)`` for a TVB model.

    ``case`` is ``"default"`` (defaults, states within range) or ``"regional"``
    (per-node parameters, flipped booleans, states in the widened range).
    """
    model = tvb_model_class(name)()
    ranges = np.array([model.state_variable_range[s] for s in model.state_variables], dtype=float)
    lo, hi = ranges[:, 0:1], ranges[:, 1:2]
    if case == "regional":
        lo, hi = lo - (hi - lo), hi + (hi - lo)
    u = rng.uniform(size=(len(ranges), N_NODES))
    state = lo + (hi - lo) * u
    coupling = rng.uniform(-0.5, 0.5, size=(n_coupling, N_NODES))
    params: dict[str, np.ndarray] = {}
    for pname, trait in tvb_model_parameters(name).items():
        default = _trait_default(trait)
        if _is_bool_trait(trait):
            value = float(not bool(default)) if case == "regional" else default
            params[pname] = np.array(value)
        elif case == "default":
            params[pname] = np.array(default)
        else:
            domain = _trait_domain(trait)
            if domain is not None:
                params[pname] = rng.uniform(domain[0], domain[1], size=N_NODES)
            elif default != 0.0:
                params[pname] = default * rng.uniform(0.5, 1.5, size=N_NODES)
            else:
                params[pname] = rng.uniform(-0.5, 0.5, size=N_NODES)
    return state, coupling, params


def _configured_tvb_model(name: str, params: Mapping[str, np.ndarray], column: bool) -> Any:
    traits = tvb_model_parameters(name)
    model = tvb_model_class(name)()
    for pname, value in params.items():
        value = np.asarray(value)
        if _is_bool_trait(traits[pname]):
            setattr(model, pname, np.array([bool(value)]))
            continue
        value = value.astype(float).reshape(-1)
        if column and value.size > 1:
            value = value.reshape(-1, 1)  # TVB's numpy dfuns broadcast against (n, modes)
        setattr(model, pname, value)
    model.configure()
    return model


def tvb_dfun(
    name: str, state: np.ndarray, coupling: np.ndarray, params: Mapping[str, np.ndarray]
) -> np.ndarray:
    """TVB's ``dfun`` (as used by its simulator) for one mode, ``(n_sv, n_nodes)``.

    Also evaluates ``_numpy_dfun`` when the class has one and checks both agree.
    """
    from tvb.simulator.models.base import ModelNumbaDfun

    x = np.asarray(state, dtype=float)[..., None]
    c = np.asarray(coupling, dtype=float)[..., None]
    cls = tvb_model_class(name)
    has_numpy = hasattr(cls, "_numpy_dfun")
    # numba gufuncs take per-node parameters as (n,), numpy code as (n, 1)
    model = _configured_tvb_model(name, params, column=not issubclass(cls, ModelNumbaDfun))
    with np.errstate(over="ignore"):
        out = np.array(model.dfun(x, c, local_coupling=0.0), dtype=float, copy=True)[..., 0]
    if has_numpy:
        model_np = _configured_tvb_model(name, params, column=True)
        with np.errstate(over="ignore"):
            out_np = np.array(model_np._numpy_dfun(x, c, local_coupling=0.0), dtype=float)
        np.testing.assert_allclose(
            out,
            out_np[..., 0],
            rtol=1e-12,
            atol=1e-14,
            err_msg=f"TVB {name}: numba dfun and _numpy_dfun disagree",
        )
    return out


# --------------------------------------------------------------------------- TVB couplings


def tvb_coupling_class(name: str) -> type:
    from tvb.simulator import coupling

    return getattr(coupling, name)


def tvb_coupling_parameters(name: str) -> dict[str, Any]:
    """TVB's parameter traits of a coupling (NArrays and boolean options)."""
    cls = tvb_coupling_class(name)
    return {k: getattr(cls, k) for k in cls.declarative_attrs if k != "gid"}


def tvb_coupling_metadata(name: str) -> dict[str, np.ndarray]:
    traits = tvb_coupling_parameters(name)
    return {
        "meta_parameter_names": np.array(list(traits), dtype=str),
        "meta_parameter_defaults": np.array([_trait_default(t) for t in traits.values()]),
        "meta_parameter_domains": np.array(
            [_trait_domain(t) or (np.nan, np.nan) for t in traits.values()], dtype=float
        ).reshape(-1, 2),
        "meta_parameter_boolean": np.array([_is_bool_trait(t) for t in traits.values()]),
    }


class _History:
    """Float64 stand-in for TVB's ``SparseHistory`` (only what couplings query)."""

    def __init__(self, weights: np.ndarray, x_i: np.ndarray, x_j: np.ndarray) -> None:
        n_cvar, n_node = x_i.shape
        self.n_cvar, self.n_node, self.n_mode = n_cvar, n_node, 1
        mask = weights != 0.0
        self.es_weights = weights[:, None, :, None]
        self.nnz_row_el_idx, self.nnz_col_el_idx = np.argwhere(mask).T
        self.nnz_weights = weights[mask]
        self.n_nnzw = int(mask.sum())
        self._current = x_i[:, :, None].copy()
        self._dense = x_j.transpose(1, 0, 2)[..., None].copy()  # (to, cvar, from, mode)
        self._sparse = x_j[:, mask][..., None].copy()  # (cvar, nnz, mode)

    def query(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        return self._current, self._dense

    def query_sparse(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        return self._current, self._sparse


def _tvb_coupling_scalar(
    name: str,
    weights: np.ndarray,
    x_i: np.ndarray,
    x_j: np.ndarray,
    params: Mapping[str, float],
) -> np.ndarray:
    traits = tvb_coupling_parameters(name)
    kwargs = {}
    for pname, value in params.items():
        if _is_bool_trait(traits[pname]):
            kwargs[pname] = bool(value)
        else:
            kwargs[pname] = np.array([float(value)])
    cpl = tvb_coupling_class(name)(**kwargs)
    cpl.configure()
    history = _History(np.asarray(weights, float), np.asarray(x_i, float), np.asarray(x_j, float))
    with np.errstate(over="ignore"):
        out = np.array(cpl(1, history), dtype=float, copy=True)
    return out[..., 0]


def tvb_coupling_value(
    name: str,
    weights: np.ndarray,
    x_i: np.ndarray,
    x_j: np.ndarray,
    params: Mapping[str, np.ndarray],
) -> np.ndarray:
    """TVB's coupling output ``(n_out, n_nodes)``.

    ``x_j[c, i, j]`` is the delayed state of node ``j`` seen by node ``i``.
    Per-target parameters (shape ``(n_nodes,)``) are evaluated one target node
    at a time with scalar TVB parameters.
    """
    arrays = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if all(v.size == 1 for v in arrays.values()):
        return _tvb_coupling_scalar(
            name, weights, x_i, x_j, {k: v.item() for k, v in arrays.items()}
        )
    n = x_i.shape[1]
    columns = []
    for i in range(n):
        scalar = {k: (v.item() if v.size == 1 else v[i]) for k, v in arrays.items()}
        columns.append(_tvb_coupling_scalar(name, weights, x_i, x_j, scalar)[:, i])
    return np.stack(columns, axis=1)


def coupling_cases(name: str) -> list[tuple[str, int, dict[str, Any]]]:
    """``(case, n_cvar, options)`` evaluated for a coupling.

    ``options`` holds fixed parameter overrides; ``"regional": True`` asks for
    per-target parameter values.
    """
    n_cvar = {"Kuramoto": 1}.get(name, 2)
    cases: list[tuple[str, int, dict[str, Any]]] = [("default", n_cvar, {})]
    if name == "PreSigmoidal":
        cases += [
            ("nondefault", 2, {"scalar": True}),
            ("static", 2, {"scalar": True, "dynamic": 0.0, "globalT": 0.0}),
            ("static_global", 2, {"scalar": True, "dynamic": 0.0, "globalT": 1.0}),
        ]
    else:
        cases.append(("regional", 2, {"regional": True}))
    return cases


def draw_coupling_case(
    name: str, n_cvar: int, options: Mapping[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Random ``(weights, x_i, x_j_delayed, params)`` for a coupling."""
    n = N_NODES
    weights = rng.uniform(0.0, 1.0, size=(n, n))
    np.fill_diagonal(weights, 0.0)
    weights[2, :] = 0.0  # a node without afferents
    weights[0, 3] = 0.0
    lo, hi = _COUPLING_STATE_RANGE.get(name, (-1.0, 1.0))
    x_i = rng.uniform(lo, hi, size=(n_cvar, n))
    x_j = rng.uniform(lo, hi, size=(n_cvar, n, n))
    params: dict[str, np.ndarray] = {}
    for pname, trait in tvb_coupling_parameters(name).items():
        default = _trait_default(trait)
        if pname in options:
            params[pname] = np.array(float(options[pname]))
        elif _is_bool_trait(trait) or not (options.get("regional") or options.get("scalar")):
            params[pname] = np.array(default)
        else:
            size = n if options.get("regional") else None
            if default != 0.0:
                value = default * rng.uniform(0.5, 1.5, size=size)
            else:
                value = rng.uniform(-0.1, 0.1, size=size)
            domain = _trait_domain(trait)
            if domain is not None:
                value = np.clip(value, domain[0], domain[1])
            params[pname] = np.asarray(value, dtype=float)
    return weights, x_i, x_j, params


# --------------------------------------------------------------------------- main


def make_model_reference(name: str, n_coupling: int) -> dict[str, np.ndarray]:
    arrays: dict[str, Any] = dict(tvb_model_metadata(name))
    cases = ["default", "regional"]
    arrays["cases"] = np.array(cases, dtype=str)
    rng = rng_for(name, "model")
    for case in cases:
        state, coupling, params = draw_model_case(name, n_coupling, case, rng)
        out = tvb_dfun(name, state, coupling, params)
        if not np.all(np.isfinite(out)):
            raise RuntimeError(f"TVB {name} {case}: non-finite dfun output")
        arrays[f"{case}_state"] = state
        arrays[f"{case}_coupling"] = coupling
        arrays[f"{case}_dfun"] = out
        for pname, value in params.items():
            arrays[f"{case}_param_{pname}"] = np.asarray(value, dtype=float)
    return arrays


def make_coupling_reference(name: str) -> dict[str, np.ndarray]:
    arrays: dict[str, Any] = dict(tvb_coupling_metadata(name))
    cases = coupling_cases(name)
    arrays["cases"] = np.array([c[0] for c in cases], dtype=str)
    rng = rng_for(name, "coupling")
    for case, n_cvar, options in cases:
        weights, x_i, x_j, params = draw_coupling_case(name, n_cvar, options, rng)
        out = tvb_coupling_value(name, weights, x_i, x_j, params)
        if not np.all(np.isfinite(out)):
            raise RuntimeError(f"TVB coupling {name} {case}: non-finite output")
        arrays[f"{case}_weights"] = weights
        arrays[f"{case}_x_i"] = x_i
        arrays[f"{case}_x_j"] = x_j
        arrays[f"{case}_out"] = out
        for pname, value in params.items():
            arrays[f"{case}_param_{pname}"] = np.asarray(value, dtype=float)
    return arrays


def main() -> None:
    from tvbo_pipe.models import MODELS
    from tvbo_pipe.sim.coupling import COUPLINGS

    for name, model in MODELS.items():
        path = DATA_DIR / f"tvb_dfun_{name}.npz"
        save_npz(path, make_model_reference(name, model.n_cvar))
        print(f"wrote {path}")
    for name in COUPLINGS:
        path = DATA_DIR / f"tvb_coupling_{name}.npz"
        save_npz(path, make_coupling_reference(name))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

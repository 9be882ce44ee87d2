"""The runtime of rendered JAX scripts: tvbo_pipe's own simulator.

A script from :func:`~tvbo_pipe.export.render.render_jax` holds the
experiment (settings and parameter values as literals, the model's ``dfun``
and the coupling's ``pre``/``post`` written out from the registry's
expression form) and hands it to :func:`simulate` here. :func:`simulate`
builds the pipeline's :class:`~tvbo_pipe.sim.simulator.Simulator` for the
experiment and swaps in the script's functions, so delays, integrator, state
bounds, noise draws and monitors are the pipeline's code, not a copy:
without noise a script's run equals the pipeline's to the rounding of the
written-out equations (checked by ``tests/unit/test_render.py``), with noise
it draws the same numbers from the same seed.

:func:`check_version` warns when the installed tvbo_pipe is not the one the
script was rendered with; :func:`main` is the scripts' command line.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ... import __version__
from ...connectome import Connectome
from ...experiment import Experiment
from ...sim.simulator import build_simulator, default_params, initial_state, integrate

#: ``simulate(weights, lengths)`` of a rendered script (see :func:`main`).
ScriptSimulate = Callable[..., dict[str, dict[str, Any]]]


def check_version(rendered_with: str) -> None:
    """Warn (``RuntimeWarning``) when tvbo_pipe is not the version ``rendered_with``.

    The script's equations and settings are its own, but the time loop is the
    installed tvbo_pipe's: another version may integrate differently.
    """
    if rendered_with != __version__:
        warnings.warn(
            f"this script was rendered by tvbo_pipe {rendered_with} and runs with tvbo_pipe "
            f"{__version__}: its delays, integrators and monitors are the installed version's, "
            f"so results may differ from the ones tvbo_pipe {rendered_with} gave "
            f"(pip install tvbo-pipe=={rendered_with} to reproduce them)",
            RuntimeWarning,
            stacklevel=2,
        )


def edge(value: Any) -> jax.Array:
    """A scalar or per-target ``(n_nodes,)`` parameter, broadcastable against the
    edge arrays ``(..., n_nodes, K)`` a coupling's ``pre`` receives."""
    value = jnp.asarray(value)
    return value if value.ndim == 0 else value[..., None]


def simulate(
    experiment: Mapping[str, Any],
    weights: Any,
    lengths: Any | None = None,
    *,
    dfun: Callable,
    coupling_pre: Callable,
    coupling_post: Callable,
    model_parameters: Mapping[str, Any] | None = None,
    coupling_parameters: Mapping[str, Any] | None = None,
    x0: Any | None = None,
    key: jax.Array | None = None,
) -> dict[str, dict[str, Any]]:
    """Run an experiment with the given model and coupling functions.

    Args:
        experiment: The experiment as a mapping (tvbo_pipe's experiment schema,
            :meth:`~tvbo_pipe.experiment.Experiment.from_dict`).
        weights: ``(n, n)`` structural weights, ``weights[i, j]`` from node j to i.
        lengths: ``(n, n)`` tract lengths in mm, or None (no conduction delays).
        dfun: ``dfun(state, coupling, params)`` replacing the registry model's.
        coupling_pre: ``pre(x_i, x_j, params)`` replacing the registry coupling's.
        coupling_post: ``post(gx, params)`` replacing the registry coupling's.
        model_parameters: Values (scalars or ``(n,)`` arrays, JAX arrays
            included) overriding the experiment's model parameters.
        coupling_parameters: The same for the coupling's parameters.
        x0: ``(n_state_variables, n)`` initial state (default: the experiment's).
        key: Noise key (default: from the experiment's seed, as the pipeline).

    Returns:
        Monitor name -> ``{"time": (n_t,) ms, "data": (n_t, n_variables, n),
        "variables": names}`` (NumPy arrays). Float64 when JAX runs with
        ``jax_enable_x64``, else float32.
    """
    exp = Experiment.from_dict(experiment)
    w = np.asarray(weights, dtype=float)
    conn = Connectome(
        w,
        None if lengths is None else np.asarray(lengths, dtype=float),
        tuple(f"node{k}" for k in range(w.shape[0])),
        source="the rendered script's weights",
    )
    sim, conn = build_simulator(exp, conn)
    sim = replace(
        sim,
        model=replace(sim.model, dfun=dfun),
        coupling=replace(sim.coupling, pre=coupling_pre, post=coupling_post),
    )
    params = default_params(sim, conn)
    for section, given in (("model", model_parameters), ("coupling", coupling_parameters)):
        params[section] = _override(params[section], given or {}, section, sim)
    start = initial_state(sim, x0, key=key)
    out = jax.jit(lambda p, s: integrate(sim, p, all_states=s))(params, start)
    return {
        name: {
            "time": np.asarray(ts.time),
            "data": np.asarray(ts.data),
            "variables": tuple(ts.variables),
        }
        for name, ts in out.items()
    }


def _override(values: dict, given: Mapping[str, Any], section: str, sim: Any) -> dict:
    out = dict(values)
    for name, value in given.items():
        if name not in out:
            raise KeyError(f"{section} parameter {name!r} unknown; valid: {', '.join(sorted(out))}")
        arr = jnp.asarray(value, dtype=sim.dtype)
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != sim.n_nodes):
            raise ValueError(
                f"{section} parameter {name!r} must be a scalar or have one value per "
                f"node ({sim.n_nodes}), got shape {arr.shape}"
            )
        out[name] = arr
    return out


def read_matrix(path: str | Path) -> np.ndarray:
    """A connectivity matrix from a tab-separated file (BEP017 dense relmat; a
    header row and a label column are skipped)."""
    rows = [line.split("\t") for line in Path(path).read_text().splitlines() if line.strip()]
    try:
        return np.array(rows, dtype=float)
    except ValueError:
        return np.array([r[1:] for r in rows[1:]], dtype=float)


def main(
    simulate: ScriptSimulate,
    argv: Sequence[str] | None = None,
    *,
    description: str,
    weights_path: str | None = None,
    lengths_path: str | None = None,
    weights: Any | None = None,
    lengths: Any | None = None,
    seed: int = 0,
) -> int:
    """A rendered script's command line: run ``simulate`` on a connectome.

    ``--weights``/``--lengths`` (TSV) override the paths the experiment named;
    without any, the embedded ``weights``/``lengths`` are used, else a random
    network of ``--n-nodes`` nodes. Prints a summary per monitor; ``--out``
    writes the outputs to an ``.npz`` file (``<monitor>_time``, ``<monitor>_data``).
    Simulates in float64 (turns on ``jax_enable_x64``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--weights", default=weights_path, help="weights matrix (TSV)")
    parser.add_argument("--lengths", default=lengths_path, help="tract lengths in mm (TSV)")
    parser.add_argument(
        "--n-nodes", type=int, default=8, help="size of the random network used without weights"
    )
    parser.add_argument("--out", default=None, help="write the monitors to this .npz file")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    if args.weights:
        w = read_matrix(args.weights)
        tl = read_matrix(args.lengths) if args.lengths else None
    elif weights is not None:
        w, tl = np.array(weights), None if lengths is None else np.array(lengths)
    else:
        rng = np.random.default_rng(seed)
        w = rng.uniform(0.0, 1.0, (args.n_nodes, args.n_nodes))
        np.fill_diagonal(w, 0.0)
        tl = rng.uniform(10.0, 100.0, w.shape)
        tl = (tl + tl.T) / 2.0
        print(f"no --weights given: random network of {args.n_nodes} nodes")
    out = simulate(w, tl)
    for name, o in out.items():
        print(
            f"{name}: {o['data'].shape[0]} samples of {', '.join(o['variables'])}, "
            f"{o['data'].shape[2]} nodes, mean {o['data'].mean():.6g}"
        )
    if args.out:
        np.savez(args.out, **{f"{k}_{f}": v[f] for k, v in out.items() for f in ("time", "data")})
    return 0


__all__ = ["check_version", "edge", "main", "read_matrix", "simulate"]

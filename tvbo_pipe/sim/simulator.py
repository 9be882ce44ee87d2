"""Experiments compiled to pure, differentiable JAX simulations.

Three entry points, from high to low level:

- :func:`prepare` ``(experiment, connectome) -> (model, state)`` (tvboptim's
  API): ``model(state)`` is jit-compiled and returns the monitors' outputs;
  ``state`` is a pytree of float arrays (parameters and initial conditions),
  so ``jax.grad``, ``jax.jacfwd`` and ``jax.vmap`` apply to it directly.
- :func:`integrate` (jaxley's API): one run from explicit parameters and
  states, with ``checkpoint_lengths`` (nested checkpointed scans that bound
  memory under ``jax.grad``) and ``all_states`` / ``return_states`` to
  continue runs.
- :func:`build_init_and_step_fn` (jaxley's API): ``init_fn`` and ``step_fn``
  for step-by-step control with external input.

The time loop follows TVB's simulator step by step: the coupling of step
``t`` is computed from the history (delayed states) and the current state,
held fixed while the integrator advances the state, then the new state's
coupling variables enter the history, and monitors see the new state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from ..connectome import Connectome
from ..errors import ConfigError
from ..experiment import Experiment
from ..models import Model, get_model
from .adjoint import adjoint_blocks, reverse_mode_only
from .coupling import Coupling, get_coupling
from .delays import (
    DelayPlan,
    double_history,
    plan_delays,
    read_delayed,
    single_history,
    write_history,
)
from .integrators import get_scheme
from .monitors import (
    BoldStream,
    MonitorPlan,
    bold_series,
    compute_outputs,
    interim_samples,
    plan_monitors,
    streamable,
)
from .noise import increment_scale, normals
from .sparse import SparsePlan, plan_sparse

#: Remat policy of the loop unit: keep the noise drawn in it (named "noise").
_SAVE_NOISE = jax.checkpoint_policies.save_only_these_names("noise")


class SimState(NamedTuple):
    """Everything needed to continue a simulation.

    Attributes:
        x: ``(n_sv, n_nodes)`` current state.
        history: ``(n_cvar, H, n_nodes)`` ring buffer of the coupling
            variables (``H = 0`` without delays).
        bold_stock: Per Bold monitor, ``(5000, n_var, n_nodes)`` interim
            samples (4 ms) preceding the run.
        step: Number of steps done (absolute step of ``x``), int32.
        key: The noise key (draws of step ``t`` use ``fold_in(key, t)``).
    """

    x: jax.Array
    history: jax.Array
    bold_stock: dict
    step: jax.Array
    key: jax.Array


@dataclass(frozen=True, eq=False)
class Simulator:
    """The static part of a prepared experiment (shapes, schemes, plans).

    Build it with :func:`build_simulator`; it is closed over by the jitted
    functions, so changing it means recompiling, while everything in the
    parameter and state pytrees can change freely.
    """

    model: Model
    coupling: Coupling
    scheme: str
    dt: float
    n_steps: int
    labels: tuple[str, ...]
    bounds: tuple[np.ndarray, np.ndarray] | None
    noise_scale: np.ndarray | None
    delays: DelayPlan | None
    plans: tuple[MonitorPlan, ...]
    record: tuple[int, ...]
    block: int
    unit: int
    dtype: Any
    bold_fft: bool
    seed: int
    experiment: Experiment
    sparse: SparsePlan | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.labels)

    @property
    def n_blocks(self) -> int:
        return self.n_steps // self.block

    @property
    def horizon(self) -> int:
        return 0 if self.delays is None else self.delays.horizon


# --------------------------------------------------------------------------- building
def _value(spec_value, default, n: int, key: str, dtype) -> jax.Array:
    v = default if spec_value is None else spec_value
    arr = np.asarray(v, dtype=dtype)
    if arr.ndim == 1 and arr.shape[0] != n:
        raise ConfigError(
            f"regional values must have one entry per region ({n}), got {arr.shape[0]}", key=key
        )
    if arr.ndim > 1:
        raise ConfigError("parameter values must be scalars or 1-D per region", key=key)
    return jnp.asarray(arr)


def _bounds(model: Model, dtype) -> tuple[np.ndarray, np.ndarray] | None:
    if not any(sv.boundaries for sv in model.state_variables):
        return None
    lo = np.array(
        [(sv.boundaries or (None, None))[0] for sv in model.state_variables], dtype=object
    )
    hi = np.array(
        [(sv.boundaries or (None, None))[1] for sv in model.state_variables], dtype=object
    )
    lo = np.array([-np.inf if v is None else v for v in lo], dtype=dtype)[:, None]
    hi = np.array([np.inf if v is None else v for v in hi], dtype=dtype)[:, None]
    return lo, hi


def build_simulator(
    experiment: Experiment,
    connectome: Connectome | None = None,
    *,
    dtype=None,
    replace_temporal_averaging: bool = False,
    scalar_pre: bool = False,
    bold_fft_convolve: bool = True,
    min_speed: float | None = None,
    sparse: bool | None = None,
) -> tuple[Simulator, Connectome]:
    """Resolve an experiment against a connectome into a static :class:`Simulator`.

    ``sparse`` (no delays, couplings in pre/sum/post form): sum the coupling
    over per-target source lists instead of a dense product; ``None`` chooses
    by size and density (:func:`~tvbo_pipe.sim.sparse.plan_sparse`).
    """
    experiment.validate()
    if connectome is None:  # the core reads no files
        raise ConfigError(
            "no connectome: pass one (tvbo_pipe.io.connectome.load_experiment_connectome"
            "(experiment) loads the one connectivity.weights or connectivity.normative names)",
            key="connectivity",
        )
    conn = connectome.validate()
    dtype = dtype or (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    model = get_model(experiment.model.name)
    coupling = get_coupling(experiment.coupling.name)
    n_out = coupling.output_rows(len(model.cvar))
    if n_out != model.n_cvar:
        raise ConfigError(
            f"coupling {coupling.name} gives {n_out} coupling input(s) but {model.name} expects {model.n_cvar}",
            key="coupling.name",
        )
    if scalar_pre and (coupling.uses_x_i or coupling.dense is not None):
        raise ConfigError(
            f"scalar_pre needs a coupling whose pre depends on x_j only; {coupling.name} does not",
            key="coupling.name",
        )
    integ = experiment.integration
    dt = integ.dt
    n_steps = round(integ.duration / dt)
    if not math.isclose(n_steps * dt, integ.duration, rel_tol=1e-9):
        raise ConfigError(
            f"duration {integ.duration} ms is not a whole number of steps of {dt} ms",
            key="integration.duration",
        )
    plans, record, block = plan_monitors(
        experiment.monitors, model, dt, replace_temporal_averaging=replace_temporal_averaging
    )
    if n_steps % block:
        raise ConfigError(
            f"duration must be a multiple of {block * dt:g} ms (the monitors' common sampling interval)",
            key="integration.duration",
        )
    noise = integ.noise
    scale = None
    if noise is not None:
        scale = increment_scale(noise.sigma, noise.convention, model.state_variable_names, dt)
        scale = scale.astype(dtype) if np.any(scale) else None
    delays = plan_delays(
        conn.weights,
        conn.lengths,
        experiment.connectivity.conduction_speed,
        dt,
        interpolation=experiment.connectivity.delay_interpolation,
        dense=coupling.dense is not None,
        min_speed=min_speed,
    )
    sparse_plan = None
    if delays is None and coupling.dense is None:
        sparse_plan = plan_sparse(conn.weights, sparse)
    sim = Simulator(
        model=model,
        coupling=coupling,
        scheme=integ.method,
        dt=dt,
        n_steps=n_steps,
        labels=tuple(conn.labels),
        bounds=_bounds(model, dtype),
        noise_scale=scale,
        delays=delays,
        plans=plans,
        record=record,
        block=block,
        unit=loop_unit(n_steps, _unit_multiple(plans, n_steps, block)),
        dtype=dtype,
        bold_fft=bold_fft_convolve,
        seed=integ.seed,
        experiment=experiment,
        sparse=sparse_plan,
    )
    return sim, conn


def default_params(sim: Simulator, connectome: Connectome) -> dict:
    """The parameter pytree: ``{"model": ..., "coupling": ..., "network": ...}``.

    Every model and coupling parameter is present (defaults overridden by the
    experiment), as a 0-d or ``(n_nodes,)`` array of the simulator's dtype.
    ``network`` holds the weights and, with linear delay interpolation, the
    conduction speed (mm/ms).
    """
    exp, n, dt = sim.experiment, sim.n_nodes, sim.dtype
    model = {
        p.name: _value(
            exp.model.parameters.get(p.name), p.default, n, f"model.parameters.{p.name}", dt
        )
        for p in sim.model.parameters
    }
    coupling = {
        p.name: _value(
            exp.coupling.parameters.get(p.name), p.default, n, f"coupling.parameters.{p.name}", dt
        )
        for p in sim.coupling.parameters
    }
    network = {"weights": jnp.asarray(connectome.weights, dtype=dt)}
    if sim.delays is not None and sim.delays.interpolate:
        network["speed"] = jnp.asarray(exp.connectivity.conduction_speed, dtype=dt)
    return {"model": model, "coupling": coupling, "network": network}


def initial_state(
    sim: Simulator, x0: jax.Array | None = None, *, key: jax.Array | None = None
) -> SimState:
    """Initial :class:`SimState`: constant history at ``x0``, empty BOLD stock.

    ``x0`` defaults to the experiment's initial conditions (model initial
    values, random within TVB's state-variable ranges, or given values).
    """
    model, n, dtype = sim.model, sim.n_nodes, sim.dtype
    if x0 is None:
        ics = sim.experiment.initial_conditions
        rows = []
        rng = np.random.default_rng(sim.seed)
        for sv in model.state_variables:
            if ics.type == "random":
                rows.append(rng.uniform(sv.range[0], sv.range[1], n))
            elif ics.type == "given" and sv.name in ics.values:
                rows.append(np.broadcast_to(np.asarray(ics.values[sv.name], dtype=float), (n,)))
            else:
                rows.append(np.full(n, sv.initial_value))
        x0 = np.stack(rows)
    x0 = jnp.asarray(x0, dtype=dtype)
    if x0.shape != (len(model.state_variables), n):
        raise ValueError(
            f"initial state must have shape {(len(model.state_variables), n)}, got {x0.shape}"
        )
    cv = x0[jnp.asarray(model.cvar)]
    history = jnp.broadcast_to(cv[:, None, :], (len(model.cvar), sim.horizon, n))
    stocks = {
        p.name: jnp.zeros((p.stock_len, len(p.voi), n), dtype=dtype)
        for p in sim.plans
        if p.kind.bold
    }
    key = jax.random.key(sim.seed) if key is None else key
    return SimState(x0, history, stocks, jnp.asarray(0, dtype=jnp.int32), key)


# --------------------------------------------------------------------------- the step
def coupling_input(
    sim: Simulator, params: Mapping, x: jax.Array, history: jax.Array, t
) -> jax.Array:
    """Long-range coupling of step ``t`` (``(n_cvar_out, n_nodes)``).

    ``history`` is the loop's doubled buffer (:func:`~tvbo_pipe.sim.delays.double_history`).
    """
    cpl, cp = sim.coupling, params["coupling"]
    w = params["network"]["weights"]
    x_now = x[jnp.asarray(sim.model.cvar)]
    d = sim.delays
    if d is None and sim.sparse is not None:
        sp = sim.sparse
        xj = x_now[:, jnp.asarray(sp.src)]
        w_e = jnp.where(jnp.asarray(sp.mask), w.reshape(-1)[jnp.asarray(sp.edge)], 0.0)
        pre = cpl.pre(x_now[:, :, None], xj, cp)
        return cpl.post(jnp.sum(w_e * pre, axis=-1), cp)
    if d is None:
        if cpl.dense is not None:
            xj = jnp.broadcast_to(x_now[:, None, :], x_now.shape[:1] + w.shape)
            return cpl.dense(w, x_now, xj, cp)
        if not cpl.uses_x_i:
            pre = cpl.pre(x_now[:, :1, None], x_now[:, None, :], cp)[:, 0, :]
            return cpl.post(pre @ w.T, cp)
        pre = cpl.pre(x_now[:, :, None], x_now[:, None, :], cp)
        return cpl.post(jnp.sum(w[None] * pre, axis=-1), cp)
    speed = params["network"]["speed"] if d.interpolate else None
    # Weights known at compile time (a caller's jit closing over the state)
    # would be folded into the delayed read's fusion, which XLA's CPU backend
    # then runs ~2.4x slower (benchmarks/README.md, "Floors"); the barrier
    # keeps them an input of the loop. No effect on the values.
    w = jax.lax.optimization_barrier(w)
    xj = read_delayed(d, history, t, speed, sim.dt)
    if cpl.dense is not None:  # dense plans keep all n sources in order
        return cpl.dense(w, x_now, xj, cp)
    w_e = jnp.where(jnp.asarray(d.mask), w.reshape(-1)[jnp.asarray(d.edge)], 0.0)
    pre = cpl.pre(x_now[:, :, None], xj, cp)
    return cpl.post(jnp.sum(w_e * pre, axis=-1), cp)


def _coupling_parts(sim: Simulator):
    """``(summed, post)`` of the coupling input without delays, for the adjoint:
    ``post(params, summed(params, x))`` is :func:`coupling_input`, operation for
    operation. With a matrix product (``pre`` of ``x_j`` only) ``summed`` is
    ``pre @ W^T``, so that the backward pass keeps the sum and pulls it back with
    one ``W^T`` product; otherwise ``summed`` is the whole input."""
    cpl = sim.coupling
    if sim.delays is None and sim.sparse is None and cpl.dense is None and not cpl.uses_x_i:
        cvar = np.asarray(sim.model.cvar)  # numpy: a constant under jit

        def summed(params, x):
            x_now = x[cvar]
            pre = cpl.pre(x_now[:, :1, None], x_now[:, None, :], params["coupling"])[:, 0, :]
            return pre @ params["network"]["weights"].T

        def post(params, sums):
            return cpl.post(sums, params["coupling"])

        return summed, post
    return (lambda p, x: coupling_input(sim, p, x, None, None)), (lambda p, sums: sums)


def _make_nodewise(sim: Simulator):
    """``nodewise(x, c, model_params, noise, stimulus) -> x``: one step of the
    scheme with the coupling input ``c`` held fixed (noise: standard normals)."""
    scheme = get_scheme(sim.scheme)
    dfun = sim.model.dfun
    scale = sim.noise_scale  # numpy: a constant even under jit (custom_vjp closes over it)

    def nodewise(x, c, mp, noise=None, stimulus=0.0):
        def f(y):
            return dfun(y, c, mp)

        increment = 0.0 if scale is None else scale * noise
        return scheme(f, x, sim.dt, noise=increment, stimulus=stimulus, bounds=sim.bounds)

    return nodewise


def _make_step(sim: Simulator):
    """``step(params, x, history, t, noise, stimulus) -> (x, history)`` for step ``t``.

    ``history`` is the doubled buffer (:func:`~tvbo_pipe.sim.delays.double_history`).
    """
    nodewise = _make_nodewise(sim)
    cvar = jnp.asarray(sim.model.cvar)

    def step(params, x, history, t, noise=None, stimulus=0.0):
        c = coupling_input(sim, params, x, history, t)
        x = nodewise(x, c, params["model"], noise, stimulus)
        if sim.delays is not None:
            history = write_history(history, x[cvar], t, sim.horizon)
        return x, history

    return step


def _unit_multiple(plans: Sequence[MonitorPlan], n_steps: int, block: int) -> int:
    """What the loop unit must be a multiple of: the block, or the BOLD sampling
    interval (in steps) when the Bold monitors can be computed inside the loop."""
    isteps = [p.istep for p in plans if streamable(p, p.istep)]
    if isteps:
        common = math.lcm(block, *isteps)
        if n_steps % common == 0:
            return common
    return block


def loop_unit(n_steps: int, block: int, target: int = 512) -> int:
    """Steps per iteration of the outer time loop: a multiple of ``block`` dividing
    ``n_steps``, at most ``max(target, block)``. Noise of a whole unit is drawn at
    once; results do not depend on the unit (noise is addressed by step)."""
    n_blocks = n_steps // block
    m = max(d for d in range(1, max(1, target // block) + 1) if n_blocks % d == 0)
    return m * block


def _nested_scan(f, init, xs, length: int, lengths: Sequence[int] | None):
    """``lax.scan`` nested as ``lengths`` with ``jax.checkpoint`` on every outer body."""
    if not lengths or len(lengths) == 1:
        return jax.lax.scan(f, init, xs, length=length)
    outer, inner = lengths[0], math.prod(lengths[1:])
    split = jax.tree_util.tree_map(lambda a: a.reshape((outer, inner) + a.shape[1:]), xs)

    @jax.checkpoint
    def body(carry, chunk):
        return _nested_scan(f, carry, chunk, inner, lengths[1:])

    carry, ys = jax.lax.scan(body, init, split, length=outer)
    return carry, jax.tree_util.tree_map(lambda a: a.reshape((outer * inner,) + a.shape[2:]), ys)


def auto_checkpoint_lengths(n_blocks: int) -> tuple[int, ...] | None:
    """Two levels of about ``sqrt(n)`` each (memory ~ 2 sqrt(n) states under grad)."""
    if n_blocks < 64:
        return None
    inner = max(d for d in range(1, math.isqrt(n_blocks) + 1) if n_blocks % d == 0)
    return None if inner == 1 else (n_blocks // inner, inner)


def _check_lengths(lengths, n_units: int, unit: int) -> tuple[int, ...] | None:
    if lengths is None:
        return None
    if isinstance(lengths, str):
        if lengths != "auto":
            raise ValueError(
                f"checkpoint_lengths must be a sequence of ints, 'auto' or None, got {lengths!r}"
            )
        return auto_checkpoint_lengths(n_units)
    lengths = tuple(int(v) for v in lengths)
    if math.prod(lengths) != n_units:
        raise ValueError(
            f"checkpoint_lengths {lengths} multiply to {math.prod(lengths)}, but the run has "
            f"{n_units} loop iterations of {unit} steps (Simulator.unit); their product must be equal"
        )
    return lengths


#: Most bytes the adjoint may keep per step for one innermost checkpointed
#: level (state and coupling sum); above it reverse mode uses the plain loop.
ADJOINT_MAX_BYTES = 256 * 2**20


def adjoint_fits(sim: Simulator, n_steps: int, unit: int, lengths: Sequence[int] | None) -> bool:
    """Whether the hand-written adjoint applies (no delays) and what it keeps for
    the backward pass, ``(n_sv + n_cvar) n_nodes`` values per step of the
    innermost checkpointed level, stays under :data:`ADJOINT_MAX_BYTES`."""
    if sim.delays is not None:
        return False
    steps = n_steps if not lengths or len(lengths) == 1 else lengths[-1] * unit
    rows = len(sim.model.state_variables) + sim.model.n_cvar
    return steps * rows * sim.n_nodes * np.dtype(sim.dtype).itemsize <= ADJOINT_MAX_BYTES


# --------------------------------------------------------------------------- running
def integrate(
    sim: Simulator,
    params: Mapping,
    *,
    all_states: SimState | None = None,
    n_steps: int | None = None,
    stimulus: jax.Array | None = None,
    checkpoint_lengths: Sequence[int] | str | None = None,
    return_states: bool = False,
    noise: jax.Array | None = None,
    adjoint: bool | None = None,
):
    """Run the simulation (jaxley's ``integrate`` semantics).

    Args:
        sim: From :func:`build_simulator`.
        params: Parameter pytree (:func:`default_params`).
        all_states: State to continue from (a :class:`SimState`, e.g. the one
            returned by an earlier call with ``return_states=True``); default:
            :func:`initial_state`.
        n_steps: Steps to run (default: the experiment's duration); a
            multiple of ``sim.block``.
        stimulus: External input added to the derivative (TVB's stimulus
            term, units of the state per ms): ``(n_steps, n_nodes)`` for the
            first state variable or ``(n_steps, n_sv, n_nodes)``.
        checkpoint_lengths: Nested checkpointing of the time loop, e.g.
            ``(30, 1000)`` for 30 000 loop iterations: under ``jax.grad`` only
            ``30 + 1000`` states are stored instead of 30 000, at the cost of one
            more forward pass. ``"auto"`` picks two levels of about sqrt(n).
            Results are bit-identical whatever the lengths (noise is drawn by
            absolute step). Under reverse mode the noise drawn in the loop is
            kept for the backward pass instead of drawn again: 4 bytes per
            step, state variable and node of the innermost checkpointed level
            (the whole run when there is one level).
        return_states: Also return the final :class:`SimState`.
        noise: The run's standard normal numbers, ``(n_steps, n_sv, n_nodes)``,
            drawn beforehand with :func:`draw_noise` from the state's key and
            start step (so the run is the same as without them); saves drawing
            them in the loop when many runs share one realisation (a fit with a
            fixed noise key). Memory: ``4 n_steps n_sv n_nodes`` bytes.
        adjoint: Without delays, differentiate the loop with the hand-written
            discrete adjoint of :mod:`tvbo_pipe.sim.adjoint` (same gradients,
            ~1.1x faster reverse mode, but no forward mode; it keeps the state
            and the coupling sum of every step of the innermost checkpointed
            level instead of running each loop unit again). ``None`` (default):
            when :func:`adjoint_fits` and the inputs carry reverse-mode tracers only
            (:func:`~tvbo_pipe.sim.adjoint.reverse_mode_only`; not visible
            through a ``jax.jit`` between the ``jax.grad`` and this call, where
            the plain loop is used). Forward results are the same either way.

    Returns:
        ``outputs`` (monitor name -> :class:`TimeSeries`), or
        ``(outputs, final_state)`` when ``return_states``.
    """
    state = initial_state(sim) if all_states is None else all_states
    n_steps = sim.n_steps if n_steps is None else int(n_steps)
    if n_steps % sim.block:
        raise ValueError(f"n_steps must be a multiple of {sim.block} (monitor sampling)")
    if n_steps == sim.n_steps:
        unit = sim.unit
    else:
        unit = loop_unit(n_steps, _unit_multiple(sim.plans, n_steps, sim.block))
    n_units, per_unit, block = n_steps // unit, unit // sim.block, sim.block
    lengths = _check_lengths(checkpoint_lengths, n_units, unit)
    step = _make_step(sim)
    record = jnp.asarray(sim.record)
    needs = {"last"} if block == 1 else {p.needs for p in sim.plans}
    if adjoint is None:
        adjoint = adjoint_fits(sim, n_steps, unit, lengths) and reverse_mode_only(
            (params, state.x, stimulus, noise)
        )
    elif adjoint and sim.delays is not None:
        raise ValueError("adjoint=True needs a run without delays (the experiment has delays)")
    run_blocks = None
    if adjoint:
        run_blocks = adjoint_blocks(
            _make_nodewise(sim),
            *_coupling_parts(sim),
            np.asarray(sim.record),
            block,
            per_unit,
            needs,
        )
    # Bold monitors computed inside the loop (not when the final state must
    # carry the BOLD pre-history, which needs the last 20 s of interim samples).
    streams = (
        ()
        if return_states
        else tuple(BoldStream.build(p, sim.dtype) for p in sim.plans if streamable(p, unit))
    )
    streamed = {b.plan.name for b in streams}
    later = tuple(p for p in sim.plans if p.name not in streamed)
    keep = set() if not later else ({"last"} if block == 1 else {p.needs for p in later})
    n_sv = len(sim.model.state_variables)
    xs = None
    if stimulus is not None:
        stimulus = jnp.asarray(stimulus, dtype=sim.dtype)
        if stimulus.ndim == 2:
            full = jnp.zeros((stimulus.shape[0], n_sv, sim.n_nodes), sim.dtype)
            stimulus = full.at[:, 0].set(stimulus)
        if stimulus.shape[0] != n_steps:
            raise ValueError(f"stimulus has {stimulus.shape[0]} steps, the run {n_steps}")
        stimulus = stimulus.reshape((n_units, per_unit, block) + stimulus.shape[1:])
    noisy = sim.noise_scale is not None
    if noise is not None and noisy:
        expected = (n_steps, n_sv, sim.n_nodes)
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected} (steps, state variables, nodes)")
        noise = noise.reshape((n_units, per_unit, block, n_sv, sim.n_nodes))
    else:
        noise = None
    xs = None if stimulus is None and noise is None else (stimulus, noise)
    key = state.key

    def block_fn(carry, inputs):
        noise, stim = inputs
        x, history, t = carry
        if block == 1:
            t = t + 1
            x, history = step(
                params,
                x,
                history,
                t,
                None if noise is None else noise[0],
                0.0 if stim is None else stim[0],
            )
            out = x[record]
            return (x, history, t), {"last": out}

        def body(i, c):
            x, history, t, acc = c
            t = t + 1
            x, history = step(
                params,
                x,
                history,
                t,
                None if noise is None else noise[i],
                0.0 if stim is None else stim[i],
            )
            return x, history, t, acc + x[record] if "mean" in needs else acc

        acc0 = jnp.zeros((len(sim.record), sim.n_nodes), sim.dtype)
        x, history, t, acc = jax.lax.fori_loop(0, block, body, (x, history, t, acc0))
        ys = {}
        if "last" in needs:
            ys["last"] = x[record]
        if "mean" in needs:
            ys["mean"] = acc / block
        return (x, history, t), ys

    # Under reverse mode (plain loop) the unit is run again before its backward pass; the
    # noise drawn in it is kept (float32, 4 n_sv n_nodes bytes per step of the
    # unit, or of a checkpointed chunk of units) instead of drawn again.
    def unit_fn(carry, inputs):
        (x, history, t), accs = carry
        stim, noise = (None, None) if inputs is None else inputs
        if noise is not None:
            noise = noise.astype(sim.dtype)
        elif noisy:
            noise = normals(key, t + 1 + jnp.arange(unit), (n_sv, sim.n_nodes), jnp.float32)
            noise = checkpoint_name(noise, "noise").astype(sim.dtype)
            noise = noise.reshape((per_unit, block, n_sv, sim.n_nodes))
        if run_blocks is None:
            (x, history, t), ys = jax.lax.scan(
                block_fn, (x, history, t), (noise, stim), length=per_unit
            )
        else:
            x, ys = run_blocks(params, x, noise, stim)
            t = t + unit
        new_accs, bold = [], []
        for b, acc in zip(streams, accs, strict=True):
            interim = interim_samples(b.plan, ys.get("last"), ys.get("mean", ys.get("last")), block)
            acc, conv = b.update(acc, interim)
            new_accs.append(acc)
            bold.append(conv)
        ys = {k: v for k, v in ys.items() if k in keep}
        return ((x, history, t), tuple(new_accs)), (ys, tuple(bold))

    accs0 = tuple(b.init(state.bold_stock[b.plan.name].astype(sim.dtype)) for b in streams)
    carry0 = ((state.x, double_history(state.history), state.step), accs0)
    if run_blocks is None:
        unit_fn = jax.checkpoint(unit_fn, policy=_SAVE_NOISE)
    # else: the adjoint keeps per step only the state and the coupling sum
    # ((n_sv + n_cvar) n_nodes values; the noise too) and the unit is not run
    # again in the backward pass; nested levels still bound the memory.
    ((x, history, t), _), (ys, bold) = _nested_scan(unit_fn, carry0, xs, n_units, lengths)
    history = single_history(history, sim.horizon)
    outputs, stocks = {}, {}
    if later:
        ys = jax.tree_util.tree_map(lambda a: a.reshape((n_units * per_unit,) + a.shape[2:]), ys)
        outputs, stocks = compute_outputs(
            later,
            ys.get("last"),
            ys.get("mean", ys.get("last")),
            block,
            sim.dt,
            state.step,
            sim.labels,
            state.bold_stock,
            fft=sim.bold_fft,
        )
    for b, conv in zip(streams, bold, strict=True):
        conv = conv.reshape((-1,) + conv.shape[2:])
        outputs[b.plan.name] = bold_series(b.plan, conv, state.step, sim.dt, sim.labels)
    outputs = {p.name: outputs[p.name] for p in sim.plans}
    if return_states:
        return outputs, SimState(x, history, {**state.bold_stock, **stocks}, t, key)
    return outputs


def draw_noise(
    sim: Simulator, key: jax.Array, n_steps: int | None = None, start_step: int = 0
) -> jax.Array | None:
    """The standard normal numbers of a run, ``(n_steps, n_sv, n_nodes)`` float32.

    The same numbers the loop draws from ``key`` for the steps after
    ``start_step`` (see :mod:`tvbo_pipe.sim.noise`); ``None`` without noise.
    Pass them as ``integrate(..., noise=)`` or ``model(state, key, noise=)``.
    """
    if sim.noise_scale is None:
        return None
    n_steps = sim.n_steps if n_steps is None else int(n_steps)
    steps = start_step + 1 + jnp.arange(n_steps)
    return normals(key, steps, (len(sim.model.state_variables), sim.n_nodes), jnp.float32)


def build_init_and_step_fn(sim: Simulator):
    """``(init_fn, step_fn)`` for step-by-step control (jaxley's semantics).

    - ``init_fn(params, all_states=None, x0=None) -> SimState``
    - ``step_fn(states, params, external_input=None) -> SimState`` advances one
      integration step; ``external_input`` is ``(n_nodes,)`` (added to the
      first state variable's derivative) or ``(n_sv, n_nodes)``.

    Both are pure and can be jitted; monitors are not applied (read ``x``).
    """
    step = _make_step(sim)

    def init_fn(params, all_states: SimState | None = None, x0=None) -> SimState:
        del params  # the initial state does not depend on parameters
        return initial_state(sim, x0) if all_states is None else all_states

    def step_fn(states: SimState, params, external_input=None) -> SimState:
        stim = 0.0
        if external_input is not None:
            stim = jnp.asarray(external_input, dtype=sim.dtype)
            if stim.ndim == 1:
                stim = (
                    jnp.zeros((len(sim.model.state_variables), sim.n_nodes), sim.dtype)
                    .at[0]
                    .set(stim)
                )
        t = states.step + 1
        noise = None
        if sim.noise_scale is not None:
            noise = normals(states.key, t[None], states.x.shape, sim.dtype)[0]
        x, history = step(params, states.x, double_history(states.history), t, noise, stim)
        return SimState(x, single_history(history, sim.horizon), states.bold_stock, t, states.key)

    return init_fn, step_fn


# --------------------------------------------------------------------------- prepare
def prepare(
    experiment: Experiment,
    connectome: Connectome | None = None,
    *,
    enable_x64: bool = True,
    replace_temporal_averaging: bool = False,
    return_new_ics: bool = False,
    scalar_pre: bool = False,
    bold_fft_convolve: bool = True,
    small_dt: bool = False,
    checkpoint_lengths: Sequence[int] | str | None = "auto",
):
    """Compile an experiment into ``(model, state)`` (tvboptim's ``prepare``).

    Args:
        experiment: The experiment spec.
        connectome: The network (required; :func:`tvbo_pipe.io.connectome.load_experiment_connectome`
            loads the one ``experiment.connectivity`` names).
        enable_x64: Simulate in float64 (turns on ``jax_enable_x64``, a global
            JAX setting, when called); else float32.
        replace_temporal_averaging: Bold and TemporalAverage monitors subsample
            instead of averaging (faster, close but not identical to TVB).
        return_new_ics: ``model(state)`` returns ``(outputs, new_state)`` where
            ``new_state["initial"]`` continues the run (final state, history and
            the BOLD stock of its last 20 s).
        scalar_pre: Assert that the coupling's ``pre`` depends on ``x_j`` only,
            so that the coupling sum is a matrix product (chosen automatically
            whenever possible; with this flag a coupling that cannot is an error).
        bold_fft_convolve: BOLD convolution by FFT (default) or direct products.
        small_dt: Accepted for tvboptim compatibility. tvboptim then keeps the
            whole history instead of a ring buffer; the ring buffer here costs
            the same per step at any dt, so this has no effect.
        checkpoint_lengths: See :func:`integrate` (``"auto"``: two levels).

    Returns:
        ``(model, state)``. ``state`` is ``{"model": {...}, "coupling": {...},
        "network": {...}, "initial": {"x", "history", "bold_stock"}}`` of float
        arrays; ``model(state, key=None)`` is jitted and returns the monitors'
        outputs (monitor name -> :class:`TimeSeries`). ``key`` replaces the
        noise key (default: from the experiment's seed, the same realisation at
        every call). Under ``jax.grad`` (reverse mode only, no delays) the
        model runs the time loop's hand-written adjoint (:func:`integrate`,
        ``adjoint``); ``model.jitted(state, key, noise, adjoint=False)`` keeps
        plain autodiff.

    Example usage:
        >>> model, state = prepare(Experiment.load("config/experiment.yaml"), conn)
        >>> bold = model(state)["Bold_1000ms"]
        >>> grad = jax.grad(lambda s: model(s)["Bold_1000ms"].data.mean())(state)
    """
    del small_dt
    if enable_x64:
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.float64 if enable_x64 else jnp.float32
    sim, conn = build_simulator(
        experiment,
        connectome,
        dtype=dtype,
        replace_temporal_averaging=replace_temporal_averaging,
        scalar_pre=scalar_pre,
        bold_fft_convolve=bold_fft_convolve,
    )
    params = default_params(sim, conn)
    init = initial_state(sim)
    state = {
        **params,
        "initial": {"x": init.x, "history": init.history, "bold_stock": init.bold_stock},
    }
    default_key = init.key

    @functools.partial(jax.jit, static_argnames="adjoint")
    def run(state, key=None, noise=None, adjoint=False):
        ini = state["initial"]
        start = SimState(
            ini["x"],
            ini["history"],
            ini["bold_stock"],
            jnp.asarray(0, jnp.int32),
            default_key if key is None else key,
        )
        params = {k: state[k] for k in ("model", "coupling", "network")}
        out = integrate(
            sim,
            params,
            all_states=start,
            checkpoint_lengths=checkpoint_lengths,
            return_states=return_new_ics,
            noise=noise,
            adjoint=adjoint,
        )
        if not return_new_ics:
            return out
        out, final = out
        new_state = {
            **state,
            "initial": {"x": final.x, "history": final.history, "bold_stock": final.bold_stock},
        }
        return out, new_state

    def model(state, key=None, noise=None):
        # Strongly typed leaves: a Python float (weakly typed) would otherwise
        # compile a second version of the simulation.
        state = jax.tree_util.tree_map(lambda v: jnp.asarray(v, dtype=dtype), state)
        # The time loop's hand-written adjoint where only reverse mode is asked
        # for (the jit boundary hides the tracers from integrate).
        lengths = _check_lengths(checkpoint_lengths, sim.n_steps // sim.unit, sim.unit)
        adjoint = adjoint_fits(sim, sim.n_steps, sim.unit, lengths) and reverse_mode_only(
            (state, noise)
        )
        return run(state, key, noise, adjoint=adjoint)

    model.simulator = sim
    model.jitted = run
    return model, state

"""Monitors: what a simulation returns, computed as TVB's monitors do.

The time loop emits, for every *block* of ``B`` integration steps (``B`` is
the greatest common divisor of the monitors' sampling intervals in steps), the
state at the block's last step and the mean over the block (only what some
monitor needs). Monitors are then computed from those blocks after the loop.

One :class:`MonitorRule` per kind in :data:`MONITOR_RULES` (the kinds and
their JAX-free metadata are :data:`~tvbo_pipe.sim.monitor_kinds.MONITOR_KINDS`):

- ``Raw``: every step; time ``t_k = k dt``.
- ``SubSample(period)``: the state at every ``period``; time ``k period``.
- ``TemporalAverage(period)``: the mean of the states of each period; time at
  the end of the period minus half a period (TVB's convention).
- ``Bold(period)``: TVB's Bold monitor. The monitored variables are averaged
  over 4 ms ("interim" samples, TVB's ``_stock_sample_rate = 0.25 /ms``),
  convolved with the HRF kernel over 20 s (5000 interim samples), and sampled
  every ``period``. The convolution at the sample times is computed by block
  products (the polyphase form of TVB's dot products: exact, and on a CPU
  about 8x faster than an FFT of the whole run); the FFT is used when
  allowed and the period is short (more than ``FFT_MIN_SEGMENTS`` kernel
  segments per sample); for FirstOrderVolterra
  ``bold = (h * stock - 1) k_1 V_0``. The first 20 s of the kernel reach into
  the "stock" (pre-history) of interim samples carried in the state: zeros by
  default (TVB, which gives a start-up transient) or the end of an earlier run.
  With ``hrf: BalloonWindkessel`` the interim samples (stock first) drive the
  balloon ODE instead.

Each output is a :class:`TimeSeries` with its time axis (ms), sample period
(ms), variable names and region labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import hrf as hrf_mod
from .monitor_kinds import (
    BOLD_HRF_LENGTH,
    BOLD_INTERIM_PERIOD,
    MONITOR_KINDS,
    MonitorKind,
    get_monitor_kind,
)


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class TimeSeries:
    """A monitor's output.

    Attributes:
        data: ``(n_time, n_variables, n_regions)``.
        time: ``(n_time,)`` sample times in ms.
        period: Sample period in ms.
        variables: Names of the monitored state variables.
        labels: Region labels.
        name: Monitor name (e.g. ``"Bold_1000ms"``).
    """

    data: jax.Array
    time: jax.Array
    period: float
    variables: tuple[str, ...]
    labels: tuple[str, ...]
    name: str

    def tree_flatten(self):
        return (self.data, self.time), (self.period, self.variables, self.labels, self.name)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)

    def variable(self, name: str) -> jax.Array:
        """``(n_time, n_regions)`` of one variable."""
        return self.data[:, self.variables.index(name)]


@dataclass(frozen=True)
class MonitorPlan:
    """A monitor resolved against a model and a step size (static)."""

    type: str
    name: str
    istep: int  # sampling interval in integration steps
    voi: tuple[int, ...]  # indices of the monitored variables into the recorded rows
    variables: tuple[str, ...]
    hrf: str = "FirstOrderVolterra"
    interim_istep: int = 0  # BOLD only
    needs: str = "last"  # "last" or "mean" from the blocks

    @property
    def kind(self) -> MonitorKind:
        """The registry entry of :attr:`type`."""
        return MONITOR_KINDS[self.type]

    @property
    def stock_len(self) -> int:
        """Interim samples of BOLD pre-history (0 for a monitor without one)."""
        return self.kind.stock_length


def _steps(period: float, dt: float, what: str) -> int:
    n = round(period / dt)
    if n < 1 or not math.isclose(n * dt, period, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"{what}: period {period} ms must be a whole number of steps of dt={dt} ms"
        )
    return n


class Blocks(NamedTuple):
    """What the time loop left for the monitors computed after it.

    Attributes:
        last: ``(n_blocks, n_record, n_nodes)`` state at each block's last step (or None).
        mean: ``(n_blocks, n_record, n_nodes)`` mean over each block (or None).
        block: Steps per block.
        dt: Step in ms.
        t0_step: Steps done before this run (time offset).
        labels: Region labels.
    """

    last: jax.Array | None
    mean: jax.Array | None
    block: int
    dt: float
    t0_step: int | jax.Array
    labels: tuple[str, ...]

    @property
    def n_blocks(self) -> int:
        return (self.last if self.last is not None else self.mean).shape[0]


# --------------------------------------------------------------------------- planning
# A planner: (spec, variables, voi, dt, replace_temporal_averaging) -> (plan, step), the
# step being the block length (in integration steps) the monitor can be computed from.
Planner = Callable[..., tuple[MonitorPlan, int]]


def _plan_every_step(spec, variables, voi, dt, replace) -> tuple[MonitorPlan, int]:
    return MonitorPlan(spec.type, spec.name, 1, voi, variables), 1


def _plan_sampled(spec, variables, voi, dt, replace) -> tuple[MonitorPlan, int]:
    istep = _steps(spec.period, dt, spec.name)
    return MonitorPlan(spec.type, spec.name, istep, voi, variables), istep


def _plan_averaged(spec, variables, voi, dt, replace) -> tuple[MonitorPlan, int]:
    istep = _steps(spec.period, dt, spec.name)
    needs = "last" if replace else "mean"  # replace: subsample every step's state
    plan = MonitorPlan(spec.type, spec.name, istep, voi, variables, needs=needs)
    return plan, 1 if needs == "last" else istep


def _plan_bold(spec, variables, voi, dt, replace) -> tuple[MonitorPlan, int]:
    interim = _steps(BOLD_INTERIM_PERIOD, dt, f"{spec.name} interim sampling (4 ms)")
    istep = _steps(spec.period, dt, spec.name)
    if istep % interim:
        raise ValueError(f"{spec.name}: period must be a multiple of 4 ms")
    needs = "last" if replace else "mean"
    plan = MonitorPlan(spec.type, spec.name, istep, voi, variables, spec.hrf, interim, needs)
    return plan, interim if needs == "mean" else 1


def plan_monitors(specs, model, dt: float, *, replace_temporal_averaging: bool = False):
    """Resolve monitor specs: sampling in steps, variables, block length.

    Args:
        specs: :class:`~tvbo_pipe.experiment.MonitorSpec` entries.
        model: The model (state variable names, variables of interest).
        dt: Integration step in ms.
        replace_temporal_averaging: Averaging monitors subsample instead.

    Returns:
        ``(plans, record, block)``: the plans, the indices of the state
        variables the loop must record, and the block length ``B`` in steps.

    Raises:
        KeyError: A monitor type without a rule.
        ValueError: A period that is not a whole number of steps.
    """
    names = model.state_variable_names
    # TVB lists derived quantities (e.g. Epileptor's "x2 - x1") among the
    # variables of interest; monitors here record state variables only.
    default_voi = tuple(v for v in model.variables_of_interest if v in names) or names[:1]
    chosen = [tuple(s.variables) or tuple(default_voi) for s in specs]
    record = tuple(sorted({names.index(v) for vs in chosen for v in vs}))
    plans, steps = [], []
    for spec, variables in zip(specs, chosen, strict=True):
        voi = tuple(record.index(names.index(v)) for v in variables)
        plan, step = monitor_rule(spec.type).plan(
            spec, variables, voi, dt, replace_temporal_averaging
        )
        plans.append(plan)
        steps.append(step)
    block = math.gcd(*steps)
    return tuple(plans), record, block


def volterra_kernel(dtype) -> np.ndarray:
    """TVB's HRF taps, ``h[k]`` weighting the interim sample ``k`` before the newest.

    TVB evaluates ``G`` at ``t = 0, 4, ..., 19996`` ms, reverses it and rolls it
    so that the newest sample meets ``G[-1]`` and the one before it ``G[0]``;
    this reproduces that indexing exactly.
    """
    n = math.ceil(BOLD_HRF_LENGTH / BOLD_INTERIM_PERIOD)
    t_s = np.arange(n) * (BOLD_HRF_LENGTH / 1000.0 / n)
    g = hrf_mod.first_order_volterra(t_s)
    return np.roll(g, 1).astype(dtype)


def _conv_fft(full: jax.Array, h: np.ndarray, idx: np.ndarray) -> jax.Array:
    """``sum_k h[k] full[i - k]`` at ``idx`` by FFT (all lags, then pick)."""
    n = full.shape[0] + h.shape[0]
    nfft = 1 << (n - 1).bit_length()
    hf = jnp.fft.rfft(jnp.asarray(h), nfft)
    ff = jnp.fft.rfft(full, nfft, axis=0)
    conv = jnp.fft.irfft(ff * hf.reshape((-1,) + (1,) * (full.ndim - 1)), nfft, axis=0)
    return conv[idx]


def _conv_blocks(full: jax.Array, h: np.ndarray, stock: int, per: int, n: int) -> jax.Array:
    """``out[m] = sum_k h[k] full[stock - 1 + per (m + 1) - k]``, ``m < n``, by block products.

    The polyphase form of the direct dot products: ``full`` is cut into blocks
    of ``per`` samples and each block is multiplied once by the ``Q =
    ceil(len(h) / per)`` kernel segments (one matrix product), then the
    segments of each output are summed. Exact (same sums as TVB's dot
    products), ``len(full) * Q`` multiply-adds, no windows materialised.
    """
    q_len = -(-h.shape[0] // per)
    pad = q_len * per - stock
    if pad:
        full = jnp.concatenate([jnp.zeros((pad,) + full.shape[1:], full.dtype), full])
    blocks = full[: (n + q_len) * per].reshape((n + q_len, per) + full.shape[1:])
    hq = np.concatenate([h, np.zeros(q_len * per - h.shape[0], h.dtype)]).reshape(q_len, per)
    seg = jnp.tensordot(blocks, jnp.asarray(hq[:, ::-1]), axes=([1], [1]))  # (b, ..., q)
    m = np.arange(1, n + 1)[:, None]
    q = np.arange(q_len)[None, :]
    return jnp.moveaxis(seg, -1, 1)[m + q_len - 1 - q, q].sum(axis=1)


#: Above this many kernel segments per output the FFT is cheaper than block products.
FFT_MIN_SEGMENTS = 512

#: Bold monitors with at most this many kernel segments per sample are computed
#: inside the time loop (see :class:`BoldStream`).
STREAM_MAX_SEGMENTS = 64


def interim_samples(plan: MonitorPlan, last, mean, block: int) -> jax.Array:
    """A Bold monitor's interim (4 ms) samples ``(n, n_var, n_nodes)`` from the
    loop's per-block outputs (``(n_blocks, n_record, n_nodes)``)."""
    src = last if plan.needs == "last" else mean
    k = plan.interim_istep if plan.needs == "last" else plan.interim_istep // block
    n = src.shape[0] // k
    grouped = src[: n * k].reshape((n, k) + src.shape[1:])[:, :, jnp.asarray(plan.voi)]
    return grouped[:, -1] if plan.needs == "last" else grouped.mean(axis=1)


@dataclass(frozen=True)
class BoldStream:
    """A FirstOrderVolterra Bold monitor computed inside the time loop.

    The same sums as :func:`_conv_blocks`, accumulated as the run goes: the
    ``per`` interim samples of each BOLD period are multiplied once by the
    ``Q`` kernel segments (one matrix product) and added to the partial sums
    of the next ``Q`` BOLD samples, carried in the loop state as ``(Q, n_var,
    n_nodes)``; the oldest partial sum is then complete and leaves the loop.
    So the run never stores its interim samples: for a batch of simulations
    (exploration) or a run with an interim sample every step (dt = 4 ms) that
    is most of the memory traffic. Exact, up to the order of the additions.

    Attributes:
        plan: The monitor.
        per: Interim samples per BOLD sample.
        segments: ``(Q, per)`` kernel segments, ``segments[q, r]`` weighting the
            ``r``-th interim sample of a period in the BOLD sample ``q`` periods later.
    """

    plan: MonitorPlan
    per: int
    segments: np.ndarray

    @classmethod
    def build(cls, plan: MonitorPlan, dtype) -> BoldStream:
        per = plan.istep // plan.interim_istep
        h = volterra_kernel(np.dtype(dtype))
        q_len = -(-h.shape[0] // per)
        hp = np.concatenate([h, np.zeros(q_len * per - h.shape[0], h.dtype)])
        r = np.arange(per)[None, :]
        q = np.arange(q_len)[:, None]
        return cls(plan, per, hp[per * (q + 1) - 1 - r])

    @property
    def n_segments(self) -> int:
        return self.segments.shape[0]

    def init(self, stock: jax.Array) -> jax.Array:
        """Partial sums of the first ``Q`` BOLD samples from the stock (pre-history)."""
        zeros = jnp.zeros((self.n_segments * self.per,) + stock.shape[1:], stock.dtype)
        full = jnp.concatenate([stock, zeros], axis=0)
        h = volterra_kernel(np.dtype(stock.dtype))
        return _conv_blocks(full, h, stock.shape[0], self.per, self.n_segments)

    def update(self, acc: jax.Array, interim: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Add ``k`` whole periods of interim samples (``(k * per, n_var, n_nodes)``);
        returns the new partial sums and the ``k`` completed samples (the
        convolution, before the Volterra scaling)."""
        k = interim.shape[0] // self.per
        blocks = interim.reshape((k, self.per) + interim.shape[1:])
        seg = jnp.tensordot(jnp.asarray(self.segments, acc.dtype), blocks, axes=([1], [1]))
        seg = jnp.moveaxis(seg, 0, 1)  # (k, Q, n_var, n_nodes)
        ext = jnp.concatenate([acc, jnp.zeros((k,) + acc.shape[1:], acc.dtype)], axis=0)
        for j in range(k):
            ext = ext.at[j : j + self.n_segments].add(seg[j])
        return ext[k:], ext[:k]


def streamable(plan: MonitorPlan, unit: int) -> bool:
    """Whether a monitor can be computed inside a loop of ``unit``-step iterations."""
    if not plan.kind.bold or plan.hrf != "FirstOrderVolterra" or unit % plan.istep:
        return False
    per = plan.istep // plan.interim_istep
    return -(-plan.stock_len // per) <= STREAM_MAX_SEGMENTS


def bold_series(plan: MonitorPlan, conv: jax.Array, t0_step, dt: float, labels) -> TimeSeries:
    """The Bold :class:`TimeSeries` from the convolution at the sample times."""
    k1v0 = hrf_mod.VOLTERRA["k_1"] * hrf_mod.VOLTERRA["V_0"]
    n_bold = conv.shape[0]
    time = (t0_step + plan.istep * np.arange(1, n_bold + 1)) * dt
    return TimeSeries(
        (conv - 1.0) * k1v0, jnp.asarray(time), plan.istep * dt, plan.variables, labels, plan.name
    )


# --------------------------------------------------------------------------- outputs
# An output rule: (plan, blocks, stock, fft) -> (series, new stock or None).
Output = Callable[..., tuple[TimeSeries, jax.Array | None]]


def _windowed_output(plan: MonitorPlan, b: Blocks, stock, fft: bool) -> tuple[TimeSeries, None]:
    """One sample per ``istep`` steps: the last state of each window, or (an
    averaging plan) its mean, time-stamped ``time_offset`` periods before the end."""
    src = b.last if plan.needs == "last" else b.mean
    k = plan.istep // b.block
    n = b.n_blocks // k
    grouped = src[: n * k].reshape((n, k) + src.shape[1:])[:, :, jnp.asarray(plan.voi)]
    averaged = plan.needs == "mean"
    data = grouped.mean(axis=1) if averaged else grouped[:, -1]
    offset = plan.kind.time_offset if averaged else 0.0
    time = (b.t0_step + plan.istep * np.arange(1, n + 1) - offset * plan.istep) * b.dt
    series = TimeSeries(
        data, jnp.asarray(time), plan.istep * b.dt, plan.variables, b.labels, plan.name
    )
    return series, None


def _bold_output(plan: MonitorPlan, b: Blocks, stock, fft: bool) -> tuple[TimeSeries, jax.Array]:
    """The BOLD signal at the sample times, and the new stock (pre-history)."""
    interim = interim_samples(plan, b.last, b.mean, b.block)
    full = jnp.concatenate([stock.astype(interim.dtype), interim], axis=0)
    s_len = stock.shape[0]
    per = plan.istep // plan.interim_istep
    n_bold = interim.shape[0] // per
    idx = s_len - 1 + per * np.arange(1, n_bold + 1)
    if plan.hrf == "FirstOrderVolterra":
        h = volterra_kernel(np.dtype(interim.dtype))
        q_len = -(-h.shape[0] // per)
        if fft and q_len > FFT_MIN_SEGMENTS:
            conv = _conv_fft(full, h, idx)
        else:
            conv = _conv_blocks(full, h, s_len, per, n_bold)
        series = bold_series(plan, conv, b.t0_step, b.dt, b.labels)
    else:
        y = hrf_mod.balloon_windkessel(full, BOLD_INTERIM_PERIOD / 1000.0)
        time = (b.t0_step + plan.istep * np.arange(1, n_bold + 1)) * b.dt
        series = TimeSeries(
            y[idx], jnp.asarray(time), plan.istep * b.dt, plan.variables, b.labels, plan.name
        )
    return series, full[-s_len:]


@dataclass(frozen=True)
class MonitorRule:
    """How the simulator computes one monitor kind.

    Attributes:
        plan: ``(spec, variables, voi, dt, replace_temporal_averaging) -> (plan,
            step)``: the static plan and the block length (steps) it needs.
        output: ``(plan, blocks, stock, fft) -> (series, new_stock)``: the
            :class:`TimeSeries` from the loop's :class:`Blocks` (``stock`` and
            ``new_stock``: the pre-history of a kind with
            :attr:`~tvbo_pipe.sim.monitor_kinds.MonitorKind.bold`, else None).
    """

    plan: Planner
    output: Output


#: kind name -> rule; the keys are those of :data:`~tvbo_pipe.sim.monitor_kinds.MONITOR_KINDS`.
MONITOR_RULES: dict[str, MonitorRule] = {
    "Raw": MonitorRule(_plan_every_step, _windowed_output),
    "SubSample": MonitorRule(_plan_sampled, _windowed_output),
    "TemporalAverage": MonitorRule(_plan_averaged, _windowed_output),
    "Bold": MonitorRule(_plan_bold, _bold_output),
}


def monitor_rule(name: str) -> MonitorRule:
    """The rule of the monitor type ``name``.

    Raises:
        KeyError: Unknown type (the message lists the valid ones).
    """
    return MONITOR_RULES[get_monitor_kind(name).name]


def compute_outputs(
    plans, last, mean, block: int, dt: float, t0_step, labels, stocks, *, fft: bool
):
    """Monitors from the per-block outputs of the loop.

    Args:
        plans: From :func:`plan_monitors`.
        last, mean: ``(n_blocks, n_record, n_nodes)`` (either may be None if unused).
        block: Steps per block.
        dt: Step in ms.
        t0_step: Steps done before this run (time offset).
        labels: Region labels.
        stocks: Per BOLD monitor name, the pre-history ``(S, n_var, n_nodes)``.
        fft: Allow the FFT for long BOLD kernels.

    Returns:
        ``(outputs, new_stocks)``.
    """
    blocks = Blocks(last, mean, block, dt, t0_step, labels)
    outputs, new_stocks = {}, {}
    for p in plans:
        stock = stocks[p.name] if p.kind.bold else None
        outputs[p.name], new_stock = monitor_rule(p.type).output(p, blocks, stock, fft)
        if new_stock is not None:
            new_stocks[p.name] = new_stock
    return outputs, new_stocks

"""Batches of independent simulations split over all visible devices.

:func:`sharded_map` turns a function of one batch element into a function of
a whole batch (a pytree whose leaves share a leading axis): the batch is
padded to a multiple of the device count, laid out with a
:class:`jax.sharding.NamedSharding` over a 1-D mesh of the devices (axis
``"batch"``), and each device maps ``fn`` over its own shard in chunks of
``batch_size`` (``jax.lax.map`` inside ``jax.shard_map``), so memory per
device stays bounded by one chunk however large the batch. With one device
this is a jitted ``jax.lax.map``; results do not depend on the device count
(each element is computed alone, only the layout changes).

Exploration grids (:mod:`tvbo_pipe.fit.explore`) and multi-start fits use it;
:func:`shard_batch` is the one-call form.

CPU check with two devices (what the tests do, in a subprocess because the
flag must be set before JAX starts)::

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python -c "..."

On a CPU each device is one thread, so a batch uses as many cores as there
are CPU devices: ``JAX_NUM_CPU_DEVICES=N`` (or ``jax_num_cpu_devices``, set
before JAX's first computation; ``tvbo-pipe run --threads N`` sets it) runs N
shards side by side. On CPU the batch is also compiled with
:data:`CPU_COMPILER_OPTIONS` (512-bit vectors where the CPU has them: the
batched elementwise model step is the bulk of an exploration's time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"

#: XLA options of the batched computation on CPU: LLVM may use 512-bit
#: vectors (AVX-512) for the elementwise loops (XLA's default prefers 256).
#: A preference only: LLVM uses no vectors wider than the CPU has. Exploration
#: losses stay bit-identical in float64 (float32: within one ulp, from the
#: order of additions); on an AMD EPYC (AVX-512) it cut the CPU time per grid
#: point of the tutorial exploration by 17 % (float64) and 26 % (float32)
#: (benchmarks/README.md, issue 15).
CPU_COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh (axis ``"batch"``) over ``devices`` (default: all visible devices)."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ValueError("batch_mesh needs at least one device")
    return Mesh(np.array(devs), (AXIS,))


def padded_size(n: int, n_devices: int, batch_size: int) -> int:
    """Batch length after padding: a multiple of ``n_devices``, and per device a
    multiple of ``batch_size`` when a device holds more than one chunk."""
    if n < 1:
        raise ValueError(f"empty batch (n = {n})")
    per = math.ceil(n / n_devices)
    if per > batch_size:
        per = math.ceil(per / batch_size) * batch_size
    return per * n_devices


def _pad(leaf: Any, total: int) -> np.ndarray:
    a = np.asarray(leaf)
    extra = total - a.shape[0]
    if extra == 0:
        return a
    return np.concatenate([a, np.repeat(a[-1:], extra, axis=0)], axis=0)


def sharded_map(
    fn: Callable[[Any], Any],
    *,
    batch_size: int = 32,
    devices: Sequence[jax.Device] | None = None,
    compiler_options: dict[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """``run(batch) -> outputs``: ``fn`` on every element of ``batch``, split over devices.

    Args:
        fn: Maps one element (the batch pytree without its leading axis) to a
            pytree of arrays; it must be traceable (pure JAX).
        batch_size: Elements simulated together (``vmap``) on one device;
            memory per device ~ ``batch_size`` simulations.
        devices: Devices to use (default: all visible devices).
        compiler_options: XLA options of the compiled batch (default:
            :data:`CPU_COMPILER_OPTIONS` on CPU devices, none elsewhere).

    Returns:
        ``run(batch)``: ``batch`` is a pytree of arrays (NumPy or JAX) with a
        common leading length ``n``; returns ``fn``'s outputs stacked along a
        leading axis of length ``n`` (JAX arrays, sharded over the devices).
        Compiled once per padded length; the padding repeats the last element.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    mesh = batch_mesh(devices)
    n_dev = mesh.devices.size
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    if compiler_options is None:
        on_cpu = all(d.platform == "cpu" for d in mesh.devices.flat)
        compiler_options = dict(CPU_COMPILER_OPTIONS) if on_cpu else {}
    options = compiler_options or None
    compiled: dict[int, Callable] = {}

    def runner(total: int) -> Callable:
        if total not in compiled:
            per = total // n_dev
            chunk = min(batch_size, per)

            def local(shard):
                return jax.lax.map(fn, shard, batch_size=chunk)

            if n_dev == 1:
                compiled[total] = jax.jit(local, compiler_options=options)
            else:
                # check_vma off: fn is written for one element (its scans
                # start from constants), and it never communicates across devices.
                mapped = jax.shard_map(
                    local,
                    mesh=mesh,
                    in_specs=PartitionSpec(AXIS),
                    out_specs=PartitionSpec(AXIS),
                    check_vma=False,
                )
                compiled[total] = jax.jit(mapped, out_shardings=sharding, compiler_options=options)
        return compiled[total]

    def run(batch: Any) -> Any:
        leaves = jax.tree_util.tree_leaves(batch)
        if not leaves:
            raise ValueError("sharded_map: the batch has no arrays")
        lengths = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
        if len(lengths) != 1 or -1 in lengths:
            raise ValueError(
                f"sharded_map: every leaf of the batch needs the same leading length, got {sorted(lengths)}"
            )
        n = lengths.pop()
        total = padded_size(n, n_dev, batch_size)
        if any(isinstance(leaf, jax.Array) for leaf in leaves) and total == n:
            xs = jax.device_put(batch, sharding)
        else:
            xs = jax.device_put(jax.tree_util.tree_map(lambda a: _pad(a, total), batch), sharding)
        out = runner(total)(xs)
        return jax.tree_util.tree_map(lambda a: a[:n], out) if total != n else out

    run.n_devices = n_dev
    return run


def shard_batch(
    fn: Callable[[Any], Any],
    batch: Any,
    *,
    batch_size: int = 32,
    devices: Sequence[jax.Device] | None = None,
    compiler_options: dict[str, Any] | None = None,
) -> Any:
    """``fn`` on every element of ``batch``, split over the devices (see :func:`sharded_map`).

    Compiles on every call; use :func:`sharded_map` to evaluate batches repeatedly.
    """
    return sharded_map(
        fn, batch_size=batch_size, devices=devices, compiler_options=compiler_options
    )(batch)

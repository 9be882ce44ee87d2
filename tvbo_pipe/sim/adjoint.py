"""Hand-written discrete adjoint of the time loop without delays (reverse mode).

Plain reverse-mode autodiff of the loop keeps ~19 per-step intermediates of
the integration scheme for the transposed loop and runs each loop unit again
(benchmarks/README.md, "Floors"). Here a :func:`jax.custom_vjp` over the steps
of one loop unit keeps per step only the state before the step and the
coupling sum (``pre(x) @ W^T`` for a coupling in pre/sum/post form; the noise
is an input and kept too). Its backward pass is one reverse loop: iteration
``k`` pulls the coupling sum of step ``k`` back (one ``W^T`` product), then the
node-wise part of step ``k - 1`` (``post``, then the scheme applied to the
model with the coupling input held fixed, noise, stimulus, bounds) under
:func:`jax.vjp`, which recomputes that step's node-wise forward. The loop is
shifted by half a step so that the ``W^T`` product reads a carried array: XLA's
CPU backend would otherwise fuse the node-wise backward into the product and
recompute it for every weight. The gradients are those of the discrete loop
(no continuous-adjoint approximation): equal to plain autodiff up to rounding.

``custom_vjp`` functions cannot be differentiated in forward mode, so the
path is taken only where reverse mode alone is requested:
:func:`reverse_mode_only` reads the tracers of the inputs. ``jax.linearize``
followed by evaluating the linear map forward is not supported on this path
(pass ``adjoint=False`` to :func:`~tvbo_pipe.sim.simulator.integrate`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero, custom_vjp_primal_tree_values


def _tracer_types() -> tuple[type, type] | None:
    """JAX's forward-mode and reverse-mode (linearize) tracer classes (private API,
    jax 0.10); ``None`` where they moved, and then the plain loop is used."""
    try:
        from jax._src.interpreters import ad
    except ImportError:  # pragma: no cover - another JAX layout
        return None
    jvp, lin = getattr(ad, "JVPTracer", None), getattr(ad, "LinearizeTracer", None)
    return None if jvp is None or lin is None else (jvp, lin)


def reverse_mode_only(tree) -> bool:
    """Whether ``tree`` holds reverse-mode tracers (``jax.grad``/``vjp``) and no
    forward-mode ones (``jax.jvp``/``jacfwd``, also nested, e.g. a Hessian).

    ``False`` for concrete arrays and for jit-only tracers: a ``jax.grad``
    outside a ``jax.jit`` boundary is not visible inside it.
    """
    types = _tracer_types()
    if types is None:
        return False
    jvp_tracer, linearize_tracer = types
    found = False
    stack = list(jax.tree_util.tree_leaves(tree))
    while stack:
        leaf = stack.pop()
        if not isinstance(leaf, jax.core.Tracer):
            continue
        if isinstance(leaf, jvp_tracer):
            return False
        if isinstance(leaf, linearize_tracer):
            found = True
            stack.append(leaf.primal)
            continue
        for attr in ("val", "primal"):  # batching and other wrapping tracers
            inner = getattr(leaf, attr, None)
            if isinstance(inner, jax.core.Tracer):
                stack.append(inner)
    return found


def adjoint_blocks(
    nodewise: Callable,
    summed: Callable,
    post: Callable,
    record: np.ndarray,
    block: int,
    per_unit: int,
    needs: set[str],
) -> Callable:
    """``run(params, x, noise, stim) -> (x, ys)``: ``per_unit`` blocks of ``block`` steps.

    Args:
        nodewise: ``(x, c, model_params, noise, stim) -> x`` one step of the
            scheme with the coupling input ``c`` held fixed.
        summed: ``(params, x) -> s`` the coupling's sum over sources (for a
            coupling in pre/sum/post form ``pre(x) @ W^T``; else the whole
            coupling input); kept per step for the backward pass.
        post: ``(params, s) -> c`` the coupling input from the sum (``post``;
            else the identity).
        record: Rows of the state the monitors read (numpy: the backward pass
            must not close over traced values).
        block: Steps per output sample.
        per_unit: Blocks per call.
        needs: ``{"last"}`` and/or ``{"mean"}``: per block, the recorded rows of
            the block's last state, and/or their mean over the block's steps
            (summed in step order, then divided, as the plain loop does).

    ``noise`` and ``stim`` are ``(per_unit, block, n_sv, n_nodes)`` or ``None``;
    ``ys`` maps ``"last"``/``"mean"`` to ``(per_unit, n_record, n_nodes)``.
    Forward values are those of the plain loop, step for step.
    """

    def one(params, x, z, s):
        sums = summed(params, x)
        c = post(params, sums)
        return nodewise(x, c, params["model"], z, 0.0 if s is None else s), sums

    def blocks(params, x, noise, stim, keep: bool):
        def block_fn(x, inputs):
            zb, sb = inputs

            def body(carry, i):
                x, acc = carry
                x_new, c = one(
                    params, x, None if zb is None else zb[i], None if sb is None else sb[i]
                )
                acc = acc + x_new[record] if "mean" in needs else acc
                return (x_new, acc), ((x, c) if keep else None)

            acc0 = jnp.zeros((record.shape[0],) + x.shape[1:], x.dtype)
            (x, acc), res = jax.lax.scan(body, (x, acc0), jnp.arange(block))
            ys = {}
            if "last" in needs:
                ys["last"] = x[record]
            if "mean" in needs:
                ys["mean"] = acc / block
            return x, (ys, res)

        x, (ys, res) = jax.lax.scan(block_fn, x, (noise, stim), length=per_unit)
        return x, ys, res

    @jax.custom_vjp
    def run(params, x, noise, stim):
        x, ys, _ = blocks(params, x, noise, stim, keep=False)
        return x, ys

    def fwd(params, x, noise, stim):
        # Which inputs are differentiated travels to bwd as the residuals'
        # structure: () where perturbed, None where not.
        args = (params, x, noise, stim)
        mask = jax.tree_util.tree_map(lambda p: () if p.perturbed else None, args)
        params, x, noise, stim = custom_vjp_primal_tree_values(args)
        x, ys, (xs, cs) = blocks(params, x, noise, stim, keep=True)
        return (x, ys), (params, xs, cs, noise, stim, mask)

    def bwd(res, cts):
        params, xs, cs, noise, stim, mask = res
        flags = jax.tree_util.tree_leaves(mask[0], is_leaf=lambda m: m is None or m == ())
        flags = [m is not None for m in flags]
        paths, treedef = jax.tree_util.tree_flatten_with_path(params)
        leaves = [v for _, v in paths]
        in_model = [getattr(path[0], "key", None) == "model" for path, _ in paths]
        i_all = [i for i, f in enumerate(flags) if f]
        i_cpl = [i for i, f in enumerate(flags) if f and not in_model[i]]
        d_noise = noise is not None and any(
            m is not None
            for m in jax.tree_util.tree_leaves(mask[2], is_leaf=lambda m: m is None or m == ())
        )
        d_stim = stim is not None and any(
            m is not None
            for m in jax.tree_util.tree_leaves(mask[3], is_leaf=lambda m: m is None or m == ())
        )

        def full(sel, idx):
            out = list(leaves)
            for i, v in zip(idx, sel, strict=True):
                out[i] = v
            return jax.tree_util.tree_unflatten(treedef, out)

        # Scalar parameters enter the node-wise backward as one value per node:
        # their cotangents are summed over nodes once after the loop instead of
        # in every step (a reduction per parameter and step otherwise).
        n_nodes = xs.shape[-1]
        scalar = [jnp.ndim(leaves[i]) == 0 for i in i_all]
        sel_m = [
            jnp.broadcast_to(leaves[i], (n_nodes,)) if sc else leaves[i]
            for i, sc in zip(i_all, scalar, strict=True)
        ]
        sel_c = [leaves[i] for i in i_cpl]

        def node_vjp(lam, x, c, z, s):
            """Pull ``lam`` (cotangent of the state after a step) back through
            the node-wise part and ``post``: ``(d x, d sum, d leaves, d noise, d stim)``."""

            def node(x, sums, sel, z, s):
                p = full(sel, i_all)
                return nodewise(x, post(p, sums), p["model"], z, 0.0 if s is None else s)

            primals = [x, c, sel_m] + ([z] if d_noise else []) + ([s] if d_stim else [])

            def f(x, c, sel, *rest):
                zz = rest[0] if d_noise else z
                ss = rest[-1] if d_stim else s
                return node(x, c, sel, zz, ss)

            _, pull = jax.vjp(f, *primals)
            out = pull(lam)
            dz = out[3] if d_noise else None
            ds = out[-1] if d_stim else None
            return out[0], out[1], out[2], dz, ds

        def cpl_vjp(gc, x):
            """Pull the sum's cotangent back (``W^T``): ``(d x, d coupling leaves)``."""
            _, pull = jax.vjp(lambda sel, x: summed(full(sel, i_cpl), x), sel_c, x)
            d_c, dx = pull(gc)
            return dx, d_c

        ct_x, ct_ys = cts
        if isinstance(ct_x, SymbolicZero):
            ct_x = jnp.zeros(ct_x.shape, ct_x.dtype)
        ct_last, ct_mean = (
            None if k not in needs or isinstance(ct_ys[k], SymbolicZero) else ct_ys[k]
            for k in ("last", "mean")
        )
        # Per step, the cotangent the monitors put on the state after it.
        per_unit = xs.shape[0]
        ct_step = jnp.zeros((per_unit, block, len(record)) + xs.shape[-1:], xs.dtype)
        if ct_mean is not None:
            ct_step = ct_step + (ct_mean / block)[:, None]
        if ct_last is not None:
            ct_step = ct_step.at[:, -1].add(ct_last)

        def flat(a):
            return None if a is None else a.reshape((-1,) + a.shape[2:])

        xs_f, cs_f, z_f, s_f, ct_f = (flat(a) for a in (xs, cs, noise, stim, ct_step))

        def at(a, k):
            return None if a is None else a[k]

        # The loop is shifted by half a step: iteration k pulls the coupling of
        # step k back (its input, the carried d c, is then a plain array: XLA
        # would otherwise fuse the node-wise backward into the W^T product and
        # recompute it per weight), then the node-wise part of step k - 1.
        lam = ct_x.at[record].add(ct_f[-1])
        gx, gc, dm, dz_end, ds_end = node_vjp(lam, xs_f[-1], cs_f[-1], at(z_f, -1), at(s_f, -1))
        dcp = [jnp.zeros_like(v) for v in sel_c]

        def body(carry, k):
            gx, gc, dm, dcp = carry
            dxc, d_c = cpl_vjp(gc, xs_f[k])
            lam = (gx + dxc).at[record].add(ct_f[k - 1])
            gx, gc, d_m, dz, ds = node_vjp(
                lam, xs_f[k - 1], cs_f[k - 1], at(z_f, k - 1), at(s_f, k - 1)
            )
            dm = [a + b for a, b in zip(dm, d_m, strict=True)]
            dcp = [a + b for a, b in zip(dcp, d_c, strict=True)]
            return (gx, gc, dm, dcp), (dz, ds)

        (gx, gc, dm, dcp), (dz, ds) = jax.lax.scan(
            body,
            (gx, gc, dm, dcp),
            jnp.arange(1, xs_f.shape[0]),
            reverse=True,
        )
        dxc, d_c = cpl_vjp(gc, xs_f[0])
        lam = gx + dxc
        dcp = [a + b for a, b in zip(dcp, d_c, strict=True)]

        d_leaves = [jnp.zeros_like(v) for v in leaves]
        for i, v, sc in zip(i_all, dm, scalar, strict=True):
            d_leaves[i] = jnp.sum(v) if sc else v
        for i, v in zip(i_cpl, dcp, strict=True):
            d_leaves[i] = d_leaves[i] + v
        dp = jax.tree_util.tree_unflatten(treedef, d_leaves)
        if noise is not None:
            dz = (
                jnp.concatenate([dz, dz_end[None]]).reshape(noise.shape)
                if d_noise
                else jnp.zeros_like(noise)
            )
        if stim is not None:
            ds = (
                jnp.concatenate([ds, ds_end[None]]).reshape(stim.shape)
                if d_stim
                else jnp.zeros_like(stim)
            )
        return dp, lam, dz, ds

    run.defvjp(fwd, bwd, symbolic_zeros=True)
    return run

"""``jnp``: :mod:`jax.numpy`, imported when first used.

The model registry's metadata (names, parameters and defaults, state
variables, the expression form and its LaTeX) is read where JAX is not
needed, e.g. while Snakemake parses the workflow or a configuration is
checked; importing JAX there costs seconds. The models' ``dfun`` bodies and
:func:`~tvbo_pipe.models.expressions.evaluate` use ``jnp`` from here, which
imports :mod:`jax.numpy` at the first attribute access (when a ``dfun`` is
called or traced), so ``import tvbo_pipe.models`` imports no JAX. The lookup
adds a dictionary access per ``jnp.`` at trace time, nothing to compiled code.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A module imported at the first attribute access.

    Args:
        name: Dotted module name (e.g. ``"jax.numpy"``).
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        # import_module returns the module cached in sys.modules after the first call
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazily imported module {self._name!r}>"


#: :mod:`jax.numpy`, imported at first use.
jnp = LazyModule("jax.numpy")

__all__ = ["LazyModule", "jnp"]

"""Resuming a fit loop: its state kept in a checkpoint object every few iterations.

A loop (the optax fit, the multi-start fit, CMA-ES) keeps its state (a pytree
of arrays) and its bookkeeping (losses, trajectory, best values so far) with
a :class:`Resumer`. The resumer hands them, as named arrays, to a
:class:`Checkpoint` (no file is touched here:
:class:`tvbo_pipe.io.checkpoint.NpzCheckpoint` keeps them in a file), and
gives them back on the next run only when they were saved with the same
settings (a hash of the parameter space, the settings and the start), so a
killed run resumes where it was and ends with the same result.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

log = logging.getLogger(__name__)

#: Prefix of the names of bookkeeping entries kept as JSON text.
_JSON = "json_"


class Checkpoint(Protocol):
    """Where a fit keeps its state between runs.

    :class:`tvbo_pipe.io.checkpoint.NpzCheckpoint` keeps it in a file.
    """

    def save(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep ``arrays`` (name -> array), replacing what was kept before."""

    def load(self) -> Mapping[str, np.ndarray] | None:
        """What was kept, or ``None``."""

    def clear(self) -> None:
        """Forget what was kept (the fit has finished)."""


def settings_digest(**settings: Any) -> str:
    """A short hash of JSON-able settings (what a checkpoint must match to be resumed)."""
    payload = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Resumer:
    """Saves and restores one loop's state through a :class:`Checkpoint`.

    Args:
        checkpoint: Where to keep the state (``None``: nowhere, every call is a no-op).
        digest: :func:`settings_digest` of the loop's settings.
        every: Save every this many iterations (0: never).
    """

    def __init__(self, checkpoint: Checkpoint | None, digest: str, every: int) -> None:
        self.checkpoint = checkpoint
        self.digest = digest
        self.every = every

    def restore(self, template) -> tuple[Any, dict[str, Any]] | None:
        """``(state, bookkeeping)`` saved with the same settings, or ``None``.

        ``template``: a state of the same structure (its leaves' dtypes are kept).
        Bookkeeping entries come back as saved: arrays as arrays, the rest from JSON.
        """
        if self.checkpoint is None:
            return None
        data = self.checkpoint.load()
        if data is None:
            return None
        try:
            if str(data["hash"]) != self.digest:
                log.info("checkpoint %s is for other settings; starting afresh", self.checkpoint)
                return None
            leaves, treedef = jax.tree_util.tree_flatten(template)
            loaded = [
                jnp.asarray(data[f"leaf{k}"], dtype=np.asarray(leaf).dtype)
                for k, leaf in enumerate(leaves)
            ]
            book = {}
            for name, value in data.items():
                if name.startswith(_JSON):
                    book[name[len(_JSON) :]] = json.loads(str(value))
                elif name != "hash" and not name.startswith("leaf"):
                    book[name] = np.asarray(value)
        except (KeyError, ValueError) as exc:
            log.warning("could not read checkpoint %s (%s); starting afresh", self.checkpoint, exc)
            return None
        return jax.tree_util.tree_unflatten(treedef, loaded), book

    def save(self, done: int, state, **book: Any) -> None:
        """Keep ``state`` and ``book`` when ``done`` (iterations so far) is a multiple of
        ``every``. ``book``: NumPy arrays, or JSON-able values (NaN and infinity allowed)."""
        if self.checkpoint is None or not self.every or done % self.every:
            return
        arrays = {f"leaf{k}": np.asarray(v) for k, v in enumerate(jax.tree_util.tree_leaves(state))}
        arrays["hash"] = np.asarray(self.digest)
        for name, value in book.items():
            if isinstance(value, np.ndarray):
                arrays[name] = value
            else:
                arrays[_JSON + name] = np.asarray(json.dumps(value))
        self.checkpoint.save(arrays)

    def finish(self) -> None:
        """The loop has finished: forget the checkpoint."""
        if self.checkpoint is not None:
            self.checkpoint.clear()

"""Checkpoint files of a fit: named arrays in one ``.npz``, written atomically.

The fit loops (:func:`tvbo_pipe.fit.optimize.fit`,
:func:`tvbo_pipe.fit.multistart.fit_multistart`, :func:`tvbo_pipe.fit.cmaes.fit_cmaes`) do not touch files: they are given a checkpoint object
with ``save(arrays)``, ``load() -> arrays | None`` and ``clear()`` (the
:class:`~tvbo_pipe.fit.resume.Checkpoint` protocol) and decide themselves
whether what ``load`` returns belongs to them (a settings hash among the
arrays). :class:`NpzCheckpoint` is that object for a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class NpzCheckpoint:
    """A checkpoint kept in one ``.npz`` file (``allow_pickle=False``).

    Args:
        path: The file; its folder is created on the first save.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"NpzCheckpoint({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def save(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Write ``arrays`` (name -> array; strings as 0-d arrays) atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, self.path)

    def load(self) -> dict[str, np.ndarray] | None:
        """The saved arrays, or ``None`` when there is no file or it cannot be read
        (a warning is logged; the fit then starts afresh)."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, KeyError, ValueError) as exc:
            log.warning("could not read checkpoint %s (%s); starting afresh", self.path, exc)
            return None

    def clear(self) -> None:
        """Remove the file (the fit has finished)."""
        self.path.unlink(missing_ok=True)

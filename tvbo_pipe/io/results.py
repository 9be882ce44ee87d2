"""Reading back tables the stages wrote: fit trajectories and simulated BOLD.

(Relmats are :func:`tvbo_pipe.io.relmat.read_relmat`, JSON files
:func:`tvbo_pipe.io.relmat.read_json`.)
"""

from __future__ import annotations

import os

import numpy as np

from .relmat import read_table


def read_trajectory(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(step, loss)`` columns of a fit stage's trajectory TSV (``n/a`` loss: NaN)."""
    header, rows = read_table(path, what="a fit trajectory (step, loss, ...)")
    i_step, i_loss = header.index("step"), header.index("loss")
    steps = np.array([float(r[i_step]) for r in rows])
    loss = np.array([float(r[i_loss]) if r[i_loss] != "n/a" else np.nan for r in rows])
    return steps, loss


def read_series(path: str | os.PathLike) -> np.ndarray:
    """The values ``(n_time, n_regions)`` of a time-series TSV with a header row."""
    _, rows = read_table(path, what="a time series (one column per region)")
    return np.array([[float(c) for c in r] for r in rows])

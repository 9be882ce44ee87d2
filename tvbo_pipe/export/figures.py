"""Figures as PNG files (matplotlib's object API: no global pyplot state)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def _new_figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` atomically; metadata without a timestamp (same input, same bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    os.replace(tmp, path)


def exploration_heatmap(
    path, points: Mapping[str, np.ndarray], loss: np.ndarray, *, title: str = ""
) -> None:
    """Loss over the explored points: a heatmap for a 2-D grid, else a scatter plot."""
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    names = list(points)
    loss = np.asarray(loss, dtype=float)
    if len(names) == 1:
        x = np.asarray(points[names[0]])
        order = np.argsort(x)
        ax.plot(x[order], loss[order], "o-")
        ax.set_xlabel(names[0])
        ax.set_ylabel("loss")
    else:
        x, y = np.asarray(points[names[0]]), np.asarray(points[names[1]])
        ux, uy = np.unique(x), np.unique(y)
        if len(names) == 2 and ux.size * uy.size == x.size:
            grid = np.full((uy.size, ux.size), np.nan)
            grid[np.searchsorted(uy, y), np.searchsorted(ux, x)] = loss
            im = ax.imshow(
                grid,
                origin="lower",
                aspect="auto",
                extent=(ux[0], ux[-1], uy[0], uy[-1]) if ux.size > 1 and uy.size > 1 else None,
                cmap="viridis_r",
            )
        else:
            im = ax.scatter(x, y, c=loss, cmap="viridis_r")
        best = int(np.nanargmin(np.where(np.isfinite(loss), loss, np.nan)))
        ax.plot(x[best], y[best], "r*", markersize=14, label="best")
        ax.legend(loc="upper right")
        fig.colorbar(im, ax=ax, label="loss")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)

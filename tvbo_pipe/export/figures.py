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


# --------------------------------------------------------------------------- subject report
def _upper(m: np.ndarray) -> np.ndarray:
    return m[np.triu_indices(m.shape[0], k=1)]


def fc_matrices(path, fc_emp: np.ndarray, fc_sim: np.ndarray, *, title: str = "") -> None:
    """Empirical and simulated FC side by side, on one colour scale (-1..1)."""
    fig = _new_figure(9.0, 4.2)
    axes = fig.subplots(1, 2)
    im = None
    for ax, m, name in zip(axes, (fc_emp, fc_sim), ("empirical FC", "simulated FC"), strict=True):
        m = np.array(m, dtype=float)
        np.fill_diagonal(m, np.nan)
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("region")
        ax.set_ylabel("region")
    fig.colorbar(im, ax=list(axes), label="Pearson r", shrink=0.85)
    if title:
        fig.suptitle(title)
    save_png(fig, path)


def fc_scatter(path, fc_emp: np.ndarray, fc_sim: np.ndarray, *, title: str = "") -> None:
    """Simulated against empirical FC (upper triangles), with their correlation."""
    x, y = _upper(np.asarray(fc_emp, dtype=float)), _upper(np.asarray(fc_sim, dtype=float))
    r = float(np.corrcoef(x, y)[0, 1]) if x.size > 1 else float("nan")
    fig = _new_figure(4.8, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(x, y, s=6, alpha=0.5, color="tab:blue", edgecolors="none")
    lo = float(min(x.min(), y.min(), 0.0))
    ax.plot([lo, 1], [lo, 1], color="0.5", lw=1, ls="--")
    ax.set_xlabel("empirical FC")
    ax.set_ylabel("simulated FC")
    ax.set_title(f"{title}  r = {r:.3f}".strip())
    fig.tight_layout()
    save_png(fig, path)


def loss_curves(
    path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = ""
) -> None:
    """Loss per optimiser step of each fit stage, one after the other."""
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    offset = 0
    for name, (steps, loss) in curves.items():
        steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
        ax.plot(steps + offset, loss, "o-", markersize=3, label=name)
        offset += int(steps.max()) + 1 if steps.size else 0
    if not curves:
        ax.text(0.5, 0.5, "no fit stage ran", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def regional_profiles(path, values: Mapping[str, np.ndarray], labels, *, title: str = "") -> None:
    """Fitted regional parameters, one panel per parameter, regions on the x axis."""
    n = max(1, len(values))
    fig = _new_figure(max(6.0, 0.06 * len(labels) + 3.0), 2.6 * n)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    if not values:
        axes[0].text(
            0.5,
            0.5,
            "no regional parameters were fitted",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
        axes[0].set_axis_off()
    for ax, (name, v) in zip(axes, values.items(), strict=False):
        v = np.asarray(v, dtype=float)
        ax.bar(np.arange(v.size), v, color="tab:green", width=0.8)
        ax.set_ylabel(name)
        ax.set_xlim(-0.5, v.size - 0.5)
        if len(labels) <= 40:
            ax.set_xticks(np.arange(v.size), labels, rotation=90, fontsize=6)
    axes[-1].set_xlabel("region")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def bold_traces(
    path, series: np.ndarray, period_s: float, labels, *, n: int = 6, title: str = ""
) -> None:
    """A few regions' simulated BOLD, offset for readability."""
    series = np.asarray(series, dtype=float)
    pick = np.unique(np.linspace(0, series.shape[1] - 1, min(n, series.shape[1])).astype(int))
    t = np.arange(series.shape[0]) * period_s
    fig = _new_figure(7.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    step = 0.0
    for k in pick:
        z = series[:, k] - series[:, k].mean()
        sd = z.std() or 1.0
        ax.plot(t, z / sd + step, lw=0.8, label=str(labels[k]))
        step += 4.0
    ax.set_yticks([])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("BOLD (z-scored, offset)")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def goodness_of_fit_bars(
    path, fitted: Mapping[str, float], start: Mapping[str, float], *, title: str = ""
) -> None:
    """Goodness-of-fit measures at the starting and at the fitted values."""
    names = list(fitted)
    x = np.arange(len(names))
    fig = _new_figure(5.5, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    s = [start.get(k, np.nan) for k in names]
    f = [fitted[k] for k in names]
    ax.bar(x - 0.2, s, width=0.4, label="start", color="0.6")
    ax.bar(x + 0.2, f, width=0.4, label="fitted", color="tab:orange")
    ax.set_xticks(x, names, fontsize=8)
    ax.axhline(0, color="k", lw=0.5)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def group_summary(
    path, subjects, fitted_corr, start_corr, global_params: Mapping[str, np.ndarray]
) -> None:
    """FC correlation per subject (start and fitted) and the fitted global parameters."""
    n_panels = 1 + len(global_params)
    fig = _new_figure(4.0 * n_panels, 4.0)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    x = np.arange(len(subjects))
    ax = axes[0]
    ax.plot(x, start_corr, "o", color="0.6", label="start")
    ax.plot(x, fitted_corr, "o", color="tab:orange", label="fitted")
    for k in x:
        ax.plot([k, k], [start_corr[k], fitted_corr[k]], color="0.8", lw=1, zorder=0)
    ax.set_xticks(x, subjects, rotation=90, fontsize=7)
    ax.set_ylabel("FC correlation")
    ax.legend()
    for ax, (name, values) in zip(axes[1:], global_params.items(), strict=True):
        ax.plot(x, values, "s", color="tab:blue")
        ax.set_xticks(x, subjects, rotation=90, fontsize=7)
        ax.set_ylabel(name)
    fig.tight_layout()
    save_png(fig, path)

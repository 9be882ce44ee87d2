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


def _label_axes(ax, labels, *, x: bool = True, y: bool = True) -> None:
    """Every region's label on the axes (font shrinking with the region count)."""
    n = len(labels)
    size = max(2.5, min(8.0, 400.0 / max(n, 1)))
    if x:
        ax.set_xticks(np.arange(n), labels, rotation=90, fontsize=size)
    if y:
        ax.set_yticks(np.arange(n), labels, fontsize=size)


def fc_matrices(
    path, fc_emp: np.ndarray, fc_sim: np.ndarray, *, labels=None, title: str = ""
) -> None:
    """Empirical and simulated FC side by side, on one colour scale (-1..1),
    with the region labels on both axes when ``labels`` are given."""
    n = np.asarray(fc_emp).shape[0]
    side = 4.2 if labels is None else max(4.2, min(9.0, 0.075 * n + 2.0))
    fig = _new_figure(2 * side + 1.4, side + 0.6)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, 2)
    im = None
    for ax, m, name in zip(axes, (fc_emp, fc_sim), ("empirical FC", "simulated FC"), strict=True):
        m = np.array(m, dtype=float)
        np.fill_diagonal(m, np.nan)
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        ax.set_title(name)
        if labels is None:
            ax.set_xlabel("region")
            ax.set_ylabel("region")
        else:
            _label_axes(ax, labels)
    fig.colorbar(im, ax=list(axes), label="Pearson r", shrink=0.85)
    if title:
        fig.suptitle(title)
    save_png(fig, path)


def fcd_matrices(
    path,
    fcd_emp: np.ndarray | None,
    fcd_sim: np.ndarray | None,
    *,
    step_s: float,
    ks: float | None = None,
    title: str = "",
) -> None:
    """Empirical and simulated FCD (window x window correlation of the sliding-window
    FCs) side by side, time on the axes, and the histograms of their upper
    triangles (what the KS distance compares)."""
    fig = _new_figure(13.0, 4.2)
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, 3)
    im = None
    for ax, m, name in zip(
        axes[:2], (fcd_emp, fcd_sim), ("empirical FCD", "simulated FCD"), strict=True
    ):
        if m is None:
            ax.text(0.5, 0.5, f"no {name}", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        m = np.asarray(m, dtype=float)
        extent = (0, m.shape[0] * step_s, m.shape[0] * step_s, 0)
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest", extent=extent)
        ax.set_title(name)
        ax.set_xlabel("window start (s)")
        ax.set_ylabel("window start (s)")
    if im is not None:
        fig.colorbar(im, ax=list(axes[:2]), label="correlation of window FCs", shrink=0.85)
    ax = axes[2]
    bins = np.linspace(-1, 1, 41)
    for m, name, color in ((fcd_emp, "empirical", "0.4"), (fcd_sim, "simulated", "tab:orange")):
        if m is not None:
            ax.hist(_upper(np.asarray(m, dtype=float)), bins=bins, density=True, alpha=0.6,
                    color=color, label=name)  # fmt: skip
    ax.set_xlabel("FCD value")
    ax.set_ylabel("density")
    ax.set_title(
        "FCD distributions" + (f" (KS {ks:.3f}, lower is better)" if ks is not None else "")
    )
    ax.legend(fontsize=8)
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
        (line,) = ax.plot(steps + offset, loss, "o-", markersize=3, label=name)
        if np.isfinite(loss).any():
            best = int(np.nanargmin(loss))
            ax.plot(steps[best] + offset, loss[best], "*", color=line.get_color(), markersize=12)
            ax.axhline(loss[0], color=line.get_color(), lw=0.6, ls=":")
        offset += int(steps.max()) + 1 if steps.size else 0
    if not curves:
        ax.text(0.5, 0.5, "no fit stage ran", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend()
    ax.set_xlabel("optimiser step (stages one after the other; star: best kept, dotted: start)")
    ax.set_ylabel("loss (lower is better)")
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def regional_profiles(path, values: Mapping[str, np.ndarray], labels, *, title: str = "") -> None:
    """Fitted regional parameters, one panel per parameter, regions on the x axis."""
    n = max(1, len(values))
    fig = _new_figure(max(6.0, 0.12 * len(labels) + 2.0), 2.6 * n + 1.2)
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
        _label_axes(ax, labels, y=False)
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


#: Goodness-of-fit measures: (label, "higher" or "lower" is better, best possible value).
GOF_MEASURES: dict[str, tuple[str, str, float]] = {
    "FCCorrelation": ("FC correlation", "higher", 1.0),
    "FCRMSE": ("FC RMSE", "lower", 0.0),
    "FCDKolmogorovSmirnov": ("FCD KS distance", "lower", 0.0),
}


def goodness_of_fit_panels(
    path,
    fitted: Mapping[str, float],
    start: Mapping[str, float],
    *,
    fresh: Mapping[str, float] | None = None,
    baseline: Mapping[str, float] | None = None,
    title: str = "",
) -> None:
    """One small panel per goodness-of-fit measure, its direction in the title.

    Each panel shows the measure at the start, at the fitted values and
    (when given) over fresh noise seeds (``{measure: [values]}``) and for a
    baseline (``{measure: value}``, e.g. the SC alone's FC correlation);
    measures of opposite directions never share an axis.
    """
    names = [k for k in GOF_MEASURES if k in fitted] + [k for k in fitted if k not in GOF_MEASURES]
    fig = _new_figure(3.2 * max(1, len(names)), 3.4)
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        label, direction, best = GOF_MEASURES.get(name, (name, "?", np.nan))
        cats, vals, colors = [], [], []
        if baseline and name in baseline:
            cats.append("SC alone")
            vals.append(baseline[name])
            colors.append("tab:purple")
        if name in start:
            cats.append("start")
            vals.append(start[name])
            colors.append("0.6")
        cats.append("fitted")
        vals.append(fitted[name])
        colors.append("tab:orange")
        x = np.arange(len(cats))
        ax.scatter(x, vals, color=colors, s=50, zorder=3)
        if fresh and name in fresh and len(fresh[name]):
            xs = np.full(len(fresh[name]), len(cats))
            ax.scatter(xs, fresh[name], color="tab:blue", s=18, zorder=3)
            ax.errorbar(len(cats) + 0.15, np.mean(fresh[name]), yerr=np.std(fresh[name]),
                        fmt="_", color="tab:blue", capsize=3)  # fmt: skip
            cats.append("fresh seeds")
        if np.isfinite(best):
            ax.axhline(best, color="tab:green", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(cats)), cats, rotation=30, fontsize=8)
        ax.set_xlim(-0.5, len(cats) - 0.5)
        arrow = {"higher": "↑ higher is better", "lower": "↓ lower is better"}.get(direction, "")
        ax.set_title(f"{label}\n{arrow}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    if not names:
        axes[0].text(0.5, 0.5, "no measures", ha="center", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def group_summary(
    path,
    subjects,
    fitted_corr,
    start_corr,
    global_params: Mapping[str, np.ndarray],
    *,
    baseline: np.ndarray | None = None,
    fresh: list | None = None,
) -> None:
    """FC correlation per subject (start, fitted, the SC-alone ``baseline`` and the
    ``fresh``-seed values, when given) and the fitted global parameters."""
    n_panels = 1 + len(global_params)
    fig = _new_figure(4.0 * n_panels, 4.0)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    x = np.arange(len(subjects))
    ax = axes[0]
    ax.plot(x, start_corr, "o", color="0.6", label="start")
    ax.plot(x, fitted_corr, "o", color="tab:orange", label="fitted")
    for k in x:
        ax.plot([k, k], [start_corr[k], fitted_corr[k]], color="0.8", lw=1, zorder=0)
    if baseline is not None and np.isfinite(baseline).any():
        ax.plot(x, baseline, "_", color="tab:purple", markersize=16, mew=2, label="SC alone")
    if fresh is not None and any(len(f) for f in fresh):
        for k, f in zip(x, fresh, strict=True):
            ax.plot(np.full(len(f), k + 0.15), f, ".", color="tab:blue", markersize=4,
                    label="fresh seeds" if k == 0 else None)  # fmt: skip
    ax.set_xticks(x, subjects, rotation=90, fontsize=7)
    ax.set_ylabel("FC correlation (higher is better)")
    ax.legend()
    for ax, (name, values) in zip(axes[1:], global_params.items(), strict=True):
        ax.plot(x, values, "s", color="tab:blue")
        ax.set_xticks(x, subjects, rotation=90, fontsize=7)
        ax.set_ylabel(name)
    fig.tight_layout()
    save_png(fig, path)

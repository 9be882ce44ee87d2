"""HTML pages a person reads: one per subject-session and one for the group.

Rendered from the jinja2 templates in ``tvbo_pipe/templates`` (autoescaped:
every text is escaped). Each page is one HTML file with its styles inline;
figures are PNG files of the derivative referenced by relative paths (so the
page shows them wherever the dataset is copied). The subject page opens
with the verdict (:mod:`tvbo_pipe.export.verdict`); the group page's table
sorts by a click on a header (a few lines of inline JavaScript) and marks
outliers. Both carry the date and host of the run (About section).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .figures import GOF_MEASURES
from .verdict import Flag, Verdict

#: Outliers of a group column: beyond this many interquartile ranges of the quartiles ...
IQR_FENCE = 1.5
#: ... or with |z| above this (z over the subject-sessions, ddof 1).
Z_OUTLIER = 2.0


def _env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("tvbo_pipe", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``tvbo_pipe/templates/<template>`` with ``context`` (and ``version``)."""
    return _env().get_template(template).render(version=__version__, **context)


def _rel(path: str | os.PathLike, page: str | os.PathLike) -> str:
    return Path(
        os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(page)))
    ).as_posix()


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def _gof_rows(gof: Mapping[str, Any]) -> list[dict]:
    fitted, start = gof.get("Fitted", {}), gof.get("Start", {})
    fresh = gof.get("FreshSeeds") or {}
    rows = []
    for key in [k for k in GOF_MEASURES if k in fitted] + [
        k for k in sorted(fitted) if k not in GOF_MEASURES
    ]:
        label, direction, _ = GOF_MEASURES.get(key, (key, "?", None))
        values = [x for x in fresh.get(key) or [] if x is not None]
        rows.append(
            {
                "label": label,
                "direction": {"higher": "↑ higher is better", "lower": "↓ lower is better"}.get(
                    direction, "?"
                ),
                "start": start.get(key),
                "fitted": fitted[key],
                "fresh": f"{np.mean(values):.4g} ± {np.std(values):.3g}" if values else "n/a",
            }
        )
    return rows


def subject_report(
    page: str | os.PathLike,
    *,
    prefix: str,
    model: str,
    record: Mapping[str, Any],
    gof: Mapping[str, Any],
    verdict: Verdict,
    labels: Sequence[str],
    figures: Sequence[tuple[str | os.PathLike, str]],
    files: Sequence[tuple[str | os.PathLike, str]],
    methods: Sequence[str],
    references: Sequence[str],
    about: Mapping[str, str],
    versions: Mapping[str, str],
    logs: Sequence[str | os.PathLike],
    warnings: Sequence[tuple[str, str]],
    config: Mapping[str, Any],
    fcd_ks_flag: float,
) -> str:
    """The HTML report of one subject-session.

    Args:
        page: Where the page will be written (links are relative to it).
        prefix: ``sub-01`` or ``sub-01_ses-1``.
        model: Model name.
        record: The ``*_desc-fitted_param.json`` record.
        gof: The goodness-of-fit JSON.
        verdict: :func:`~tvbo_pipe.export.verdict.subject_verdict` of this fit.
        labels: Region labels (matrix order).
        figures: ``(png path, caption)`` in display order.
        files: ``(path, what it is)`` of the subject's main outputs.
        methods: Methods paragraphs; ``references`` the works they cite.
        about: :func:`~tvbo_pipe.export.about.run_info`; ``versions`` the software's.
        logs: The subject's stage logs (linked); ``warnings`` their warning lines.
        config: The stage configuration (shown folded).
        fcd_ks_flag: The FCD KS threshold of the flags.
    """
    regional = []
    for p in record["Parameters"]:
        if not p["Regional"]:
            continue
        v = np.asarray(p["Value"], dtype=float)
        name = lambda k: labels[k] if k < len(labels) else str(k)  # noqa: E731
        regional.append(
            {
                "name": p["Name"],
                "min": float(v.min()),
                "argmin": name(int(v.argmin())),
                "mean": float(v.mean()),
                "max": float(v.max()),
                "argmax": name(int(v.argmax())),
                "low": p["LowerBound"],
                "high": p["UpperBound"],
                "units": p["Units"],
                "description": p["Description"],
            }
        )
    status = dict(verdict.stages)
    stages = [
        {
            "stage": s["Stage"],
            "start": s.get("StartLoss"),
            "loss": s.get("Loss"),
            "steps": s.get("Steps", s.get("Points")),
            "status": status.get(s["Stage"], ""),
        }
        for s in record["Stages"]
    ]
    return render(
        "subject_report.html.j2",
        title=f"{prefix}: tvbo_pipe report",
        prefix=prefix,
        model=model,
        verdict=verdict,
        fcd_ks_flag=fcd_ks_flag,
        gof_rows=_gof_rows(gof),
        figures=[{"src": _rel(p, page), "caption": c} for p, c in figures],
        global_params=[p for p in record["Parameters"] if not p["Regional"]],
        regional_params=regional,
        stages=stages,
        methods=list(methods),
        references=list(references),
        warnings=list(warnings),
        logs=[{"href": _rel(p, page), "name": Path(p).name} for p in logs],
        about=about,
        versions=versions,
        config_text=json.dumps(config, indent=2, sort_keys=True, default=str),
        files=[{"href": _rel(p, page), "name": Path(p).name, "what": w} for p, w in files],
    )


def column_outliers(values: Sequence[Any]) -> list[str | None]:
    """Why each value of a numeric column is an outlier, or ``None``.

    Outliers lie beyond :data:`IQR_FENCE` interquartile ranges outside the
    quartiles (Tukey's fences, needs 4 values) or have ``|z| >`` :data:`Z_OUTLIER`
    (needs 3 values and a non-zero spread). Non-numbers are never outliers.
    """
    x = np.array(
        [
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
            for v in values
        ]
    )
    ok = np.isfinite(x)
    out: list[str | None] = [None] * len(x)
    if ok.sum() < 3:
        return out
    q1, q3 = np.percentile(x[ok], [25, 75])
    iqr = q3 - q1
    sd = float(np.std(x[ok], ddof=1))
    mean = float(np.mean(x[ok]))
    for i, v in enumerate(x):
        if not ok[i]:
            continue
        why = []
        if ok.sum() >= 4 and iqr > 0 and (v < q1 - IQR_FENCE * iqr or v > q3 + IQR_FENCE * iqr):
            why.append(f"beyond {IQR_FENCE} IQR of the quartiles [{q1:.4g}, {q3:.4g}]")
        if sd > 0 and abs(v - mean) / sd > Z_OUTLIER:
            why.append(f"z = {(v - mean) / sd:+.2f}")
        out[i] = "; ".join(why) or None
    return out


def group_report(
    page: str | os.PathLike,
    *,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    descriptions: Mapping[str, Mapping[str, Any]],
    figure: str | os.PathLike,
    subject_pages: Sequence[tuple[str, str | os.PathLike]],
    verdicts: Sequence[Verdict],
    model: str,
    model_files: Sequence[tuple[str | os.PathLike, str]],
    about: Mapping[str, str],
    versions: Mapping[str, str],
) -> str:
    """The group page: verdict summary, flags per subject, the sortable table
    (outliers marked, a flag count per row), its figure and links to every
    subject's page.

    ``rows`` follow ``subject_pages`` and ``verdicts`` (one per subject-session).
    """
    names = [n for n, _ in subject_pages]
    cols = [*header, "flags"]
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in header]
    columns.append([len(v.flags) for v in verdicts])
    why = [column_outliers(c) if h not in ("participant_id", "session_id") else [None] * len(c)
           for h, c in zip(cols, columns, strict=True)]  # fmt: skip
    table = []
    for i, (name, subject_page) in enumerate(subject_pages):
        cells = []
        for j, h in enumerate(cols):
            v = columns[j][i]
            cell = {
                "text": _num(v),
                "sort": "" if v is None else v,
                "cls": "",
                "title": "",
                "href": "",
            }
            if why[j][i]:
                cell["cls"], cell["title"] = "outlier", why[j][i]
            if h == "participant_id":
                cell["href"] = _rel(subject_page, page)
                cell["text"] = name
            if h == "flags" and v:
                cell["cls"] = (cell["cls"] + " flagged").strip()
                cell["title"] = "; ".join(f.text for f in verdicts[i].flags)
            cells.append(cell)
        table.append(cells)
    desc = {**{k: d.get("Description", "") for k, d in descriptions.items()}}
    desc["flags"] = "Number of warning signs of the subject's fit (listed above the table)"
    beats = sum(
        1
        for v in verdicts
        if v.sc_fc_r is not None
        and (v.fresh_mean if v.fresh_mean is not None else v.fc_r or -2) > v.sc_fc_r
    )
    per_stage: dict[str, list[int]] = {}
    for v in verdicts:
        for stage, status in v.stages:
            if stage != "explore":
                counts = per_stage.setdefault(stage, [0, 0])
                counts[0] += status.startswith("improved")
                counts[1] += 1
    improved = "; ".join(f"{stage} improved for {k} of {n}" for stage, (k, n) in per_stage.items())
    summary = (
        f"{beats} of {len(verdicts)} beat the SC-alone baseline (fresh-seed mean FC r)"
        + (f"; {improved}" if improved else "")
        + f"; {sum(1 for v in verdicts if v.flags)} have flags."
    )
    flagged: list[tuple[str, list[Flag]]] = [
        (n, v.flags) for n, v in zip(names, verdicts, strict=True) if v.flags
    ]
    return render(
        "group_report.html.j2",
        title=f"tvbo_pipe group summary ({model})",
        max_width="100%",
        model=model,
        n_rows=len(table),
        summary=summary,
        flagged=flagged,
        header=[{"name": h, "description": desc.get(h, "")} for h in cols],
        rows=table,
        figure={
            "src": _rel(figure, page),
            "caption": "FC correlation per subject (start, fitted, SC baseline) and "
            "fitted global parameters",
        },
        model_files=[
            {"href": _rel(p, page), "name": Path(p).name, "what": w} for p, w in model_files
        ],
        about=about,
        versions=versions,
    )


__all__ = ["column_outliers", "group_report", "render", "subject_report"]

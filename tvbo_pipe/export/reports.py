"""HTML pages a person reads: one per subject-session and one for the group.

Each page is one HTML file with its styles inline and no scripts; figures are
PNG files of the derivative referenced by relative paths (so the page shows
them wherever the dataset is copied), tables are HTML tables, and every
text is escaped. Pages carry no timestamps.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #4a7ab5; padding-bottom: .2em; }
h2 { color: #2c5282; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ccd; padding: .25em .6em; text-align: left; }
th { background: #eef2f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #dde; }
figcaption { font-size: .85em; color: #555; }
.files li { font-family: ui-monospace, monospace; font-size: .88em; }
.note { color: #666; font-size: .9em; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for v in row:
            cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_e(_num(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _rel(path: str | os.PathLike, page: str | os.PathLike) -> str:
    return Path(
        os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(page)))
    ).as_posix()


def _figure(path, page, caption: str) -> str:
    src = _e(_rel(path, page))
    return (
        f'<figure><a href="{src}"><img src="{src}" alt="{_e(caption)}"></a>'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _page(title: str, body: Sequence[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f'\n<p class="note">Written by tvbo_pipe {_e(__version__)}.</p>\n</body>\n</html>\n'
    )


def subject_report(
    page: str | os.PathLike,
    *,
    prefix: str,
    model: str,
    coupling: str,
    record: Mapping[str, Any],
    gof: Mapping[str, Any],
    figures: Sequence[tuple[str | os.PathLike, str]],
    files: Sequence[tuple[str | os.PathLike, str]],
    n_regions: int,
) -> str:
    """The HTML report of one subject-session.

    Args:
        page: Where the page will be written (figure and file links are relative to it).
        prefix: ``sub-01`` or ``sub-01_ses-1``.
        model: Model name.
        coupling: Coupling name.
        record: The ``*_desc-fitted_param.json`` record.
        gof: The goodness-of-fit JSON.
        figures: ``(png path, caption)`` in display order.
        files: ``(path, what it is)`` of the subject's main outputs.
        n_regions: Number of regions.
    """
    fitted, start = gof.get("Fitted", {}), gof.get("Start", {})
    gof_rows = [[k, start.get(k), v] for k, v in sorted(fitted.items())]
    glob = [p for p in record["Parameters"] if not p["Regional"]]
    reg = [p for p in record["Parameters"] if p["Regional"]]
    stages = [
        [
            s["Stage"],
            s.get("StartLoss"),
            s.get("Loss"),
            s.get("Steps", s.get("Points")),
            s.get("StopReason", s.get("Method")),
        ]
        for s in record["Stages"]
    ]
    body = [
        f"<h1>{_e(prefix)}: {_e(model)} network model fitted to the empirical FC</h1>",
        f"<p>{_e(n_regions)} regions, coupling {_e(coupling)}. FC correlation "
        f"<b>{_e(_num(fitted.get('FCCorrelation')))}</b> at the fitted values "
        f"(start {_e(_num(start.get('FCCorrelation')))}).</p>",
        "<h2>Goodness of fit</h2>",
        _table(["measure", "start", "fitted"], gof_rows),
        "<h2>Fitted global parameters</h2>",
        _table(
            ["parameter", "value", "lower bound", "upper bound", "units", "stage", "description"],
            [
                [
                    p["Name"],
                    p["Value"],
                    p["LowerBound"],
                    p["UpperBound"],
                    p["Units"],
                    p["Stage"],
                    p["Description"],
                ]
                for p in glob
            ],
        )
        if glob
        else "<p>None.</p>",
        "<h2>Fitted regional parameters</h2>",
        _table(
            ["parameter", "min", "mean", "max", "bounds", "units", "description"],
            [
                [
                    p["Name"],
                    min(p["Value"]),
                    sum(p["Value"]) / len(p["Value"]),
                    max(p["Value"]),
                    f"[{_num(p['LowerBound'])}, {_num(p['UpperBound'])}]",
                    p["Units"],
                    p["Description"],
                ]
                for p in reg
            ],
        )
        if reg
        else "<p>None.</p>",
        "<h2>Fit stages</h2>",
        _table(["stage", "start loss", "final loss", "steps / points", "stop / method"], stages)
        if stages
        else "<p>No fit stage ran: the simulation used the configured values.</p>",
        "<h2>Figures</h2>",
        "".join(_figure(p, page, c) for p, c in figures),
        "<h2>Files</h2>",
        '<ul class="files">'
        + "".join(
            f'<li><a href="{_e(_rel(p, page))}">{_e(Path(p).name)}</a>: {_e(w)}</li>'
            for p, w in files
        )
        + "</ul>",
    ]
    return _page(f"{prefix}: tvbo_pipe report", body)


def group_report(
    page: str | os.PathLike,
    *,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    figure: str | os.PathLike,
    subject_pages: Sequence[tuple[str, str | os.PathLike]],
    model: str,
    model_files: Sequence[tuple[str | os.PathLike, str]],
) -> str:
    """The group page: the summary table, its figure and links to every subject's page."""
    body = [
        f"<h1>tvbo_pipe group summary: {_e(model)}</h1>",
        f"<p>{len(rows)} subject-session(s). One row per subject-session: the fitted global "
        "parameters (regional ones as mean and standard deviation over regions), the "
        "goodness of fit at the starting and at the fitted values, and run times (s).</p>",
        _figure(
            figure, page, "FC correlation per subject (start, fitted) and fitted global parameters"
        ),
        "<h2>Summary table</h2>",
        _table(header, rows),
        "<h2>Subjects</h2>",
        "<ul>"
        + "".join(
            f'<li><a href="{_e(_rel(p, page))}">{_e(name)}</a></li>' for name, p in subject_pages
        )
        + "</ul>",
        "<h2>Model</h2>",
        '<ul class="files">'
        + "".join(
            f'<li><a href="{_e(_rel(p, page))}">{_e(Path(p).name)}</a>: {_e(w)}</li>'
            for p, w in model_files
        )
        + "</ul>",
    ]
    return _page(f"tvbo_pipe group summary ({model})", body)


__all__ = ["group_report", "subject_report"]

"""A human-readable report of a model (and of an experiment's choices for it).

:func:`model_report` writes, from the model registry alone: the description,
the state variables, the state equations in LaTeX (kept as ``$$...$$``, so
MathJax or KaTeX can typeset them and a reader without either still sees
the TeX), the machine-readable right-hand side the code renderings use, the
parameter table (value, unit, domain, description), the coupling variables,
and the references. Given an experiment, the values are the experiment's and
the coupling function is described too. Markdown or self-contained HTML (no
scripts, no external files; every text is HTML-escaped).

Example usage:
    >>> from tvbo_pipe.export import model_report
    >>> print(model_report("ReducedWongWang"))
    >>> html = model_report(Experiment.load("config/experiment.yaml"), format="html")
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..experiment import Experiment
from ..models import Model, get_model
from ..models.expressions import coupling_names

FORMATS = ("markdown", "html")


# --------------------------------------------------------------------------- document
@dataclass(frozen=True)
class _Block:
    kind: str  # h1 h2 p math code table ul
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()
    header: tuple[str, ...] = ()
    items: tuple[str, ...] = ()


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        vals = [float(v) for v in value]
        return f"regional, {len(vals)} values in [{min(vals):g}, {max(vals):g}]"
    return f"{float(value):g}"


def _range(r: Sequence[float | None] | None) -> str:
    if r is None:
        return ""
    lo, hi = r
    return f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def _document(model: Model, exp: Experiment | None) -> list[_Block]:
    from ..sim.coupling import get_coupling

    given = dict(exp.model.parameters) if exp is not None else {}
    svs = model.state_variable_names
    blocks = [
        _Block("h1", model.name),
        _Block("p", model.description),
        _Block("h2", "State variables"),
        _Block(
            "table",
            header=("Name", "Unit", "Range", "Boundaries", "Initial value"),
            rows=tuple(
                (
                    sv.name,
                    sv.unit,
                    _range(sv.range),
                    _range(sv.boundaries),
                    f"{sv.initial_value:g}",
                )
                for sv in model.state_variables
            ),
        ),
        _Block("h2", "Equations"),
    ]
    for v in svs:
        if v in model.equations:
            blocks.append(_Block("math", model.equations[v]))
    if model.rhs:
        lines = [f"{n} = {e}" for n, e in model.auxiliaries]
        lines += [f"d{v}/dt = {model.rhs[v]}" for v in svs]
        blocks += [
            _Block(
                "p",
                "Machine-readable form (the source of the rendered code and of the LEMS "
                "export; checked against the simulator's dfun):",
            ),
            _Block("code", "\n".join(lines)),
        ]
    blocks += [
        _Block("h2", "Parameters"),
        _Block(
            "table",
            header=("Name", "Value", "Default", "Unit", "Domain", "Description"),
            rows=tuple(
                (
                    p.name,
                    _fmt(given.get(p.name, p.default)),
                    _fmt(p.default),
                    p.unit,
                    _range(p.domain),
                    p.description + (" (boolean: 0 or 1)" if p.boolean else ""),
                )
                for p in model.parameters
            ),
        ),
        _Block("h2", "Coupling variables"),
        _Block(
            "p",
            f"Coupling variables (cvar): {', '.join(svs[i] for i in model.cvar)} "
            f"(state indices {', '.join(str(i) for i in model.cvar)}). The model receives "
            f"{model.n_cvar} long-range input row(s), named "
            f"{', '.join(coupling_names(model))} in the machine-readable form "
            "(a subscript k marks node k in the LaTeX), which the coupling function "
            "computes from the coupling variables of the other nodes.",
        ),
    ]
    if model.variables_of_interest:
        blocks.append(
            _Block("p", f"Variables of interest: {', '.join(model.variables_of_interest)}.")
        )
    if exp is not None:
        cpl = get_coupling(exp.coupling.name)
        cgiven = dict(exp.coupling.parameters)
        blocks += [
            _Block("h2", f"Coupling function: {cpl.name}"),
            _Block("p", cpl.description),
            _Block(
                "math",
                r"c_i = \mathrm{post}\Big(\sum_j w_{ij}\,\mathrm{pre}(x_i, x_j)\Big),\quad "
                rf"\mathrm{{pre}} = {cpl.equations.get('pre', '')},\quad "
                rf"\mathrm{{post}} = {cpl.equations.get('post', '')}",
            ),
            _Block(
                "table",
                header=("Name", "Value", "Default", "Domain", "Description"),
                rows=tuple(
                    (
                        p.name,
                        _fmt(cgiven.get(p.name, p.default)),
                        _fmt(p.default),
                        _range(p.domain),
                        p.description,
                    )
                    for p in cpl.parameters
                ),
            ),
        ]
    blocks += [_Block("h2", "References"), _Block("ul", items=tuple(model.references))]
    blocks.append(_Block("p", f"Generated by tvbo_pipe {__version__} from its model registry."))
    return blocks


# --------------------------------------------------------------------------- markdown
def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(blocks: list[_Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.text}")
        elif b.kind == "h2":
            out.append(f"## {b.text}")
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "math":
            out.append(f"$$\n{b.text}\n$$")
        elif b.kind == "code":
            out.append(f"```\n{b.text}\n```")
        elif b.kind == "table":
            lines = ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif b.kind == "ul":
            out.append("\n".join(f"- {item}" for item in b.items))
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- html
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
.math { font-family: monospace; background: #f8f8f8; padding: 0.5rem; overflow-x: auto;
        white-space: pre-wrap; }
pre { background: #f8f8f8; padding: 0.5rem; overflow-x: auto; }
"""

_DOI = re.compile(r"doi:(10\.[^\s&<>\"]+)")


def _link_dois(escaped: str) -> str:
    return _DOI.sub(
        lambda m: f'<a href="https://doi.org/{m.group(1)}">doi:{m.group(1)}</a>', escaped
    )


def _html(blocks: list[_Block], title: str) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for b in blocks:
        if b.kind == "h1":
            out.append(f"<h1>{e(b.text)}</h1>")
        elif b.kind == "h2":
            out.append(f"<h2>{e(b.text)}</h2>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "math":
            out.append(f'<div class="math">$${e(b.text)}$$</div>')
        elif b.kind == "code":
            out.append(f"<pre><code>{e(b.text)}</code></pre>")
        elif b.kind == "table":
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in b.header) + "</tr>")
            for row in b.rows:
                out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        elif b.kind == "ul":
            out.append("<ul>")
            out += [f"<li>{_link_dois(e(item))}</li>" for item in b.items]
            out.append("</ul>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- entry point
def model_report(model: Model | Experiment | str | Path, format: str = "markdown") -> str:
    """Report of a registry model, or of an experiment's model and coupling.

    Args:
        model: A :class:`Model`, a model name, an :class:`Experiment` or the
            path of an experiment YAML (then the parameter values are the
            experiment's and its coupling function is described).
        format: ``markdown`` or ``html`` (a self-contained page; LaTeX is kept
            in ``$$...$$`` and every text is escaped).

    Returns:
        The report text.

    Raises:
        ValueError: Unknown format.
    """
    from .render import as_experiment

    if format not in FORMATS:
        raise ValueError(f"unknown report format {format!r}; valid: {', '.join(FORMATS)}")
    exp = None
    if isinstance(model, Model):
        m = model
    elif isinstance(model, str) and not model.endswith((".yaml", ".yml")) and "/" not in model:
        m = get_model(model)
    else:
        exp = as_experiment(model)
        m = get_model(exp.model.name)
    blocks = _document(m, exp)
    if format == "markdown":
        return _markdown(blocks)
    return _html(blocks, f"{m.name}: model report")


__all__ = ["FORMATS", "model_report"]

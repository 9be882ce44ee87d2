"""Exports: the BIDS derivative layout, code rendering, model reports and LEMS.

- :func:`render_code`: a model or experiment as a JAX script, a SciPy ODE
  function or a Julia DifferentialEquations.jl problem.
- :func:`model_report`: Markdown or HTML description of a model.
- :func:`to_lems`: the experiment as BEP034-style LEMS XML.

Submodules are imported lazily, so ``import tvbo_pipe.export`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_report", "render_code", "to_lems"]


def __getattr__(name: str) -> Any:
    if name == "render_code":
        from .render import render_code

        return render_code
    if name == "model_report":
        from .report import model_report

        return model_report
    if name == "to_lems":
        from .lems import to_lems

        return to_lems
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Exports: the BIDS derivative layout, code rendering, model reports and LEMS.

- :func:`render_code`: a model or experiment as a JAX script, a SciPy ODE
  function or a Julia DifferentialEquations.jl problem.
- :func:`model_report`: Markdown or HTML description of a model.
- :func:`to_lems`, :func:`eq_lems`, :func:`param_lems`: the experiment as
  BEP034 LEMS XML (one document; equations file; parameter file), and
  :func:`experiment_from_lems` to read one back with PyLEMS.

Submodules are imported lazily, so ``import tvbo_pipe.export`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_LEMS = ("to_lems", "eq_lems", "param_lems", "experiment_from_lems")

__all__ = [
    "eq_lems",
    "experiment_from_lems",
    "model_report",
    "param_lems",
    "render_code",
    "to_lems",
]


def __getattr__(name: str) -> Any:
    if name == "render_code":
        from .render import render_code

        return render_code
    if name == "model_report":
        from .report import model_report

        return model_report
    if name in _LEMS:
        from . import lems

        return getattr(lems, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""One function per workflow rule: read files, call the core, write files.

Every stage has the signature ``stage(inputs, outputs, params, *, subject)``
where ``inputs`` and ``outputs`` map names to paths (or lists of paths) and
``params`` is the configuration the stage uses (exactly what the Snakemake rule
passes as ``params``, so a change there reruns the stage). Each is testable
without Snakemake and is called by ``python -m tvbo_pipe STAGE``.

:data:`STAGES` names each stage's function as ``"module:function"`` and
:func:`resolve` imports it: importing this package imports no stage module
and so no JAX (the stage runner sets XLA's thread options and JAX's
configuration first, :mod:`tvbo_pipe.cli`). The functions are also
attributes of this package, imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: stage name (the Snakemake rule, ``tvbo-pipe run NAME``) -> ``"module:function"``
STAGES: dict[str, str] = {
    "dataset_description": "tvbo_pipe.stages.inputs:dataset_description",
    "connectome": "tvbo_pipe.stages.inputs:connectome",
    "empirical_fc": "tvbo_pipe.stages.inputs:empirical_fc",
    "explore": "tvbo_pipe.stages.fitting:explore",
    "fit_global": "tvbo_pipe.stages.fitting:fit_global",
    "fit_regional": "tvbo_pipe.stages.fitting:fit_regional",
    "simulate_fitted": "tvbo_pipe.stages.fitting:simulate_fitted",
    "model_description": "tvbo_pipe.stages.derivative_files:model_description",
    "dataset_files": "tvbo_pipe.stages.derivative_files:dataset_files",
    "export": "tvbo_pipe.stages.derivative_files:export_subject",
    "group_summary": "tvbo_pipe.stages.derivative_files:group_summary",
}

#: attribute of this package -> module that defines it
_ATTRIBUTES: dict[str, str] = {
    **{ref.split(":")[1]: ref.split(":")[0] for ref in STAGES.values()},
    "detrend_linear": "tvbo_pipe.fit.empirical",
}


def resolve(name: str) -> Callable[..., Any]:
    """The function of stage ``name`` (imports its module)."""
    module, _, function = STAGES[name].partition(":")
    return getattr(importlib.import_module(module), function)


def __getattr__(name: str) -> Any:
    module = _ATTRIBUTES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["STAGES", "resolve", *sorted(_ATTRIBUTES)]

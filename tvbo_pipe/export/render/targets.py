"""The renderers by target, and :func:`render_code` choosing one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...experiment import Experiment
from ...models import Model
from .common import TARGETS
from .jax import render_jax
from .julia import render_julia
from .python import render_python

_RENDERERS: dict[str, Callable[..., str]] = {
    "jax": render_jax,
    "python": render_python,
    "julia": render_julia,
}


def render_code(
    model_or_experiment: Model | Experiment | str | Path, target: str, **options: Any
) -> str:
    """Source code of a model or experiment in ``target`` (one of :data:`TARGETS`).

    Args:
        model_or_experiment: A registry :class:`Model`, a model name, an
            :class:`Experiment`, or the path of an experiment YAML file. A model
            alone gets :func:`default_experiment` where a target needs one.
        target: ``jax`` (standalone simulation script of the experiment),
            ``python`` (SciPy ODE function of the model) or ``julia``
            (DifferentialEquations.jl problem).
        **options: Target options (``connectome=`` for ``jax``).

    Returns:
        The program text.

    Raises:
        ValueError: Unknown target.
        NotImplementedError: The experiment's coupling cannot be rendered.
    """
    try:
        renderer = _RENDERERS[target]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}") from None
    return renderer(model_or_experiment, **options)


__all__ = ["render_code"]

"""Render a model or a whole experiment as a program in another language.

:func:`render_code` turns a registry model or an :class:`~tvbo_pipe.experiment.Experiment`
into source text for one of :data:`TARGETS`, one module per target:

- ``jax`` (:mod:`.jax`): a script of the whole experiment whose model
  equations, coupling, parameter values and integration/noise/delay/monitor
  settings are written out, and whose time loop is tvbo_pipe's own simulator
  (:mod:`.runtime`), so its numbers equal the pipeline's by construction
  (noise included). It needs tvbo_pipe and warns when run with another
  version than the one that rendered it.
- ``python`` (:mod:`.python`): ``dfun(t, y, coupling=..., **parameters)`` of
  one node with NumPy, parameters as keyword arguments with their
  (experiment) values, for ``scipy.integrate.solve_ivp``.
- ``julia`` (:mod:`.julia`): a DifferentialEquations.jl network problem:
  in-place ``dfun!(du, u, p, t)`` with the coupling summed over the weights,
  the parameter named tuple, initial conditions, ``tspan`` and the ``solve``
  call (an ``SDEProblem`` when the experiment has noise). Conduction delays
  are not rendered (it is an ODE/SDE, not a DDE).

The equations are generated from the registry's expression form
(:mod:`tvbo_pipe.models.expressions`), the same definitions the LEMS export
(:mod:`tvbo_pipe.export.lems`) and the LaTeX of the reports use. The command
line (``tvbo-pipe render``) is :func:`~tvbo_pipe.export.render.command.main`.

Example usage:
    >>> from tvbo_pipe.export import render_code
    >>> print(render_code("ReducedWongWang", "python"))
    >>> script = render_code(Experiment.load("config/experiment.yaml"), "jax")
"""

from __future__ import annotations

from .command import main
from .common import TARGETS, as_experiment, as_model, default_experiment
from .jax import MAX_LITERAL_REGIONS, render_jax
from .julia import render_julia
from .python import render_python
from .targets import render_code

__all__ = [
    "MAX_LITERAL_REGIONS",
    "TARGETS",
    "as_experiment",
    "as_model",
    "default_experiment",
    "main",
    "render_code",
    "render_jax",
    "render_julia",
    "render_python",
]

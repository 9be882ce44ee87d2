"""tvbo_pipe: fit whole-brain network models to BIDS datasets.

The user-facing API, importable from the package root::

    from tvbo_pipe import Experiment, load_normative, prepare
    model, state = prepare(Experiment.load("config/experiment.yaml"), load_normative("tvb76"))

Names are imported on first use (PEP 562), so ``import tvbo_pipe`` does not
import JAX: the stage runner must set XLA's thread options before JAX starts.
The optax fit loop is ``tvbo_pipe.fit.optimize.fit`` (``tvbo_pipe.fit`` is the
subpackage).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # specs and data
    "Experiment": "tvbo_pipe.experiment",
    "Connectome": "tvbo_pipe.connectome",
    "InputError": "tvbo_pipe.errors",
    "ConfigError": "tvbo_pipe.errors",
    # models and couplings
    "get_model": "tvbo_pipe.models",
    "get_coupling": "tvbo_pipe.sim.coupling",
    "get_monitor_kind": "tvbo_pipe.sim.monitor_kinds",
    # simulation
    "prepare": "tvbo_pipe.sim.simulator",
    "integrate": "tvbo_pipe.sim.simulator",
    "build_simulator": "tvbo_pipe.sim.simulator",
    "build_init_and_step_fn": "tvbo_pipe.sim.simulator",
    "default_params": "tvbo_pipe.sim.simulator",
    "initial_state": "tvbo_pipe.sim.simulator",
    "draw_noise": "tvbo_pipe.sim.simulator",
    "TimeSeries": "tvbo_pipe.sim.monitors",
    "shard_batch": "tvbo_pipe.sim.sharding",
    "sharded_map": "tvbo_pipe.sim.sharding",
    # connectome and time-series input
    "load_relmat_connectome": "tvbo_pipe.io.connectome",
    "load_tvb_zip": "tvbo_pipe.io.connectome",
    "load_mrtrix_csv": "tvbo_pipe.io.connectome",
    "load_normative": "tvbo_pipe.io.connectome",
    "load_experiment_connectome": "tvbo_pipe.io.connectome",
    "NpzCheckpoint": "tvbo_pipe.io.checkpoint",
    # observations and losses
    "fc": "tvbo_pipe.fit.observations",
    "fcd": "tvbo_pipe.fit.observations",
    "make_fc_loss": "tvbo_pipe.fit.losses",
    "empirical_observations": "tvbo_pipe.fit.empirical",
    "goodness_of_fit": "tvbo_pipe.fit.goodness",
    "evaluate_fitted": "tvbo_pipe.fit.goodness",
    # fitting
    "FreeParameter": "tvbo_pipe.fit.parameters",
    "ParameterSpace": "tvbo_pipe.fit.parameters",
    "parse_free_parameters": "tvbo_pipe.fit.parameters",
    "FitProblem": "tvbo_pipe.fit.problem",
    "build_problem": "tvbo_pipe.fit.problem",
    "sample_points": "tvbo_pipe.fit.explore",
    "evaluate": "tvbo_pipe.fit.explore",
    "make_evaluator": "tvbo_pipe.fit.explore",
    "make_step": "tvbo_pipe.fit.optimize",
    "FitResult": "tvbo_pipe.fit.optimize",
    # robustness and verdict of a fit (the reports)
    "fresh_seed_fc": "tvbo_pipe.fit.robustness",
    "sc_fc_correlation": "tvbo_pipe.fit.robustness",
    "subject_verdict": "tvbo_pipe.export.verdict",
    "fit_multistart": "tvbo_pipe.fit.multistart",
    "FitOptions": "tvbo_pipe.fit.options",
    "fit_cmaes": "tvbo_pipe.fit.cmaes",
    "fit_profile": "tvbo_pipe.fit.profile",
    "laplace": "tvbo_pipe.fit.uncertainty",
    "MappedSpace": "tvbo_pipe.fit.maps",
    "fc_gradient": "tvbo_pipe.fit.maps",
    "make_screen": "tvbo_pipe.fit.screening",
    "energy_distance": "tvbo_pipe.fit.losses",
    # outputs
    "load_fitted": "tvbo_pipe.export.readback",
    "open_derivative": "tvbo_pipe.export.readback",
    "render_code": "tvbo_pipe.export.render",
    "to_lems": "tvbo_pipe.export.lems",
    "eq_lems": "tvbo_pipe.export.lems",
    "param_lems": "tvbo_pipe.export.lems",
    "experiment_from_lems": "tvbo_pipe.export.lems",
    "bids_path": "tvbo_pipe.export.paths",
    # the workflow's stages, declared once
    "STAGES": "tvbo_pipe.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tvbo_pipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

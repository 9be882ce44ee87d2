"""What the openMINDS provenance records of one subject-session, read from its files.

:func:`subject_run` collects, through the derivative layout, the files each
stage read and wrote (stages that did not run are left out), their run
times, the configuration sections they used and a one-line description
(:func:`stage_text`, which names the method the configuration chose), as an
:class:`~tvbo_pipe.export.openminds.SubjectRun` for
:func:`~tvbo_pipe.export.openminds.build_collection`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..experiment import Experiment
from ..models import get_model
from . import layout
from .openminds import Stage, SubjectRun

#: One line per stage whose text does not depend on the configuration.
STAGE_TEXT = {
    "connectome": "Load, check and normalise the structural connectome.",
    "empirical_fc": "Empirical FC (and FCD) of the functional runs.",
    "explore": "Loss of the simulated FC on a grid of global parameters.",
    "simulate_fitted": "Simulation with the fitted values: BOLD, FC, FCD, goodness of fit.",
}

#: Fit methods (``fit_global.method``, ``fit_regional.method``) in words.
FIT_METHOD_TEXT = {
    "adam": "Gradient-based fit (optax)",
    "multistart": "Gradient-based fits (optax) from several starts, the best kept,",
    "cmaes": "Derivative-free fit (CMA-ES, evosax)",
    "profile": "Derivative-free profile scan (one parameter scanned finely at each grid point of the others)",
}


def stage_text(stage: str, config: Mapping[str, Any] | None = None) -> str:
    """One line saying what ``stage`` did; a fit stage's names its method (``config['method']``)."""
    if stage in ("fit_global", "fit_regional"):
        method = (config or {}).get("method", "adam")
        which = "global" if stage == "fit_global" else "regional"
        return f"{FIT_METHOD_TEXT[method]} of the {which} parameters."
    return STAGE_TEXT[stage]


def _json(path) -> dict:
    return json.loads(Path(path).read_text())


def raw_sources(sidecar_path, bids_dir) -> list[Path]:
    """The source dataset files a sidecar's ``Sources`` name (``bids:raw:...``)."""
    out = []
    if bids_dir is None or not Path(sidecar_path).is_file():
        return out
    for uri in _json(sidecar_path).get("Sources", []):
        if isinstance(uri, str) and uri.startswith("bids:raw:"):
            p = Path(bids_dir) / uri[len("bids:raw:") :]
            if p.is_file():
                out.append(p)
    return out


def subject_run(
    root: str | Path, prefix: str, *, atlas: str, params: Mapping[str, Any]
) -> SubjectRun:
    """The :class:`~tvbo_pipe.export.openminds.SubjectRun` of one subject-session.

    Files are found through the layout; stages that did not run are left out.
    ``params``: ``experiment``, ``bids_dir``, ``task`` (the functional runs'
    task label) and the sections the stages used
    (``connectome``, ``empirical_fc``, ``explore``, ``fit_global``,
    ``fit_regional``, ``simulation``).
    """

    def p(name: str) -> Path:
        return layout.subject_path(name, root, prefix=prefix, atlas=atlas, task=params["task"])

    def existing(*names: str) -> list[Path]:
        return [p(n) for n in names if p(n).is_file()]

    bids_dir = params.get("bids_dir")
    sc = existing("sc_weights", "sc_weights_json", "sc_lengths", "sc_lengths_json")
    fc = existing("empirical_fc", "empirical_fc_json", "empirical_fcd", "empirical_fcd_json")
    stages = [
        Stage(
            "analysis",
            "connectome",
            stage_text("connectome"),
            raw_sources(p("sc_weights_json"), bids_dir) or sc[:1],
            sc,
            configuration={"connectome": params.get("connectome")},
        ),
        Stage(
            "analysis",
            "empirical_fc",
            stage_text("empirical_fc"),
            raw_sources(p("empirical_fc_json"), bids_dir) + sc[:1],
            fc,
            configuration={"empirical_fc": params.get("empirical_fc")},
        ),
    ]
    sim_inputs = [*existing("sc_weights", "sc_lengths"), *existing("empirical_fc")]
    previous: list[Path] = []
    for stage, main, extra in (
        ("explore", "explore_best", ("explore_table", "explore_heatmap")),
        ("fit_global", "fit_global_params", ("fit_global_trajectory",)),
        ("fit_regional", "fit_regional_params", ("fit_regional_trajectory",)),
    ):
        if not p(main).is_file():
            continue
        stages.append(
            Stage(
                "optimization",
                stage,
                stage_text(stage, params.get(stage)),
                sim_inputs + previous,
                existing(main, *extra),
                seconds=_json(p(main)).get("Seconds"),
                configuration={stage: params.get(stage)},
            )
        )
        previous = [p(main)]
    stages.append(
        Stage(
            "simulation",
            "simulate_fitted",
            stage_text("simulate_fitted"),
            sim_inputs + existing("empirical_fcd") + previous,
            existing(
                "gof",
                "sim_bold",
                "sim_bold_json",
                "sim_fc",
                "sim_fc_json",
                "sim_fcd",
                "sim_fcd_json",
                "fitted_experiment",
            ),
            seconds=_json(p("gof")).get("Seconds"),
            configuration={"simulation": params.get("simulation")},
        )
    )
    gof = _json(p("gof"))
    exp = Experiment.from_dict(params["experiment"])
    model = get_model(exp.model.name)
    return SubjectRun(
        prefix=prefix,
        model=exp.model.name,
        model_description=model.description,
        fitted=gof.get("Values", {}),
        stages=stages,
        configuration={k: v for k, v in params.items() if k != "experiment"}
        | {"experiment": params["experiment"]},
    )

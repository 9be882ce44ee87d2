"""Reading the derivative dataset back: pybids indexing and fitted models.

:func:`open_derivative` indexes an output dataset with pybids (BEP017's
``meas`` entity included), so every output is found by its entities::

    layout = open_derivative("results/tvbo_pipe")
    layout.get(subject="01", suffix="relmat", meas="pearsonCorrelation",
               desc="simulated", extension=".dense.tsv")

:func:`load_fitted` returns a subject's fitted model ready to simulate again:
the experiment with the fitted values (``*_desc-fitted_experiment.yaml``,
SC paths relative to it), the connectome, and a problem rebuilt exactly as
the final simulation was (same duration, BOLD period, transient, warm-up and
seed, as recorded in ``*_desc-fitted_param.json``), so that
``load_fitted(...).simulated_fc()`` equals the stored simulated FC.

Example usage:
    >>> fitted = load_fitted("results/tvbo_pipe", "01")
    >>> fitted.experiment.model.parameters["w"]
    >>> bold = fitted.simulate()          # (n_samples, n_regions)
    >>> fc = fitted.simulated_fc()        # after the transient
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError


def open_derivative(root: str | Path):
    """Index a tvbo_pipe derivative dataset with pybids (no validation)."""
    from bids import BIDSLayout, BIDSLayoutIndexer

    from ..io.bids import EXTRA_ENTITIES

    root = Path(root)
    if not (root / "dataset_description.json").is_file():
        raise InputError("not a BIDS dataset: dataset_description.json is missing", path=root)
    return BIDSLayout(
        str(root),
        validate=False,
        config=["bids", "derivatives", EXTRA_ENTITIES],
        indexer=BIDSLayoutIndexer(index_metadata=False),
    )


def _one(layout, what: str, **query) -> Path:
    hits = layout.get(return_type="filename", **query)
    if len(hits) != 1:
        raise InputError(
            f"expected one {what} matching {query}, found {len(hits)}", path=layout.root
        )
    return Path(hits[0])


@dataclass
class FittedSubject:
    """A subject's fitted model, rebuilt from the derivative.

    Attributes:
        experiment: The experiment with the fitted values (SC paths absolute).
        values: The fitted values (parameter path -> value).
        record: The ``*_desc-fitted_param.json`` record.
        problem: The rebuilt :class:`~tvbo_pipe.fit.problem.FitProblem`, its
            state warmed up and set to the fitted values.
        labels: Region labels.
    """

    experiment: Any
    values: dict
    record: dict
    problem: Any
    labels: tuple[str, ...]

    def simulate(self, key=None) -> np.ndarray:
        """The simulated BOLD ``(n_samples, n_regions)`` (same noise as the pipeline by default)."""
        import jax

        with jax.enable_x64(self.record["Simulation"]["EnableX64"]):
            bold = self.problem.bold(self.problem.state, key)
            return np.asarray(bold.data[:, 0], dtype=float)

    def simulated_fc(self, key=None) -> np.ndarray:
        """The FC of :meth:`simulate` after the transient, as the pipeline computes it."""
        import jax

        from ..fit import observations as obs

        series = self.simulate(key)
        with jax.enable_x64(self.record["Simulation"]["EnableX64"]):
            return np.asarray(obs.fc(series[self.problem.transient :]))


def load_fitted(
    root: str | Path, subject: str, session: str | None = None, *, layout=None
) -> FittedSubject:
    """Load a subject's derivative and return the fitted model ready to simulate.

    Args:
        root: The derivative dataset (``output_dir``).
        subject: Subject label, with or without ``sub-``.
        session: Session label, with or without ``ses-``, if the dataset has sessions.
        layout: An index from :func:`open_derivative` to reuse.

    Raises:
        InputError: A file is missing or more than one matches.
    """
    import jax
    import jax.numpy as jnp

    from ..experiment import Experiment
    from ..fit.problem import build_problem
    from ..io.connectome import load_connectome_outputs
    from ..io.relmat import read_relmat

    layout = layout or open_derivative(root)
    query: dict[str, Any] = {"subject": subject.removeprefix("sub-")}
    if session is not None:
        query["session"] = session.removeprefix("ses-")
    yaml_path = _one(
        layout, "fitted experiment", suffix="experiment", desc="fitted", extension=".yaml", **query
    )
    record_path = _one(
        layout, "fitted parameters", suffix="param", desc="fitted", extension=".json", **query
    )
    fc_path = _one(
        layout,
        "empirical FC",
        suffix="relmat",
        meas="pearsonCorrelation",
        desc="empirical",
        extension=".dense.tsv",
        **query,
    )
    record = json.loads(record_path.read_text())
    sim = record["Simulation"]
    experiment = Experiment.load(yaml_path)
    conn = load_connectome_outputs(experiment.connectivity.weights, experiment.connectivity.lengths)
    fc_emp, _, _ = read_relmat(fc_path)
    warm = sim["WarmUpParameters"]
    start = replace(
        experiment,
        model=replace(experiment.model, parameters=warm["model"]),
        coupling=replace(experiment.coupling, parameters=warm["coupling"]),
        connectivity=replace(
            experiment.connectivity, conduction_speed=float(warm["conduction_speed"])
        ),
    )
    start = Experiment.from_dict(start.to_dict())  # normalised values, validated
    problem = build_problem(
        start,
        conn,
        fc_emp,
        transient_ms=1000.0 * sim["TransientSeconds"],
        warmup=sim["WarmUp"],
        enable_x64=sim["EnableX64"],
    )
    if problem.transient != sim["TransientSamples"]:
        raise InputError(
            f"rebuilt transient {problem.transient} differs from the recorded "
            f"{sim['TransientSamples']} samples",
            path=record_path,
        )
    # the fitted values, read from the experiment where it holds them
    values = {}
    for path, recorded in record["Values"].items():
        section, name = path.split(".", 1)
        if section == "model":
            values[path] = experiment.model.parameters[name]
        elif section == "coupling":
            values[path] = experiment.coupling.parameters[name]
        else:
            values[path] = recorded
    state = dict(problem.state)
    with jax.enable_x64(sim["EnableX64"]):
        for path, value in values.items():
            section, name = path.split(".", 1)
            dtype = state[section][name].dtype
            state[section] = {**state[section], name: jnp.asarray(value, dtype=dtype)}
    problem.state = state
    return FittedSubject(experiment, values, record, problem, conn.labels)


__all__ = ["FittedSubject", "load_fitted", "open_derivative"]

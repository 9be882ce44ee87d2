"""The BIDS derivative dataset: BEP034 model files, sidecar keys and dataset files.

What BIDS defines (``dataset_description.json``, ``README.md``,
``participants.tsv``, ``code/``) is written as the specification says; what
it does not define yet follows the drafts: BEP017 for relationship matrices
and node maps, BEP034 for computational models:

- ``model/desc-<Model>_eq.xml``: the model's equations in LEMS, once per
  dataset (:func:`~tvbo_pipe.export.lems.eq_lems` of the configured
  experiment);
- ``sub-<id>/model/sub-<id>_desc-fitted_param.xml``: the subject's parameter
  values as LEMS ``Component`` elements that ``Include`` the equations
  (:func:`param_xml`), with a JSON record of the fitted values, their bounds,
  which are regional and how the final simulation was set up
  (:func:`fitted_param_record`);
- every simulated output's sidecar names them (:func:`simulation_sidecar`):
  ``ModelEq``, ``ModelParam``, ``Connectivity``, ``SourceCodeRepository``,
  ``MachineCodeRepository`` and ``Sources``, as BIDS URIs (``bids::...``).

Everything else in the dataset is listed in its ``.bidsignore``
(:data:`~tvbo_pipe.export.layout.BIDSIGNORE`), so bids-validator-deno checks
the rest and reports no errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..experiment import Experiment
from . import layout

#: Where the source code lives (``GeneratedBy.CodeURL``, ``SourceCodeRepository``).
CODE_URL = "https://github.com/tvbo-pipe/tvbo_pipe"

#: The fit stages in the order they run, with the output holding their values.
FIT_STAGES = (
    ("explore", "explore_best"),
    ("fit_global", "fit_global_params"),
    ("fit_regional", "fit_regional_params"),
)


# --------------------------------------------------------------------------- BEP034
def simulation_sidecar(
    output: str | Path,
    *,
    name: str,
    prefix: str,
    model: str,
    connectivity: Sequence[str | Path | None],
    extra_sources: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """The BEP034 keys of a simulated output's JSON sidecar.

    Args:
        output: Path of the simulated output (its place gives the dataset root).
        name: Its output name in :mod:`~tvbo_pipe.export.layout` (``sim_bold``, ...).
        prefix: Subject-session prefix (``sub-01`` or ``sub-01_ses-1``).
        model: Model name (the ``desc-`` of the equations file).
        connectivity: The SC weights and tract lengths files used.
        extra_sources: Further files of the dataset the output was made from.

    Returns:
        ``ModelEq``, ``ModelParam``, ``Connectivity``, ``SourceCodeRepository``,
        ``SourceCodeVersion``, ``MachineCodeRepository`` and ``Sources``, every
        file as a BIDS URI relative to this dataset (``bids::...``).
    """
    root = layout.dataset_root(name, output, prefix=prefix)
    param = layout.bids_uri(
        layout.subject_path("fitted_param_xml", root, prefix=prefix, atlas="", task=None), root
    )
    conn = [layout.bids_uri(p, root) for p in connectivity if p]
    sources = [param, *conn, *(layout.bids_uri(p, root) for p in extra_sources)]
    return {
        "ModelEq": layout.bids_uri(layout.dataset_path("model_eq", root, model=model), root),
        "ModelParam": param,
        "Connectivity": conn,
        "SourceCodeRepository": CODE_URL,
        "SourceCodeVersion": __version__,
        "MachineCodeRepository": layout.bids_uri(
            layout.dataset_path("machine_code", root, model=model), root
        ),
        "Sources": list(dict.fromkeys(sources)),
    }


def param_xml(experiment: Experiment, *, eq_file: str) -> str:
    """The BEP034 parameter file of ``experiment``: LEMS ``Component`` elements
    that ``Include`` the equations file ``eq_file`` (a path relative to the
    parameter file); see :func:`~tvbo_pipe.export.lems.param_lems`, and
    :func:`~tvbo_pipe.export.lems.experiment_from_lems` to read it back.
    """
    from .lems import param_lems

    return param_lems(experiment, eq_file=eq_file)


def _meta(experiment: Experiment, path: str):
    """The registry metadata (unit, description, default) of a parameter path."""
    from ..models import get_model
    from ..sim.coupling import get_coupling

    section, name = path.split(".", 1)
    params = ()
    if section == "model":
        params = get_model(experiment.model.name).parameters
    elif section == "coupling":
        params = get_coupling(experiment.coupling.name).parameters
    for p in params:
        if p.name == name:
            return p
    return None


def fitted_param_record(
    experiment: Experiment,
    stage_results: Sequence[tuple[str, Mapping[str, Any], str]],
    *,
    fitted: Mapping[str, Any],
    warmup_experiment: Experiment,
    simulation: Mapping[str, Any],
    transient_samples: int,
    sources: Sequence[str],
) -> dict[str, Any]:
    """The JSON record next to ``*_desc-fitted_param.xml``.

    Args:
        experiment: The fitted experiment (as simulated).
        stage_results: ``(stage, stage JSON, BIDS URI of that JSON)`` of every
            fit stage that ran, in order.
        fitted: Every fitted value (``AllValues`` of the last stage).
        warmup_experiment: The experiment whose warm-up simulation gave the
            initial state of the final simulation (the configured values).
        simulation: The ``simulation`` configuration the final run used.
        transient_samples: BOLD samples discarded before the FC.
        sources: BIDS URIs of the files the record is made from.

    Returns:
        ``Parameters`` (one entry per fitted parameter: value, bounds,
        regional, unit, description, stage), ``Values``, ``Stages``,
        ``Simulation`` (how to rebuild the final simulation) and ``Sources``.
    """
    bounds: dict[str, dict] = {}
    stage_of: dict[str, str] = {}
    stages = []
    for stage, result, uri in stage_results:
        for fp in result.get("FreeParameters", []):
            bounds[fp["path"]] = fp
            stage_of[fp["path"]] = stage
        entry = {"Stage": stage, "Source": uri, "Loss": result.get("Loss")}
        for key in ("StartLoss", "Steps", "StopReason", "Method", "Points", "Optimizer"):
            if key in result:
                entry[key] = result[key]
        stages.append(entry)
    parameters = []
    for path in sorted(fitted):
        value = fitted[path]
        fp = bounds.get(path, {})
        meta = _meta(experiment, path)
        parameters.append(
            {
                "Name": path,
                "Value": value,
                "Regional": isinstance(value, list | tuple),
                "LowerBound": fp.get("low"),
                "UpperBound": fp.get("high"),
                "Stage": stage_of.get(path),
                "Units": meta.unit if meta is not None else "",
                "Description": meta.description if meta is not None else "",
            }
        )
    warm = warmup_experiment
    return {
        "Model": experiment.model.name,
        "Coupling": experiment.coupling.name,
        "Parameters": parameters,
        "Values": dict(fitted),
        "Stages": stages,
        "Simulation": {
            "Description": "The final simulation: the experiment below (integration, "
            "monitors, seed) warmed up with WarmUpParameters, then run with the fitted values.",
            "DurationMs": experiment.integration.duration,
            "DtMs": experiment.integration.dt,
            "Seed": experiment.integration.seed,
            "BoldPeriodMs": experiment.monitors[0].period,
            "TransientSeconds": simulation["transient_s"],
            "TransientSamples": transient_samples,
            "WarmUp": bool(simulation["warmup"]),
            "EnableX64": bool(simulation["enable_x64"]),
            "Realisations": int(simulation.get("realisations", 1)),
            "WarmUpParameters": {
                "model": dict(warm.model.parameters),
                "coupling": dict(warm.coupling.parameters),
                # JSON has no infinity: "inf" (no delays) is written as text
                "conduction_speed": _finite_or_text(warm.connectivity.conduction_speed),
            },
        },
        "Sources": list(sources),
    }


def _finite_or_text(x: float) -> float | str:
    import math

    return x if math.isfinite(x) else str(x)


# --------------------------------------------------------------------------- dataset files
def nodeindices_rows(labels: Sequence[str]) -> list[list[Any]]:
    """Rows of the node map, a BIDS ``*_dseg.tsv`` look-up table (``index``, ``name``):
    1-based indices in matrix order."""
    return [[k + 1, label] for k, label in enumerate(labels)]


def bidsignore_text() -> str:
    """The derivative's ``.bidsignore``: :data:`~tvbo_pipe.export.layout.BIDSIGNORE`."""
    head = (
        "# File kinds no released BIDS version defines (BIDS 1.11): BEP017 relationship\n"
        "# matrices, region time series, BEP034 model files, figures, reports, provenance.\n"
        "# To have bids-validator-deno check these files too, run it on a copy without\n"
        "# this file: bids-validator-deno --config code/bids_validator_config.json COPY\n"
    )
    return head + "\n".join(layout.BIDSIGNORE) + "\n"


def pybids_config() -> dict[str, Any]:
    """The pybids configuration of the entities BIDS does not define (``meas``, ``stat``, ``seg``).

    Written to ``code/pybids_config.json``; with it pybids queries every
    output by its entities (``meas="pearsonCorrelation"`` tells the FC from
    the FCD, ``meas="fcd"``).
    """
    from ..io.bids import EXTRA_ENTITIES

    return EXTRA_ENTITIES


def fcd_window_keys(onsets_s: Sequence[float], length_s: float, step_s: float) -> dict[str, Any]:
    """Sidecar keys of an FCD relmat, whose rows and columns are time windows, not regions.

    Args:
        onsets_s: Onset of every window (row), in s from the first sample of
            the time series it was cut from.
        length_s: Window length in s (whole samples).
        step_s: Step between window onsets in s (whole samples).

    Returns:
        ``WindowOnsets``, ``WindowLength``, ``WindowStep`` (all in s, as
        ``WindowUnits`` says) and ``Units`` of the values: ``"1"``, the FCD
        being Pearson correlations (dimensionless).
    """
    return {
        "MatrixAxes": "time windows (rows and columns in WindowOnsets order)",
        "WindowOnsets": [round(float(t), 9) for t in onsets_s],
        "WindowLength": round(float(length_s), 9),
        "WindowStep": round(float(step_s), 9),
        "WindowUnits": "s",
        "Units": "1",
    }


def source_subjects(source_dir: str | Path) -> list[str]:
    """The subjects of the source dataset (labels without ``sub-``), sorted: its
    ``sub-*`` folders and the rows of its ``participants.tsv``."""
    root = Path(source_dir)
    subjects = {d.name.removeprefix("sub-") for d in root.glob("sub-*") if d.is_dir()}
    src = root / "participants.tsv"
    if src.is_file():
        lines = [ln.split("\t") for ln in src.read_text().splitlines() if ln.strip()]
        if lines and lines[0][0] == "participant_id":
            subjects |= {row[0].removeprefix("sub-") for row in lines[1:] if row[0]}
    return sorted(subjects)


def participants(
    subjects: Sequence[str], source_dir: str | Path | None
) -> tuple[list[str], list[list[Any]], dict]:
    """``participants.tsv`` header, rows and ``participants.json`` of the derivative.

    Rows are ``subjects`` (labels without ``sub-``), sorted, with the columns
    of the source dataset's ``participants.tsv`` when there is one (its
    ``participants.json`` descriptions are kept).
    """
    import json

    header = ["participant_id"]
    extra: dict[str, list[str]] = {}
    meta: dict = {
        "participant_id": {"Description": "Participant label (sub-<label>) of the source dataset."}
    }
    if source_dir is not None:
        src = Path(source_dir) / "participants.tsv"
        if src.is_file():
            lines = [ln.split("\t") for ln in src.read_text().splitlines() if ln.strip()]
            if lines and lines[0][0] == "participant_id":
                header = lines[0]
                extra = {row[0]: row for row in lines[1:] if len(row) == len(header)}
        src_json = Path(source_dir) / "participants.json"
        if src_json.is_file():
            meta.update({k: v for k, v in json.loads(src_json.read_text()).items() if k in header})
    for col in header:  # BIDS recommends a description of every column
        meta.setdefault(col, {"Description": f"{col} (from the source dataset's participants.tsv)"})
    if "Description" not in header:  # and of every derivative file (CommonDerivativeFields)
        meta["Description"] = (
            "Participants of the source dataset; those processed have a sub-<label> folder "
            f"here (and a row in {_dataset_file('group_table')})."
        )
    rows = []
    for sub in sorted(set(subjects)):
        pid = f"sub-{sub}"
        rows.append(extra.get(pid, [pid] + ["n/a"] * (len(header) - 1)))
    return header, rows, meta


def _dataset_file(name: str) -> str:
    """The path of dataset-level output ``name`` relative to the root (``group/...``)."""
    return layout.dataset_path(name, "", model="{model}").as_posix().replace("{model}", "<model>")


def _folder(name: str) -> str:
    """The folder of subject output ``name``: ``sub-<id>/dwi/``."""
    datatype = layout.SUBJECT_OUTPUTS[name].datatype
    return f"sub-<id>/{datatype}/" if datatype else "sub-<id>/"


def _entity(name: str, key: str) -> str:
    """Entity ``key`` of output ``name`` as it appears in the file name (``meas-fcd``)."""
    return f"{key}-{layout.SUBJECT_OUTPUTS[name].entities[key]}"


def readme_text(
    config: Mapping[str, Any], *, subjects: Sequence[str], model: str | None, source_name: str
) -> str:
    """The derivative's ``README.md``: what it holds and how it was made.

    Every file name, folder and entity it spells comes from
    :mod:`tvbo_pipe.export.layout`.
    """
    fit = [s for s in ("explore", "fit_global", "fit_regional") if config[s]["enabled"]]
    g, ds = layout.file_glob, _dataset_file
    sim_fc = layout.SUBJECT_OUTPUTS["sim_fc"]
    query = ", ".join(
        f"{k}={v!r}".replace("'", '"')
        for k, v in (
            ("meas", sim_fc.entities["meas"]),
            ("desc", sim_fc.entities["desc"]),
            ("extension", sim_fc.extension),
        )
    )
    lines = [
        "# tvbo_pipe: fitted whole-brain network models",
        "",
        f"A BIDS derivative dataset written by tvbo_pipe {__version__} ({CODE_URL}) from "
        f"`{source_name}`: for every subject (and session) the structural connectome used, "
        "the empirical functional connectivity (FC), and a whole-brain network model "
        + (f"({model}) " if model else "")
        + "fitted to that FC, its simulated BOLD, FC and FCD.",
        "",
        f"- Participants of the source dataset: {len(subjects)} (`{ds('participants')}`); the "
        "fitted subject-sessions are the `sub-<id>/` folders (one row each in "
        f"`{ds('group_table')}`)",
        f"- Atlas: {config['atlas']}",
        f"- Fit stages: {', '.join(fit) if fit else 'none'}"
        + (
            "; final simulation with the fitted values"
            if config["simulate_fitted"]["enabled"]
            else ""
        ),
        "",
        "## Layout",
        "",
        f"- `{_folder('sc_weights')}`: SC weights and tract lengths used (BEP017 "
        f"`{g('sc_weights')}` with JSON sidecars) and the node map "
        f"`{g('sc_nodeindices', 'atlas')}` (BIDS look-up table: `index`, `name` in matrix "
        "order).",
        f"- `{_folder('sim_fc')}`: empirical and simulated FC (`{_entity('sim_fc', 'meas')}`) "
        f"and FCD (`{_entity('sim_fcd', 'meas')}`, window x window: `WindowOnsets` in the "
        "sidecar) relmats and the simulated BOLD time series "
        f"(`{g('sim_bold', 'desc')}`, one column per region; the sidecar gives the sampling "
        "period, units and region labels).",
        f"- `{_folder('explore_table')}`: the exploration grid and every fit stage's "
        f"trajectory (`{g('explore_table')}`, `{g('fit_global_trajectory')}`, their JSON "
        "sidecars hold the stage's values), the fitted parameters as BEP034 LEMS "
        f"(`{g('fitted_param_xml', 'desc')}`) with a JSON record (values, bounds, regional "
        "or global), and the experiment with the fitted values "
        f"(`{g('fitted_experiment', 'desc')}`; its sidecar holds the goodness of fit).",
        f"- `{_folder('fig_fc')}` and `{_folder('report')}{g('report', 'desc')}`: the "
        "subject's report.",
        f"- `{_folder('provenance')}`: openMINDS provenance (JSON-LD) of the subject's fit.",
        f"- `{Path(ds('model_eq')).parent}/`: the model equations (BEP034 "
        f"`{g('model_eq', 'desc')}`, LEMS) and a Markdown description of the model.",
        f"- `{Path(ds('group_table')).parent}/`: one row per subject (fitted global "
        "parameters, goodness of fit, run time) and the group report.",
        f"- `{Path(ds('code_config')).parent}/`: the resolved configuration, the experiment, "
        "a JAX script of the experiment (run by tvbo_pipe's simulator), the pybids entity "
        "configuration and a bids-validator configuration.",
        "",
        f"Files BIDS does not define yet are listed in `{ds('bidsignore')}`. Find outputs "
        f"with pybids, its configuration extended by `{ds('code_pybids_config')}` (entity "
        "`meas`):",
        "",
        "```python",
        "from bids import BIDSLayout",
        'layout = BIDSLayout(root, validate=False, config=["bids", "derivatives", '
        f'f"{{root}}/{ds("code_pybids_config")}"])',
        f"layout.get({query})",
        "```",
        "",
        "Reload a subject's fitted model with "
        "`tvbo_pipe.export.readback.load_fitted(<this folder>, '01')`.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- group
def group_row(
    prefix: str,
    fitted: Mapping[str, Any],
    gof: Mapping[str, Any],
    stage_seconds: Mapping[str, float],
) -> dict[str, Any]:
    """One subject-session's row of the group table.

    Global (scalar) fitted values go in a column each; regional ones as
    ``<path>_mean`` and ``<path>_std``.
    """
    import numpy as np

    sub, _, ses = prefix.partition("_ses-")
    row: dict[str, Any] = {"participant_id": sub, "session_id": f"ses-{ses}" if ses else "n/a"}
    for path in sorted(fitted):
        v = np.asarray(fitted[path], dtype=float)
        if v.ndim == 0:
            row[path] = float(v)
        else:
            row[f"{path}_mean"] = float(v.mean())
            row[f"{path}_std"] = float(v.std())
    for key, value in sorted(gof.get("Fitted", {}).items()):
        row[f"fitted_{key}"] = value
    for key, value in sorted(gof.get("Start", {}).items()):
        row[f"start_{key}"] = value
    for stage, secs in stage_seconds.items():
        row[f"seconds_{stage}"] = secs
    row["seconds_total"] = round(sum(stage_seconds.values()), 3)
    return row


def group_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]], dict]:
    """Header, rows and column descriptions of the group TSV (missing cells: ``n/a``)."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    table = [[row.get(k) for k in header] for row in rows]
    desc: dict[str, Any] = {}
    for k in header:
        if k == "participant_id":
            desc[k] = {"Description": "Subject (sub-<label>)."}
        elif k == "session_id":
            desc[k] = {"Description": "Session (ses-<label>), n/a without sessions."}
        elif k.startswith("seconds_"):
            desc[k] = {"Description": f"Run time of {k[8:]} (wall clock)", "Units": "s"}
        elif k.startswith(("fitted_", "start_")):
            when, _, what = k.partition("_")
            desc[k] = {
                "Description": f"Goodness of fit {what} at the {'fitted' if when == 'fitted' else 'starting'} values"
            }
        elif k.endswith(("_mean", "_std")):
            desc[k] = {
                "Description": f"{k.rsplit('_', 1)[1]} over regions of fitted {k.rsplit('_', 1)[0]}"
            }
        else:
            desc[k] = {"Description": f"Fitted global parameter {k}"}
    return header, table, desc

"""The workflow, declared once: its stages, what each reads and writes, its resources.

Every Snakemake rule of a stage is made from its :class:`Stage` here
(``workflow/rules/stages.smk``): inputs, outputs, params (the JSON of the
config sections the stage reads) and resources. Each output port carries its
file (:mod:`tvbo_pipe.export.files`: BIDS entities, or a name BIDS fixes), from
which :mod:`tvbo_pipe.export.layout` derives every path. Which files a
configuration writes (:func:`written`, :func:`enabled_outputs`) follows from
the same declaration. Adding an output or a stage means adding it here and
writing it in its stage function (:mod:`tvbo_pipe.stages`).

This module imports neither JAX nor pybids: the Snakefile reads it at DAG
time, for every ``snakemake`` call and every cluster job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .export.files import FCD, FUNC, PEARSON, SC, FixedFile, Output, bids, relmat

#: A condition on the validated configuration.
Condition = Callable[[Mapping[str, Any]], bool]


def always(config: Mapping[str, Any]) -> bool:
    """Every configuration."""
    return True


def fcd_enabled(config: Mapping[str, Any]) -> bool:
    """The empirical and simulated FCD are computed (``empirical_fc.fcd.enabled``)."""
    return bool(config["empirical_fc"]["fcd"]["enabled"])


def holdout(config: Mapping[str, Any]) -> bool:
    """Some runs are held out of the fitted FC (``empirical_fc.holdout_runs``)."""
    return bool(config["empirical_fc"]["holdout_runs"])


def fcd_weight(config: Mapping[str, Any]) -> bool:
    """The loss has an FCD term (``observation.weights.fcd`` > 0)."""
    return float(config["observation"]["weights"].get("fcd", 0.0)) > 0


def fcd_loss(config: Mapping[str, Any]) -> bool:
    """The loss has an FCD term and the empirical FCD is computed."""
    return fcd_weight(config) and fcd_enabled(config)


def enabled(stage: str) -> Condition:
    """The stage's ``enabled`` switch (``explore.enabled``, ...)."""

    def condition(config: Mapping[str, Any]) -> bool:
        return bool(config[stage]["enabled"])

    condition.__name__ = f"{stage}_enabled"
    return condition


exporting = enabled("simulate_fitted")


def map_filters(stage: str) -> Condition:
    """Some of the stage's parameters are tied to maps given as pybids filters
    (``{maps: [{desc: myelin, ...}]}``): the stage finds them per subject in ``bids_dir``."""

    def condition(config: Mapping[str, Any]) -> bool:
        for spec in config[stage]["parameters"].values():
            maps = (spec.get("maps") or []) if isinstance(spec, Mapping) else []
            maps = [maps] if isinstance(maps, Mapping) else maps
            if any(isinstance(m, Mapping) for m in maps):
                return True
        return False

    condition.__name__ = f"{stage}_map_filters"
    return condition


@dataclass(frozen=True)
class Port:
    """One input or output of a stage.

    Attributes:
        key: The name the stage function reads (``inputs[key]``,
            ``outputs[key]``) and the rule's input/output name.
        output: The output this port is (the name :mod:`tvbo_pipe.export.layout`
            and the other stages' inputs use); ``None`` for raw inputs
            (``unit``) and the start values (``start``).
        unit: For raw inputs: the :class:`tvbo_pipe.io.bids.Unit` attribute
            (``sc_weights``, ``functional``, ``dseg``, ``region_maps``); left
            out when empty.
        start: The result of the last enabled fitting stage before this one
            (the values it starts from); left out when there is none.
        when: For outputs, the condition under which it is written; for
            inputs, a further condition (an input that is an output is only
            there when that output is written).
        each_subject: An input that is a list: this output of every
            subject-session (dataset-level stages).
        report: ``snakemake --report`` category of an output, or ``None``.
        file: For outputs (and only there): the file it is, by its BIDS
            entities (per subject-session, or dataset-level), or the fixed
            name of a dataset-level file.
    """

    key: str
    output: str | None = None
    unit: str | None = None
    start: bool = False
    when: Condition = always
    each_subject: bool = False
    report: str | None = None
    file: Output | FixedFile | None = None


@dataclass(frozen=True)
class Section:
    """One entry of a stage's params: a config section, or a value of the run.

    Attributes:
        key: The key in the stage's params.
        path: Dotted path of the config section (``inputs.sc``,
            ``empirical_fc.fcd``), or ``None`` for ``value``.
        keys: Only these keys of the section (the rest reruns nothing).
        drop: The section without these keys.
        value: A value of the run instead of a config section, from the
            context :func:`params` gets (``experiment``, ``prefixes``,
            ``task``, ``model``) and the config.
        when: The entry is there only under this condition.
    """

    key: str
    path: str | None = None
    keys: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()
    value: Callable[[Mapping[str, Any], Mapping[str, Any]], Any] | None = None
    when: Condition = always


@dataclass(frozen=True)
class Resources:
    """What one job of a stage asks the scheduler for, on its first attempt.

    On the retry (Snakemake's ``attempt`` 2, see the SLURM profile's
    ``retries``) memory and run time are scaled by ``attempt``.

    Attributes:
        threads: CPU threads.
        mem_mb: Memory in MB.
        runtime: Wall time in minutes.
    """

    threads: int = 1
    mem_mb: int = 2000
    runtime: int = 30

    def at(self, attempt: int) -> dict[str, int]:
        """``mem_mb`` (MB) and ``runtime`` (min) for attempt ``attempt`` (1, 2, ...)."""
        return {"mem_mb": self.mem_mb * attempt, "runtime": self.runtime * attempt}


@dataclass(frozen=True)
class Stage:
    """One workflow stage: one Snakemake rule and one :mod:`tvbo_pipe.stages` function.

    Attributes:
        name: The rule name and ``tvbo-pipe run NAME``.
        per_subject: One job per subject-session (else one per dataset).
        inputs: What the stage reads.
        outputs: What it writes.
        sections: Its params: exactly the config it reads (a change reruns it).
        enabled: When the stage runs at all.
        resources: Threads, memory and run time; ``None`` for a local rule
            (run by Snakemake itself, never submitted).
        result: The output holding the values the next fitting stage starts
            from (fitting stages only).
        cli: Places passed on the command line, not as params (so they rerun
            nothing): ``work_dir`` (``--work-dir``), ``log_dir`` (``--log-dir``).
    """

    name: str
    per_subject: bool
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    sections: tuple[Section, ...] = ()
    enabled: Condition = always
    resources: Resources | None = field(default_factory=Resources)
    result: str | None = None
    cli: tuple[str, ...] = ()


def _ports(*names: str, when: Condition = always) -> tuple[Port, ...]:
    """Input ports whose key is the output name."""
    return tuple(Port(n, n, when=when) for n in names)


def _out(
    name: str,
    file: Output | FixedFile,
    *,
    key: str | None = None,
    when: Condition = always,
    report: str | None = None,
) -> Port:
    """The output port ``name`` (its key too, unless ``key``), written as ``file``."""
    return Port(key or name, name, when=when, report=report, file=file)


def _with_json(
    name: str, file: Output, *, key: str | None = None, when: Condition = always
) -> tuple[Port, Port]:
    """Output ``name`` and its JSON sidecar ``<name>_json`` (key ``<key>_json``)."""
    json_key = f"{key}_json" if key else None
    return (
        _out(name, file, key=key, when=when),
        _out(f"{name}_json", file.sidecar(), key=json_key, when=when),
    )


def _fixed(*names_paths: tuple[str, str]) -> tuple[Port, ...]:
    """Dataset-level outputs whose names BIDS (or tvbo_pipe's ``code/``) fixes."""
    return tuple(_out(name, FixedFile(path)) for name, path in names_paths)


# places and the participant selection: they change no dataset-level file
PLACES = ("log_dir", "benchmark_dir", "work_dir", "jax_cache_dir")
SELECTION = ("participant_label", "session_label")


def _config_record(config: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration copied into the derivative's code/ (places and selection left out)."""
    kept = {k: v for k, v in config.items() if k not in PLACES + SELECTION}
    return {**kept, "experiment": "experiment.yaml"}


def _context(name: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    def value(config: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
        return context[name]

    return value


_EXPERIMENT = Section("experiment", value=_context("experiment"))
_SC_IN = _ports("sc_weights", "sc_lengths", "empirical_fc")


def _fit_stage(
    name: str,
    outputs: tuple[Port, ...],
    runtime: int,
    result: str,
    cli: tuple[str, ...] = (),
    inputs: tuple[Port, ...] = (),
) -> Stage:
    return Stage(
        name,
        per_subject=True,
        inputs=(
            *_SC_IN,
            Port("start", start=True),
            Port("empirical_fcd", "empirical_fcd", when=fcd_loss),
            *inputs,
        ),
        outputs=outputs,
        sections=(
            _EXPERIMENT,
            Section("simulation", "simulation"),
            Section("fcd", "empirical_fc.fcd", when=fcd_weight),
            Section("observation", "observation"),
            Section(name, name, drop=("enabled",)),
            Section("bids_dir", "bids_dir", when=map_filters(name)),
        ),
        enabled=enabled(name),
        resources=Resources(mem_mb=4000, runtime=runtime),
        result=result,
        cli=cli,
    )


def _export_sections() -> tuple[Section, ...]:
    """What the subject export and the group record (provenance, reports' methods text)."""
    return (
        _EXPERIMENT,
        Section("simulation", "simulation"),
        Section("connectome", "connectome"),
        Section("empirical_fc", "empirical_fc"),
        Section("atlas", "atlas"),
        Section("task", value=_context("task")),
        Section("bids_dir", "bids_dir"),
        *(Section(s, s, when=enabled(s)) for s in ("explore", "fit_global", "fit_regional")),
        Section("observation", "observation"),
        Section("simulate_fitted", "simulate_fitted"),
    )


def _figure(name: str, suffix: str, desc: str) -> Port:
    """A subject figure (``figures/*_desc-<desc>_<suffix>.png``) in the report."""
    return _out(name, bids(suffix, ".png", "figures", desc=desc), report="Subject figures")


def _fitting_outputs(name: str, desc: str) -> tuple[Port, ...]:
    """A fitting stage's trajectory table and its result, the table's JSON
    sidecar (best values, loss)."""
    trajectory = bids("trajectory", ".tsv", "model", desc=desc)
    return (
        _out(f"{name}_params", trajectory.sidecar(), key="params"),
        _out(f"{name}_trajectory", trajectory, key="trajectory"),
    )


_EXPLORE_TABLE = bids("grid", ".tsv", "model", desc="explore")
# the goodness of fit is the JSON sidecar of the fitted experiment
_FITTED_EXPERIMENT = bids("experiment", ".yaml", "model", desc="fitted")
_GROUP_TABLE = bids("summary", ".tsv", "group", desc="fit")


#: The stages in the order they run; a fitting stage starts from the result
#: of the last enabled one before it.
STAGES: tuple[Stage, ...] = (
    Stage(
        "dataset_description",
        per_subject=False,
        outputs=_fixed(("dataset_description", "dataset_description.json")),
        sections=(Section("bids_dir", "bids_dir"),),
        resources=None,
    ),
    Stage(
        "connectome",
        per_subject=True,
        inputs=(Port("weights", unit="sc_weights"), Port("lengths", unit="sc_lengths")),
        # the SC used (BEP017 relmats)
        outputs=(
            *_with_json("sc_weights", relmat("dwi", **SC, meas="weight")),
            *_with_json("sc_lengths", relmat("dwi", **SC, meas="tractLength")),
        ),
        sections=(
            Section("inputs_sc", "inputs.sc"),
            Section("connectome", "connectome"),
            Section("atlas", "atlas"),
            Section("bids_dir", "bids_dir"),
        ),
        resources=Resources(mem_mb=1000, runtime=10),
    ),
    Stage(
        "empirical_fc",
        per_subject=True,
        inputs=(
            Port("functional", unit="functional"),
            Port("sc_weights", "sc_weights"),
            Port("dseg", unit="dseg"),
        ),
        outputs=(
            *_with_json("empirical_fc", relmat("func", **PEARSON, desc="empirical")),
            *_with_json(
                "empirical_fc_heldout", relmat("func", **PEARSON, desc="heldout"), when=holdout
            ),
            *_with_json("empirical_fcd", relmat("func", **FCD, desc="empirical"), when=fcd_enabled),
        ),
        sections=(
            Section("inputs_functional", "inputs.functional"),
            Section("empirical_fc", "empirical_fc"),
            Section("atlas", "atlas"),
            Section("bids_dir", "bids_dir"),
        ),
        resources=Resources(mem_mb=2000, runtime=10),
    ),
    _fit_stage(
        "explore",
        (
            _out("explore_table", _EXPLORE_TABLE),
            # the result (best values, loss) is the JSON sidecar of the table
            _out("explore_best", _EXPLORE_TABLE.sidecar()),
            _out("explore_heatmap", bids("heatmap", ".png", "figures", desc="explore")),
        ),
        runtime=60,
        result="explore_best",
    ),
    _fit_stage(
        "fit_global",
        _fitting_outputs("fit_global", "global"),
        runtime=120,
        result="fit_global_params",
        cli=("work_dir",),
    ),
    _fit_stage(
        "fit_regional",
        _fitting_outputs("fit_regional", "regional"),
        runtime=120,
        result="fit_regional_params",
        cli=("work_dir",),
        # the files of its region maps (found by discovery): editing one reruns it
        inputs=(Port("region_maps", unit="region_maps"),),
    ),
    Stage(
        "simulate_fitted",
        per_subject=True,
        inputs=(
            *_SC_IN,
            Port("start", start=True),
            *_ports("empirical_fcd", "empirical_fc_heldout"),
        ),
        outputs=(
            *_with_json(
                "sim_bold", bids("timeseries", ".tsv", "func", **FUNC, desc="simulated"), key="bold"
            ),
            *_with_json("sim_fc", relmat("func", **PEARSON, desc="simulated"), key="fc"),
            _out("gof", _FITTED_EXPERIMENT.sidecar()),
            _out("fitted_experiment", _FITTED_EXPERIMENT, key="experiment"),
            *_with_json(
                "sim_fcd", relmat("func", **FCD, desc="simulated"), key="fcd", when=fcd_enabled
            ),
        ),
        sections=(
            _EXPERIMENT,
            Section("simulation", "simulation"),
            Section("fcd", "empirical_fc.fcd"),
            Section("simulate_fitted", "simulate_fitted", keys=("fresh_seeds",)),
        ),
        enabled=exporting,
        resources=Resources(mem_mb=4000, runtime=60),
    ),
    Stage(
        "model_description",
        per_subject=False,
        outputs=(
            _out("model_eq", bids("eq", ".xml", "model", desc="{model}")),
            _out("model_report", bids("report", ".md", "model", desc="{model}")),
            _out("machine_code", bids("simulate", ".py", "code", desc="{model}")),
        ),
        sections=(_EXPERIMENT,),
        enabled=exporting,
    ),
    Stage(
        "dataset_files",
        per_subject=False,
        outputs=_fixed(
            ("readme", "README.md"),
            ("participants", "participants.tsv"),
            ("participants_json", "participants.json"),
            ("bidsignore", ".bidsignore"),
            ("code_config", "code/config.yaml"),
            ("code_experiment", "code/experiment.yaml"),
            ("code_pybids_config", "code/pybids_config.json"),
            ("code_validator_config", "code/bids_validator_config.json"),
        ),
        sections=(
            _EXPERIMENT,
            Section("config", value=_config_record),
            Section("model", value=lambda config, ctx: ctx["model"] if exporting(config) else None),
        ),
    ),
    Stage(
        "export",
        per_subject=True,
        inputs=(
            *_ports(
                "sc_weights",
                "sc_lengths",
                "empirical_fc",
                "sim_fc",
                "sim_bold",
                "sim_bold_json",
                "gof",
                "fitted_experiment",
                "explore_best",
                "explore_heatmap",
                "fit_global_params",
                "fit_global_trajectory",
                "fit_regional_params",
                "fit_regional_trajectory",
                "empirical_fcd",
                "sim_fcd",
                "model_eq",
            ),
        ),
        outputs=(
            # node map (BIDS segmentation look-up table: index, name)
            _out("sc_nodeindices", bids("dseg", ".tsv", "dwi", **SC)),
            # BEP034 parameters
            _out("fitted_param_xml", bids("param", ".xml", "model", desc="fitted")),
            _out("fitted_param", bids("param", ".json", "model", desc="fitted")),
            _figure("fig_fc", "matrix", "fc"),
            _figure("fig_fc_scatter", "scatter", "fc"),
            _figure("fig_loss", "curve", "loss"),
            _figure("fig_regional", "profile", "regional"),
            _figure("fig_bold", "traces", "bold"),
            _figure("fig_gof", "bar", "gof"),
            _figure("fig_fcd", "matrix", "fcd"),
            _out("report", bids("report", ".html", None, desc="fit"), report="Subject reports"),
            _out("provenance", bids("prov", ".jsonld", "prov", desc="openminds")),
        ),
        sections=_export_sections(),
        enabled=exporting,
        resources=Resources(mem_mb=2000, runtime=20),
        cli=("log_dir",),
    ),
    Stage(
        "group_summary",
        per_subject=False,
        inputs=(
            *(
                Port(n, n, each_subject=True)
                for n in ("fitted_param", "gof", "report", "provenance")
            ),
            *_ports("model_eq", "model_report"),
        ),
        outputs=(
            *_with_json("group_table", _GROUP_TABLE),
            _out(
                "group_figure", bids("summary", ".png", "group", desc="fit"), report="Group report"
            ),
            _out(
                "group_report", bids("report", ".html", "group", desc="fit"), report="Group report"
            ),
            _out("group_provenance", bids("prov", ".jsonld", "prov", desc="openminds")),
        ),
        sections=(Section("prefixes", value=_context("prefixes")), *_export_sections()),
        enabled=exporting,
        resources=Resources(mem_mb=2000, runtime=20),
    ),
)

#: Stages by name.
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    """The declared stage ``name``.

    Raises:
        KeyError: No such stage; the message lists the stages.
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}") from None


def producer(output: str) -> tuple[Stage, Port]:
    """The stage that writes ``output``, and its port."""
    for s in STAGES:
        for p in s.outputs:
            if p.output == output:
                return s, p
    raise KeyError(f"no stage writes {output!r}")


def written(output: str, config: Mapping[str, Any]) -> bool:
    """Whether a run with ``config`` (validated, defaults filled) writes ``output``."""
    s, port = producer(output)
    return s.enabled(config) and port.when(config)


def outputs(name: str, config: Mapping[str, Any]) -> dict[str, str]:
    """The outputs stage ``name`` writes under ``config``: port key -> output name."""
    return {p.key: p.output for p in stage(name).outputs if p.when(config)}


def start_output(name: str, config: Mapping[str, Any]) -> str | None:
    """The result the stage ``name`` starts from: that of the last enabled stage
    before it that has one, or ``None``."""
    previous = None
    for s in STAGES:
        if s.name == name:
            return previous
        if s.result and s.enabled(config):
            previous = s.result
    raise KeyError(f"unknown stage {name!r}")


def inputs(name: str, config: Mapping[str, Any]) -> tuple[Port, ...]:
    """The inputs of stage ``name`` under ``config`` (raw inputs included; they
    are left out later where the subject has none)."""
    kept = []
    for p in stage(name).inputs:
        if not p.when(config):
            continue
        if p.output is not None and not written(p.output, config):
            continue
        if p.start and start_output(name, config) is None:
            continue
        kept.append(p)
    return tuple(kept)


def _lookup(config: Mapping[str, Any], path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value[part]
    return value


def params(name: str, config: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """The params of stage ``name``: exactly the config it reads.

    Args:
        name: A declared stage.
        config: The validated configuration.
        context: Values of the run that are not config sections:
            ``experiment`` (the experiment as a mapping, its content not its
            path), ``prefixes`` (the subject-sessions), ``task`` (the task
            label of the functional runs, or ``None``), ``model`` (its name).
    """
    out: dict[str, Any] = {}
    for sec in stage(name).sections:
        if not sec.when(config):
            continue
        if sec.value is not None:
            value = sec.value(config, context)
        else:
            value = _lookup(config, sec.path)
            if sec.keys is not None:
                value = {k: value[k] for k in sec.keys}
            elif sec.drop:
                value = {k: v for k, v in value.items() if k not in sec.drop}
        out[sec.key] = value
    return out


def enabled_outputs(
    config: Mapping[str, Any], stages: tuple[Stage, ...] | None = None
) -> tuple[list[str], list[str]]:
    """The outputs a run with ``config`` writes, per subject-session and once.

    Args:
        config: The validated configuration.
        stages: The declaration to read (:data:`STAGES` when ``None``).

    Returns:
        ``(subject_names, dataset_names)`` in declaration order.
    """
    subject: list[str] = []
    dataset: list[str] = []
    for s in STAGES if stages is None else stages:
        if not s.enabled(config):
            continue
        names = [p.output for p in s.outputs if p.when(config)]
        (subject if s.per_subject else dataset).extend(names)
    return subject, dataset

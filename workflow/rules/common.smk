# Configuration, input discovery and the helpers (functions only) that the
# rules in connectome.smk, empirical_fc.smk, fitting.smk and export.smk use.
import json
import os
import shlex

from tvbo_pipe import __version__
from tvbo_pipe.config import validate_config
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import layout
from tvbo_pipe.io.bids import discover

# Fill defaults and validate (errors name the key); replaces the raw config.
_validated = validate_config(config)
config.clear()
config.update(_validated)

OUT = config["output_dir"]
LOGS = config["log_dir"]
BENCH = config["benchmark_dir"]
UNITS = {u.prefix: u for u in discover(config)}
# The one software environment of every rule (used with --use-conda).
ENV = "../envs/tvbo_pipe.yaml"

# The experiment, validated at DAG time; its content (not its path) is a param,
# so editing the file reruns the fitting stages.
EXPERIMENT = Experiment.load(config["experiment"]).to_dict()
FIT_STAGES = [s for s in ("explore", "fit_global", "fit_regional") if config[s]["enabled"]]
# the loss has an FCD term: the fits read the empirical FCD and its window
FCD_LOSS = float(config["observation"]["weights"].get("fcd", 0.0)) > 0
START_OUTPUT = {
    "explore": "explore_best",
    "fit_global": "fit_global_params",
    "fit_regional": "fit_regional_params",
}

MODEL = EXPERIMENT["model"]["name"]
EXPORTING = config["simulate_fitted"]["enabled"]
SUBJECT_NAMES, DATASET_NAMES = layout.enabled_outputs(config)
PREFIXES = sorted(UNITS)
# Settings only: places (logs, benchmarks, checkpoints, caches) rerun nothing.
PLACES = ("log_dir", "benchmark_dir", "work_dir", "jax_cache_dir")
# The participant selection does not change the dataset-level files (any
# BIDS-app participant-level run writes the same ones).
SELECTION = ("participant_label", "session_label")


wildcard_constraints:
    subdir=layout.WILDCARD_CONSTRAINTS["subdir"],
    prefix=layout.WILDCARD_CONSTRAINTS["prefix"],


def out(name):
    """Output pattern of `name`, declared once in tvbo_pipe.export.layout."""
    return layout.pattern(name, OUT, atlas=config["atlas"])


def dout(name):
    """Dataset-level output pattern of `name` (model name filled in)."""
    return layout.pattern(name, OUT, atlas=config["atlas"], model=MODEL)


def unit(wildcards):
    return UNITS[wildcards.prefix]


def stage_params(**sections):
    """JSON of exactly the config the stage uses, and tvbo_pipe's version.

    Snakemake reruns a job when its params change, so a change of one of these
    sections reruns the stage (and, through its outputs, what follows), and
    installing another tvbo_pipe version reruns everything.
    """
    return json.dumps({**sections, "tvbo_pipe_version": __version__}, sort_keys=True)


def cli_args(wildcards, input, output, threads, extra=None):
    """--in/--out/--subject/--threads/--jax-cache flags for `tvbo-pipe run STAGE`.

    Used as a params function of input/output/threads, which Snakemake does not
    compare between runs: file names, threads and the cache folder do not
    rerun anything. `extra`: more flags, {"work-dir": path}.
    """
    args = ["--subject", getattr(wildcards, "prefix", "dataset")]
    for flag, files in (("--in", input), ("--out", output)):
        for name, value in files.items():
            for path in [value] if isinstance(value, str) else list(value):
                args += [flag, f"{name}={path}"]
    args += ["--threads", str(threads)]
    if config["jax_cache_dir"]:
        args += ["--jax-cache", config["jax_cache_dir"]]
    for flag, value in (extra or {}).items():
        args += [f"--{flag}", str(value)]
    return " ".join(shlex.quote(a) for a in args)


def all_outputs():
    targets = [out("dataset_description")]
    names = ["sc_weights", "sc_lengths", "empirical_fc"]
    if config["empirical_fc"]["holdout_runs"]:
        names.append("empirical_fc_heldout")
    if config["empirical_fc"]["fcd"]["enabled"]:
        names.append("empirical_fcd")
    if config["explore"]["enabled"]:
        names += ["explore_table", "explore_best", "explore_heatmap"]
    for stage in ("fit_global", "fit_regional"):
        if config[stage]["enabled"]:
            names += [f"{stage}_params", f"{stage}_trajectory"]
    if config["simulate_fitted"]["enabled"]:
        names += ["sim_bold", "sim_fc", "gof", "fitted_experiment"]
        if config["empirical_fc"]["fcd"]["enabled"]:
            names.append("sim_fcd")
    for u in UNITS.values():
        targets += [
            layout.subject_path(n, OUT, prefix=u.prefix, atlas=config["atlas"]) for n in names
        ]
    targets += export_targets()
    return targets


def participant_outputs():
    """The outputs of the participant level: every subject's files (under sub-*/),
    and the dataset-level files that make it a valid BIDS dataset (description,
    README, participants, .bidsignore, code/)."""
    dataset = [out(n) for n in ("dataset_description", *layout.DATASET_FILE_OUTPUTS)]
    return [p for p in all_outputs() if os.path.relpath(p, OUT).startswith("sub-") or p in dataset]


# ---------------------------------------------------------------- connectome.smk
def connectome_inputs(wildcards):
    u = unit(wildcards)
    files = {}
    if u.sc_weights:
        files["weights"] = u.sc_weights
    if u.sc_lengths:
        files["lengths"] = u.sc_lengths
    return files


# -------------------------------------------------------------- empirical_fc.smk
def functional_inputs(wildcards):
    u = unit(wildcards)
    files = {"functional": list(u.functional), "sc_weights": out("sc_weights").format(**wildcards)}
    if u.dseg:
        files["dseg"] = u.dseg
    return files


def empirical_fc_outputs():
    files = {
        "empirical_fc": out("empirical_fc"),
        "empirical_fc_json": out("empirical_fc_json"),
    }
    if config["empirical_fc"]["holdout_runs"]:
        files["empirical_fc_heldout"] = out("empirical_fc_heldout")
        files["empirical_fc_heldout_json"] = out("empirical_fc_heldout_json")
    if config["empirical_fc"]["fcd"]["enabled"]:
        files["empirical_fcd"] = out("empirical_fcd")
        files["empirical_fcd_json"] = out("empirical_fcd_json")
    return files


# ------------------------------------------------------------------- fitting.smk
def fit_inputs(stage):
    """The connectome, the empirical FC and the JSON of the previous enabled stage."""

    def inputs(wildcards):
        files = {
            "sc_weights": out("sc_weights").format(**wildcards),
            "sc_lengths": out("sc_lengths").format(**wildcards),
            "empirical_fc": out("empirical_fc").format(**wildcards),
        }
        before = (
            [s for s in FIT_STAGES if FIT_STAGES.index(s) < FIT_STAGES.index(stage)]
            if stage in FIT_STAGES
            else FIT_STAGES
        )
        if before:
            files["start"] = out(START_OUTPUT[before[-1]]).format(**wildcards)
        if (stage == "simulate_fitted" or FCD_LOSS) and config["empirical_fc"]["fcd"]["enabled"]:
            files["empirical_fcd"] = out("empirical_fcd").format(**wildcards)
        if stage == "simulate_fitted" and config["empirical_fc"]["holdout_runs"]:
            files["empirical_fc_heldout"] = out("empirical_fc_heldout").format(**wildcards)
        return files

    return inputs


def fit_params(stage):
    """The experiment, the simulation settings and what else `stage` reads."""
    sections = {"experiment": EXPERIMENT, "simulation": config["simulation"]}
    if stage == "simulate_fitted" or FCD_LOSS:
        sections["fcd"] = config["empirical_fc"]["fcd"]
    if stage == "simulate_fitted":
        sections["simulate_fitted"] = {"fresh_seeds": config["simulate_fitted"]["fresh_seeds"]}
    else:
        sections["observation"] = config["observation"]
        sections[stage] = {k: v for k, v in config[stage].items() if k != "enabled"}
    if stage == "fit_regional" and map_filters(config[stage]["parameters"]):
        sections["bids_dir"] = config["bids_dir"]  # maps found per subject by pybids filters
    return stage_params(**sections)


def map_filters(parameters):
    """The maps of fit parameters given as pybids filters (found per subject)."""
    found = []
    for spec in parameters.values():
        maps = (spec.get("maps") or []) if isinstance(spec, dict) else []
        found += [m for m in ([maps] if isinstance(maps, dict) else maps) if isinstance(m, dict)]
    return found


def fit_cli(wildcards, input, output, threads):
    """cli_args, and the checkpoint folder (a place, not a setting: no rerun)."""
    return cli_args(wildcards, input, output, threads, {"work-dir": config["work_dir"]})


def simulate_fitted_outputs():
    files = {
        "bold": out("sim_bold"),
        "bold_json": out("sim_bold_json"),
        "fc": out("sim_fc"),
        "fc_json": out("sim_fc_json"),
        "gof": out("gof"),
        "experiment": out("fitted_experiment"),
    }
    if config["empirical_fc"]["fcd"]["enabled"]:
        files["fcd"] = out("sim_fcd")
        files["fcd_json"] = out("sim_fcd_json")
    return files


# -------------------------------------------------------------------- export.smk
def export_targets():
    """The export and dataset files a run writes (added to all_outputs)."""
    targets = [dout(n) for n in DATASET_NAMES if n != "dataset_description"]
    if EXPORTING:
        for prefix in PREFIXES:
            targets += [
                layout.subject_path(n, OUT, prefix=prefix, atlas=config["atlas"])
                for n in layout.EXPORT_OUTPUTS
            ]
    return targets


def export_params():
    """What the subject export and the group record (provenance configuration)."""
    sections = {
        "experiment": EXPERIMENT,
        "simulation": config["simulation"],
        "connectome": config["connectome"],
        "empirical_fc": config["empirical_fc"],
        "atlas": config["atlas"],
        "bids_dir": config["bids_dir"],
    }
    for stage in ("explore", "fit_global", "fit_regional"):
        if config[stage]["enabled"]:
            sections[stage] = config[stage]
    # the reports' methods text and flags
    sections["observation"] = config["observation"]
    sections["simulate_fitted"] = config["simulate_fitted"]
    return sections


def export_inputs(wildcards):
    names = ["sc_weights", "sc_lengths", "empirical_fc", "sim_fc", "sim_bold", "sim_bold_json"]
    names += ["gof", "fitted_experiment"]
    names += [
        n
        for n in (
            "explore_best",
            "explore_heatmap",
            "fit_global_params",
            "fit_global_trajectory",
            "fit_regional_params",
            "fit_regional_trajectory",
            "empirical_fcd",
            "sim_fcd",
        )
        if n in SUBJECT_NAMES
    ]
    files = {n: out(n).format(**wildcards) for n in names}
    files["model_eq"] = dout("model_eq")
    return files


def group_inputs(wildcards):
    def each(name):
        return [
            str(layout.subject_path(name, OUT, prefix=p, atlas=config["atlas"])) for p in PREFIXES
        ]

    return {
        "fitted_param": each("fitted_param"),
        "gof": each("gof"),
        "report": each("report"),
        "provenance": each("provenance"),
        "model_eq": dout("model_eq"),
        "model_report": dout("model_report"),
    }


def report_cli(wildcards, input, output, threads):
    """cli_args, and the logs folder the report links (a place, not a setting: no rerun)."""
    return cli_args(wildcards, input, output, threads, {"log-dir": LOGS})

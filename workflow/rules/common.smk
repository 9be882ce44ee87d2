# Configuration, input discovery and helpers shared by every rule.
import json
import os
import shlex
import sys

from tvbo_pipe import __version__
from tvbo_pipe.config import validate_config
from tvbo_pipe.export import layout
from tvbo_pipe.io.bids import discover

# Fill defaults and validate (errors name the key); replaces the raw config.
_validated = validate_config(config)
config.clear()
config.update(_validated)

PYTHON = sys.executable
OUT = config["output_dir"]
LOGS = config["log_dir"]
BENCH = config["benchmark_dir"]
UNITS = {u.prefix: u for u in discover(config)}


wildcard_constraints:
    subdir=layout.WILDCARD_CONSTRAINTS["subdir"],
    prefix=layout.WILDCARD_CONSTRAINTS["prefix"],


def out(name):
    """Output pattern of `name`, declared once in tvbo_pipe.export.layout."""
    return layout.pattern(name, OUT, atlas=config["atlas"])


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
    """--in/--out/--subject/--threads/--jax-cache flags for `python -m tvbo_pipe STAGE`.

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
    targets += export_targets()  # workflow/rules/export.smk
    return targets


def participant_outputs():
    """The outputs of the participant level: every subject's files (under sub-*/),
    and the dataset-level files that make it a valid BIDS dataset (description,
    README, participants, .bidsignore, code/)."""
    dataset = [out(n) for n in ("dataset_description", *layout.DATASET_FILE_OUTPUTS)]
    return [p for p in all_outputs() if os.path.relpath(p, OUT).startswith("sub-") or p in dataset]


rule dataset_description:
    output:
        dataset_description=out("dataset_description"),
    params:
        config=stage_params(bids_dir=config["bids_dir"]),
    log:
        f"{LOGS}/dataset_description.log",
    shell:
        "{PYTHON} -m tvbo_pipe dataset_description --out dataset_description={output.dataset_description:q} "
        "--params {params.config:q} --log {log:q}"

# Configuration, input discovery and helpers shared by every rule.
import json
import shlex
import sys

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
    """JSON of exactly the config the stage uses (a change reruns the stage)."""
    return json.dumps(sections, sort_keys=True)


def cli_args(wildcards, input, output, threads):
    """--in/--out/--subject/--threads flags for `python -m tvbo_pipe STAGE`."""
    args = ["--subject", getattr(wildcards, "prefix", "dataset")]
    for flag, files in (("--in", input), ("--out", output)):
        for name, value in files.items():
            for path in [value] if isinstance(value, str) else list(value):
                args += [flag, f"{name}={path}"]
    args += ["--threads", str(threads)]
    return " ".join(shlex.quote(a) for a in args)


def all_outputs():
    targets = [out("dataset_description")]
    names = ["sc_weights", "sc_lengths", "empirical_fc"]
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

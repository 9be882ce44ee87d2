# Configuration, input discovery and the helpers (functions only) that make the
# rules of stages.smk from the workflow declaration, tvbo_pipe.pipeline: each
# stage's inputs, outputs, params (the config sections it reads) and resources.
# Nothing here imports JAX: Snakemake parses this for every call and cluster job.
import json
import os
import shlex

from tvbo_pipe import __version__, pipeline
from tvbo_pipe.config import validate_config
from tvbo_pipe.experiment import Experiment
from tvbo_pipe.export import layout
from tvbo_pipe.io.bids import dataset_task, discover

# Fill defaults and validate (errors name the key); replaces the raw config.
_validated = validate_config(config)
config.clear()
config.update(_validated)

OUT = config["output_dir"]
LOGS = config["log_dir"]
BENCH = config["benchmark_dir"]
UNITS = {u.prefix: u for u in discover(config)}
PREFIXES = sorted(UNITS)
# The one software environment of every rule (used with --use-conda).
ENV = "../envs/tvbo_pipe.yaml"

# The experiment, validated at DAG time; its content (not its path) is a param,
# so editing the file reruns the fitting stages.
EXPERIMENT = Experiment.load(config["experiment"]).to_dict()
# Values of the run that stages read besides config sections (pipeline.params).
CONTEXT = {
    "experiment": EXPERIMENT,
    "prefixes": PREFIXES,
    # the outputs' task- is that of the input's functional runs
    "task": dataset_task(list(UNITS.values())),
    "model": EXPERIMENT["model"]["name"],
}
# Places passed on the command line (they rerun nothing), by cli flag.
PLACE_FLAGS = {"work_dir": ("work-dir", config["work_dir"]), "log_dir": ("log-dir", LOGS)}


wildcard_constraints:
    subdir=layout.WILDCARD_CONSTRAINTS["subdir"],
    prefix=layout.WILDCARD_CONSTRAINTS["prefix"],


def out(name):
    """Output pattern of `name` (tvbo_pipe.export.layout); {subdir}, {prefix} kept."""
    return layout.pattern(
        name, OUT, atlas=config["atlas"], task=CONTEXT["task"], model=CONTEXT["model"]
    )


def subject_file(name, prefix):
    """The path of subject output `name` of subject-session `prefix`."""
    return str(
        layout.subject_path(name, OUT, prefix=prefix, atlas=config["atlas"], task=CONTEXT["task"])
    )


def is_subject_output(name):
    return pipeline.producer(name)[0].per_subject


def stage_inputs(name):
    """Input function of stage `name`: its declared inputs for one job."""

    def inputs(wildcards):
        prefix = getattr(wildcards, "prefix", None)
        files = {}
        for port in pipeline.inputs(name, config):
            if port.unit is not None:
                value = getattr(UNITS[prefix], port.unit)
                if value:
                    files[port.key] = list(value) if isinstance(value, tuple) else value
                continue
            output = pipeline.start_output(name, config) if port.start else port.output
            if port.each_subject:
                files[port.key] = [subject_file(output, p) for p in PREFIXES]
            elif is_subject_output(output):
                files[port.key] = subject_file(output, prefix)
            else:
                files[port.key] = out(output)
        return files

    return inputs


def stage_outputs(name):
    """Outputs of stage `name` under this config (report() where declared)."""
    files = {}
    for port in pipeline.stage(name).outputs:
        if not port.when(config):
            continue
        path = out(port.output)
        if port.report and pipeline.stage(name).per_subject:
            path = report(path, category=port.report, subcategory="{prefix}")
        elif port.report:
            path = report(path, category=port.report)
        files[port.key] = path
    return files


def stage_params(name):
    """JSON of exactly the config stage `name` reads, and tvbo_pipe's version.

    Snakemake reruns a job when its params change, so a change of one of these
    sections reruns the stage (and, through its outputs, what follows), and
    installing another tvbo_pipe version reruns everything.
    """
    sections = pipeline.params(name, config, CONTEXT)
    return json.dumps({**sections, "tvbo_pipe_version": __version__}, sort_keys=True)


def stage_cli(name):
    """Params function: the stage name, then its --in/--out/--subject/--threads/
    --jax-cache flags and the places it is given on the command line (cli_args)."""
    extra = dict(PLACE_FLAGS[p] for p in pipeline.stage(name).cli)

    def cli(wildcards, input, output, threads):
        return f"{name} {cli_args(wildcards, input, output, threads, extra)}"

    return cli


def cli_args(wildcards, input, output, threads, extra=None):
    """--in/--out/--subject/--threads/--jax-cache flags for `tvbo-pipe run STAGE`.

    Used as a params function of input/output/threads, which Snakemake does not
    compare between runs: file names, threads and the cache and checkpoint
    folders do not rerun anything. `extra`: more flags, {"work-dir": path}.
    """
    args = ["--subject", getattr(wildcards, "prefix", "dataset")]
    for flag, files in (("--in", input), ("--out", output)):
        for key, value in files.items():
            for path in [value] if isinstance(value, str) else list(value):
                args += [flag, f"{key}={path}"]
    args += ["--threads", str(threads)]
    if config["jax_cache_dir"]:
        args += ["--jax-cache", config["jax_cache_dir"]]
    for flag, value in (extra or {}).items():
        args += [f"--{flag}", str(value)]
    return " ".join(shlex.quote(a) for a in args)


def stage_threads(name):
    res = pipeline.stage(name).resources
    return res.threads if res else 1


def stage_resources(name):
    """mem_mb (MB) and runtime (min) of stage `name`, scaled by the attempt."""
    res = pipeline.stage(name).resources
    if res is None:
        return {}

    def mem_mb(wildcards, attempt):
        return res.at(attempt)["mem_mb"]

    def runtime(wildcards, attempt):
        return res.at(attempt)["runtime"]

    return {"mem_mb": mem_mb, "runtime": runtime}


def stage_log(name):
    if pipeline.stage(name).per_subject:
        return f"{LOGS}/{{subdir}}/{{prefix}}_{name}.log"
    return f"{LOGS}/{name}.log"


def stage_benchmark(name):
    if pipeline.stage(name).per_subject:
        return f"{BENCH}/{{subdir}}/{{prefix}}_{name}.tsv"
    return f"{BENCH}/{name}.tsv"


def all_outputs():
    """Every file the run writes (pipeline declaration, layout names)."""
    files = layout.expected_files(
        config, OUT, PREFIXES, model=CONTEXT["model"], task=CONTEXT["task"]
    )
    return [str(p) for p in files]


def participant_outputs():
    """The outputs of the participant level: every subject's files (under sub-*/),
    and the dataset-level files that make it a valid BIDS dataset (description,
    README, participants, .bidsignore, code/)."""
    dataset = [out(n) for n in ("dataset_description", *layout.DATASET_FILE_OUTPUTS)]
    return [p for p in all_outputs() if os.path.relpath(p, OUT).startswith("sub-") or p in dataset]

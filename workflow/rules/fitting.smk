# Fitting stages: explore -> fit_global -> fit_regional -> simulate_fitted.
# Each can be switched off; a stage starts from the last enabled one before it.
import yaml

from tvbo_pipe.experiment import Experiment

# The experiment, validated at DAG time; its content (not its path) is a param,
# so editing the file reruns the fitting stages.
EXPERIMENT = Experiment.load(config["experiment"]).to_dict()
FIT_STAGES = [s for s in ("explore", "fit_global", "fit_regional") if config[s]["enabled"]]
# the loss has an FCD term: the fits read the empirical FCD and its window
FCD_LOSS = float(config["observation"]["weights"].get("fcd", 0.0)) > 0
START_OUTPUT = {"explore": "explore_best", "fit_global": "fit_global_params", "fit_regional": "fit_regional_params"}


def fit_inputs(stage):
    """The connectome, the empirical FC and the JSON of the previous enabled stage."""

    def inputs(wildcards):
        files = {
            "sc_weights": out("sc_weights").format(**wildcards),
            "sc_lengths": out("sc_lengths").format(**wildcards),
            "empirical_fc": out("empirical_fc").format(**wildcards),
        }
        before = [s for s in FIT_STAGES if FIT_STAGES.index(s) < FIT_STAGES.index(stage)] if stage in FIT_STAGES else FIT_STAGES
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
    if stage != "simulate_fitted":
        sections["observation"] = config["observation"]
        sections[stage] = {k: v for k, v in config[stage].items() if k != "enabled"}
    return stage_params(**sections)


def fit_cli(wildcards, input, output, threads):
    """cli_args, and the checkpoint folder (a place, not a setting: no rerun)."""
    return cli_args(wildcards, input, output, threads, {"work-dir": config["work_dir"]})


rule explore:
    input:
        unpack(fit_inputs("explore")),
    output:
        explore_table=out("explore_table"),
        explore_best=out("explore_best"),
        explore_heatmap=out("explore_heatmap"),
    params:
        config=fit_params("explore"),
        cli=cli_args,
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_explore.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_explore.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{PYTHON} -m tvbo_pipe explore {params.cli} --params {params.config:q} --log {log:q}"


rule fit_global:
    input:
        unpack(fit_inputs("fit_global")),
    output:
        params=out("fit_global_params"),
        trajectory=out("fit_global_trajectory"),
    params:
        config=fit_params("fit_global"),
        cli=fit_cli,
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_fit_global.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_fit_global.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PYTHON} -m tvbo_pipe fit_global {params.cli} --params {params.config:q} --log {log:q}"


rule fit_regional:
    input:
        unpack(fit_inputs("fit_regional")),
    output:
        params=out("fit_regional_params"),
        trajectory=out("fit_regional_trajectory"),
    params:
        config=fit_params("fit_regional"),
        cli=fit_cli,
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_fit_regional.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_fit_regional.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "{PYTHON} -m tvbo_pipe fit_regional {params.cli} --params {params.config:q} --log {log:q}"


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


rule simulate_fitted:
    input:
        unpack(fit_inputs("simulate_fitted")),
    output:
        **simulate_fitted_outputs(),
    params:
        config=fit_params("simulate_fitted"),
        cli=cli_args,
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_simulate_fitted.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_simulate_fitted.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "{PYTHON} -m tvbo_pipe simulate_fitted {params.cli} --params {params.config:q} --log {log:q}"

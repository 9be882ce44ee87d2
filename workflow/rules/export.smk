# Export: the derivative's model files (BEP034), reports, provenance (openMINDS),
# group summary and dataset files (README, participants, .bidsignore, code/).
# Subject exports and the group summary run when simulate_fitted does.

MODEL = EXPERIMENT["model"]["name"]
EXPORTING = config["simulate_fitted"]["enabled"]
SUBJECT_NAMES, DATASET_NAMES = layout.enabled_outputs(config)
PREFIXES = sorted(UNITS)
# Settings only: places (logs, benchmarks, checkpoints, caches) rerun nothing.
PLACES = ("log_dir", "benchmark_dir", "work_dir", "jax_cache_dir")
# The participant selection does not change the dataset-level files (any
# BIDS-app participant-level run writes the same ones).
SELECTION = ("participant_label", "session_label")


def dout(name):
    """Dataset-level output pattern of `name` (model name filled in)."""
    return layout.pattern(name, OUT, atlas=config["atlas"], model=MODEL)


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
        )
        if n in SUBJECT_NAMES
    ]
    files = {n: out(n).format(**wildcards) for n in names}
    files["model_eq"] = dout("model_eq")
    return files


rule dataset_files:
    output:
        readme=dout("readme"),
        participants=dout("participants"),
        participants_json=dout("participants_json"),
        bidsignore=dout("bidsignore"),
        code_config=dout("code_config"),
        code_experiment=dout("code_experiment"),
        code_pybids_config=dout("code_pybids_config"),
        code_validator_config=dout("code_validator_config"),
    params:
        config=stage_params(
            experiment=EXPERIMENT,
            config={
                **{k: v for k, v in config.items() if k not in PLACES + SELECTION},
                "experiment": "experiment.yaml",
            },
            model=MODEL if EXPORTING else None,
        ),
        cli=cli_args,
    log:
        f"{LOGS}/dataset_files.log",
    benchmark:
        f"{BENCH}/dataset_files.tsv"
    shell:
        "{PYTHON} -m tvbo_pipe dataset_files {params.cli} --params {params.config:q} --log {log:q}"


rule model_description:
    output:
        model_eq=dout("model_eq"),
        model_report=dout("model_report"),
        machine_code=dout("machine_code"),
    params:
        config=stage_params(experiment=EXPERIMENT),
        cli=cli_args,
    log:
        f"{LOGS}/model_description.log",
    benchmark:
        f"{BENCH}/model_description.tsv"
    shell:
        "{PYTHON} -m tvbo_pipe model_description {params.cli} --params {params.config:q} --log {log:q}"


rule export:
    input:
        unpack(export_inputs),
    output:
        **{n: out(n) for n in layout.EXPORT_OUTPUTS},
    params:
        config=stage_params(**export_params()),
        cli=cli_args,
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_export.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_export.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "{PYTHON} -m tvbo_pipe export {params.cli} --params {params.config:q} --log {log:q}"


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


rule group_summary:
    input:
        unpack(group_inputs),
    output:
        group_table=dout("group_table"),
        group_table_json=dout("group_table_json"),
        group_figure=dout("group_figure"),
        group_report=dout("group_report"),
        group_provenance=dout("group_provenance"),
    params:
        config=stage_params(prefixes=PREFIXES, **export_params()),
        cli=cli_args,
    log:
        f"{LOGS}/group.log",
    benchmark:
        f"{BENCH}/group.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "{PYTHON} -m tvbo_pipe group_summary {params.cli} --params {params.config:q} --log {log:q}"

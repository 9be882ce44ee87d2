# Export: the derivative's model files (BEP034), reports, provenance (openMINDS),
# group summary and dataset files (dataset_description.json, README, participants,
# .bidsignore, code/).
# Subject exports and the group summary run when simulate_fitted does.


rule dataset_description:
    output:
        dataset_description=out("dataset_description"),
    params:
        config=stage_params(bids_dir=config["bids_dir"]),
    conda:
        ENV
    log:
        f"{LOGS}/dataset_description.log",
    shell:
        "tvbo-pipe run dataset_description --out dataset_description={output.dataset_description:q} "
        "--params {params.config:q} --log {log:q}"


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
    conda:
        ENV
    log:
        f"{LOGS}/dataset_files.log",
    benchmark:
        f"{BENCH}/dataset_files.tsv"
    shell:
        "tvbo-pipe run dataset_files {params.cli} --params {params.config:q} --log {log:q}"


rule model_description:
    output:
        model_eq=dout("model_eq"),
        model_report=dout("model_report"),
        machine_code=dout("machine_code"),
    params:
        config=stage_params(experiment=EXPERIMENT),
        cli=cli_args,
    conda:
        ENV
    log:
        f"{LOGS}/model_description.log",
    benchmark:
        f"{BENCH}/model_description.tsv"
    shell:
        "tvbo-pipe run model_description {params.cli} --params {params.config:q} --log {log:q}"


rule export:
    input:
        unpack(export_inputs),
    output:
        **{n: out(n) for n in layout.EXPORT_OUTPUTS if n != "report" and not n.startswith("fig_")},
        # `snakemake --report` carries the reports and figures
        report=report(out("report"), category="Subject reports", subcategory="{prefix}"),
        **{
            n: report(out(n), category="Subject figures", subcategory="{prefix}")
            for n in layout.EXPORT_OUTPUTS
            if n.startswith("fig_")
        },
    params:
        config=stage_params(**export_params()),
        cli=report_cli,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_export.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_export.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "tvbo-pipe run export {params.cli} --params {params.config:q} --log {log:q}"



rule group_summary:
    input:
        unpack(group_inputs),
    output:
        group_table=dout("group_table"),
        group_table_json=dout("group_table_json"),
        group_figure=report(dout("group_figure"), category="Group report"),
        group_report=report(dout("group_report"), category="Group report"),
        group_provenance=dout("group_provenance"),
    params:
        config=stage_params(prefixes=PREFIXES, **export_params()),
        cli=cli_args,
    conda:
        ENV
    log:
        f"{LOGS}/group.log",
    benchmark:
        f"{BENCH}/group.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        "tvbo-pipe run group_summary {params.cli} --params {params.config:q} --log {log:q}"

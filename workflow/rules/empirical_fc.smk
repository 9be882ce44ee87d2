# Empirical FC stage: functional runs -> FC (and FCD) per subject-session.



rule empirical_fc:
    input:
        unpack(functional_inputs),
    output:
        **empirical_fc_outputs(),
    params:
        config=stage_params(
            inputs_functional=config["inputs"]["functional"],
            empirical_fc=config["empirical_fc"],
            atlas=config["atlas"],
            bids_dir=config["bids_dir"],
        ),
        cli=cli_args,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_empirical_fc.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_empirical_fc.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "tvbo-pipe run empirical_fc {params.cli} --params {params.config:q} --log {log:q}"

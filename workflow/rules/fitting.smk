# Fitting stages: explore -> fit_global -> fit_regional -> simulate_fitted.
# Each can be switched off; a stage starts from the last enabled one before it.


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
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_explore.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_explore.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "tvbo-pipe run explore {params.cli} --params {params.config:q} --log {log:q}"


rule fit_global:
    input:
        unpack(fit_inputs("fit_global")),
    output:
        params=out("fit_global_params"),
        trajectory=out("fit_global_trajectory"),
    params:
        config=fit_params("fit_global"),
        cli=fit_cli,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_fit_global.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_fit_global.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "tvbo-pipe run fit_global {params.cli} --params {params.config:q} --log {log:q}"


rule fit_regional:
    input:
        unpack(fit_inputs("fit_regional")),
    output:
        params=out("fit_regional_params"),
        trajectory=out("fit_regional_trajectory"),
    params:
        config=fit_params("fit_regional"),
        cli=fit_cli,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_fit_regional.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_fit_regional.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "tvbo-pipe run fit_regional {params.cli} --params {params.config:q} --log {log:q}"



rule simulate_fitted:
    input:
        unpack(fit_inputs("simulate_fitted")),
    output:
        **simulate_fitted_outputs(),
    params:
        config=fit_params("simulate_fitted"),
        cli=cli_args,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_simulate_fitted.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_simulate_fitted.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "tvbo-pipe run simulate_fitted {params.cli} --params {params.config:q} --log {log:q}"

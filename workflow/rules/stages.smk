# One rule per stage of tvbo_pipe.pipeline.STAGES (connectome, empirical_fc,
# explore, fit_global, fit_regional, simulate_fitted, export, group_summary,
# and the dataset files): inputs, outputs, params and resources come from the
# declaration; each job runs `tvbo-pipe run STAGE`, one stage function of
# tvbo_pipe.stages. A stage without declared resources is a local rule (run
# by Snakemake itself, not submitted to a cluster). A stage that is switched
# off keeps its rule; no target asks for its outputs.


for _stage in pipeline.STAGES:

    rule:
        name:
            _stage.name
        localrule: _stage.resources is None
        input:
            unpack(stage_inputs(_stage.name)),
        output:
            **stage_outputs(_stage.name),
        params:
            config=stage_params(_stage.name),
            cli=stage_cli(_stage.name),
        conda:
            ENV
        log:
            stage_log(_stage.name),
        benchmark:
            stage_benchmark(_stage.name)
        threads: stage_threads(_stage.name)
        resources:
            **stage_resources(_stage.name),
        shell:
            # params.cli starts with the stage name (the loop variable is gone when
            # Snakemake formats the command of a job)
            "tvbo-pipe run {params.cli} --params {params.config:q} --log {log:q}"

# Connectome stage: load, check and normalise each subject's SC.



rule connectome:
    input:
        unpack(connectome_inputs),
    output:
        sc_weights=out("sc_weights"),
        sc_weights_json=out("sc_weights_json"),
        sc_lengths=out("sc_lengths"),
        sc_lengths_json=out("sc_lengths_json"),
    params:
        config=stage_params(
            inputs_sc=config["inputs"]["sc"],
            connectome=config["connectome"],
            atlas=config["atlas"],
            bids_dir=config["bids_dir"],
        ),
        cli=cli_args,
    conda:
        ENV
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_connectome.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_connectome.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "tvbo-pipe run connectome {params.cli} --params {params.config:q} --log {log:q}"

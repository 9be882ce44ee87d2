# Empirical FC stage: functional runs -> FC (and FCD) per subject-session.


def functional_inputs(wildcards):
    u = unit(wildcards)
    files = {"functional": list(u.functional), "sc_weights": out("sc_weights").format(**wildcards)}
    if u.dseg:
        files["dseg"] = u.dseg
    return files


def empirical_fc_outputs():
    files = {
        "empirical_fc": out("empirical_fc"),
        "empirical_fc_json": out("empirical_fc_json"),
    }
    if config["empirical_fc"]["holdout_runs"]:
        files["empirical_fc_heldout"] = out("empirical_fc_heldout")
        files["empirical_fc_heldout_json"] = out("empirical_fc_heldout_json")
    if config["empirical_fc"]["fcd"]["enabled"]:
        files["empirical_fcd"] = out("empirical_fcd")
        files["empirical_fcd_json"] = out("empirical_fcd_json")
    return files


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
    log:
        f"{LOGS}/{{subdir}}/{{prefix}}_empirical_fc.log",
    benchmark:
        f"{BENCH}/{{subdir}}/{{prefix}}_empirical_fc.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "{PYTHON} -m tvbo_pipe empirical_fc {params.cli} --params {params.config:q} --log {log:q}"

# tvbo_pipe: fit whole-brain network models to every subject of a BIDS dataset.
# Run `snakemake --cores N`; settings in config/config.yaml (schema: workflow/schemas/).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/connectome.smk"
include: "workflow/rules/empirical_fc.smk"
include: "workflow/rules/fitting.smk"
include: "workflow/rules/export.smk"


rule all:
    input:
        all_outputs(),
    default_target: True


# BIDS-app levels (`tvbo-pipe BIDS OUT participant|group`): the per-subject
# outputs of the selected participants, then everything (group level).
rule participant:
    input:
        participant_outputs(),


rule group:
    input:
        rules.all.input,


localrules:
    all,
    participant,
    group,
    dataset_description,

# tvbo_pipe: fit whole-brain network models to every subject of a BIDS dataset.
# Run `snakemake --cores N` (each rule in workflow/envs/tvbo_pipe.yaml with
# `--sdm conda`); settings in config/config.yaml (schema: workflow/schemas/).
from snakemake.utils import min_version

from tvbo_pipe import __version__

min_version("9.0")


# The BIDS-app image (Dockerfile, Apptainer.def) that every rule runs in with
# --software-deployment-method apptainer; with conda, workflow/envs/tvbo_pipe.yaml.
container: f"docker://ghcr.io/tvbo-pipe/tvbo_pipe:{__version__}"


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"


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

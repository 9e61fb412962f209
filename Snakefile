# senca-st: spatial domains from spatial transcriptomics fused with H&E (SENCA-st).
#   snakemake --cores 8 [--use-conda] [--configfile config/her2st.yaml]


from snakemake.utils import min_version

min_version("9.0")


# Every default, with its reason; then the user's settings (config/config.yaml, --configfile).
configfile: "src/senca_st/defaults.yaml"
configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/demo.smk"
include: "rules/preprocess.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/cluster.smk"
include: "rules/groups.smk"
include: "rules/evaluate.smk"
include: "rules/outputs.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),

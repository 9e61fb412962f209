"""Rule aggregate_metrics: all sections x methods into results/metrics/."""

from senca_st.runlog import rule_step
from senca_st.steps import aggregate_step

with rule_step(snakemake.log[0]):
    aggregate_step(
        metrics=list(snakemake.input.metrics),
        region_f1=list(snakemake.input.region_f1),
        ari_out=snakemake.output.ari,
        f1_out=snakemake.output.region_f1,
        groups=list(snakemake.input.groups),
        groups_out=snakemake.output.groups,
    )

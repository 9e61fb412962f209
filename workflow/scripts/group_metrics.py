"""Rule group_metrics: shared regions and section mixing of one method's joint results."""

from senca_st.runlog import rule_step
from senca_st.group_steps import group_metrics_step

with rule_step(snakemake.log[0]):
    group_metrics_step(
        preprocessed=snakemake.input.preprocessed,
        embedding=snakemake.input.embedding,
        clusters=snakemake.input.clusters,
        output=snakemake.output[0],
        group=snakemake.params.group,
        method=snakemake.params.method,
    )

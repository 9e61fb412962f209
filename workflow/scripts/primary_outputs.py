"""Rule primary_outputs: the section's main embedding and regions at results/{sample}/."""

from senca_st.runlog import rule_step
from senca_st.steps import primary_step

with rule_step(snakemake.log[0]):
    primary_step(
        snakemake.input.embedding,
        snakemake.input.clusters,
        snakemake.output.embedding,
        snakemake.output.clusters,
    )

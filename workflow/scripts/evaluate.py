"""Rule evaluate: ARI, NMI and per-region F1 of one method on one section."""

from senca_st.runlog import rule_step
from senca_st.steps import evaluate_step

with rule_step(snakemake.log[0]):
    evaluate_step(
        spots=snakemake.input.spots,
        embedding=snakemake.input.embedding,
        clusters=snakemake.input.clusters,
        runs=list(snakemake.input.runs),
        metrics=snakemake.output.metrics,
        region_f1=snakemake.output.region_f1,
        sample=snakemake.params.sample,
        method=snakemake.params.method,
        group=snakemake.params.group,
    )

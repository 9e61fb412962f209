"""Rule consensus: a SENCA-st variant's per-seed clusters -> one clusters.tsv and embedding.h5ad."""

from senca_st.runlog import rule_step
from senca_st.steps import consensus_step

with rule_step(snakemake.log[0]):
    consensus_step(
        runs=list(snakemake.input.clusters),
        embeddings=list(snakemake.input.embeddings),
        seeds=list(snakemake.params.seeds),
        out_clusters=snakemake.output.clusters,
        out_embedding=snakemake.output.embedding,
    )

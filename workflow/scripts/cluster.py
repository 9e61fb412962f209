"""Rule cluster: Ward agglomerative clustering of an embedding."""

from senca_st.runlog import rule_step
from senca_st.steps import cluster_step

with rule_step(snakemake.log[0]):
    cluster_step(
        embedding=snakemake.input.embedding,
        spots=snakemake.input.spots,
        output=snakemake.output[0],
        n_clusters=snakemake.params.n_clusters,
        default_n_clusters=snakemake.params.default_n_clusters,
    )

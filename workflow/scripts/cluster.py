"""Rule cluster: an embedding's regions (tied-covariance Gaussian mixture, or Ward; a group's matched across sections; refined with cluster.refine)."""

from senca_st.runlog import rule_step
from senca_st.steps import cluster_step

with rule_step(snakemake.log[0]):
    cluster_step(
        embedding=snakemake.input.embedding,
        spots=snakemake.input.spots,
        output=snakemake.output[0],
        n_clusters=snakemake.params.n_clusters,
        default_n_clusters=snakemake.params.default_n_clusters,
        method=snakemake.params.method,
        pcs=snakemake.params.pcs,
        seed=snakemake.params.seed,
        group_regions=snakemake.params.group_regions,
        refine=snakemake.params.refine,
    )

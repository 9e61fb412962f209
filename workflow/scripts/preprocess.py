"""Rule preprocess: normalise, log1p, top HVGs."""

from senca_st.runlog import rule_step
from senca_st.steps import preprocess_step

with rule_step(snakemake.log[0]):
    preprocess_step(
        snakemake.input[0],
        snakemake.output[0],
        n_top_genes=snakemake.params.n_top_genes,
        hvg_flavor=snakemake.params.hvg_flavor,
        min_spots_per_gene=snakemake.params.min_spots_per_gene,
        min_counts_per_spot=snakemake.params.min_counts_per_spot,
        min_spots=snakemake.params.min_spots,
    )

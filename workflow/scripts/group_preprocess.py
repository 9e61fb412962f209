"""Rule group_preprocess: a group's sections -> one AnnData, each section its own spot graph."""

from senca_st.runlog import rule_step
from senca_st.group_steps import group_preprocess_step

with rule_step(snakemake.log[0]):
    group_preprocess_step(
        spots=list(snakemake.input.spots),
        preprocessed=list(snakemake.input.preprocessed),
        sections=list(snakemake.params.sections),
        output=snakemake.output[0],
        n_top_genes=snakemake.params.n_top_genes,
        min_spots_per_gene=snakemake.params.min_spots_per_gene,
        hvg_flavor=snakemake.params.hvg_flavor,
    )

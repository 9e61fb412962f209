"""Rule baseline_embedding: rna_pca, image_only or concat."""

from senca_st.runlog import rule_step
from senca_st.steps import baseline_step

with rule_step(snakemake.log[0]):
    baseline_step(
        preprocessed=snakemake.input.preprocessed,
        features=snakemake.input.get("features", ""),
        output=snakemake.output[0],
        method=snakemake.params.method,
        n_components=snakemake.params.n_components,
    )

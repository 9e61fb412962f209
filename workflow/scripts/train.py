"""Rule train: SENCA-st (or a variant) on one section -> embedding.h5ad + model.pt."""

from senca_st.method.training import train_step
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    train_step(
        preprocessed=snakemake.input.preprocessed,
        features=snakemake.input.get("features", ""),
        gate=snakemake.input.get("gate", ""),
        embedding_out=snakemake.output.embedding,
        model_out=snakemake.output.model,
        method=snakemake.params.method,
        settings=dict(snakemake.params.settings),
        threads=snakemake.threads,
    )

"""Rule group_features: the sections' image features in the group's spot order."""

from senca_st.runlog import rule_step
from senca_st.group_steps import group_features_step

with rule_step(snakemake.log[0]):
    group_features_step(
        features=list(snakemake.input.features),
        preprocessed=list(snakemake.input.preprocessed),
        output=snakemake.output[0],
    )

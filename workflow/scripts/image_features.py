"""Rule image_features: frozen ResNet-50 features of each spot's patch."""

from senca_st.features import features_step
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    features_step(
        patches=snakemake.input.patches,
        output=snakemake.output[0],
        weights=snakemake.input.get("weights", ""),
        batch_size=snakemake.params.batch_size,
        input_px=snakemake.params.input_px,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )

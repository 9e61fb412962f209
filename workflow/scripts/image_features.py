"""Rule image_features: a patch per spot cut from the H&E, and its frozen image-encoder features."""

from senca_st.runlog import rule_step
from senca_st.steps import image_features_step

with rule_step(snakemake.log[0]):
    image_features_step(
        spots=snakemake.input.spots,
        image=snakemake.input.image,
        output=snakemake.output.features,
        metadata=snakemake.output.metadata,
        patch_px=snakemake.params.patch_px,
        degree=snakemake.params.degree,
        image_spec=snakemake.params.image_spec,
        encoder=snakemake.params.encoder,
        weights=snakemake.input.get("weights", ""),
        batch_size=snakemake.params.batch_size,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )

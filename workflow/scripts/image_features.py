"""Rule image_features: a patch per spot cut from the H&E, and its frozen ResNet-50 features."""

from senca_st.runlog import rule_step
from senca_st.steps import image_features_step

with rule_step(snakemake.log[0]):
    image_features_step(
        spots=snakemake.input.spots,
        image=snakemake.input.image,
        output=snakemake.output[0],
        patch_px=snakemake.params.patch_px,
        degree=snakemake.params.degree,
        dataset=snakemake.params.dataset,
        visium_dir=snakemake.params.visium_dir,
        user_image=snakemake.params.user_image,
        weights=snakemake.input.get("weights", ""),
        batch_size=snakemake.params.batch_size,
        input_px=snakemake.params.input_px,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )

"""Rule tile_patches: one H&E patch per spot."""

from senca_st.runlog import rule_step
from senca_st.steps import tile_step

with rule_step(snakemake.log[0]):
    tile_step(
        spots=snakemake.input.spots,
        image=snakemake.input.image,
        output=snakemake.output[0],
        patch_px=snakemake.params.patch_px,
        degree=snakemake.params.degree,
        dataset=snakemake.params.dataset,
        visium_dir=snakemake.params.visium_dir,
        user_image=snakemake.params.user_image,
    )

"""Rule section_figure: primary clusters and pathologist regions over the H&E thumbnail."""

from senca_st.report.figures import image_scale, section_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    image = snakemake.input.image or None
    section_figure(
        spots=snakemake.input.spots,
        clusters=snakemake.input.clusters,
        output=snakemake.output[0],
        sample=snakemake.params.sample,
        method=snakemake.params.method,
        image=image,
        markers=snakemake.input.markers,
        image_scale=image_scale(
            snakemake.params.dataset,
            snakemake.params.visium_dir,
            snakemake.params.user_image,
            has_image=bool(image),
        ),
    )

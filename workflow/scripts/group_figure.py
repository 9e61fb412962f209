"""Rule group_figure: a group's sections side by side, coloured by their joint regions."""

from senca_st.report.figures import group_figure, image_scale
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    group_figure(
        spots=list(snakemake.input.spots),
        clusters=list(snakemake.input.clusters),
        output=snakemake.output[0],
        markers=snakemake.input.markers,
        group=snakemake.params.group,
        method=snakemake.params.method,
        sections=list(snakemake.params.sections),
        images=[i or None for i in snakemake.params.images],
        image_scales=[
            image_scale(dataset, visium_dir, user_image, has_image=bool(image))
            for dataset, visium_dir, user_image, image in zip(
                snakemake.params.datasets, snakemake.params.visium_dirs, snakemake.params.user_images, snakemake.params.images
            )
        ],
    )

"""Rule group_figure: a group's sections side by side, coloured by their joint regions."""

from senca_st.io.section_image import resolve_image
from senca_st.report.figures import group_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    sources = [resolve_image(image or None, **spec) for image, spec in zip(snakemake.params.images, snakemake.params.image_specs)]
    group_figure(
        spots=list(snakemake.input.spots),
        clusters=list(snakemake.input.clusters),
        output=snakemake.output[0],
        markers=snakemake.input.markers,
        group=snakemake.params.group,
        method=snakemake.params.method,
        sections=list(snakemake.params.sections),
        images=sources,
        image_scales=[s.scale if s else 1.0 for s in sources],
    )

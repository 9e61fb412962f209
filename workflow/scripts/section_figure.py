"""Rule section_figure: primary clusters and pathologist regions over the H&E thumbnail."""

from senca_st.io.section_image import resolve_image
from senca_st.report.figures import section_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    source = resolve_image(snakemake.input.image or None, **snakemake.params.image_spec)
    section_figure(
        spots=snakemake.input.spots,
        clusters=snakemake.input.clusters,
        output=snakemake.output[0],
        sample=snakemake.params.sample,
        method=snakemake.params.method,
        image=source,
        markers=snakemake.input.markers,
        image_scale=source.scale if source else 1.0,
    )

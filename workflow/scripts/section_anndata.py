"""Rule section_anndata: one squidpy/scanpy-ready AnnData per section (results/{sample}/section.h5ad)."""

from senca_st.io.section_image import resolve_image
from senca_st.report.section import section_anndata
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    methods = snakemake.params.methods
    source = resolve_image(snakemake.input.image or None, **snakemake.params.image_spec)
    section_anndata(
        spots=snakemake.input.spots,
        preprocessed=snakemake.input.preprocessed,
        clusters=dict(zip(methods, snakemake.input.clusters)),
        embeddings=dict(zip(methods, snakemake.input.embeddings)),
        primary=snakemake.params.primary,
        sample=snakemake.params.sample,
        output=snakemake.output[0],
        image=source,
        image_scale=source.scale if source else 1.0,
    )

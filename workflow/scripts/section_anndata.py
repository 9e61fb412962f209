"""Rule section_anndata: one squidpy/scanpy-ready AnnData per section (results/{sample}/section.h5ad)."""

from senca_st.report.figures import image_scale
from senca_st.report.section import section_anndata
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    methods = snakemake.params.methods
    image = snakemake.input.image or None
    section_anndata(
        spots=snakemake.input.spots,
        preprocessed=snakemake.input.preprocessed,
        clusters=dict(zip(methods, snakemake.input.clusters)),
        embeddings=dict(zip(methods, snakemake.input.embeddings)),
        primary=snakemake.params.primary,
        sample=snakemake.params.sample,
        output=snakemake.output[0],
        image=image,
        image_scale=image_scale(
            snakemake.params.dataset,
            snakemake.params.visium_dir,
            snakemake.params.user_image,
            has_image=bool(image),
        ),
    )

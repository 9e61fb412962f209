"""Rule load_section: a section's raw files -> results/{sample}/spots.h5ad."""

from senca_st.runlog import rule_step
from senca_st.steps import load_section

with rule_step(snakemake.log[0]):
    load_section(
        dataset=snakemake.params.dataset,
        output=snakemake.output[0],
        counts=snakemake.input.get("counts", ""),
        spots=snakemake.input.get("spots", ""),
        labels=snakemake.input.get("labels", ""),
        visium_dir=snakemake.params.visium_dir,
        h5ad=snakemake.input.get("h5ad", ""),
        label_key=snakemake.params.label_key,
        sample=snakemake.wildcards.sample,
    )

"""Rule joint_section: one section's part of its group's clusters.tsv or embedding.h5ad."""

from senca_st.runlog import rule_step
from senca_st.group_steps import section_part_step

with rule_step(snakemake.log[0]):
    section_part_step(source=snakemake.input[0], output=snakemake.output[0], section=snakemake.params.section)

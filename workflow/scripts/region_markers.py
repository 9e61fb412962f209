"""Rule region_markers: the genes marking each of the section's primary regions."""

from senca_st.evaluation.markers import section_markers_step
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    section_markers_step(snakemake.input[0], snakemake.output[0])

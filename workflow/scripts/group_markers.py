"""Rule group_markers: the genes marking each of a group's shared regions, its sections' spots pooled."""

from senca_st.evaluation.markers import group_markers_step
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    group_markers_step(list(snakemake.input), snakemake.params.sections, snakemake.output[0], snakemake.params.column)

"""Rule marker_figure: dot plot of each region's top marker genes."""

from senca_st.report.marker_figure import marker_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    marker_figure(snakemake.input.section, snakemake.input.markers, snakemake.output[0], snakemake.params.title)

"""Rule metrics_figure: the ARI/NMI table as bars per method."""

from senca_st.report.study_figures import metrics_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    metrics_figure(snakemake.input[0], snakemake.output[0])

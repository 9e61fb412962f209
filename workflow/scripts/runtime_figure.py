"""Rule runtime_figure: wall time and peak memory per rule from benchmarks/runs/."""

from senca_st.report.study_figures import runtime_figure
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    runtime_figure(snakemake.params.benchmarks, snakemake.output[0])

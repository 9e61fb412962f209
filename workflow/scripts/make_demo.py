"""Rule make_demo: generate the embedded demo section."""

from pathlib import Path

from senca_st.io.demo import make_demo_section
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]) as log:
    paths = make_demo_section(
        Path(snakemake.output.counts).parent,
        seed=snakemake.params.seed,
        section=snakemake.params.section,
        n_spots=snakemake.params.n_spots or None,
        pitch=float(snakemake.params.pitch_px),
    )
    log.info("demo section written: %s", ", ".join(str(p) for p in paths.values()))

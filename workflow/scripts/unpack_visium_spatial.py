"""Rule unpack_visium_spatial: a 10x dataset's spatial tarball -> resources/visium/{id}/outs/spatial/."""

from pathlib import Path

from senca_st.io.visium_datasets import unpack_spatial
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]) as log:
    spatial = unpack_spatial(snakemake.input[0], Path(snakemake.output[0]).parent.parent)
    log.info("unpacked %s -> %s", snakemake.input[0], spatial)

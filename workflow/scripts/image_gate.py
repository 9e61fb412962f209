"""Rule image_gate: preprocessed.h5ad + image_features.npy -> image_gate.json (once per section)."""

from senca_st.method.image_gate import image_gate_step
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    image_gate_step(
        preprocessed=snakemake.input.preprocessed,
        features=snakemake.input.features,
        out=snakemake.output[0],
    )

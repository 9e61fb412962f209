"""Rule download_resnet_weights: torchvision's ImageNet ResNet-50 file, sha256 prefix checked."""

from senca_st.method.features import download_weights
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    download_weights(snakemake.output[0])

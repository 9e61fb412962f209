"""Rule download_resnet_weights: torchvision's ImageNet ResNet-50 file, through its weights API (hash checked)."""

from senca_st.method.encoders import download_resnet50
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]):
    download_resnet50(snakemake.output[0])

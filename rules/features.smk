# Frozen image-encoder features of each spot's H&E patch (features.encoder; computed once per
# section; the patches are cut from the image in batches as the network takes them, never all
# stored), the optional download of torchvision's ResNet-50 weights (encoder_weights: common.smk),
# and the section's image gate (train.image_gate), read by every fused training job of the section.
rule download_resnet_weights:
    output:
        RESNET_WEIGHTS_FILE,
    log:
        "logs/download_resnet_weights.log",
    benchmark:
        "benchmarks/runs/download_resnet_weights.tsv"
    conda:
        "../envs/image_features.yaml"
    script:
        "../workflow/scripts/download_resnet_weights.py"


rule image_features:
    input:
        spots="results/{sample}/preprocessed.h5ad",
        image=section_image,
        weights=encoder_weights,
    output:
        features="results/{sample}/image_features.npy",
        metadata="results/{sample}/image_features.json",
    log:
        "logs/image_features/{sample}.log",
    benchmark:
        "benchmarks/runs/image_features/{sample}.tsv"
    conda:
        "../envs/image_features.yaml"
    threads: 2
    params:
        code=code_digest(
            "method/features",
            "method/encoders",
            "device",
            "method/patches",
            "io/image_io",
            "io/section_image",
        ),
        patch_px=config["tiling"]["patch_px"],
        degree=config["tiling"]["neighbour_degree"],
        image_spec=lambda wc: image_spec(wc.sample),
        encoder=config["features"]["encoder"],
        batch_size=config["features"]["batch_size"],
        device=config["train"]["device"],
    script:
        "../workflow/scripts/image_features.py"


rule image_gate:
    input:
        preprocessed="results/{sample}/preprocessed.h5ad",
        features="results/{sample}/image_features.npy",
    output:
        "results/{sample}/image_gate.json",
    log:
        "logs/image_gate/{sample}.log",
    benchmark:
        "benchmarks/runs/image_gate/{sample}.tsv"
    wildcard_constraints:
        sample=unit_pattern(),
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        code=code_digest("method/image_gate", "method/baselines"),
    script:
        "../workflow/scripts/image_gate.py"

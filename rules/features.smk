# Frozen ResNet-50 features of each spot's H&E patch (computed once per section; the patches are
# cut from the image in batches as the network takes them, never all stored), and the
# optional download of torchvision's published ImageNet weights (resnet_weights: common.smk).
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
        weights=resnet_weights,
    output:
        "results/{sample}/image_features.npy",
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
            "method/resnet",
            "device",
            "method/patches",
            "io/image_io",
        ),
        patch_px=config["tiling"]["patch_px"],
        degree=config["tiling"]["neighbour_degree"],
        dataset=lambda wc: _row(wc.sample)["dataset"],
        visium_dir=lambda wc: visium_outs(wc.sample),
        user_image=lambda wc: section_user_image(wc.sample),
        batch_size=config["features"].get("batch_size", 32),
        input_px=config["features"].get("input_px", 224),
        device=config["train"].get("device", "auto"),
    script:
        "../workflow/scripts/image_features.py"

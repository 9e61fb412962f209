rule tile_patches:
    input:
        spots="results/{sample}/preprocessed.h5ad",
        image=section_image,
    output:
        "results/{sample}/patches.npy",
    log:
        "logs/tile_patches/{sample}.log",
    benchmark:
        "benchmarks/runs/tile_patches/{sample}.tsv"
    conda:
        "../envs/tiling.yaml"
    params:
        code=code_digest("patches", "image_io"),
        patch_px=config["tiling"]["patch_px"],
        degree=config["tiling"]["neighbour_degree"],
        dataset=lambda wc: _row(wc.sample)["dataset"],
        visium_dir=lambda wc: visium_outs(wc.sample),
        user_image=lambda wc: section_user_image(wc.sample),
    script:
        "../workflow/scripts/tile_patches.py"

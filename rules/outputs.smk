# What a user opens: one AnnData per section (squidpy/scanpy-ready) and the genes marking its regions.
# final_targets() (common.smk) adds them to `all`.


rule section_anndata:
    input:
        spots="results/{sample}/spots.h5ad",
        preprocessed="results/{sample}/preprocessed.h5ad",
        clusters=lambda wc: expand(
            "results/{s}/methods/{m}/clusters.tsv",
            s=wc.sample,
            m=section_file_methods(wc.sample),
        ),
        embeddings=lambda wc: expand(
            "results/{s}/methods/{m}/embedding.h5ad",
            s=wc.sample,
            m=section_file_methods(wc.sample),
        ),
        image=section_image,
    output:
        "results/{sample}/section.h5ad",
    log:
        "logs/section_anndata/{sample}.log",
    benchmark:
        "benchmarks/runs/section_anndata/{sample}.tsv"
    conda:
        "../envs/outputs.yaml"
    params:
        code=code_digest("report/section", "io/section_image"),
        sample="{sample}",
        methods=lambda wc: section_file_methods(wc.sample),
        primary=lambda wc: primary_method(wc.sample),
        image_spec=lambda wc: image_spec(wc.sample),
    script:
        "../workflow/scripts/section_anndata.py"


rule region_markers:
    input:
        "results/{sample}/section.h5ad",
    output:
        "results/{sample}/region_markers.tsv",
    log:
        "logs/region_markers/{sample}.log",
    benchmark:
        "benchmarks/runs/region_markers/{sample}.tsv"
    conda:
        "../envs/outputs.yaml"
    params:
        code=code_digest("evaluation/markers"),
    script:
        "../workflow/scripts/region_markers.py"


# A group's shared regions (the joint method of its figure): its sections' spots pooled.
rule group_markers:
    input:
        lambda wc: expand("results/{s}/section.h5ad", s=GROUPS[wc.group]),
    output:
        "results/groups/{group}/region_markers.tsv",
    log:
        "logs/group_markers/{group}.log",
    benchmark:
        "benchmarks/runs/group_markers/{group}.tsv"
    conda:
        "../envs/outputs.yaml"
    params:
        code=code_digest("evaluation/markers"),
        sections=lambda wc: GROUPS[wc.group],
        column=lambda wc: f"region_{group_primary_method(wc.group)}{JOINT}",
    script:
        "../workflow/scripts/group_markers.py"

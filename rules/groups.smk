# Groups: sections that share a `group` in the sample sheet are also trained and clustered
# together (senca_st.method.groups). The group's files live under results/groups/{group}/; the
# rules train, baseline_embedding, cluster and consensus run there as on a section
# (sample=groups/{group}). Each section then gets its part under methods/{method}_joint/,
# which rule evaluate scores like any method.


rule group_preprocess:
    input:
        spots=lambda wc: expand("results/{s}/spots.h5ad", s=GROUPS[wc.group]),
        preprocessed=lambda wc: expand(
            "results/{s}/preprocessed.h5ad", s=GROUPS[wc.group]
        ),
    output:
        "results/groups/{group}/preprocessed.h5ad",
    log:
        "logs/group_preprocess/{group}.log",
    benchmark:
        "benchmarks/runs/group_preprocess/{group}.tsv"
    conda:
        "../envs/preprocess.yaml"
    params:
        code=code_digest("method/groups", "method/preprocess", "method/scaling"),
        sections=lambda wc: GROUPS[wc.group],
        n_top_genes=config["preprocess"]["n_top_genes"],
        min_spots_per_gene=config["preprocess"]["min_spots_per_gene"],
        hvg_flavor=config["preprocess"]["hvg_flavor"],
    script:
        "../workflow/scripts/group_preprocess.py"


rule group_features:
    input:
        features=lambda wc: expand("results/{s}/image_features.npy", s=GROUPS[wc.group]),
        preprocessed=lambda wc: expand(
            "results/{s}/preprocessed.h5ad", s=GROUPS[wc.group]
        ),
    output:
        "results/groups/{group}/image_features.npy",
    log:
        "logs/group_features/{group}.log",
    benchmark:
        "benchmarks/runs/group_features/{group}.tsv"
    conda:
        "../envs/preprocess.yaml"
    script:
        "../workflow/scripts/group_features.py"


# A section's part of its group's regions and embedding: {run} is senca_rna_joint,
# senca_rna_joint/seed0 or rna_pca_joint; the group's file drops the _joint.
rule joint_section:
    input:
        group_run,
    output:
        "results/{sample}/methods/{run}/{file}",
    log:
        "logs/joint_section/{sample}/{run}/{file}.log",
    benchmark:
        "benchmarks/runs/joint_section/{sample}/{run}/{file}.tsv"
    wildcard_constraints:
        run=joint_run_pattern(),
        file="clusters.tsv|embedding.h5ad",
    conda:
        "../envs/cluster.yaml"
    params:
        section="{sample}",
    script:
        "../workflow/scripts/joint_section.py"


rule group_metrics:
    input:
        preprocessed="results/groups/{group}/preprocessed.h5ad",
        embedding="results/groups/{group}/methods/{method}/embedding.h5ad",
        clusters="results/groups/{group}/methods/{method}/clusters.tsv",
    output:
        "results/groups/{group}/methods/{method}/group_metrics.tsv",
    log:
        "logs/group_metrics/{group}/{method}.log",
    benchmark:
        "benchmarks/runs/group_metrics/{group}/{method}.tsv"
    conda:
        "../envs/cluster.yaml"
    params:
        code=code_digest("method/groups", "evaluation/metrics"),
        group="{group}",
        method="{method}",
    script:
        "../workflow/scripts/group_metrics.py"

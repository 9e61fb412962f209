rule baseline_embedding:
    input:
        preprocessed="results/{sample}/preprocessed.h5ad",
        features=lambda wc: (
            f"results/{wc.sample}/image_features.npy"
            if senca_methods.method(wc.method).needs_image
            else []
        ),
    output:
        "results/{sample}/methods/{method}/embedding.h5ad",
    log:
        "logs/baseline_embedding/{sample}/{method}.log",
    benchmark:
        "benchmarks/runs/baseline_embedding/{sample}/{method}.tsv"
    wildcard_constraints:
        sample=unit_pattern(),
        method=baseline_pattern(),
    conda:
        "../envs/cluster.yaml"
    params:
        code=code_digest("method/baselines"),
        method="{method}",
        n_components=config["baselines"]["n_components"],
    script:
        "../workflow/scripts/baseline_embedding.py"


# {run}: a baseline (rna_pca), or one seed of a SENCA-st variant (senca/seed0); see run_pattern().
# {sample} here and in baseline_embedding, train and consensus: a section or groups/{group}.
rule cluster:
    input:
        embedding="results/{sample}/methods/{run}/embedding.h5ad",
        spots="results/{sample}/preprocessed.h5ad",
    output:
        "results/{sample}/methods/{run}/clusters.tsv",
    log:
        "logs/cluster/{sample}/{run}.log",
    benchmark:
        "benchmarks/runs/cluster/{sample}/{run}.tsv"
    wildcard_constraints:
        sample=unit_pattern(),
        run=run_pattern(),
    conda:
        "../envs/cluster.yaml"
    params:
        code=code_digest("method/clustering", "method/groups", "evaluation/matching"),
        n_clusters=n_clusters,
        default_n_clusters=config["cluster"]["default_n_clusters"],
        method=config["cluster"]["method"],
        pcs=config["cluster"]["pcs"],
        seed=lambda wc: run_seed(wc.run),
        group_regions=config["groups"]["regions"],
        refine=config["cluster"]["refine"],
    script:
        "../workflow/scripts/cluster.py"


# One answer per SENCA-st variant from its seeds (senca_st.method.consensus: Hungarian alignment to the
# medoid seed, then a majority vote), at the path a baseline's clusters have.
rule consensus:
    input:
        clusters=lambda wc: expand(
            "results/{sample}/methods/{method}/seed{seed}/clusters.tsv",
            seed=unit_seeds(wc.sample),
            **wc,
        ),
        embeddings=lambda wc: expand(
            "results/{sample}/methods/{method}/seed{seed}/embedding.h5ad",
            seed=unit_seeds(wc.sample),
            **wc,
        ),
    output:
        clusters="results/{sample}/methods/{method}/clusters.tsv",
        embedding="results/{sample}/methods/{method}/embedding.h5ad",
    log:
        "logs/consensus/{sample}/{method}.log",
    benchmark:
        "benchmarks/runs/consensus/{sample}/{method}.tsv"
    wildcard_constraints:
        sample=unit_pattern(),
        method=seeded_pattern(),
    conda:
        "../envs/cluster.yaml"
    params:
        code=code_digest("method/consensus", "evaluation/matching"),
        seeds=lambda wc: unit_seeds(wc.sample),
    script:
        "../workflow/scripts/consensus.py"


rule primary_outputs:
    input:
        embedding=lambda wc: f"results/{wc.sample}/methods/{primary_method(wc.sample)}/embedding.h5ad",
        clusters=lambda wc: f"results/{wc.sample}/methods/{primary_method(wc.sample)}/clusters.tsv",
    output:
        embedding="results/{sample}/embedding.h5ad",
        clusters="results/{sample}/clusters.tsv",
    log:
        "logs/primary_outputs/{sample}.log",
    benchmark:
        "benchmarks/runs/primary_outputs/{sample}.tsv"
    conda:
        "../envs/cluster.yaml"
    script:
        "../workflow/scripts/primary_outputs.py"

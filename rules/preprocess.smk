# A checkpoint: a section whose size the sheet does not tell is counted here (unit_seeds).
checkpoint load_section:
    input:
        unpack(section_inputs),
    output:
        "results/{sample}/spots.h5ad",
    log:
        "logs/load_section/{sample}.log",
    benchmark:
        "benchmarks/runs/load_section/{sample}.tsv"
    conda:
        "../envs/preprocess.yaml"
    params:
        code=code_digest(*READER_MODULES),
        dataset=lambda wc: _row(wc.sample)["dataset"],
        visium_dir=lambda wc: visium_outs(wc.sample),
        label_key=lambda wc: _row(wc.sample).get("label_key", ""),
    script:
        "../workflow/scripts/load_section.py"


rule preprocess:
    input:
        "results/{sample}/spots.h5ad",
    output:
        "results/{sample}/preprocessed.h5ad",
    log:
        "logs/preprocess/{sample}.log",
    benchmark:
        "benchmarks/runs/preprocess/{sample}.tsv"
    conda:
        "../envs/preprocess.yaml"
    params:
        code=code_digest("method/preprocess"),
        n_top_genes=config["preprocess"]["n_top_genes"],
        hvg_flavor=config["preprocess"]["hvg_flavor"],
        min_spots_per_gene=config["preprocess"]["min_spots_per_gene"],
        min_counts_per_spot=config["preprocess"]["min_counts_per_spot"],
        min_spots=min_spots,
    script:
        "../workflow/scripts/preprocess.py"

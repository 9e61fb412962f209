rule evaluate:
    input:
        spots="results/{sample}/preprocessed.h5ad",
        embedding="results/{sample}/methods/{method}/embedding.h5ad",
        clusters="results/{sample}/methods/{method}/clusters.tsv",
        # the runs whose mean and sd are reported: one per seed, a baseline's single run
        runs=lambda wc: [
            f"results/{wc.sample}/methods/{run}/clusters.tsv"
            for run in method_runs(wc.sample, wc.method)
        ],
    output:
        metrics="results/{sample}/methods/{method}/metrics.tsv",
        region_f1="results/{sample}/methods/{method}/region_f1.tsv",
    log:
        "logs/evaluate/{sample}/{method}.log",
    benchmark:
        "benchmarks/runs/evaluate/{sample}/{method}.tsv"
    conda:
        "../envs/cluster.yaml"
    params:
        code=code_digest("evaluation/metrics", "evaluation/matching"),
        sample="{sample}",
        method="{method}",
        group=lambda wc: section_group(wc.sample) if wc.method.endswith(JOINT) else "",
    script:
        "../workflow/scripts/evaluate.py"


rule aggregate_metrics:
    input:
        metrics=lambda wc: [
            f"results/{s}/methods/{m}/metrics.tsv"
            for s in samples.index
            if has_labels(s)
            for m in evaluated_methods(s)
        ],
        region_f1=lambda wc: [
            f"results/{s}/methods/{m}/region_f1.tsv"
            for s in samples.index
            if has_labels(s)
            for m in evaluated_methods(s)
        ],
        groups=lambda wc: [
            f"results/groups/{g}/methods/{m}/group_metrics.tsv"
            for g in GROUPS
            for m in joint_methods(g)
        ],
    output:
        ari=report(
            "results/metrics/ari.tsv",
            caption="../workflow/report/ari_table.rst",
            category="Metrics",
        ),
        region_f1="results/metrics/region_f1.tsv",
        groups=report(
            "results/metrics/groups.tsv",
            caption="../workflow/report/groups_table.rst",
            category="Metrics",
        ),
    log:
        "logs/aggregate_metrics.log",
    benchmark:
        "benchmarks/runs/aggregate_metrics.tsv"
    conda:
        "../envs/cluster.yaml"
    script:
        "../workflow/scripts/aggregate_metrics.py"

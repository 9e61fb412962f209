# The report's figures: one region map and one marker dot plot per section, the metrics chart, the runtimes.
# final_targets() (common.smk) adds them (report_figures()) to `all`.


rule section_figure:
    input:
        spots="results/{sample}/preprocessed.h5ad",
        clusters="results/{sample}/clusters.tsv",
        markers="results/{sample}/region_markers.tsv",
        image=section_image,
    output:
        report(
            "results/report/sections/{sample}.png",
            caption="../workflow/report/section_figure.rst",
            category="Regions",
            subcategory="{sample}",
            labels={"section": "{sample}", "figure": "region map"},
        ),
    log:
        "logs/section_figure/{sample}.log",
    benchmark:
        "benchmarks/runs/section_figure/{sample}.tsv"
    conda:
        "../envs/report.yaml"
    params:
        sample="{sample}",
        method=lambda wc: primary_method(wc.sample),
        image_spec=lambda wc: image_spec(wc.sample),
    script:
        "../workflow/scripts/section_figure.py"


rule marker_figure:
    input:
        section="results/{sample}/section.h5ad",
        markers="results/{sample}/region_markers.tsv",
    output:
        report(
            "results/report/markers/{sample}.png",
            caption="../workflow/report/marker_figure.rst",
            category="Regions",
            subcategory="{sample}",
            labels={"section": "{sample}", "figure": "marker genes"},
        ),
    log:
        "logs/marker_figure/{sample}.log",
    benchmark:
        "benchmarks/runs/marker_figure/{sample}.tsv"
    conda:
        "../envs/outputs.yaml"
    params:
        title=lambda wc: f"{wc.sample}: marker genes of the {primary_method(wc.sample)} regions",
    script:
        "../workflow/scripts/marker_figure.py"


rule metrics_figure:
    input:
        "results/metrics/ari.tsv",
    output:
        report(
            "results/report/metrics.png",
            caption="../workflow/report/metrics_figure.rst",
            category="Metrics",
            labels={"figure": "ARI and NMI per method"},
        ),
    log:
        "logs/metrics_figure.log",
    benchmark:
        "benchmarks/runs/metrics_figure.tsv"
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/metrics_figure.py"


rule runtime_figure:
    input:
        # Not read: the chart waits for every other job so that all their benchmarks exist.
        done=lambda wc: analysis_targets(),
        sections=expand("results/report/sections/{sample}.png", sample=samples.index),
        markers=expand("results/report/markers/{sample}.png", sample=samples.index),
        metrics="results/report/metrics.png",
    output:
        report(
            "results/report/runtimes.png",
            caption="../workflow/report/runtime_figure.rst",
            category="Runtimes",
            labels={"figure": "runtime per rule"},
        ),
    log:
        "logs/runtime_figure.log",
    benchmark:
        "benchmarks/runs/runtime_figure.tsv"
    conda:
        "../envs/report.yaml"
    params:
        benchmarks="benchmarks/runs",
    script:
        "../workflow/scripts/runtime_figure.py"


rule group_figure:
    input:
        spots=lambda wc: expand("results/{s}/preprocessed.h5ad", s=GROUPS[wc.group]),
        clusters=lambda wc: expand(
            "results/{s}/methods/{m}_joint/clusters.tsv",
            s=GROUPS[wc.group],
            m=group_primary_method(wc.group),
        ),
        markers="results/groups/{group}/region_markers.tsv",
        images=lambda wc: [
            section_image(type("W", (), {"sample": s})) for s in GROUPS[wc.group]
        ],
    output:
        report(
            "results/report/groups/{group}.png",
            caption="../workflow/report/group_figure.rst",
            category="Regions",
            subcategory="groups",
            labels={"group": "{group}", "figure": "joint regions"},
        ),
    log:
        "logs/group_figure/{group}.log",
    benchmark:
        "benchmarks/runs/group_figure/{group}.tsv"
    conda:
        "../envs/report.yaml"
    params:
        group="{group}",
        method=lambda wc: group_primary_method(wc.group) + JOINT,
        sections=lambda wc: GROUPS[wc.group],
        images=lambda wc: [
            section_image(type("W", (), {"sample": s})) or "" for s in GROUPS[wc.group]
        ],
        image_specs=lambda wc: [image_spec(s) for s in GROUPS[wc.group]],
    script:
        "../workflow/scripts/group_figure.py"

rule make_demo:
    output:
        counts="resources/demo/{sample}/counts.tsv.gz",
        spots="resources/demo/{sample}/spots.tsv",
        image="resources/demo/{sample}/image.png",
        labels="resources/demo/{sample}/labels.tsv",
    log:
        "logs/make_demo/{sample}.log",
    benchmark:
        "benchmarks/runs/make_demo/{sample}.tsv"
    conda:
        "../envs/demo.yaml"
    params:
        code=code_digest("io/demo"),
        seed=config.get("demo", {}).get("seed", 0),
        # an HD-sized section (benchmarks/scale.py): about n_spots spots, pitch_px image pixels apart
        n_spots=config.get("demo", {}).get("n_spots", 0),
        pitch_px=config.get("demo", {}).get("pitch_px", 40),
        # demo sections of one group are serial sections of one tumour (senca_st.io.demo)
        section=lambda wc: demo_section_index(wc.sample),
    script:
        "../workflow/scripts/make_demo.py"

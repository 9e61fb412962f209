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
        seed=config["demo"]["seed"],
        # an HD-sized section (benchmarks/scale.py): about n_spots spots, pitch_px image pixels apart
        n_spots=config["demo"]["n_spots"],
        pitch_px=config["demo"]["pitch_px"],
        # demo sections of one group are serial sections of one tumour (senca_st.io.demo)
        section=lambda wc: demo_section_index(wc.sample),
    script:
        "../workflow/scripts/make_demo.py"

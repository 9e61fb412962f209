# SENCA-st training, one job per section and variant (senca, the ablations, senca_rna).
# A GPU is used when the job sees one (train.device: auto); the SLURM profile requests it
# (profiles/slurm: set-resources: train: gpu: 1 -> sbatch --gpus=1). Locally nothing changes.


rule train:
    input:
        unpack(train_inputs),
    output:
        embedding="results/{sample}/methods/{method}/embedding.h5ad",
        model="results/{sample}/methods/{method}/model.pt",
    log:
        "logs/train/{sample}/{method}.log",
    benchmark:
        "benchmarks/runs/train/{sample}/{method}.tsv"
    wildcard_constraints:
        method="senca[a-z0-9_]*",
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        code=code_digest("model", "training", "device", "baselines"),
        method="{method}",
        settings=lambda wc: senca_methods.train_settings(config["train"], wc.method),
    script:
        "../workflow/scripts/train.py"

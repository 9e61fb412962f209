# SENCA-st training, one job per section, variant (senca, the ablations, senca_rna) and seed of
# train.seeds; rule consensus (cluster.smk) then makes one region map of a variant's seeds.
# A GPU is used when the job sees one (train.device: auto); the SLURM profile requests it
# (profiles/slurm: set-resources: train: gpu: 1 -> sbatch --gpus=1). Locally nothing changes.


rule train:
    input:
        unpack(train_inputs),
    output:
        embedding="results/{sample}/methods/{method}/seed{seed}/embedding.h5ad",
        model="results/{sample}/methods/{method}/seed{seed}/model.pt",
    log:
        "logs/train/{sample}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/runs/train/{sample}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        sample=unit_pattern(),
        method=seeded_pattern(),
        seed="[0-9]+",
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        code=code_digest(
            "method/model",
            "method/training",
            "method/scaling",
            "device",
            "method/baselines",
        ),
        method="{method}",
        # this seed's settings only: adding a seed to train.seeds trains that seed alone
        settings=lambda wc: senca_methods.run_settings(
            config["train"], wc.method, int(wc.seed)
        ),
    script:
        "../workflow/scripts/train.py"

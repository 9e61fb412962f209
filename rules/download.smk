# Upstream HER2ST files (almaan/her2st), downloaded on demand and verified against
# the manifest's size, sha256 and git blob SHA-1 (her2st_url, her2st_entry: common.smk).


rule download_her2st_file:
    output:
        "resources/her2st/{path}",
    log:
        "logs/download/{path}.log",
    benchmark:
        "benchmarks/runs/download/{path}.tsv"
    wildcard_constraints:
        path=r"data/.+",
    retries: 0
    localrule: True
    conda:
        "../envs/download.yaml"
    params:
        url=her2st_url,
        entry=her2st_entry,
    script:
        "../workflow/scripts/download_file.py"

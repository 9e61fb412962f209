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


# cSCC (GSE144240) files from GEO's per-sample supplementary folders (cscc_url: common.smk).
# GEO publishes no checksums: a file is verified as a complete gzip stream before it is renamed
# into place (senca_st.download.fetch, gzip check).
rule download_cscc_file:
    output:
        "resources/cscc/{path}",
    log:
        "logs/download_cscc/{path}.log",
    benchmark:
        "benchmarks/runs/download_cscc/{path}.tsv"
    wildcard_constraints:
        path=r"GSM[0-9]+nnn/GSM[0-9]+/suppl/.+",
    retries: 0
    localrule: True
    conda:
        "../envs/download.yaml"
    params:
        url=cscc_url,
        entry={"size": "", "sha256": "", "git_blob_sha1": ""},
        setting="cscc.base_url",
    script:
        "../workflow/scripts/download_file.py"

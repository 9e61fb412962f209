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
# into place (senca_st.io.download.fetch, gzip check).
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


# 10x public Visium datasets by name (sample sheet visium_id; senca_st.io.visium_datasets): the
# matrix straight into outs/, the spatial tarball and the full-resolution image beside it.
# 10x publishes no checksums: the transfer's length, the gzip stream and the HDF5 signature are checked.
rule download_visium_file:
    output:
        "resources/visium/{vid}/{file}",
    log:
        "logs/download_visium/{vid}/{file}.log",
    benchmark:
        "benchmarks/runs/download_visium/{vid}/{file}.tsv"
    wildcard_constraints:
        file=r"outs/filtered_feature_bc_matrix\.h5|spatial\.tar\.gz|image\.tif",
    retries: 0
    localrule: True
    conda:
        "../envs/download.yaml"
    params:
        url=visium_url,
        entry={"size": "", "sha256": "", "git_blob_sha1": ""},
        setting="visium.base_url",
    script:
        "../workflow/scripts/download_file.py"


rule unpack_visium_spatial:
    input:
        "resources/visium/{vid}/spatial.tar.gz",
    output:
        "resources/visium/{vid}/outs/spatial/scalefactors_json.json",
        "resources/visium/{vid}/outs/spatial/tissue_hires_image.png",
    log:
        "logs/unpack_visium_spatial/{vid}.log",
    benchmark:
        "benchmarks/runs/unpack_visium_spatial/{vid}.tsv"
    localrule: True
    conda:
        "../envs/download.yaml"
    script:
        "../workflow/scripts/unpack_visium_spatial.py"

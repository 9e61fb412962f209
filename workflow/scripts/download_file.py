"""Rules download_her2st_file, download_cscc_file: fetch one upstream file and verify it (manifest, gzip)."""

from senca_st.io.download import fetch
from senca_st.runlog import rule_step

with rule_step(snakemake.log[0]) as log:
    entry = snakemake.params.entry
    fetch(
        snakemake.params.url,
        snakemake.output[0],
        size=int(entry["size"]) if entry.get("size") not in (None, "") else None,
        sha256=entry.get("sha256") or None,
        git_blob_sha1=entry.get("git_blob_sha1") or None,
        log=log,
        setting=snakemake.params.get("setting", "her2st.base_url"),
    )

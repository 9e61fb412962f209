# Upstream HER2ST files (almaan/her2st), downloaded on demand and verified against
# the manifest's size, sha256 and git blob SHA-1. Needs only `config` and `workflow.basedir`.
import sys as _dl_sys
from pathlib import Path as _DlPath

_dl_sys.path.insert(0, str(_DlPath(workflow.basedir) / "src"))

from senca_st.her2st_manifest import load_manifest as _dl_load_manifest


def _her2st_manifest_path():
    """The manifest named in the config: relative to the working directory, else to the workflow."""
    path = _DlPath(config["her2st"]["manifest"])
    if path.is_absolute() or path.exists():
        return path
    return _DlPath(workflow.basedir) / path


_dl_manifest = _dl_load_manifest(_her2st_manifest_path())


def her2st_url(wildcards):
    """Upstream URL of resources/her2st/{path}: her2st.base_url joined with the path."""
    return f"{config['her2st']['base_url'].rstrip('/')}/{wildcards.path}"


def her2st_entry(wildcards):
    """Size, sha256 and git blob SHA-1 of the file (empty strings where unknown)."""
    entry = _dl_manifest.get(wildcards.path)
    if entry is None:
        raise ValueError(
            f"{config['her2st']['manifest']}: {wildcards.path} is not listed; "
            "only files in the HER2ST manifest can be downloaded (they are verified against it)."
        )
    return {
        "size": "" if entry.size is None else str(entry.size),
        "sha256": entry.sha256,
        "git_blob_sha1": entry.git_blob_sha1,
    }


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

"""The HER2ST file manifest: which upstream file belongs to which section, and its checksums.

``resources/her2st_manifest.tsv`` lists every count, spot, label and image file of
the public repository almaan/her2st at commit 85df7411b987a7dec3feff9718b869a7a82091ec
(columns ``path, git_blob_sha1, size, sha256``).  The git blob SHA-1 is known for
every file, so each download can be verified even where size and sha256 are empty.
Image file names follow no pattern (``5714_HE_BT_D1.jpg`` belongs to section C3), so
the pipeline looks every path up here instead of building it from the section name.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from senca_st.errors import InputError

COLUMNS = ("path", "git_blob_sha1", "size", "sha256")

# What each upstream folder holds, and how the section name sits in the path.
_KINDS = {
    "counts": re.compile(r"^data/ST-cnts/(?P<s>[A-Z]\d+)\.tsv\.gz$"),
    "spots": re.compile(r"^data/ST-spotfiles/(?P<s>[A-Z]\d+)_selection\.tsv$"),
    "labels": re.compile(r"^data/ST-pat/lbl/(?P<s>[A-Z]\d+)_labeled_coordinates\.tsv$"),
    "image": re.compile(r"^data/ST-imgs/(?P<p>[A-Z])/(?P<s>[A-Z]\d+)/[^/]+\.jpg$"),
}


@dataclass(frozen=True)
class ManifestEntry:
    """One upstream file; ``size`` is None and ``sha256`` empty where unknown."""

    path: str
    git_blob_sha1: str
    size: int | None
    sha256: str

    def checksums(self) -> dict[str, str | int | None]:
        """Keyword arguments for :func:`senca_st.io.download.fetch`."""
        return {"size": self.size, "sha256": self.sha256 or None, "git_blob_sha1": self.git_blob_sha1 or None}


def load_manifest(path: str | Path) -> dict[str, ManifestEntry]:
    """Read the manifest TSV, keyed by the file's path relative to the repository root."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    path, f"missing column(s) {', '.join(missing)}", "Restore the file from the repository."
                )
            entries: dict[str, ManifestEntry] = {}
            for line, row in enumerate(reader, start=2):
                size = (row["size"] or "").strip()
                if not row["path"] or not row["git_blob_sha1"] or (size and not size.isdigit()):
                    raise InputError(path, f"line {line} is malformed", "Restore the file from the repository.")
                entries[row["path"]] = ManifestEntry(
                    path=row["path"],
                    git_blob_sha1=row["git_blob_sha1"].strip().lower(),
                    size=int(size) if size else None,
                    sha256=(row["sha256"] or "").strip().lower(),
                )
    except FileNotFoundError:
        raise InputError(path, "HER2ST manifest not found", "Set her2st.manifest in the config.") from None
    return entries


def _kind(path: str) -> tuple[str, str] | None:
    """(kind, section) of an upstream path, or None for files the pipeline does not use."""
    for kind, pattern in _KINDS.items():
        m = pattern.match(path)
        if m and (kind != "image" or m["p"] == m["s"][0]):  # the patient is the section's first letter
            return kind, m["s"]
    return None


def section_files(manifest: dict[str, ManifestEntry], section: str) -> dict[str, str | None]:
    """Relative paths of a section's ``counts``, ``spots``, ``image`` and ``labels`` (None where absent)."""
    files: dict[str, str | None] = {"counts": None, "spots": None, "image": None, "labels": None}
    for path in manifest:
        found = _kind(path)
        if found and found[1] == section:
            files[found[0]] = path
    return files


def all_sections(manifest: dict[str, ManifestEntry]) -> list[str]:
    """Sections that have both a count and a spot file, sorted (A1 … H3)."""
    named = {found[1] for found in map(_kind, manifest) if found}
    return sorted(s for s in named if _complete(manifest, s))


def labelled_sections(manifest: dict[str, ManifestEntry]) -> list[str]:
    """Sections with counts, spots and a pathologist's label file: the ones ARI is computed on."""
    return [s for s in all_sections(manifest) if section_files(manifest, s)["labels"]]


def _complete(manifest: dict[str, ManifestEntry], section: str) -> bool:
    files = section_files(manifest, section)
    return bool(files["counts"] and files["spots"])

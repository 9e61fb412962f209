"""The paper's second dataset: cutaneous squamous cell carcinoma ST (Ji et al., Cell 2020; GEO GSE144240).

Twelve legacy-ST sections, patients P2, P5, P9 and P10 with three replicates
each, published as GEO per-sample supplementary files: a spot x gene count
table (``{gsm}_{patient}_ST_{rep}_stdata.tsv.gz``, rows ``{x}x{y}``) and a spot
file with HER2ST's columns (``{gsm}_spot_data-selection-{patient}_ST_{rep}.tsv.gz``),
both read by the ST-layout reader.  GEO lays sample files out as
``{base}/GSM4284nnn/{gsm}/suppl/{file}``.  No H&E image file name is known for
these samples and there are no pathologist labels: the sections run with the
image-free methods and are clustered, not evaluated, unless the sheet names an
image or labels.
"""

from __future__ import annotations

#: Section id -> GEO sample.  GSM4284316 (P2 rep1), GSM4284319 (P5 rep1) and GSM4284323
#: (P9 rep2) are confirmed by public code; the others follow the series' order (three
#: consecutive samples per patient), which those three fit.
SECTIONS: dict[str, str] = {
    f"P{patient}_rep{rep}": f"GSM{4284316 + 3 * i + rep - 1}"
    for i, patient in enumerate((2, 5, 9, 10))
    for rep in (1, 2, 3)
}


def section_files(section: str) -> dict[str, str]:
    """Relative GEO paths of a section's ``counts`` and ``spots`` files."""
    gsm = SECTIONS[section]
    patient, rep = section.split("_")
    folder = f"{gsm[:-3]}nnn/{gsm}/suppl"
    return {
        "counts": f"{folder}/{gsm}_{patient}_ST_{rep}_stdata.tsv.gz",
        "spots": f"{folder}/{gsm}_spot_data-selection-{patient}_ST_{rep}.tsv.gz",
    }

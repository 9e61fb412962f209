"""Read one tissue section into an AnnData with spots, counts, coordinates and labels.

Four layouts reach the pipeline, one module each:

- HER2ST / legacy ST (:mod:`senca_st.io.st_layout`): a ``{x}x{y}``-indexed
  count table, a spot file mapping array positions to pixels, a pathologist
  label file; the embedded demo is written in this layout too;
- 10x Visium Space Ranger ``outs/`` folders, Visium HD binnings included
  (:mod:`senca_st.io.visium`);
- AnnData ``.h5ad`` files, what scanpy/squidpy users already have
  (:mod:`senca_st.io.h5ad`).

Labels are read and placed on spots by :mod:`senca_st.io.labels`; what the
readers share (tables with one-line errors, the contract's AnnData) is
:mod:`senca_st.io.reading`.  Whatever the source, the result follows one
contract (docs/ARCHITECTURE.md): raw counts in ``X`` and ``layers['counts']``,
pixel coordinates in ``obsm['spatial']`` (full resolution where the source has
them), ``obs['array_row', 'array_col']`` where the source has array positions
(every reader but an ``.h5ad`` without them; nothing downstream needs them)
and, when there are labels, ``obs['label']``.

This module is the readers' one public entry: import from here.
"""

from senca_st.io.h5ad import read_h5ad_section
from senca_st.io.labels import UNDETERMINED, LabelRows, read_barcode_labels, read_st_labels
from senca_st.io.st_layout import SPOT_COLUMNS, read_st_counts, read_st_section, read_st_spots
from senca_st.io.visium import HD_BINS, read_visium_section, visium_folder

#: The modules a section's reading runs (``rules/preprocess.smk`` hashes them so that editing one reruns it).
READER_MODULES = ("io/sections", "io/reading", "io/labels", "io/st_layout", "io/visium", "io/h5ad")

__all__ = [
    "HD_BINS",
    "READER_MODULES",
    "SPOT_COLUMNS",
    "UNDETERMINED",
    "LabelRows",
    "read_barcode_labels",
    "read_h5ad_section",
    "read_st_counts",
    "read_st_labels",
    "read_st_section",
    "read_st_spots",
    "read_visium_section",
    "visium_folder",
]

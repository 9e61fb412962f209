"""SENCA-st: spatial domains from spatial transcriptomics fused with H&E histology.

The package holds the library the Snakemake rules call; rule scripts stay thin
so that every step can be unit-tested without Snakemake.
"""

__version__ = "0.1.0"

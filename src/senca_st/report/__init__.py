"""What the Snakemake report shows: region maps, metric charts, runtimes."""

"""Print the ARI table as people read it: per section, and the mean per method.

``make demo`` ends with this, so the first thing a new user sees is whether
fusing RNA and image beat the baselines on their run.
"""

from __future__ import annotations

import sys

import pandas as pd


def format_metrics(table: pd.DataFrame) -> str:
    """Sections as rows, methods as columns (ARI: a method's mean over seeds), plus a mean row when several sections ran."""
    if table.empty:
        return "no labelled section was evaluated"
    wide = table.pivot_table(index="sample", columns="method", values="ari")
    order = table.groupby("method")["ari"].mean().sort_values(ascending=False).index
    wide = wide[order]
    if len(wide) > 1:
        wide.loc["mean"] = wide.mean()
    seeds = int(table["n_seeds"].max()) if "n_seeds" in table else 1
    over = f"; SENCA-st: mean over {seeds} seeds" if seeds > 1 else ""
    title = f"ARI (pathologist regions, undetermined left out{over})"
    return title + "\n" + wide.to_string(float_format=lambda v: f"{v:.3f}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "results/metrics/ari.tsv"
    print(format_metrics(pd.read_csv(path, sep="\t")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

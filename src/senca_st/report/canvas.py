"""Writing a matplotlib figure for the report: the Agg canvas, PNG, whole or not at all.

Matplotlib is used through its object API (no pyplot, no display), so figures
render the same on a laptop, in CI and on a SLURM node.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from senca_st.io.atomic import atomic_path


def save_figure(fig: Figure, dest: str | Path, dpi: int = 110) -> None:
    """``fig`` as a PNG at ``dest``, through :func:`senca_st.io.atomic.atomic_path` (no half-written file)."""
    FigureCanvasAgg(fig)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")

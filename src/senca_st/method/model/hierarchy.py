"""Hierarchical contrastive learning: spatial-window and global levels (spots for the ablation).

SENCA-st contrasts its two views (image vs RNA embeddings; for sections
without an image, two dropout views of the RNA) after pooling over spatial
windows of neighbouring spots and over the whole section, so the embedding is
consistent at the scale of tissue regions.  Without the hierarchy
(``senca_no_hierarchy``) the views are contrasted spot by spot.

- Windows are square cells of a grid laid over the spot coordinates, sized so
  a cell holds about ``spots_per_window`` spots (the ``train.window`` setting).
- NT-Xent over all spots would need an n x n similarity matrix; it is computed
  on a random subset of at most ``max_items`` spots (and windows) per step, so
  memory stays bounded whatever the section size.
- A section has one global vector per view, too few for NT-Xent's negatives,
  so the global level is the cosine distance between the two views' means.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.method.neighbourhood import spot_spacing


def assign_windows(coords: np.ndarray, spots_per_window: float) -> np.ndarray:
    """Window id (0..W-1) per spot: a square grid with about ``spots_per_window`` spots per cell.

    The cell side is ``spacing * sqrt(spots_per_window)``, ``spacing`` being the
    lattice pitch, so the windows adapt to any pixel resolution.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if spots_per_window <= 1 or coords.shape[0] < 2:
        return np.arange(coords.shape[0], dtype=np.int64)
    side = spot_spacing(coords) * float(np.sqrt(spots_per_window))
    cells = np.floor((coords - coords.min(axis=0)) / max(side, 1e-12)).astype(np.int64)
    _, ids = np.unique(cells, axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


def window_pool(z: torch.Tensor, windows: torch.Tensor, n_windows: int) -> torch.Tensor:
    """Mean of ``z`` over the spots of each window, (n_windows, d)."""
    sums = torch.zeros(n_windows, z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, windows, z)
    counts = torch.bincount(windows, minlength=n_windows).clamp(min=1).to(z.dtype)
    return sums / counts.unsqueeze(1)


def global_pool(z: torch.Tensor) -> torch.Tensor:
    """Mean over all spots, (d,)."""
    return z.mean(dim=0)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR): row i of ``a`` and row i of ``b`` are positives, all other 2N-2 rows negatives."""
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def sampled_nt_xent(
    a: torch.Tensor, b: torch.Tensor, temperature: float, max_items: int, generator: torch.Generator
) -> torch.Tensor:
    """NT-Xent on at most ``max_items`` random rows (memory O(max_items^2), not O(n^2))."""
    n = a.shape[0]
    if n > max_items:
        pick = torch.randperm(n, generator=generator)[:max_items].to(a.device)
        a, b = a[pick], b[pick]
    return nt_xent(a, b, temperature)


def contrastive_terms(
    a: torch.Tensor,
    b: torch.Tensor,
    windows: torch.Tensor | None,
    n_windows: int,
    temperature: float,
    max_items: int,
    generator: torch.Generator,
    spot_level: bool = False,
) -> dict[str, torch.Tensor]:
    """The contrastive loss terms between views ``a`` and ``b`` of the same spots.

    With a hierarchy (``windows`` given) the views are contrasted after windowed
    pooling (``nt_window``) and after global pooling (``global``), as SENCA-st
    does; ``spot_level`` adds spot-by-spot NT-Xent on top.  Without one
    (``windows`` None, the ``senca_no_hierarchy`` ablation) only spots are
    contrasted (``nt_spot``).  Spot-level NT-Xent treats every other spot,
    same-region neighbours included, as a negative, which pushes neighbours
    apart; pooled levels contrast regions instead, which is what the clusters
    are meant to find.
    """
    terms: dict[str, torch.Tensor] = {}
    if windows is None or spot_level or n_windows < 2:
        terms["nt_spot"] = sampled_nt_xent(a, b, temperature, max_items, generator)
    if windows is not None:
        if n_windows >= 2:
            wa, wb = window_pool(a, windows, n_windows), window_pool(b, windows, n_windows)
            terms["nt_window"] = sampled_nt_xent(wa, wb, temperature, max_items, generator)
        terms["global"] = 1.0 - F.cosine_similarity(global_pool(a), global_pool(b), dim=0)
    return terms

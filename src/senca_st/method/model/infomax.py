"""The RNA branch's own self-supervision: Deep Graph Infomax against a corrupted graph.

GraphST trains its encoder to tell a spot's embedding, paired with the summary of
its neighbourhood, from the embedding of the same graph with the expression
shuffled across spots (a "corrupted" graph: the same positions, the wrong
spots' expression), and that term is what keeps its regions across sections.
The same term is added to SENCA-st's RNA branch (``train.graph_contrast``, its
weight): reconstruction alone is met by the branch's smoothed input, and the
dropout views' NT-Xent rewards telling every spot from every other, neither of
which asks for what a spot shares with its neighbourhood and not with a random
spot elsewhere.  Measured on HER2ST A1-D1 and DLPFC 151673/151674
(docs/benchmarks.md, "The RNA branch's self-supervision").

The summary of spot i is the sigmoid of its L2-normalised neighbourhood mean
(GraphST's local readout); the discriminator is bilinear, ``h_i^T W s_i``,
computed as ``(h_i * (W s_i)).sum()`` because ``nn.Bilinear`` is about 5x
slower on the CPU for the same result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from senca_st.method.model.graph import neighbour_mean


def neighbourhood_summary(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(n, d) sigmoid of each spot's normalised mean over ``index[i]`` (itself and its neighbours)."""
    return torch.sigmoid(F.normalize(neighbour_mean(h, index), dim=1))


class Infomax(nn.Module):
    """Bilinear discriminator of (spot, neighbourhood summary) pairs, real against corrupted."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Linear(dim, dim)

    def forward(self, real: torch.Tensor, fake: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits that ``real`` rows and ``fake`` rows belong with the real graph's summaries."""
        key = self.weight(neighbourhood_summary(real, index))
        return (real * key).sum(1), (fake * key).sum(1)


def infomax_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy: real pairs are 1, corrupted pairs 0."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

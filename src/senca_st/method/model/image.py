"""The image branch's trainable part: a linear layer on the frozen image encoder's features.

The encoder (:mod:`senca_st.method.encoders`) is frozen and its pooled features are extracted once per
section (rule ``image_features``), so training only fits this head: cheap, and
the same features serve every method and ablation.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageHead(nn.Module):
    """(n, d) standardised image-encoder features -> (n, hidden) image embedding."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.lin = nn.Linear(in_dim, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.norm(self.lin(self.drop(f)))

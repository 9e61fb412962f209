"""Bidirectional neighbourhood cross-attention between the RNA and image embeddings.

RNA queries attend to the image keys/values of the spot and its graph
neighbours, and image queries to the RNA keys/values, so each modality is
corrected by what the other sees *nearby* (O(n * k), never a dense n x n).

Spots whose RNA-image agreement differs from their neighbours' are where
tissue looks alike but behaves differently (or vice versa); SENCA-st weights
them more.  Here the agreement is the cosine similarity of a spot's two
embeddings, and a spot's weight is ``1 + |agreement - mean agreement of its
neighbours|`` (detached, so the weight steers the update without becoming a
loss shortcut), applied to the cross-attended update.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from senca_st.method.model.graph import check_heads, neighbour_attention


def contrast_weight(rna: torch.Tensor, img: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(n, 1) weight >= 1: how far a spot's RNA-image agreement is from its neighbours' mean."""
    agree = F.cosine_similarity(rna, img, dim=-1).detach()
    nbr_mean = agree[index[:, 1:]].mean(dim=1)
    return (1.0 + (agree - nbr_mean).abs()).unsqueeze(-1)


class NeighbourCrossAttention(nn.Module):
    """RNA <- image and image <- RNA attention over each spot's neighbourhood, with residuals."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        check_heads(dim, heads)
        self.heads = heads
        self.q_rna, self.kv_img = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)
        self.q_img, self.kv_rna = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)
        self.out_rna, self.out_img = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_rna, self.norm_img = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, rna: torch.Tensor, img: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = contrast_weight(rna, img, index)
        k_img, v_img = self.kv_img(img).chunk(2, dim=-1)
        k_rna, v_rna = self.kv_rna(rna).chunk(2, dim=-1)
        rna_upd = self.out_rna(neighbour_attention(self.q_rna(rna), k_img, v_img, index, self.heads))
        img_upd = self.out_img(neighbour_attention(self.q_img(img), k_rna, v_rna, index, self.heads))
        return self.norm_rna(rna + w * rna_upd), self.norm_img(img + w * img_upd)

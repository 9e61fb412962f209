"""The RNA branch: a graph-transformer layer over the k-nearest-spot graph.

SENCA-st treats spots as graph nodes linked to their k nearest spots.  One
layer is: dropout (which doubles as the denoising autoencoder's noise mask) ->
linear -> adjacency message passing (mean over the spot and its neighbours) ->
multi-head self-attention restricted to those neighbours -> feed-forward, with
residual connections.

Because every spot has exactly k neighbours, the neighbourhood is held as a
dense ``(n, k+1)`` index (self first) and attention is a gather + softmax over
k+1 entries.  That is the same computation as PyG's ``TransformerConv`` on the
graph with self-loops, but without scatter operations: it is deterministic on
CPU and GPU and costs O(n * k) memory.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from senca_st.neighbourhood import nearest_spots


def neighbour_index(coords: np.ndarray, k: int) -> torch.Tensor:
    """``(n, k+1)`` long tensor: each spot's own index, then its k nearest spots."""
    nbrs = nearest_spots(coords, k)
    own = np.arange(nbrs.shape[0], dtype=np.int64)[:, None]
    return torch.from_numpy(np.concatenate([own, nbrs], axis=1))


def neighbour_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, index: torch.Tensor, heads: int
) -> torch.Tensor:
    """Scaled dot-product attention of each spot's query over the keys/values of ``index[i]`` only.

    ``q``: (n, d) queries; ``k``, ``v``: (n, d) keys/values of the *other*
    modality or the same one; ``index``: (n, m) neighbourhood (self first).
    Returns (n, d).  Spots outside ``index[i]`` cannot influence spot i.
    """
    n, d = q.shape
    dh = d // heads
    qh = q.view(n, heads, dh)
    kh = k[index].view(n, index.shape[1], heads, dh)  # (n, m, h, dh)
    vh = v[index].view(n, index.shape[1], heads, dh)
    scores = torch.einsum("nhd,nmhd->nhm", qh, kh) / math.sqrt(dh)
    att = torch.softmax(scores, dim=-1)
    return torch.einsum("nhm,nmhd->nhd", att, vh).reshape(n, d)


def check_heads(dim: int, heads: int) -> None:
    """Attention splits ``dim`` evenly over ``heads``; say so at construction, not at the first step."""
    if dim % heads:
        raise ValueError(f"hidden size {dim} must be divisible by heads={heads}")


class NeighbourSelfAttention(nn.Module):
    """Multi-head self-attention where a spot attends to itself and its graph neighbours."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        check_heads(dim, heads)
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        return self.out(neighbour_attention(q, k, v, index, self.heads))


class GraphTransformerLayer(nn.Module):
    """Message passing + neighbourhood attention + feed-forward, each with a residual."""

    def __init__(self, dim: int, heads: int, dropout: float, hops: int = 1, alpha: float = 0.5) -> None:
        super().__init__()
        self.hops, self.alpha = hops, alpha
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighbourSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        # adjacency message passing: row-normalised adjacency with self-loops (the
        # neighbourhood mean), repeated ``hops`` times with a skip to the input
        # (h <- alpha*h0 + (1-alpha)*A h, as APPNP): it smooths expression over the
        # tissue so that a region's spots agree, at O(n*k) per hop.
        h0 = h
        for _ in range(self.hops):
            h = self.alpha * h0 + (1 - self.alpha) * h[index].mean(dim=1)
        h = h + self.attn(self.norm1(h), index)
        return h + self.ffn(self.norm2(h))


class GraphTransformerEncoder(nn.Module):
    """Expression (n, genes) -> RNA embedding (n, hidden) over the spot graph.

    ``dropout`` on the input is the autoencoder's noise mask (and, for
    sections without an image, what makes two forward passes two different
    views of the same spots).
    """

    def __init__(
        self, n_genes: int, hidden: int, dropout: float, heads: int = 4, layers: int = 1, hops: int = 1, alpha: float = 0.5
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.lin = nn.Linear(n_genes, hidden)
        self.layers = nn.ModuleList(GraphTransformerLayer(hidden, heads, dropout, hops, alpha) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        h = self.lin(self.drop(x))
        for layer in self.layers:
            h = layer(h, index)
        return self.norm(h)

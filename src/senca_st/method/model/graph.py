"""The RNA branch: a graph-transformer layer over the k-nearest-spot graph.

SENCA-st treats spots as graph nodes linked to their k nearest spots.  One
layer is: dropout (which doubles as the denoising autoencoder's noise mask) ->
linear -> adjacency message passing (mean over the spot and its neighbours) ->
multi-head self-attention restricted to those neighbours -> feed-forward, with
residual connections.

Because every spot has exactly k neighbours, the neighbourhood is held as a
dense ``(n, k+1)`` index (self first) and attention is a gather + softmax over
k+1 entries, O(n * k) memory.  That is the same computation as PyG's
``TransformerConv`` on the graph with self-loops (outputs equal to 3e-7 with the
same weights); ``benchmarks/graph_layer.py`` times both, and why this layer is
kept rather than PyG's is in docs/benchmarks.md ("The graph layer").  With
torch's deterministic algorithms, which training turns on, the gather's backward
gives bit-identical gradients run to run; without them, its parallel
accumulation on two CPU threads differs in the last bits (1e-11).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from senca_st.method.neighbourhood import nearest_spots


def neighbour_index(coords: np.ndarray, k: int) -> torch.Tensor:
    """``(n, k+1)`` long tensor: each spot's own index, then its k nearest spots."""
    return index_with_self(nearest_spots(coords, k))


def index_with_self(neighbours: np.ndarray) -> torch.Tensor:
    """``(n, k)`` neighbour lists -> the model's ``(n, k+1)`` index, each spot's own index first."""
    own = np.arange(neighbours.shape[0], dtype=np.int64)[:, None]
    return torch.from_numpy(np.concatenate([own, neighbours], axis=1))


def neighbour_mean(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` over each spot and its neighbours (the row-normalised adjacency with self-loops times ``h``).

    ``embedding_bag`` computes exactly ``h[index].mean(1)`` without building the
    (n, k+1, d) gather, and its backward is a single accumulation: about 3x
    faster on the CPU than the gather, which matters because propagation runs
    ``hops`` times per step.
    """
    return F.embedding_bag(index, h, mode="mean")


def propagate(h: torch.Tensor, index: torch.Tensor, hops: int, alpha: float) -> torch.Tensor:
    """Personalised-PageRank smoothing over the spot graph: ``hops`` times h <- alpha*h0 + (1-alpha)*A h.

    As APPNP: it smooths expression over the tissue so that a region's spots
    agree, while the ``alpha`` skip to the input keeps each spot's own signal
    (without it, many hops would blur regions into each other).  The operator
    is linear with rows summing to one, so it commutes with an affine map:
    ``propagate(x @ W + b) == propagate(x) @ W + b``, which lets the encoder run
    it in the narrower of the input and hidden spaces.
    """
    h0 = h
    for _ in range(hops):
        h = alpha * h0 + (1 - alpha) * neighbour_mean(h, index)
    return h


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
    qh = q.view(n, 1, heads, dh)
    # F.embedding is the gather k[index]; its backward accumulates rows in one pass, where
    # indexing's backward (index_put with accumulate) sorts under deterministic algorithms.
    kh = F.embedding(index, k).view(n, index.shape[1], heads, dh)  # (n, m, h, dh)
    vh = F.embedding(index, v).view(n, index.shape[1], heads, dh)
    # products summed in place of einsum: einsum makes n*heads batched products of m numbers
    scores = (qh * kh).sum(-1) / math.sqrt(dh)  # (n, m, h)
    att = torch.softmax(scores, dim=1)
    return (att.unsqueeze(-1) * vh).sum(1).reshape(n, d)


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

    def __init__(
        self, dim: int, heads: int, dropout: float, hops: int = 1, alpha: float = 0.5, propagate_input: bool = True
    ) -> None:
        super().__init__()
        # propagate_input=False: the caller has already propagated this layer's input (see GraphTransformerEncoder)
        self.hops, self.alpha, self.propagate_input = hops, alpha, propagate_input
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighbourSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        # adjacency message passing (see propagate), O(n*k) per hop
        if self.propagate_input:
            h = propagate(h, index, self.hops, self.alpha)
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
        # The first layer's message passing commutes with ``lin`` (see propagate):
        # run it on the input when that is narrower (e.g. 50 PCs vs 256 hidden).
        self.hops, self.alpha = hops, alpha
        self.propagate_first = n_genes < hidden
        self.layers = nn.ModuleList(
            GraphTransformerLayer(hidden, heads, dropout, hops, alpha, propagate_input=i > 0 or not self.propagate_first)
            for i in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        if self.propagate_first and self.layers:
            x = propagate(x, index, self.hops, self.alpha)
        h = self.lin(x)
        for layer in self.layers:
            h = layer(h, index)
        return self.norm(h)

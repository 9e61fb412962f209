"""The full SENCA-st model: RNA graph transformer + image head + cross-attention + decoder.

The model is two modules, trained together in one loop (:mod:`senca_st.method.training`):

- :class:`RnaBranch`, the graph transformer over the spots' expression with its
  own reduce/decoder head, trained on the RNA alone (reconstruction, two dropout
  views contrasted with the hierarchy, the infomax term).  It is the whole of
  ``senca_rna``, the model for sections without H&E, and inside the fused model
  it trains to exactly ``senca_rna`` under the same seed: its losses, initial
  weights and random numbers are the same.
- :class:`Fusion`, the image head, the bidirectional neighbourhood
  cross-attention, the shared reduce and the decoders of expression and image.
  It reads the RNA branch's features detached, so the paper's image-vs-RNA
  hierarchical contrast and both reconstructions train the image side and the
  fusion only.  Its embedding is the one clustered.

The paper trains everything through one loss.  Measured on the sections in
``../shared`` (docs/benchmarks.md, "Fusion on an RNA branch trained as
senca_rna"), that loss left the RNA branch clustering below ``senca_rna`` on
DLPFC and the fused model below its own RNA branch on HER2ST A1; with the
branch kept as ``senca_rna`` trains it the fused model scores higher on every
section measured.  Training the fusion only after the branch (on its frozen
output) was worse than both and is not what this module does.

``use_image=False`` is ``senca_rna``; ``cross_attention=False`` concatenates the
two embeddings without letting them attend to each other.  (The hierarchy switch
lives in the loss, :func:`senca_st.method.model.hierarchy.contrastive_terms`.)
"""

from __future__ import annotations

import torch
from torch import nn

from senca_st.method.model.cross_attention import NeighbourCrossAttention
from senca_st.method.model.graph import GraphTransformerEncoder
from senca_st.method.model.image import ImageHead
from senca_st.method.model.infomax import Infomax


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.GELU(), nn.Linear(h, o))


class RnaBranch(nn.Module):
    """Spots' expression -> RNA features, an embedding, a reconstruction and two dropout views."""

    def __init__(
        self,
        n_genes: int,
        hidden: int,
        embedding: int,
        dropout: float,
        heads: int,
        layers: int,
        hops: int,
        alpha: float,
        graph_contrast: bool,
    ) -> None:
        super().__init__()
        self.rna = GraphTransformerEncoder(n_genes, hidden, dropout, heads, layers, hops, alpha)
        self.rna_proj = nn.Linear(hidden, hidden)
        self.rna_view = nn.Linear(hidden, embedding)
        self.reduce = _mlp(hidden, hidden, embedding)
        self.decoder = _mlp(embedding, hidden, n_genes)
        if graph_contrast:
            self.infomax = Infomax(hidden)

    def features(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(n, hidden) RNA features: what the fusion reads."""
        return self.rna_proj(self.rna(x, index))

    def forward(self, x: torch.Tensor, index: torch.Tensor, corrupt: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training pass: ``features``, ``embedding``, ``recon_x`` and two dropout views ``view_a``/``view_b``.

        ``corrupt`` (a permutation of the spots; the branch built with ``graph_contrast``) adds
        ``infomax_real``/``infomax_fake``: the discriminator's logits for the branch's features
        and for the same graph carrying the permuted spots' expression.
        """
        rna = self.features(x, index)
        z = self.reduce(rna)
        # a second pass draws a different dropout mask: a second view of the same spots
        out = {"features": rna, "embedding": z, "recon_x": self.decoder(z), "view_a": self.rna_view(rna)}
        out["view_b"] = self.rna_view(self.features(x, index))
        if corrupt is not None:
            # the corrupted graph: the same spot graph carrying the expression of shuffled spots
            fake = self.features(x[corrupt], index)
            out["infomax_real"], out["infomax_fake"] = self.infomax(rna, fake, index)
        return out


class Fusion(nn.Module):
    """RNA features (read detached) + image features -> the shared embedding, both reconstructions, the image view."""

    def __init__(
        self, n_genes: int, image_dim: int, hidden: int, embedding: int, dropout: float, heads: int, cross_attention: bool
    ) -> None:
        super().__init__()
        self.image = ImageHead(image_dim, hidden, dropout)
        self.img_proj = nn.Linear(hidden, hidden)
        self.img_view = nn.Linear(hidden, embedding)
        self.image_decoder = _mlp(embedding, hidden, image_dim)
        self.cross = NeighbourCrossAttention(hidden, heads) if cross_attention else None
        self.reduce = _mlp(2 * hidden, hidden, embedding)
        self.decoder = _mlp(embedding, hidden, n_genes)

    def _encode(self, rna: torch.Tensor, f: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.img_proj(self.image(f))
        r, i = self.cross(rna, img, index) if self.cross is not None else (rna, img)
        return self.reduce(torch.cat([r, i], dim=1)), img

    def forward(self, rna: torch.Tensor, f: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass on RNA features ``rna`` (detached here: no gradient reaches the RNA branch)."""
        z, img = self._encode(rna.detach(), f, index)
        return {"embedding": z, "recon_x": self.decoder(z), "recon_f": self.image_decoder(z), "view_b": self.img_view(img)}


class SencaModel(nn.Module):
    """The RNA branch and, with ``use_image``, the fusion on top of it."""

    def __init__(
        self,
        n_genes: int,
        image_dim: int = 2048,
        hidden: int = 256,
        embedding: int = 128,
        dropout: float = 0.2,
        heads: int = 4,
        layers: int = 1,
        hops: int = 1,
        alpha: float = 0.5,
        cross_attention: bool = True,
        use_image: bool = True,
        graph_contrast: bool = False,
    ) -> None:
        super().__init__()
        self.use_image = use_image
        self.rna_branch = RnaBranch(n_genes, hidden, embedding, dropout, heads, layers, hops, alpha, graph_contrast)
        self.fusion = None
        if use_image:
            # The fusion's initial weights come from a stream of their own (the global seed + 1), so
            # that the global stream left for the RNA branch's dropout is the one senca_rna's sees:
            # under a seed, the fused model's RNA branch trains to exactly senca_rna.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(torch.initial_seed() + 1)
                self.fusion = Fusion(n_genes, image_dim, hidden, embedding, dropout, heads, cross_attention)

    @torch.no_grad()
    def embed(self, x: torch.Tensor, f: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
        """The embedding clustered, without dropout (call in eval mode): the fusion's, or the RNA branch's."""
        rna = self.rna_branch.features(x, index)
        if self.fusion is None:
            return self.rna_branch.reduce(rna)
        if f is None:
            raise ValueError("this model uses the image but no image features were given")
        return self.fusion._encode(rna, f, index)[0]

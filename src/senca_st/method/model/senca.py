"""The full SENCA-st model: RNA graph transformer + image head + cross-attention + decoder.

Switches reproduce the paper's variants: ``use_image=False`` is the RNA-only
model for sections without H&E (two dropout views of the RNA are contrasted
instead of image vs RNA); ``cross_attention=False`` concatenates the two
embeddings without letting them attend to each other.  (The hierarchy switch
lives in the loss, :func:`senca_st.method.model.hierarchy.contrastive_terms`.)
"""

from __future__ import annotations

import torch
from torch import nn

from senca_st.method.model.cross_attention import NeighbourCrossAttention
from senca_st.method.model.graph import GraphTransformerEncoder
from senca_st.method.model.infomax import Infomax
from senca_st.method.model.image import ImageHead


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.GELU(), nn.Linear(h, o))


class SencaModel(nn.Module):
    """Spots' expression (and image features) -> shared embedding, reconstructions, contrastive views."""

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
        self.use_cross = use_image and cross_attention
        self.rna = GraphTransformerEncoder(n_genes, hidden, dropout, heads, layers, hops, alpha)
        self.rna_proj = nn.Linear(hidden, hidden)
        self.rna_view = nn.Linear(hidden, embedding)
        if use_image:
            self.image = ImageHead(image_dim, hidden, dropout)
            self.img_proj = nn.Linear(hidden, hidden)
            self.img_view = nn.Linear(hidden, embedding)
            self.image_decoder = _mlp(embedding, hidden, image_dim)
            if self.use_cross:
                self.cross = NeighbourCrossAttention(hidden, heads)
        self.reduce = _mlp(2 * hidden if use_image else hidden, hidden, embedding)
        self.decoder = _mlp(embedding, hidden, n_genes)
        if graph_contrast:
            self.infomax = Infomax(hidden)

    def _encode(self, x: torch.Tensor, f: torch.Tensor | None, index: torch.Tensor):
        rna = self.rna_proj(self.rna(x, index))
        if not self.use_image:
            return self.reduce(rna), rna, None
        img = self.img_proj(self.image(f))
        r, i = self.cross(rna, img, index) if self.use_cross else (rna, img)
        return self.reduce(torch.cat([r, i], dim=1)), rna, img

    def forward(
        self, x: torch.Tensor, f: torch.Tensor | None, index: torch.Tensor, corrupt: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Training pass: ``embedding``, ``recon_x`` (, ``recon_f``) and the two contrastive views.

        ``corrupt`` (a permutation of the spots; the model built with ``graph_contrast``) adds
        ``infomax_real``/``infomax_fake``: the discriminator's logits for the RNA branch's embedding
        and for the same graph carrying the permuted spots' expression.
        """
        if self.use_image and f is None:
            raise ValueError("this model uses the image but no image features were given")
        z, rna, img = self._encode(x, f, index)
        out = {"embedding": z, "recon_x": self.decoder(z)}
        if self.use_image:
            out["recon_f"] = self.image_decoder(z)
            out["view_a"], out["view_b"] = self.rna_view(rna), self.img_view(img)
        else:
            # a second pass draws a different dropout mask: a second view of the same spots
            out["view_a"] = self.rna_view(rna)
            out["view_b"] = self.rna_view(self.rna_proj(self.rna(x, index)))
        if corrupt is not None:
            # the corrupted graph: the same spot graph carrying the expression of shuffled spots
            fake = self.rna_proj(self.rna(x[corrupt], index))
            out["infomax_real"], out["infomax_fake"] = self.infomax(rna, fake, index)
        return out

    @torch.no_grad()
    def embed(self, x: torch.Tensor, f: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
        """The shared embedding without dropout (call in eval mode)."""
        return self._encode(x, f, index)[0]

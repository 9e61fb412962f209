"""SENCA-st's neural network, one concern per module.

- :mod:`.graph`: the RNA branch, a graph-transformer layer over the k-nearest-spot graph;
- :mod:`.image`: the trainable linear head on the frozen image encoder's features;
- :mod:`.cross_attention`: bidirectional RNA <-> image attention over each spot's neighbourhood;
- :mod:`.hierarchy`: spatial windows, window/global pooling and the NT-Xent loss;
- :mod:`.senca`: the full model composing them, with the paper's ablation switches.

Every attention here works on a fixed ``(n_spots, k+1)`` neighbour index (the spot itself
in column 0, then its k nearest spots), so memory and time are O(spots * k): no
spots x spots matrix is ever built.
"""

from senca_st.method.model.graph import GraphTransformerEncoder, neighbour_attention, neighbour_index
from senca_st.method.model.senca import SencaModel

__all__ = ["GraphTransformerEncoder", "SencaModel", "neighbour_attention", "neighbour_index"]

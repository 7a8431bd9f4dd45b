"""LayerNorm: layer normalisation of the sentence embedding."""

from __future__ import annotations

from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import WeightedModule


class LayerNorm(WeightedModule):
    """`nn.LayerNorm` (learned scale and shift) over the sentence embedding.

    Args:
        dimension: The sentence embedding's size.
    """

    config_keys = ("dimension",)

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def get_sentence_embedding_dimension(self) -> int:
        """The sentence embedding's size.

        Returns:
            The dimension.
        """
        return self.dimension

    get_embedding_dimension = get_sentence_embedding_dimension

    def forward(self, features: Features) -> Features:
        """Normalise the sentence embedding.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "sentence_embedding" replaced.
        """
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features

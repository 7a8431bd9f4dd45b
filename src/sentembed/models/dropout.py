"""Dropout: dropout on the sentence embedding while training (a no-op in `encode`)."""

from __future__ import annotations

from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import Module


class Dropout(Module):
    """Zero a share `dropout` of the sentence embedding's values in training mode.

    Args:
        dropout: The share, from 0 to 1. Default 0.2.

    Raises:
        ValueError: A share outside [0, 1].
    """

    config_keys = ("dropout",)

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be in [0, 1], got {dropout!r}")
        self.dropout = dropout
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, features: Features) -> Features:
        """Apply dropout to the sentence embedding (nothing in eval mode).

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "sentence_embedding" replaced.
        """
        features["sentence_embedding"] = self.dropout_layer(features["sentence_embedding"])
        return features

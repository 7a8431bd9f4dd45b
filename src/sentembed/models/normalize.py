"""Normalize: L2-normalises the sentence embedding."""

from __future__ import annotations

import torch.nn.functional as F

from sentembed.common.types import Features
from sentembed.models.base import Module


class Normalize(Module):
    """Scale each sentence embedding to unit length, so that dot product equals cosine."""

    def forward(self, features: Features) -> Features:
        """Scale each sentence embedding to length 1.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "sentence_embedding" replaced.
        """
        features["sentence_embedding"] = F.normalize(features["sentence_embedding"], p=2, dim=1)
        return features

"""LayerNorm: layer normalisation of the sentence embedding."""

from __future__ import annotations

from typing import Any

from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import Module, load_state_dict, save_state_dict


class LayerNorm(Module):
    """`nn.LayerNorm` (learned scale and shift) over the sentence embedding."""

    config_keys = ("dimension",)

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    get_embedding_dimension = get_sentence_embedding_dimension

    def forward(self, features: Features) -> Features:
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        super().save(output_path)
        save_state_dict(self, output_path, safe_serialization)

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> LayerNorm:
        module = super().load(input_path)
        module.load_state_dict(load_state_dict(input_path))
        return module

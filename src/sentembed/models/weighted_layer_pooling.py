"""WeightedLayerPooling: token embeddings as a learned weighted mean of a transformer's hidden layers."""

from __future__ import annotations

import torch
from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import WeightedModule


class WeightedLayerPooling(WeightedModule):
    """Replace token embeddings by the weighted mean of hidden layers `layer_start`..`num_hidden_layers`.

    Reads `all_layer_embeddings`, which a Transformer adds when its config has `output_hidden_states=True`
    (e.g. `Transformer(path, config_args={"output_hidden_states": True})`).

    Args:
        embedding_dimension: The token embeddings' size.
        num_hidden_layers: The transformer's layer count. Default 12.
        layer_start: The first layer averaged (0 is the embedding layer). Default 4.
        layer_weights: The starting weight of each averaged layer. Default None: 1 each.

    Raises:
        ValueError: A layer_start outside [0, num_hidden_layers], or weights of another count.
    """

    config_keys = ("embedding_dimension", "layer_start", "num_hidden_layers")

    def __init__(
        self,
        embedding_dimension: int,
        num_hidden_layers: int = 12,
        layer_start: int = 4,
        layer_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if not 0 <= layer_start <= num_hidden_layers:
            raise ValueError(f"layer_start must be in [0, num_hidden_layers={num_hidden_layers}], got {layer_start}")
        self.embedding_dimension = embedding_dimension
        self.num_hidden_layers = num_hidden_layers
        self.layer_start = layer_start
        count = num_hidden_layers + 1 - layer_start
        initial = torch.ones(count) if layer_weights is None else torch.as_tensor(layer_weights, dtype=torch.float32)
        if initial.shape != (count,):
            raise ValueError(f"layer_weights must hold {count} weights, got shape {tuple(initial.shape)}")
        self.layer_weights = nn.Parameter(initial.clone())

    def get_word_embedding_dimension(self) -> int:
        """The token embeddings' size.

        Returns:
            The dimension.
        """
        return self.embedding_dimension

    get_embedding_dimension = get_word_embedding_dimension

    def forward(self, features: Features) -> Features:
        """Average the hidden layers into the token embeddings.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "token_embeddings" replaced.

        Raises:
            ValueError: No "all_layer_embeddings" in the features.
        """
        if "all_layer_embeddings" not in features:
            raise ValueError(
                "WeightedLayerPooling needs all_layer_embeddings: load the Transformer with "
                "config_args={'output_hidden_states': True}"
            )
        layers = torch.stack(list(features["all_layer_embeddings"]))[self.layer_start :]
        weights = self.layer_weights.to(layers.dtype)[:, None, None, None]
        features["token_embeddings"] = (weights * layers).sum(dim=0) / self.layer_weights.sum()
        return features

"""WordWeights: scales each token embedding by its word's weight (e.g. IDF), for weighted mean pooling."""

from __future__ import annotations

import torch
from torch import nn

from sentembed.common.types import Features
from sentembed.models.base import WeightedModule


def weight_table(vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float) -> torch.Tensor:
    """One weight per vocabulary word: its own, else its lowercased form's, else `unknown_word_weight`."""
    weights = [word_weights.get(word, word_weights.get(word.lower(), unknown_word_weight)) for word in vocab]
    return torch.tensor(weights, dtype=torch.float32)


class WordWeights(WeightedModule):
    """Multiply token embeddings by per-word weights and record their sum (`token_weights_sum`), which mean
    pooling then divides by, so that a weighted mean comes out.

    Args:
        vocab: The vocabulary of the input module's tokenizer, in id order.
        word_weights: Word -> weight (e.g. IDF).
        unknown_word_weight: The weight of vocabulary words missing from `word_weights`. Default 1.
    """

    config_keys = ("vocab", "word_weights", "unknown_word_weight")

    def __init__(self, vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float = 1) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.word_weights = dict(word_weights)
        self.unknown_word_weight = unknown_word_weight
        table = weight_table(self.vocab, self.word_weights, unknown_word_weight)
        self.emb_layer = nn.Embedding.from_pretrained(table.unsqueeze(1), freeze=False)

    def forward(self, features: Features) -> Features:
        """Weigh each token embedding by its word's weight.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, "token_embeddings" weighted and "token_weights_sum" set.
        """
        mask = features["attention_mask"]
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * mask.to(self.emb_layer.weight.dtype)
        features["token_embeddings"] = features["token_embeddings"] * weights.unsqueeze(-1)
        features["token_weights_sum"] = weights.sum(dim=1)
        return features

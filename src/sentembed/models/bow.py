"""BoW: a bag-of-words sentence vector (term counts times word weights), with no neural network."""

from __future__ import annotations

from typing import Any

import torch

from sentembed.common.types import Features, Row
from sentembed.models.input_module import InputModule
from sentembed.models.word_tokenizer import WhitespaceTokenizer
from sentembed.models.word_weights import weight_table


class BoW(InputModule):
    """One dimension per vocabulary word: its weight times how often it occurs (or once, without
    `cumulative_term_frequency`). Words are matched by `WhitespaceTokenizer`, with no stop words.

    Args:
        vocab: The vocabulary, one dimension per word.
        word_weights: Word -> weight (e.g. IDF). Default None: none.
        unknown_word_weight: The weight of vocabulary words missing from `word_weights`. Default 1.
        cumulative_term_frequency: Count repeated words (True, default) rather than mark presence.
    """

    config_keys = ("vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency")

    def __init__(
        self,
        vocab: list[str],
        word_weights: dict[str, float] | None = None,
        unknown_word_weight: float = 1,
        cumulative_term_frequency: bool = True,
    ) -> None:
        super().__init__()
        self.vocab = list(vocab)
        self.word_weights = dict(word_weights or {})
        self.unknown_word_weight = unknown_word_weight
        self.cumulative_term_frequency = cumulative_term_frequency
        self.weights = weight_table(self.vocab, self.word_weights, unknown_word_weight).tolist()
        self.tokenizer = WhitespaceTokenizer(self.vocab, stop_words=(), do_lower_case=False)

    @property
    def max_seq_length(self) -> float:
        return float("inf")

    def get_sentence_embedding_dimension(self) -> int:
        """The vocabulary's size.

        Returns:
            The dimension.
        """
        return len(self.vocab)

    get_embedding_dimension = get_sentence_embedding_dimension

    def tokenize_unpadded(self, texts: list[str]) -> tuple[list[Row], int]:
        return [{"input_ids": self.tokenizer.tokenize(text)} for text in texts], 0

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """The batch's sentence vectors themselves: the bag of words needs no model.

        Args:
            rows: Token rows from `tokenize_unpadded`.

        Returns:
            {"sentence_embedding": (batch, vocabulary size) tensor}.
        """
        vectors = torch.zeros(len(rows), len(self.vocab))
        for position, row in enumerate(rows):
            for index in row["input_ids"]:
                vectors[position, index] = (
                    vectors[position, index] + self.weights[index]
                    if self.cumulative_term_frequency
                    else self.weights[index]
                )
        return {"sentence_embedding": vectors}

    def prompt_length(self, prompt: str) -> int:
        return len(self.tokenize_unpadded([prompt])[0][0]["input_ids"])

    def forward(self, features: Features) -> Features:
        """Nothing to compute: `pad` made the vectors.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, unchanged.
        """
        return features

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        super().save(output_path)

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> BoW:
        return super().load(input_path)

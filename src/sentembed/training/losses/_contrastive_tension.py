"""Contrastive Tension (Carlsson et al. 2021): unsupervised training from unlabelled sentences.

A copy of the model (`model1`) embeds the first text of each pair and the model itself the second; each
model learns to tell identical sentences from different ones, which undoes the anisotropy of the last layers.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from sentembed.similarity import cos_sim
from sentembed.training.input_example import InputExample
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, function_name


class ContrastiveTensionLoss(EmbeddingLoss):
    """(text, text) pairs labelled 1 (the same sentence twice) or 0 (two different ones): binary cross-entropy
    on the dot product of the copy's embedding of the first and the model's of the second, summed.

    Args:
        model: The SentenceTransformer being trained; a frozen-at-start copy of it embeds the first texts.
    """

    columns = ColumnSpec(2, 2, "binary")

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        self.model1 = copy.deepcopy(model)

    @property
    def model2(self) -> torch.nn.Module:
        return self.model

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        first = self.model1(dict(sentence_features[0]))["sentence_embedding"]
        second = self.model(dict(sentence_features[1]))["sentence_embedding"]
        scores = (first * second).sum(dim=-1)
        return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype).view(-1), reduction="sum")


class ContrastiveTensionLossInBatchNegatives(EmbeddingLoss):
    """One text column: each sentence's copy embedding must pick the model's embedding of the same sentence
    among the batch's, and the other way round; the scale is learned, starting at `scale`.

    Args:
        model: The SentenceTransformer being trained; a copy of it embeds the sentences a second time.
        scale: The similarities' starting scale (the inverse temperature). Default 20.
        similarity_fct: Scores every pair of rows of two embedding batches. Default `cos_sim`.
    """

    columns = ColumnSpec(1, 1)

    def __init__(self, model: torch.nn.Module, scale: float = 20.0, similarity_fct: Callable = cos_sim) -> None:
        super().__init__(model)
        self.model1 = copy.deepcopy(model)
        self.similarity_fct = similarity_fct
        device = next(model.parameters()).device
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(scale), device=device))

    @property
    def model2(self) -> torch.nn.Module:
        return self.model

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        first = self.model1(dict(sentence_features[0]))["sentence_embedding"]
        second = self.model(dict(sentence_features[0]))["sentence_embedding"]
        scores = self.similarity_fct(first, second) * self.logit_scale.exp()
        targets = torch.arange(len(scores), device=scores.device)
        return (F.cross_entropy(scores, targets) + F.cross_entropy(scores.t(), targets)) / 2

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": math.exp(self.logit_scale.item()), "similarity_fct": function_name(self.similarity_fct)}


class ContrastiveTensionDataLoader:
    """Batches of InputExample pairs for ContrastiveTensionLoss from plain sentences, reshuffled each pass:
    one pair in `pos_neg_ratio` is a sentence with itself (label 1), the others two different sentences (0).

    Args:
        sentences: Plain sentences, at least two different ones.
        batch_size: Pairs per batch.
        pos_neg_ratio: One pair in this many is a positive. Default 8.

    Raises:
        ValueError: Fewer than two different sentences.
    """

    def __init__(self, sentences: Sequence[str], batch_size: int, pos_neg_ratio: int = 8) -> None:
        if len(set(sentences)) < 2:
            raise ValueError("ContrastiveTensionDataLoader needs at least two different sentences")
        self.sentences = list(sentences)
        self.batch_size = batch_size
        self.pos_neg_ratio = pos_neg_ratio
        self.collate_fn = None

    @property
    def dataset(self) -> list[InputExample]:
        """One pass of pairs (what the legacy `fit` reads), from a fresh shuffle."""
        order = random.sample(self.sentences, len(self.sentences))
        pairs = []
        for index in range(len(self) * self.batch_size):
            sentence = order[(2 * index) % len(order)]
            if index % self.pos_neg_ratio == 0:
                pairs.append(InputExample(texts=[sentence, sentence], label=1))
            else:
                pairs.append(InputExample(texts=[sentence, order[(2 * index + 1) % len(order)]], label=0))
        return pairs

    def __iter__(self) -> Iterator[list[InputExample]]:
        pairs = self.dataset
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            yield self.collate_fn(batch) if self.collate_fn else batch

    def __len__(self) -> int:
        return len(self.sentences) // (2 * self.batch_size)

"""In-batch negatives ranking losses: MultipleNegativesRankingLoss and its symmetric variant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from sentembed.similarity import cos_sim
from sentembed.training.losses.base import ColumnSpec, EmbeddingLoss


def in_batch_logits(
    embeddings: list[torch.Tensor], similarity_fct: Callable, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled scores of each anchor against every candidate in the batch, and the index of its positive."""
    anchors, candidates = embeddings[0], torch.cat(embeddings[1:])
    logits = similarity_fct(anchors, candidates) * scale
    return logits, torch.arange(len(anchors), device=logits.device)


class MultipleNegativesRankingLoss(EmbeddingLoss):
    """(anchor, positive[, negatives...]) rows: each anchor must pick its positive among all candidates in the batch."""

    columns = ColumnSpec(2, None)

    def __init__(self, model: torch.nn.Module, scale: float = 20.0, similarity_fct: Callable = cos_sim) -> None:
        super().__init__(model)
        self.scale = scale
        self.similarity_fct = similarity_fct

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        logits, targets = in_batch_logits(embeddings, self.similarity_fct, self.scale)
        return F.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": self.similarity_fct.__name__}


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """As MultipleNegativesRankingLoss, plus the reverse task: each positive must pick its anchor."""

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        logits, targets = in_batch_logits(embeddings, self.similarity_fct, self.scale)
        forward = F.cross_entropy(logits, targets)
        backward = F.cross_entropy(logits[:, : len(targets)].t(), targets)
        return (forward + backward) / 2

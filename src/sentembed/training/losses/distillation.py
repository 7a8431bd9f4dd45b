"""Distillation losses: match a teacher's embeddings (MSELoss) or its score margins (MarginMSELoss)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from sentembed.similarity import pairwise_dot_score
from sentembed.training.losses.base import ColumnSpec, EmbeddingLoss


class MSELoss(EmbeddingLoss):
    """Every text column's embedding must match the teacher embedding in the label column."""

    columns = ColumnSpec(1, None, "vector")

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        students = torch.cat(embeddings)
        teachers = labels.to(students.dtype).repeat(len(embeddings), 1)
        if teachers.shape != students.shape:
            raise ValueError(
                f"teacher embeddings have shape {tuple(labels.shape)}; the model gives {students.shape[1]}"
            )
        return F.mse_loss(students, teachers)


class MarginMSELoss(EmbeddingLoss):
    """(query, positive, negative...) rows: sim(q, p) - sim(q, n) must match the teacher's margin in the label."""

    columns = ColumnSpec(3, None, "float")

    def __init__(self, model: torch.nn.Module, similarity_fct: Callable = pairwise_dot_score) -> None:
        super().__init__(model)
        self.similarity_fct = similarity_fct

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        positive_scores = self.similarity_fct(query, positive)
        margins = torch.stack([positive_scores - self.similarity_fct(query, negative) for negative in negatives], 1)
        labels = labels.to(margins.dtype).view(len(query), -1)
        return F.mse_loss(margins, labels.expand_as(margins))

    def get_config_dict(self) -> dict[str, str]:
        return {"similarity_fct": self.similarity_fct.__name__}

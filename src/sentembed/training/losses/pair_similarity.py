"""Losses for pairs with a gold similarity score: CoSENTLoss, AnglELoss and CosineSimilarityLoss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from sentembed.similarity import pairwise_cos_sim
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, function_name, one_label_per_row

# Stateless default modules, shared (as the reference's signature defaults are).
MEAN_SQUARED_ERROR = torch.nn.MSELoss()
IDENTITY = torch.nn.Identity()


def pairwise_angle_sim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AnglE's similarity: |cos + sin| of the angle between the two halves seen as complex numbers (torch sparse
    inputs are scored densely: each row is read once either way).

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The similarity of row i of `x` with row i of `y`, shape (batch,).
    """
    x, y = (side.to_dense() if side.is_sparse else side for side in (x, y))
    if x.shape[1] % 2:
        x, y = F.pad(x, (0, 1)), F.pad(y, (0, 1))
    x, y = F.normalize(x, dim=1), F.normalize(y, dim=1)
    cosine = (x * y).sum(dim=1)
    x_re, x_im = x.chunk(2, dim=1)
    y_re, y_im = y.chunk(2, dim=1)
    sine = (x_im * y_re - x_re * y_im).sum(dim=1)
    return (cosine + sine).abs()


def ranked_pair_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log(1 + sum exp(s_i - s_j)) over pairs where pair i has a lower gold label than pair j."""
    differences = scores[:, None] - scores[None, :]
    wrong_order = labels[:, None] < labels[None, :]
    differences = differences.masked_fill(~wrong_order, float("-inf"))
    return torch.logsumexp(torch.cat([differences.new_zeros(1), differences.flatten()]), dim=0)


class CoSENTLoss(EmbeddingLoss):
    """Pairs with a float score: any pair with a higher gold score must get a higher cosine similarity.

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the ranking loss (the inverse temperature). Default 20.
        similarity_fct: Scores row i of one embedding batch with row i of another. Default `pairwise_cos_sim`.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: torch.nn.Module, scale: float = 20.0, similarity_fct: Callable = pairwise_cos_sim):
        super().__init__(model)
        self.scale = scale
        self.similarity_fct = similarity_fct

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        labels = one_label_per_row(labels, len(embeddings[0]), type(self).__name__)
        scores = self.similarity_fct(embeddings[0], embeddings[1]) * self.scale
        return ranked_pair_loss(scores, labels.to(scores.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": function_name(self.similarity_fct)}


class AnglELoss(CoSENTLoss):
    """CoSENTLoss on the angle similarity, which keeps gradients alive where cosine saturates.

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the ranking loss (the inverse temperature). Default 20.
    """

    def __init__(self, model: torch.nn.Module, scale: float = 20.0) -> None:
        super().__init__(model, scale, similarity_fct=pairwise_angle_sim)


class CosineSimilarityLoss(EmbeddingLoss):
    """Pairs with a float score: regress the cosine similarity onto the score (MSE by default).

    Args:
        model: The SentenceTransformer being trained.
        loss_fct: Compares the (transformed) similarities with the scores. Default `torch.nn.MSELoss()`.
        cos_score_transformation: Applied to the cosine similarities first. Default `torch.nn.Identity()`.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fct: torch.nn.Module = MEAN_SQUARED_ERROR,
        cos_score_transformation: torch.nn.Module = IDENTITY,
    ) -> None:
        super().__init__(model)
        self.loss_fct = loss_fct
        self.cos_score_transformation = cos_score_transformation

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        labels = one_label_per_row(labels, len(embeddings[0]), type(self).__name__)
        scores = self.cos_score_transformation(pairwise_cos_sim(embeddings[0], embeddings[1]))
        return self.loss_fct(scores, labels.to(scores.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        return {"loss_fct": type(self.loss_fct).__name__}

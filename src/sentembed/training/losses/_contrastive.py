"""Contrastive losses for pairs labelled similar (1) or dissimilar (0)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F

from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, distance_metric_name, one_label_per_row


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - the cosine similarity of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return 1 - F.cosine_similarity(x, y)


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Euclidean distance of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return F.pairwise_distance(x, y, p=2)


def manhattan_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Manhattan distance of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return F.pairwise_distance(x, y, p=1)


def warn_unless_binary(labels: torch.Tensor | None, loss_name: str) -> None:
    """A UserWarning when the labels hold values other than 0 and 1 (the loss would treat them as a blend)."""
    if labels is not None and not torch.isin(labels, labels.new_tensor([0, 1])).all():
        warnings.warn(
            f"{loss_name} expects binary labels (1 similar, 0 dissimilar); this batch also holds other values, such "
            "as similarity scores, which blend the two terms. Use CoSENTLoss or CosineSimilarityLoss for scores.",
            UserWarning,
            stacklevel=4,
        )


class SiameseDistanceMetric(Enum):
    """The reference's distance functions for the contrastive losses (plain functions, as its are)."""

    EUCLIDEAN = euclidean_distance
    MANHATTAN = manhattan_distance
    COSINE_DISTANCE = cosine_distance


class ContrastiveLoss(EmbeddingLoss):
    """Pull similar pairs together; push dissimilar pairs at least `margin` apart.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: The distance of row i of one embedding batch to row i of another (see
            SiameseDistanceMetric). Default: cosine distance.
        margin: How far apart dissimilar pairs must be. Default 0.5.
        size_average: Average the loss over the batch (True, default) rather than sum it.
    """

    columns = ColumnSpec(2, 2, "binary")

    def __init__(
        self,
        model: torch.nn.Module,
        distance_metric: Callable = cosine_distance,
        margin: float = 0.5,
        size_average: bool = True,
    ) -> None:
        super().__init__(model)
        self.distance_metric = distance_metric
        self.margin = margin
        self.size_average = size_average
        self.labels_checked = False

    def check_labels_once(self, labels: torch.Tensor | None) -> None:
        """Warn when the first batch's labels are not all 0 or 1 (later batches are not read: a device sync each).

        Args:
            labels: The batch's labels, or None.
        """
        if not self.labels_checked:
            self.labels_checked = True
            warn_unless_binary(labels, type(self).__name__)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        labels = one_label_per_row(labels, len(embeddings[0]), type(self).__name__)
        self.check_labels_once(labels)
        distances = self.distance_metric(embeddings[0], embeddings[1])
        labels = labels.to(distances.dtype)
        losses = 0.5 * (labels * distances.pow(2) + (1 - labels) * F.relu(self.margin - distances).pow(2))
        return losses.mean() if self.size_average else losses.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "distance_metric": distance_metric_name(self.distance_metric, SiameseDistanceMetric),
            "margin": self.margin,
        }


class OnlineContrastiveLoss(ContrastiveLoss):
    """ContrastiveLoss on the hard cases only: positives farther than the closest negative, and the reverse.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: The distance of row i of one embedding batch to row i of another. Default: cosine
            distance.
        margin: How far apart dissimilar pairs must be. Default 0.5.
    """

    def __init__(self, model: torch.nn.Module, distance_metric: Callable = cosine_distance, margin: float = 0.5):
        super().__init__(model, distance_metric, margin)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        labels = one_label_per_row(labels, len(embeddings[0]), type(self).__name__)
        self.check_labels_once(labels)
        distances = self.distance_metric(embeddings[0], embeddings[1])
        positives, negatives = distances[labels == 1], distances[labels == 0]
        negative_cut = positives.max() if len(positives) > 1 else negatives.mean()
        positive_cut = negatives.min() if len(negatives) > 1 else positives.mean()
        hard_negatives = negatives[negatives < negative_cut]
        hard_positives = positives[positives > positive_cut]
        return hard_positives.pow(2).sum() + F.relu(self.margin - hard_negatives).pow(2).sum()

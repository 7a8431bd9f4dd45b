"""Triplet losses: explicit (anchor, positive, negative) rows, and batch-mined triplets from class labels."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F

from sentembed.similarity import pairwise_cos_sim, pairwise_euclidean_sim, pairwise_manhattan_sim
from sentembed.training.losses._base import (
    ColumnSpec,
    EmbeddingLoss,
    distance_metric_name,
    function_name,
    one_label_per_row,
)


def pairwise_euclidean_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """All-pairs Euclidean distance matrix, with an exact zero diagonal and a gradient-safe square root.

    Args:
        embeddings: A batch of embeddings, (batch, dim).

    Returns:
        The (batch, batch) distances.
    """
    squared = torch.cdist(embeddings, embeddings).pow(2)
    zero = squared <= 0
    distances = torch.sqrt(squared.clamp(min=1e-16))
    return distances.masked_fill(zero, 0.0)


def pairwise_cosine_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """All-pairs cosine distance matrix (1 - cosine similarity).

    Args:
        embeddings: A batch of embeddings, (batch, dim).

    Returns:
        The (batch, batch) distances.
    """
    normalized = F.normalize(embeddings, dim=1)
    return 1 - normalized @ normalized.t()


def triplet_cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - the cosine similarity of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return 1 - pairwise_cos_sim(x, y)


def triplet_euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Euclidean distance of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return -pairwise_euclidean_sim(x, y)


def triplet_manhattan_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Manhattan distance of each row pair.

    Args:
        x: One batch of embeddings, (batch, dim).
        y: Another, of the same shape.

    Returns:
        The distances, shape (batch,).
    """
    return -pairwise_manhattan_sim(x, y)


class TripletDistanceMetric(Enum):
    """The reference's distance functions for TripletLoss (plain functions, as its are)."""

    COSINE = triplet_cosine_distance
    EUCLIDEAN = triplet_euclidean_distance
    MANHATTAN = triplet_manhattan_distance


class TripletLoss(EmbeddingLoss):
    """The anchor must be closer to the positive than to the negative by at least `triplet_margin`.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: The distance of row i of one embedding batch to row i of another (see
            TripletDistanceMetric). Default: Euclidean.
        triplet_margin: How much closer the positive must be. Default 5.
    """

    columns = ColumnSpec(3, 3)

    def __init__(
        self,
        model: torch.nn.Module,
        distance_metric: Callable = TripletDistanceMetric.EUCLIDEAN,
        triplet_margin: float = 5.0,
    ) -> None:
        super().__init__(model)
        self.distance_metric = distance_metric
        self.triplet_margin = triplet_margin

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        anchor, positive, negative = embeddings
        positive_distance = self.distance_metric(anchor, positive)
        negative_distance = self.distance_metric(anchor, negative)
        return F.relu(positive_distance - negative_distance + self.triplet_margin).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "distance_metric": distance_metric_name(self.distance_metric, TripletDistanceMetric),
            "triplet_margin": self.triplet_margin,
        }


class _BatchTripletLoss(EmbeddingLoss):
    """One text column with a class label; triplets are mined within the batch.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: The all-pairs distance matrix of one embedding batch (see
            BatchHardTripletLossDistanceFunction). Default: Euclidean.
        margin: How much closer a same-label text must be than an other-label one. Default 5.
    """

    columns = ColumnSpec(1, 1, "int")

    def __init__(
        self, model: torch.nn.Module, distance_metric: Callable = pairwise_euclidean_distances, margin: float = 5.0
    ) -> None:
        super().__init__(model)
        self.distance_metric = distance_metric
        self.triplet_margin = margin

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        labels = one_label_per_row(labels, len(embeddings[0]), type(self).__name__)
        return self.mined_loss(self.distance_metric(embeddings[0]), labels)

    def mined_loss(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of the triplets this loss mines from the batch (each batch triplet loss defines it).

        Args:
            distances: The (batch, batch) distances between the batch's embeddings.
            labels: The (batch,) class labels.

        Returns:
            The loss, a scalar tensor.
        """
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": function_name(self.distance_metric), "margin": self.triplet_margin}


def _same_label(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of (i, j) pairs with the same label (i != j), and with different labels."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def hardest_distances(distances: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor: the distance to its farthest same-label text and to its closest other-label text."""
    positive_mask, negative_mask = _same_label(labels)
    hardest_positive = (distances * positive_mask).max(dim=1).values
    largest = distances.max(dim=1, keepdim=True).values
    hardest_negative = (distances + largest * ~negative_mask).min(dim=1).values
    return hardest_positive, hardest_negative


class BatchHardTripletLoss(_BatchTripletLoss):
    """For each anchor: its farthest same-label text against its closest other-label text."""

    def mined_loss(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hardest_positive, hardest_negative = hardest_distances(distances, labels)
        return F.relu(hardest_positive - hardest_negative + self.triplet_margin).mean()


class BatchAllTripletLoss(_BatchTripletLoss):
    """Every valid (anchor, positive, negative) triplet in the batch, averaged over those still violating the margin."""

    def mined_loss(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        positive_mask, negative_mask = _same_label(labels)
        valid = positive_mask[:, :, None] & negative_mask[:, None, :]
        losses = F.relu(distances[:, :, None] - distances[:, None, :] + self.triplet_margin) * valid
        violating = (losses > 1e-16).sum()
        return losses.sum() / (violating + 1e-16)


class BatchSemiHardTripletLoss(_BatchTripletLoss):
    """For each (anchor, positive): the closest negative that is still farther than the positive,
    or the farthest negative when none is."""

    def mined_loss(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        positive_mask, negative_mask = _same_label(labels)
        negatives = distances.masked_fill(~negative_mask, float("inf"))
        farther = negatives[:, None, :] > distances[:, :, None]
        semi_hard = torch.where(
            farther, negatives[:, None, :], torch.full_like(farther, float("inf"), dtype=distances.dtype)
        )
        closest_farther = semi_hard.min(dim=2).values
        farthest = distances.masked_fill(~negative_mask, float("-inf")).max(dim=1, keepdim=True).values
        chosen = torch.where(torch.isfinite(closest_farther), closest_farther, farthest.expand_as(closest_farther))
        losses = F.relu(distances - chosen + self.triplet_margin) * positive_mask
        return losses.sum() / positive_mask.sum().clamp(min=1)


class BatchHardSoftMarginTripletLoss(BatchHardTripletLoss):
    """BatchHardTripletLoss with a soft margin: log(1 + exp(hardest positive - hardest negative)), no margin.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: The all-pairs distance matrix of one embedding batch. Default: Euclidean.
    """

    def __init__(self, model: torch.nn.Module, distance_metric: Callable = pairwise_euclidean_distances) -> None:
        super().__init__(model, distance_metric)

    def mined_loss(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hardest_positive, hardest_negative = hardest_distances(distances, labels)
        return F.softplus(hardest_positive - hardest_negative).mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": function_name(self.distance_metric)}


class BatchHardTripletLossDistanceFunction:
    """The all-pairs distance functions the batch triplet losses take, under the reference's names."""

    cosine_distance = staticmethod(pairwise_cosine_distances)
    euclidean_distance = staticmethod(pairwise_euclidean_distances)
    eucledian_distance = staticmethod(pairwise_euclidean_distances)

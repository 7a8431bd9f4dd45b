"""GlobalOrthogonalRegularizationLoss: spread unrelated embeddings over the space (Zhang et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F

from sentembed.common.checks import check_choice
from sentembed.similarity import cos_sim
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, function_name


class GlobalOrthogonalRegularizationLoss(EmbeddingLoss):
    """Per text column: the squared mean similarity of different rows, plus how far their second moment
    exceeds 1/dim (that of random directions); the columns' terms are averaged or summed.

    Args:
        model: The SentenceTransformer being trained.
        similarity_fct: Scores every pair of rows of an embedding batch. Default `cos_sim`.
        mean_weight: The weight of the squared mean similarity; None or 0 leaves it out. Default 1.
        second_moment_weight: The weight of the second-moment term; None or 0 leaves it out. Default 1.
        aggregation: "mean" (default) or "sum" over the columns.

    Raises:
        ValueError: Both weights zero or None, or an unknown aggregation.
    """

    columns = ColumnSpec(1, None)

    def __init__(
        self,
        model: torch.nn.Module,
        similarity_fct: Callable = cos_sim,
        mean_weight: float | None = 1.0,
        second_moment_weight: float | None = 1.0,
        aggregation: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__(model)
        self.similarity_fct = similarity_fct
        self.mean_weight = mean_weight
        self.second_moment_weight = second_moment_weight
        self.aggregation = check_choice(aggregation, ("mean", "sum"), "aggregation")
        if not mean_weight and not second_moment_weight:
            raise ValueError("GlobalOrthogonalRegularizationLoss needs a non-zero mean_weight or second_moment_weight")

    def compute_gor(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The regulariser for one column's embeddings.

        Args:
            embeddings: The column's (rows, dim) embeddings.

        Returns:
            The weighted terms, a scalar tensor.
        """
        scores = self.similarity_fct(embeddings, embeddings)
        off_diagonal = scores[~torch.eye(len(scores), dtype=torch.bool, device=scores.device)]
        loss = scores.new_zeros(())
        if self.mean_weight:
            loss = loss + self.mean_weight * off_diagonal.mean().pow(2)
        if self.second_moment_weight:
            excess = F.relu(off_diagonal.pow(2).mean() - 1 / embeddings.shape[1])
            loss = loss + self.second_moment_weight * excess
        return loss

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        losses = torch.stack([self.compute_gor(embedding) for embedding in embeddings])
        return losses.mean() if self.aggregation == "mean" else losses.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "similarity_fct": function_name(self.similarity_fct),
            "mean_weight": self.mean_weight,
            "second_moment_weight": self.second_moment_weight,
            "aggregation": self.aggregation,
        }

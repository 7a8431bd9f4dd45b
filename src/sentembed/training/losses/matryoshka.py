"""MatryoshkaLoss: train embeddings whose leading dimensions work on their own."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from sentembed.common.checks import check_positive_int
from sentembed.training.losses.base import EmbeddingLoss
from sentembed.training.losses.cached import GradientCacheMixin
from sentembed.training.losses.gist import GISTEmbedLoss


class MatryoshkaLoss(EmbeddingLoss):
    """The wrapped loss, summed (with weights) over the embeddings truncated to each of `matryoshka_dims`."""

    def __init__(
        self,
        model: torch.nn.Module,
        loss: EmbeddingLoss,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__(model)
        if isinstance(loss, (GradientCacheMixin, GISTEmbedLoss)) or not isinstance(loss, EmbeddingLoss):
            raise ValueError(f"MatryoshkaLoss cannot wrap {type(loss).__name__}; wrap a loss computed from embeddings")
        if not matryoshka_dims:
            raise ValueError("matryoshka_dims must hold at least one dimension")
        matryoshka_dims = [
            check_positive_int(dim, f"matryoshka_dims[{index}]") for index, dim in enumerate(matryoshka_dims)
        ]
        weights = list(matryoshka_weights) if matryoshka_weights is not None else [1.0] * len(matryoshka_dims)
        if len(weights) != len(matryoshka_dims):
            raise ValueError(f"got {len(weights)} matryoshka_weights for {len(matryoshka_dims)} matryoshka_dims")
        self.loss = loss
        self.matryoshka_dims = [int(dim) for dim in matryoshka_dims]
        self.matryoshka_weights = weights
        self.n_dims_per_step = n_dims_per_step
        self.columns = loss.columns

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        chosen = list(zip(self.matryoshka_dims, self.matryoshka_weights))
        if 0 < self.n_dims_per_step < len(chosen):
            chosen = random.sample(chosen, self.n_dims_per_step)
        total = 0.0
        for dim, weight in chosen:
            truncated = [embedding[:, :dim] for embedding in embeddings]
            total = total + weight * self.loss.compute_loss_from_embeddings(truncated, labels)
        return total

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }

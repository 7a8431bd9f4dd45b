"""MatryoshkaLoss: train embeddings whose leading dimensions work on their own."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from sentembed.training.losses._base import EmbeddingLoss
from sentembed.training.losses._cached import GradientCacheMixin

logger = logging.getLogger(__name__)


class MatryoshkaLoss(EmbeddingLoss):
    """The wrapped loss, summed (with weights) over the embeddings truncated to each of `matryoshka_dims`.

    Any loss can be wrapped: one of ours is scored on the truncated embeddings of one forward pass (the
    gradient-cached losses, CachedMultipleNegativesRankingLoss, CachedGISTEmbedLoss and MegaBatchMarginLoss, keep
    their mini-batches and cache the gradient of the whole sum); a loss of your own (a plain `nn.Module` that
    calls the model) runs once per dimension with the model's sentence embeddings truncated.

    Args:
        model: the SentenceTransformer being trained.
        loss: the loss to wrap.
        matryoshka_dims: the dimensions to train, each positive and at most the model's.
        matryoshka_weights: one weight per dimension (1 each by default).
        n_dims_per_step: how many dimensions (picked at random) each step trains; -1 for all.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss: torch.nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__(model)
        dims = check_dims(matryoshka_dims)
        weights = list(matryoshka_weights) if matryoshka_weights is not None else [1.0] * len(dims)
        if len(weights) != len(dims):
            raise ValueError(
                "matryoshka_weights must be the same length as matryoshka_dims. "
                f"Got {len(weights)} weights for {len(dims)} dimensions."
            )
        self.matryoshka_dims = check_dims_fit(model, dims)
        self.loss = loss
        self.matryoshka_weights = weights
        self.n_dims_per_step = n_dims_per_step
        self.columns = getattr(loss, "columns", EmbeddingLoss.columns)

    def chosen_dims(self) -> list[tuple[int, float]]:
        """The dimensions this step trains.

        Returns:
            (dimension, weight) pairs: all, or `n_dims_per_step` picked at random.
        """
        chosen = list(zip(self.matryoshka_dims, self.matryoshka_weights, strict=True))
        if 0 < self.n_dims_per_step < len(chosen):
            chosen = random.sample(chosen, self.n_dims_per_step)
        return chosen

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        chosen = self.chosen_dims()
        if not isinstance(self.loss, EmbeddingLoss):
            return self.truncated_forwards(sentence_features, labels, chosen)
        loss_of = summed_over_dims(self.loss.prepare_loss(sentence_features, labels), chosen)
        if isinstance(self.loss, GradientCacheMixin) and self.loss.caches_gradients():
            return self.loss.cached_loss(sentence_features, loss_of)
        return loss_of(self.embed(sentence_features))

    def prepare_loss(
        self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None
    ) -> Callable[[list[torch.Tensor]], torch.Tensor]:
        if not isinstance(self.loss, EmbeddingLoss):
            raise TypeError(f"MatryoshkaLoss over {type(self.loss).__name__} runs the model itself; call it instead")
        return summed_over_dims(self.loss.prepare_loss(sentence_features, labels), self.chosen_dims())

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        return self.prepare_loss([], labels)(embeddings)

    def truncated_forwards(
        self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None, chosen: list
    ) -> torch.Tensor:
        """A loss of the user's own: run it once per dimension, the model's sentence embeddings truncated.

        Args:
            sentence_features: One tokenized batch per text column.
            labels: The labels, or None.
            chosen: The (dimension, weight) pairs to train.

        Returns:
            The weighted sum of the losses.
        """
        total = 0.0
        for dim, weight in chosen:
            with truncated_outputs(self.model, dim):
                total = total + weight * self.loss(sentence_features, labels)
        return total

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }


def check_dims(dims: Sequence[int]) -> list[int]:
    """The dimensions as ints: at least one, each a positive integer."""
    dims = list(dims or [])
    if not dims:
        raise ValueError("You must provide at least one dimension in matryoshka_dims.")
    if any(isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0 for dim in dims):
        raise ValueError(f"All dimensions passed to a matryoshka loss must be > 0. Got {dims}.")
    return [int(dim) for dim in dims]


def check_dims_fit(model: Any, dims: list[int]) -> list[int]:
    """`dims`, when none exceeds the model's embedding dimension (a warning when the model's own dimension is
    not among them)."""
    dimension_of = getattr(model, "get_embedding_dimension", None)
    full = dimension_of() if callable(dimension_of) else None
    if full:
        if max(dims) > full:
            raise ValueError(
                f"Dimensions in matryoshka_dims cannot exceed the model's embedding dimension of {full}. Got {dims}."
            )
        if full not in dims:
            logger.warning(
                "The model's embedding dimension %d is not among matryoshka_dims %s: the full embedding is untrained.",
                full,
                dims,
            )
    return dims


def summed_over_dims(
    loss_of: Callable[[list[torch.Tensor]], torch.Tensor], chosen: list[tuple[int, float]]
) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """A loss of the embeddings: the weighted sum of `loss_of` on the embeddings truncated to each dimension."""

    def total(embeddings: list[torch.Tensor]) -> torch.Tensor:
        result = 0.0
        for dim, weight in chosen:
            result = result + weight * loss_of([embedding[..., :dim] for embedding in embeddings])
        return result

    return total


@contextmanager
def truncated_outputs(model: torch.nn.Module, dim: int) -> Iterator[None]:
    """Within the block, the model's forward returns its sentence embeddings cut to `dim`."""

    def truncate(module: torch.nn.Module, args: Any, output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**output, "sentence_embedding": output["sentence_embedding"][..., :dim]}

    handle = model.register_forward_hook(truncate)
    try:
        yield
    finally:
        handle.remove()

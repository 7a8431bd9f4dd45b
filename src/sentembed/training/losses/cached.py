"""Gradient caching: in-batch negatives losses over large batches with the memory of a small one.

The batch is embedded in mini-batches without gradients; the loss's gradient with respect to the embeddings
is computed once; then, when the trainer calls backward, each mini-batch is embedded again with gradients
(replaying the same dropout) and that cached gradient is pushed through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from tqdm.auto import tqdm

from sentembed.common.checks import check_positive_int
from sentembed.similarity import cos_sim
from sentembed.training.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss

Features = dict[str, torch.Tensor]


class RandomState:
    """The random generator state at one moment, to replay the same dropout masks later."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextmanager
    def replayed(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=[self.device] if self.cuda_state is not None else []):
            torch.set_rng_state(self.cpu_state)
            if self.cuda_state is not None:
                torch.cuda.set_rng_state(self.cuda_state, self.device)
            yield


def split_features(features: Features, size: int) -> list[Features]:
    """Cut a tokenized batch into mini-batches of at most `size` rows."""
    rows = len(features["input_ids"])
    return [
        {
            name: value[start : start + size] if isinstance(value, torch.Tensor) else value
            for name, value in features.items()
        }
        for start in range(0, rows, size)
    ]


class GradientCacheMixin:
    """Turns an embeddings-in, loss-out ranking loss into its gradient-cached form."""

    mini_batch_size: int
    show_progress_bar: bool
    model: torch.nn.Module

    def _embed_without_grad(self, sentence_features: list[Features]) -> tuple[list[torch.Tensor], list[list]]:
        embeddings, states = [], []
        for features in tqdm(sentence_features, desc="Embed mini-batches", disable=not self.show_progress_bar):
            column_parts, column_states = [], []
            for mini_batch in split_features(features, self.mini_batch_size):
                column_states.append(RandomState(mini_batch["input_ids"].device))
                with torch.no_grad():
                    column_parts.append(self.model(dict(mini_batch))["sentence_embedding"])
            embeddings.append(torch.cat(column_parts))
            states.append(column_states)
        return embeddings, states

    def _backward_through_model(
        self, sentence_features: list[Features], states: list[list], gradients: list[torch.Tensor], scale: torch.Tensor
    ) -> None:
        for features, column_states, gradient in zip(sentence_features, states, gradients):
            start = 0
            for mini_batch, state in zip(split_features(features, self.mini_batch_size), column_states):
                # Backward hooks run with gradients off: turn them on for the forward and the surrogate product.
                with state.replayed(), torch.enable_grad():
                    embedding = self.model(dict(mini_batch))["sentence_embedding"]
                    stop = start + len(embedding)
                    (embedding * (gradient[start:stop] * scale)).sum().backward()
                start = stop

    def forward(self, sentence_features: list[Features], labels: torch.Tensor | None) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return self.compute_loss_from_embeddings(self.embed(sentence_features), labels)
        embeddings, states = self._embed_without_grad(sentence_features)
        leaves = [embedding.detach().requires_grad_() for embedding in embeddings]
        loss = self.compute_loss_from_embeddings(leaves, labels)
        gradients = torch.autograd.grad(loss, leaves)
        surrogate = loss.detach().requires_grad_()
        surrogate.register_hook(
            lambda scale: self._backward_through_model(sentence_features, states, list(gradients), scale)
        )
        return surrogate


class CachedMultipleNegativesRankingLoss(GradientCacheMixin, MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss with gradient caching: batch size is limited by time, not memory."""

    def __init__(
        self,
        model: torch.nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable = cos_sim,
        mini_batch_size: int = 32,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(model, scale, similarity_fct)
        self.mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        self.show_progress_bar = show_progress_bar

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}


class CachedMultipleNegativesSymmetricRankingLoss(GradientCacheMixin, MultipleNegativesSymmetricRankingLoss):
    """MultipleNegativesSymmetricRankingLoss with gradient caching."""

    __init__ = CachedMultipleNegativesRankingLoss.__init__
    get_config_dict = CachedMultipleNegativesRankingLoss.get_config_dict

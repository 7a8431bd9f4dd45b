"""AdaptiveLayerLoss and Matryoshka2dLoss: train a model that still works with its last layers removed
(and, for the 2D loss, with its embeddings truncated), after 2DMSE (Li et al. 2024)."""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from sentembed.common.checks import check_choice
from sentembed.training.losses._base import EmbeddingLoss, unwrap_model
from sentembed.training.losses._cached import GradientCacheMixin
from sentembed.training.losses._matryoshka import MatryoshkaLoss

LayerWeighting = Literal["uniform", "log", "linear"]
LAYER_WEIGHTINGS: tuple[str, ...] = get_args(LayerWeighting)


def find_layer_list(model: nn.Module) -> tuple[nn.Module, str]:
    """The module holding the first module's transformer layers, and the attribute naming their ModuleList."""
    first = model[0] if isinstance(model, nn.Sequential) and len(model) else model
    backbone = getattr(first, "auto_model", None)
    count = getattr(getattr(backbone, "config", None), "num_hidden_layers", None)
    if backbone is not None and count:
        for owner in backbone.modules():
            for name, child in owner.named_children():
                if isinstance(child, nn.ModuleList) and len(child) == count:
                    return owner, name
    raise ValueError(
        f"AdaptiveLayerLoss needs a model whose first module is a Transformer with a list of layers; "
        f"the first module is {type(first).__name__}"
    )


def layer_weight(weighting: str | Callable[[int], float], index: int) -> float:
    """The weight of the prior layer `index` (0 is the embedding layer's output)."""
    if callable(weighting):
        return float(weighting(index))
    if weighting == "log":
        return 1 / (1 + math.log(1 + index))
    if weighting == "linear":
        return 1 / (1 + index)
    return 1.0


@contextmanager
def recorded_embeddings(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The sentence embeddings `model` returns while the block runs (the wrapped loss's, in column order)."""
    embeddings: list[torch.Tensor] = []
    handle = model.register_forward_hook(
        lambda _module, _inputs, output: embeddings.append(output["sentence_embedding"])
    )
    try:
        yield embeddings
    finally:
        handle.remove()


def gradient_cached_loss(loss: nn.Module) -> GradientCacheMixin | None:
    """The loss that back-propagates through a gradient cache: `loss` itself, or the loss a MatryoshkaLoss wraps;
    None when neither does."""
    inner = loss.loss if isinstance(loss, MatryoshkaLoss) else loss
    return inner if isinstance(inner, GradientCacheMixin) and inner.caches_gradients() else None


def layered_model(model: Any) -> nn.Module:
    """The pipeline (an nn.Sequential) inside `model`, unwrapping DistributedDataParallel and torch.compile."""
    return unwrap_model(model, lambda candidate: isinstance(candidate, nn.Sequential), "AdaptiveLayerLoss")


def mean_kl_divergence(prior: list[torch.Tensor], final: list[torch.Tensor], temperature: float) -> torch.Tensor:
    """KL(final || prior) of the embeddings' softmax over dimensions at `temperature`, averaged over every row
    the model embedded (however the columns were batched into forward passes)."""
    prior_rows, final_rows = torch.cat(prior), torch.cat(final)
    return F.kl_div(
        F.log_softmax(prior_rows / temperature, dim=-1),
        F.softmax(final_rows / temperature, dim=-1),
        reduction="batchmean",
    )


class AdaptiveLayerLoss(EmbeddingLoss):
    """The wrapped loss on the full model plus, each step, on `n_layers_per_step` random shallower versions
    (0 to all but the last layer kept), with a KL term pulling their embeddings toward the full model's.

    Args:
        model: The SentenceTransformer being trained.
        loss: The loss to wrap (e.g. MultipleNegativesRankingLoss).
        n_layers_per_step: How many shallower versions (random layer counts) each step trains; -1 for all.
            Default 1.
        last_layer_weight: The full model's loss weight. Default 1.
        prior_layers_weight: The shallower versions' (averaged) loss weight. Default 1.
        kl_div_weight: The KL term's weight. Default 1.
        kl_temperature: The softmax temperature of the KL term; 0 turns it off. Default 0.3.
        layer_weighting: How a shallower version's loss is weighted by its layer count: "uniform" (default),
            "linear", "log", or a function of the layer index.

    Raises:
        ValueError: A bad `n_layers_per_step` or `layer_weighting`, or a model without a list of transformer
            layers.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        n_layers_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting | Callable[[int], float] = "uniform",
    ) -> None:
        super().__init__(model)
        # A gradient-cached loss back-propagates from a hook after the whole step, when the removed layers are
        # back: it runs here in its plain form instead (every column embedded with its graph).
        cached = gradient_cached_loss(loss)
        self.runs_uncached = cached is not None
        if cached is not None:
            warnings.warn(
                f"{type(self).__name__} is not compatible with {type(cached).__name__}'s gradient caching: it is "
                "computed without mini-batches here, so it needs the memory of the non-cached loss",
                UserWarning,
                stacklevel=2,
            )
        if not callable(layer_weighting):
            check_choice(layer_weighting, LAYER_WEIGHTINGS, "layer_weighting")
        if not isinstance(n_layers_per_step, int) or n_layers_per_step == 0 or n_layers_per_step < -1:
            raise ValueError(f"n_layers_per_step must be -1 (all) or a positive integer, got {n_layers_per_step!r}")
        find_layer_list(layered_model(model))  # refuse a model without a list of layers now, not at the first step
        self.loss = loss
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.layer_weighting = layer_weighting
        self.columns = getattr(loss, "columns", EmbeddingLoss.columns)

    def wrapped_loss(
        self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None
    ) -> torch.Tensor:
        """The wrapped loss on the batch; a gradient-cached one in its plain form (see `runs_uncached`).

        Args:
            sentence_features: the tokenized columns.
            labels: the labels, or None.

        Returns:
            The wrapped loss, a scalar tensor.
        """
        if self.runs_uncached:
            return self.loss.prepare_loss(sentence_features, labels)(self.loss.embed(sentence_features))
        return self.loss(sentence_features, labels)

    def get_layer_weight(self, index: int) -> float:
        """The loss weight of the version that keeps `index` layers.

        Args:
            index: How many layers the version keeps (0: the embedding layer's output only).

        Returns:
            The weight, from `layer_weighting`.
        """
        return layer_weight(self.layer_weighting, index)

    @staticmethod
    @contextmanager
    def kept_layers(layer_list: tuple[nn.Module, str], count: int) -> Iterator[None]:
        """Run the model with only the first `count` layers of `layer_list` inside the `with` block.

        Args:
            layer_list: (the module holding the layers, the attribute naming their ModuleList).
            count: How many layers to keep.

        Yields:
            Nothing; the layers are put back when the block ends.
        """
        owner, attribute = layer_list
        layers = getattr(owner, attribute)
        setattr(owner, attribute, nn.ModuleList(list(layers)[:count]))
        try:
            yield
        finally:
            setattr(owner, attribute, layers)

    def chosen_layers(self, num_layers: int) -> list[int]:
        """The layer counts this step trains.

        Args:
            num_layers: The model's layer count.

        Returns:
            All counts below it, or `n_layers_per_step` of them picked at random.
        """
        prior = range(num_layers)
        if 0 < self.n_layers_per_step < len(prior):
            return random.sample(prior, self.n_layers_per_step)
        return list(prior)

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        model = layered_model(self.model)  # the trainer may have put it inside DDP or torch.compile
        layer_list = find_layer_list(model)
        with recorded_embeddings(model) as final_embeddings:
            total = self.last_layer_weight * self.wrapped_loss(sentence_features, labels)
        chosen = self.chosen_layers(len(getattr(*layer_list)))
        prior_total, divergence = 0.0, 0.0
        for count in chosen:
            with self.kept_layers(layer_list, count), recorded_embeddings(model) as embeddings:
                prior_total = prior_total + self.get_layer_weight(count) * self.wrapped_loss(sentence_features, labels)
            if self.kl_temperature > 0:
                targets = [embedding.detach() for embedding in final_embeddings]
                divergence = divergence + mean_kl_divergence(embeddings, targets, self.kl_temperature)
        total = total + self.prior_layers_weight * prior_total / len(chosen)
        return total + self.kl_div_weight * self.kl_temperature * divergence

    def get_config_dict(self) -> dict[str, Any]:
        weighting = self.layer_weighting
        return {
            "loss": type(self.loss).__name__,
            "n_layers_per_step": self.n_layers_per_step,
            "last_layer_weight": self.last_layer_weight,
            "prior_layers_weight": self.prior_layers_weight,
            "kl_div_weight": self.kl_div_weight,
            "kl_temperature": self.kl_temperature,
            "layer_weighting": weighting if isinstance(weighting, str) else getattr(weighting, "__name__", "custom"),
        }


class Matryoshka2dLoss(AdaptiveLayerLoss):
    """AdaptiveLayerLoss over a MatryoshkaLoss: fewer layers and fewer dimensions both keep working.

    Args:
        model: The SentenceTransformer being trained.
        loss: The loss to wrap.
        matryoshka_dims: The dimensions to train (see MatryoshkaLoss).
        matryoshka_weights: One weight per dimension. Default None: 1 each.
        n_layers_per_step: How many shallower versions (random layer counts) each step trains; -1 for all.
            Default 1.
        n_dims_per_step: How many dimensions (picked at random) each step trains; -1 for all. Default 1.
        last_layer_weight: The full model's loss weight. Default 1.
        prior_layers_weight: The shallower versions' (averaged) loss weight. Default 1.
        kl_div_weight: The KL term's weight. Default 1.
        kl_temperature: The softmax temperature of the KL term; 0 turns it off. Default 0.3.
        layer_weighting: How a shallower version's loss is weighted by its layer count: "uniform" (default),
            "linear", "log", or a function of the layer index.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_layers_per_step: int = 1,
        n_dims_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting | Callable[[int], float] = "uniform",
    ) -> None:
        matryoshka = MatryoshkaLoss(model, loss, matryoshka_dims, matryoshka_weights, n_dims_per_step)
        super().__init__(
            model, matryoshka, n_layers_per_step, last_layer_weight, prior_layers_weight, kl_div_weight,
            kl_temperature, layer_weighting,
        )  # fmt: skip

    def get_config_dict(self) -> dict[str, Any]:
        return {**self.loss.get_config_dict(), **super().get_config_dict(), "loss": type(self.loss.loss).__name__}

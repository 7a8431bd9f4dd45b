"""What bi-encoder losses share: embedding the text columns, and the columns and label each loss expects."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sentembed.training.losses.merged_forward import embed_columns

LABEL_KINDS = ("float", "int", "binary", "vector")


@dataclass(frozen=True)
class ColumnSpec:
    """The text columns (at least `min_texts`, at most `max_texts`; None is unbounded) and label a loss takes.

    `label` is None (no label column allowed) or one of "float", "int", "binary" (0/1) and "vector".

    Attributes:
        min_texts: The fewest text columns.
        max_texts: The most text columns; None for no limit.
        label: The label column's kind, or None for none.
    """

    min_texts: int
    max_texts: int | None
    label: str | None = None

    def describe(self) -> str:
        """What a dataset for the loss must hold, for error messages.

        Returns:
            E.g. "2 text columns and a float label column ('label' or 'score')".
        """
        if self.max_texts == self.min_texts:
            texts = f"{self.min_texts} text column{'s' if self.min_texts != 1 else ''}"
        elif self.max_texts is None:
            texts = f"at least {self.min_texts} text columns"
        else:
            texts = f"{self.min_texts} to {self.max_texts} text columns"
        return texts + (f" and a {self.label} label column ('label' or 'score')" if self.label else ", no label")


class EmbeddingLoss(nn.Module):
    """Base for bi-encoder losses: embed every text column, then score the list of embeddings.

    Args:
        model: The SentenceTransformer being trained.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def embed(self, sentence_features: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        """Each column's embeddings: the first column alone, the others in one forward pass when they can share
        it (see `merged_forward`).

        Args:
            sentence_features: One tokenized batch per text column.

        Returns:
            One (batch, dim) tensor of sentence embeddings per column.
        """
        return embed_columns(self.model, sentence_features)

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            sentence_features: One tokenized batch per text column of the dataset.
            labels: The label column's values, or None for a dataset without labels.

        Returns:
            The loss, a scalar tensor.
        """
        return self.prepare_loss(sentence_features, labels)(self.embed(sentence_features))

    def prepare_loss(
        self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None
    ) -> Callable[[list[torch.Tensor]], torch.Tensor]:
        """The loss as a function of the model's embeddings of `sentence_features` alone; anything else it needs
        (a guide model's embeddings, say) is computed here, once. Wrappers such as MatryoshkaLoss call it on
        changed embeddings.

        Args:
            sentence_features: One tokenized batch per text column.
            labels: The labels, or None.

        Returns:
            A function of the list of column embeddings giving the loss.
        """
        return lambda embeddings: self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        """The loss of already computed embeddings (each loss defines it).

        Args:
            embeddings: One (batch, dim) tensor per text column.
            labels: The labels, or None.

        Returns:
            The loss, a scalar tensor.
        """
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        """The settings recorded in the model card.

        Returns:
            Setting name -> value (empty for a loss without settings).
        """
        return {}


def one_label_per_row(labels: torch.Tensor | None, rows: int, loss_name: str) -> torch.Tensor:
    """The labels as a (rows,) vector; a ValueError naming the loss when there is not exactly one per row (a
    label tensor of another size would broadcast and train toward the wrong targets)."""
    if labels is None:
        raise ValueError(
            f"{loss_name} needs a label per row; the batch has none (is the dataset's label column there?)"
        )
    if labels.numel() != rows:
        raise ValueError(
            f"{loss_name} expects {rows} labels (one per example), but got {labels.numel()} labels with shape "
            f"{tuple(labels.shape)}."
        )
    return labels.reshape(-1)


def distance_metric_name(metric: Any, namespace: type) -> str:
    """How a loss's config names its distance metric: "Namespace.NAME" for one of `namespace`'s, else its name."""
    for name, value in vars(namespace).items():
        if value is metric:
            return f"{namespace.__name__}.{name}"
    return function_name(metric)


def function_name(function: Any) -> str:
    """How a loss's config names a similarity or distance function: its name, a partial's as "partial(name)",
    and a callable object (such as an `nn.Module`) by its class."""
    if isinstance(function, functools.partial):
        return f"partial({function_name(function.func)})"
    return getattr(function, "__name__", None) or type(function).__name__


# Where a training wrapper keeps the model it wraps: torch.compile's OptimizedModule, (Distributed)DataParallel.
WRAPPED_MODEL_ATTRIBUTES = ("_orig_mod", "module")


def wrapped_model(module: Any) -> nn.Module | None:
    """The model a DistributedDataParallel / torch.compile wrapper holds, or None when `module` wraps nothing."""
    for attribute in WRAPPED_MODEL_ATTRIBUTES:
        inner = getattr(module, attribute, None)
        if isinstance(inner, nn.Module):
            return inner
    return None


def unwrap_model(model: Any, is_model: Callable[[Any], bool], owner: str) -> Any:
    """`model` itself, or the model found inside its (possibly nested) training wrappers, as `is_model` recognises
    it; a TypeError naming both the outer object and where unwrapping stopped otherwise."""
    current = model
    while not is_model(current):
        inner = wrapped_model(current)
        if inner is None:
            raise TypeError(
                f"{owner} could not unwrap {type(model).__name__} to a model (stopped at {type(current).__name__}); "
                "expected the model itself, DistributedDataParallel or torch.compile's OptimizedModule around it"
            )
        current = inner
    return current

"""What cross-encoder losses share: scoring (first, second) text pairs with gradients, and their settings."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sentembed.common.batching import run_in_sorted_batches
from sentembed.common.protocols import PairModel, TrainablePairModel
from sentembed.common.types import fullname
from sentembed.training.losses._base import ColumnSpec


def require_one_label(model: PairModel, loss_name: str) -> None:
    """Raise ValueError unless the cross-encoder gives one score per pair (num_labels=1)."""
    if model.num_labels != 1:
        raise ValueError(f"{loss_name} needs a cross-encoder with num_labels=1, got num_labels={model.num_labels}")


def activation_name(activation_fn: Any) -> str | None:
    """How a loss's config names its activation: the class path, or None when there is none."""
    return None if activation_fn is None else fullname(activation_fn)


class CrossEncoderLoss(nn.Module):
    """Base: score (first, second) text pairs with the cross-encoder, keeping gradients.

    Args:
        model: The CrossEncoder being trained.
        activation_fn: Applied to the logits before the loss; None for none. Default None.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: TrainablePairModel, activation_fn: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.activation_fn = activation_fn

    def logits(self, firsts: list[str], seconds: list[str], batch_size: int | None = None) -> torch.Tensor:
        """Raw logits of each pair, in length-sorted batches under the token budget.

        Args:
            firsts: The pairs' first texts.
            seconds: The pairs' second texts.
            batch_size: About how many pairs per batch. Default None: all at once.

        Returns:
            The (pairs, num_labels) logits, with gradients.
        """
        classifier = self.model.classifier
        rows, _ = classifier.tokenize_pairs_unpadded(list(zip(firsts, seconds, strict=True)))
        size = batch_size if batch_size and batch_size > 0 else len(rows)
        return run_in_sorted_batches(rows, size, classifier.pad, self.model.device, classifier.logits, False)

    def activated(self, logits: torch.Tensor) -> torch.Tensor:
        """The logits through the loss's activation (unchanged when it has none).

        Args:
            logits: The logits.

        Returns:
            The activated scores.
        """
        return logits if self.activation_fn is None else self.activation_fn(logits)

    def get_config_dict(self) -> dict[str, Any]:
        """The settings recorded in the model card.

        Returns:
            Setting name -> value.
        """
        return {"activation_fn": activation_name(self.activation_fn)}


def check_pair_labels(labels: Any, pairs: int, loss_name: str) -> torch.Tensor:
    """One number per pair, as a flat tensor; a list of lists or a wrong count is a ValueError."""
    if labels is None:
        raise ValueError(f"{loss_name} needs a label column ('label' or 'score') with one number per pair")
    if isinstance(labels, list) and labels and isinstance(labels[0], (list, tuple, torch.Tensor)):
        raise ValueError(f"{loss_name} needs one number per pair as its label, got a list per pair")
    labels = torch.as_tensor(labels)
    if labels.numel() != pairs:
        raise ValueError(f"{loss_name} expects {pairs} labels (one per pair), got {labels.numel()}")
    return labels.view(-1)

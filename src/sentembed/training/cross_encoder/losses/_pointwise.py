"""Pointwise cross-encoder losses: each (query, document) pair is scored against its own label or margin."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sentembed.common.protocols import TrainablePairModel
from sentembed.training.cross_encoder.losses._base import (
    CrossEncoderLoss,
    check_pair_labels,
    require_one_label,
)
from sentembed.training.losses._base import ColumnSpec

# Shared, stateless defaults (the reference's defaults are these activations too).
IDENTITY = nn.Identity()


def check_two_columns(columns: list, loss_name: str) -> None:
    if len(columns) != 2:
        raise ValueError(f"{loss_name} expects 2 text columns (first, second), got {len(columns)}")


class BinaryCrossEntropyLoss(CrossEncoderLoss):
    """Pairs labelled 0/1 (or with a 0-1 score): sigmoid cross-entropy on the single (activated) logit.

    `pos_weight` weighs the positive pairs; other keyword arguments go to `torch.nn.BCEWithLogitsLoss`.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        pos_weight: The positive pairs' weight (e.g. negatives / positives). Default None: 1.
        **kwargs: More arguments of `torch.nn.BCEWithLogitsLoss`.

    Raises:
        ValueError: A model with more than one output.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(
        self,
        model: TrainablePairModel,
        activation_fn: nn.Module = IDENTITY,
        pos_weight: torch.Tensor | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, activation_fn)
        require_one_label(model, type(self).__name__)
        self.pos_weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.bce_with_logits_loss = nn.BCEWithLogitsLoss(pos_weight=self.pos_weight, **kwargs)

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [firsts, seconds]: the pairs' two text columns.
            labels: One label per pair.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Other than two columns.
        """
        check_two_columns(columns, type(self).__name__)
        scores = self.activated(self.logits(columns[0], columns[1]).view(-1))
        labels = check_pair_labels(labels, len(scores), type(self).__name__)
        return self.bce_with_logits_loss(scores, labels.to(scores.device, scores.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        weight = None if self.pos_weight is None else self.pos_weight.item()
        return {**super().get_config_dict(), "pos_weight": weight}


class CrossEntropyLoss(CrossEncoderLoss):
    """Pairs with a class label: softmax cross-entropy over the model's (activated) labels.

    Args:
        model: The CrossEncoder being trained.
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        **kwargs: Arguments of `torch.nn.CrossEntropyLoss` (weight, label_smoothing, ...).
    """

    columns = ColumnSpec(2, 2, "int")

    def __init__(self, model: TrainablePairModel, activation_fn: nn.Module = IDENTITY, **kwargs: Any) -> None:
        super().__init__(model, activation_fn)
        self.cross_entropy_loss = nn.CrossEntropyLoss(**kwargs)

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [firsts, seconds]: the pairs' two text columns.
            labels: One label per pair.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Other than two columns.
        """
        check_two_columns(columns, type(self).__name__)
        scores = self.activated(self.logits(columns[0], columns[1]))
        labels = check_pair_labels(labels, len(scores), type(self).__name__)
        return self.cross_entropy_loss(scores, labels.to(scores.device).long())


class MSELoss(CrossEncoderLoss):
    """Pairs with a teacher score: mean squared error of the (activated) logit, for distilling a teacher.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        **kwargs: Arguments of `torch.nn.MSELoss`.

    Raises:
        ValueError: A model with more than one output.
    """

    def __init__(self, model: TrainablePairModel, activation_fn: nn.Module = IDENTITY, **kwargs: Any) -> None:
        super().__init__(model, activation_fn)
        require_one_label(model, type(self).__name__)
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [firsts, seconds]: the pairs' two text columns.
            labels: One label per pair.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Other than two columns.
        """
        check_two_columns(columns, type(self).__name__)
        scores = self.activated(self.logits(columns[0], columns[1]).view(-1))
        labels = check_pair_labels(labels, len(scores), type(self).__name__)
        return self.loss_fct(scores, labels.to(scores.device, scores.dtype))


def margin_labels(labels: Any, rows: int, negatives: int) -> torch.Tensor:
    """Teacher margins, shape (rows, negatives): given as margins, or as [positive, negative...] scores."""
    if labels is None:
        raise ValueError("MarginMSELoss needs a label column with the teacher's margins or scores")
    if isinstance(labels, (list, tuple)):
        labels = torch.stack([torch.as_tensor(label, dtype=torch.float32) for label in labels])
    labels = torch.as_tensor(labels, dtype=torch.float32)
    if labels.shape == (rows, negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]
    elif labels.shape == (rows,):
        labels = labels.unsqueeze(1)
    if labels.shape != (rows, negatives):
        raise ValueError(
            f"MarginMSELoss labels must have shape ({rows}, {negatives}) (teacher margins, one per negative) or "
            f"({rows}, {negatives + 1}) (the positive's then each negative's teacher score); got {tuple(labels.shape)}"
        )
    return labels


class MarginMSELoss(CrossEncoderLoss):
    """(query, positive, negative...) rows: the student's margin (positive minus each negative's score) must
    match the teacher's, by mean squared error.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        **kwargs: Arguments of `torch.nn.MSELoss`.

    Raises:
        ValueError: A model with more than one output.
    """

    columns = ColumnSpec(3, None, "float-or-vector")

    def __init__(self, model: TrainablePairModel, activation_fn: nn.Module = IDENTITY, **kwargs: Any) -> None:
        super().__init__(model, activation_fn)
        require_one_label(model, type(self).__name__)
        self.loss_fct = nn.MSELoss(**kwargs)

    def forward(self, columns: list[list[str]], labels: Any) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [queries, positives, negatives...].
            labels: Per row, the teacher's margins (one per negative) or its scores [positive, negatives...].

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Missing labels, or labels of another shape.
        """
        queries, positives, negatives = columns[0], columns[1], columns[2:]
        if not negatives:
            raise ValueError("MarginMSELoss expects (query, positive, negative...) columns, got fewer than 3")
        targets = margin_labels(labels, len(queries), len(negatives))
        candidates = [positives, *negatives]
        firsts = [query for _ in candidates for query in queries]
        seconds = [text for column in candidates for text in column]
        scores = self.activated(self.logits(firsts, seconds).view(len(candidates), len(queries)).t())
        margins = scores[:, :1] - scores[:, 1:]
        return self.loss_fct(margins, targets.to(margins.device, margins.dtype))

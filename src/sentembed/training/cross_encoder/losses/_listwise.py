"""Listwise cross-encoder losses: each row is a query, a list of documents and a list of their relevance labels.

Lists may differ in length; each loss scores only the real documents and pads the rest of the (queries, longest
list) matrix so that padding changes neither the loss nor its gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sentembed.common.protocols import TrainablePairModel
from sentembed.common.types import fullname
from sentembed.training.cross_encoder.losses._base import CrossEncoderLoss, require_one_label
from sentembed.training.losses._base import ColumnSpec

IDENTITY = nn.Identity()


@dataclass
class ListBatch:
    """A batch of ranked lists as (queries, longest list) matrices: activated scores, labels, and the real slots.

    Attributes:
        scores: The activated scores.
        labels: The labels.
        mask: True for real documents, False for padding.
    """

    scores: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor

    def padded_scores(self, value: float) -> torch.Tensor:
        """The scores with `value` in the padding.

        Args:
            value: What padding slots hold.

        Returns:
            The (queries, longest list) scores.
        """
        return self.scores.masked_fill(~self.mask, value)

    def padded_labels(self, value: float) -> torch.Tensor:
        """The labels with `value` in the padding.

        Args:
            value: What padding slots hold.

        Returns:
            The (queries, longest list) labels.
        """
        return self.labels.masked_fill(~self.mask, value)


def check_lists(loss_name: str, columns: list, labels: Any) -> tuple[list[str], list[list[str]], list[torch.Tensor]]:
    """(queries, document lists, label tensors), or a ValueError that says what the listwise loss expects."""
    if isinstance(labels, torch.Tensor) or labels is None:
        raise ValueError(
            f"{loss_name} expects a list of relevance labels per query (one per document), "
            f"got {'no labels' if labels is None else 'one number per query'}"
        )
    if len(columns) != 2:
        raise ValueError(f"{loss_name} expects 2 text columns (query, list of documents), got {len(columns)}")
    queries, documents = columns
    if any(isinstance(docs, str) for docs in documents):
        raise ValueError(f"{loss_name} expects a list of documents per query in its second column, got strings")
    labels = [torch.as_tensor(label, dtype=torch.float32).view(-1) for label in labels]
    doc_counts, label_counts = [len(docs) for docs in documents], [len(label) for label in labels]
    if doc_counts != label_counts:
        raise ValueError(f"{loss_name}: documents per query {doc_counts} do not match labels per query {label_counts}")
    if not doc_counts or min(doc_counts) == 0:
        empty = doc_counts.index(0) if doc_counts else 0
        raise ValueError(f"{loss_name}: query {empty} of the batch has no documents to rank")
    return list(queries), [list(docs) for docs in documents], labels


class ListwiseLoss(CrossEncoderLoss):
    """Base for listwise losses: score every (query, document) pair and lay the scores out per query.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).

    Raises:
        ValueError: A model with more than one output.
    """

    columns = ColumnSpec(2, 2, "float-list")

    def __init__(
        self, model: TrainablePairModel, activation_fn: nn.Module | None = IDENTITY, mini_batch_size: int | None = None
    ):
        super().__init__(model, activation_fn)
        require_one_label(model, type(self).__name__)
        self.mini_batch_size = mini_batch_size

    def list_batch(self, columns: list, labels: Any) -> ListBatch:
        """Score every (query, document) pair of the batch and lay the scores out per query.

        Args:
            columns: [queries, document lists].
            labels: One list of labels per query, one per document.

        Returns:
            The padded scores, labels and mask.

        Raises:
            ValueError: Columns or labels of another shape.
        """
        queries, documents, labels = check_lists(type(self).__name__, columns, labels)
        firsts = [query for query, docs in zip(queries, documents, strict=True) for _ in docs]
        seconds = [doc for docs in documents for doc in docs]
        # As the reference: mini-batches of `mini_batch_size` pairs, the number of queries when None, all if <= 0.
        size = self.mini_batch_size or len(queries)
        flat = self.activated(self.logits(firsts, seconds, size if size > 0 else len(firsts)).view(-1).float())
        counts = torch.tensor([len(docs) for docs in documents])
        shape, device = (len(queries), int(counts.max())), flat.device
        rows = torch.repeat_interleave(torch.arange(len(queries)), counts).to(device)
        slots = torch.cat([torch.arange(len(docs)) for docs in documents]).to(device)
        mask = torch.zeros(shape, dtype=torch.bool, device=device).index_put(
            (rows, slots), torch.tensor(True, device=device)
        )
        scores = torch.zeros(shape, device=device).index_put((rows, slots), flat)
        label_matrix = torch.zeros(shape, device=device).index_put((rows, slots), torch.cat(labels).to(device))
        return ListBatch(scores, label_matrix, mask)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}


class ListNetLoss(ListwiseLoss):
    """ListNet: cross-entropy between the softmax of each query's labels and the softmax of its scores."""

    def forward(self, columns: list, labels: Any) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [queries, document lists]: one query and one list of documents per row.
            labels: One list of relevance labels per row, one per document.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Columns or labels of another shape.
        """
        batch = self.list_batch(columns, labels)
        targets = batch.padded_labels(float("-inf")).softmax(dim=1)
        log_probs = batch.padded_scores(float("-inf")).log_softmax(dim=1)
        per_query = -torch.where(batch.mask, targets * log_probs, torch.zeros_like(log_probs)).sum(dim=1)
        return per_query.mean()


class PListMLELambdaWeight(nn.Module):
    """Position weights for PListMLELoss: rank r of n documents weighs 2^(n - r) - 1 (scaled to stay finite for
    lists over 128), so getting the top of the list right counts most. `rank_discount_fn(mask)` replaces it.

    Args:
        rank_discount_fn: A function of the (queries, size) mask giving the position weights. Default None: the
            one above.
    """

    def __init__(self, rank_discount_fn: Any = None) -> None:
        super().__init__()
        self.rank_discount_fn = rank_discount_fn

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """The weight of each position.

        Args:
            mask: (queries, size), True for real documents.

        Returns:
            (queries, size) weights.
        """
        if self.rank_discount_fn is not None:
            return self.rank_discount_fn(mask)
        lengths = mask.sum(dim=1, keepdim=True)
        ranks = torch.arange(1, mask.size(1) + 1, device=mask.device).expand_as(mask)
        shift = (lengths - 127).clamp_min(0)
        return (torch.pow(2.0, lengths - ranks - shift) - torch.pow(2.0, -shift)) * mask


DEFAULT_LAMBDA_WEIGHT = PListMLELambdaWeight()


class PListMLELoss(ListwiseLoss):
    """Position-aware ListMLE: the negative log-likelihood of the documents' order (the input order, or by label
    when `respect_input_order=False`) under the Plackett-Luce model, each position weighted by `lambda_weight`.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        lambda_weight: The position weights. Default PListMLELambdaWeight(); None weighs every position alike.
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).
        respect_input_order: Take the input order as the true order (True, default), else sort by label.
    """

    def __init__(
        self,
        model: TrainablePairModel,
        lambda_weight: PListMLELambdaWeight | None = DEFAULT_LAMBDA_WEIGHT,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        self.lambda_weight = lambda_weight
        self.respect_input_order = respect_input_order
        self.eps = 1e-10

    def forward(self, columns: list, labels: Any) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [queries, document lists]: one query and one list of documents per row.
            labels: One list of relevance labels per row, one per document.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Columns or labels of another shape.
        """
        batch = self.list_batch(columns, labels)
        scores, mask = batch.scores, batch.mask
        if not self.respect_input_order:
            order = batch.padded_labels(float("-inf")).sort(descending=True, dim=1).indices
            scores, mask = scores.gather(1, order), mask.gather(1, order)
        # log P(order) = sum over positions of score - logsumexp(scores from that position on).
        remaining = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        log_normalizers = remaining.flip(1).logcumsumexp(dim=1).flip(1)
        log_probs = scores - log_normalizers
        if self.lambda_weight is not None:
            weights = self.lambda_weight(batch.mask)
            log_probs = log_probs * (weights / (weights.sum(dim=1, keepdim=True) + self.eps))
        per_query = -torch.where(mask, log_probs, torch.zeros_like(log_probs)).sum(dim=1)
        if not torch.any(per_query):
            return torch.zeros((), device=scores.device, requires_grad=True)
        return per_query.mean()

    def get_config_dict(self) -> dict[str, Any]:
        weight = None if self.lambda_weight is None else fullname(self.lambda_weight)
        return {"lambda_weight": weight, **super().get_config_dict(), "respect_input_order": self.respect_input_order}


class ListMLELoss(PListMLELoss):
    """ListMLE: PListMLELoss with every position weighted alike.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).
        respect_input_order: Take the input order as the true order (True, default), else sort by label.
    """

    def __init__(
        self,
        model: TrainablePairModel,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(model, None, activation_fn, mini_batch_size, respect_input_order)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["lambda_weight"]
        return config


class ADRMSELoss(ListwiseLoss):
    """Approx Discounted Rank MSE: the squared gap between each document's true rank (by label, ties sharing
    the mean rank) and a smooth rank from its scores (sigmoids of score gaps, sharpened by `alpha`), weighted
    by 1 / log2(true rank + 1) so the top of the list counts most.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        alpha: Sharpens the sigmoids of the smooth rank. Default 1.
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).
    """

    def __init__(
        self,
        model: TrainablePairModel,
        alpha: float = 1.0,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        self.alpha = alpha

    def approximate_ranks(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """1 + the soft count of real documents scored above each document (itself excluded).

        Args:
            scores: (queries, size) scores.
            mask: (queries, size), True for real documents.

        Returns:
            (queries, size) smooth ranks.
        """
        above = torch.sigmoid(self.alpha * (scores.unsqueeze(1) - scores.unsqueeze(2))) * mask.unsqueeze(1)
        return 1.0 + above.sum(dim=2) - 0.5 * mask.float()

    def forward(self, columns: list, labels: Any) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [queries, document lists]: one query and one list of documents per row.
            labels: One list of relevance labels per row, one per document.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Columns or labels of another shape.
        """
        batch = self.list_batch(columns, labels)
        mask, labels_matrix = batch.mask, batch.labels
        real_others = mask.unsqueeze(1)
        higher = ((labels_matrix.unsqueeze(1) > labels_matrix.unsqueeze(2)) & real_others).sum(dim=-1).float()
        tied = ((labels_matrix.unsqueeze(1) == labels_matrix.unsqueeze(2)) & real_others).sum(dim=-1).float()
        true_ranks = higher + (tied + 1.0) / 2.0
        approx = self.approximate_ranks(batch.padded_scores(-1e16), mask)
        errors = (true_ranks - approx) ** 2 / torch.log2(true_ranks + 1.0)
        return (errors * mask).sum() / mask.sum()

    def get_config_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, **super().get_config_dict()}

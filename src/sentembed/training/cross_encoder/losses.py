"""Cross-encoder losses. Each takes the batch's text columns (lists of str) and labels, and scores pairs itself."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sentembed.common.batching import run_in_sorted_batches
from sentembed.training.losses.base import ColumnSpec


class CrossEncoderLoss(nn.Module):
    """Base: score (first, second) text pairs with the cross-encoder, keeping gradients."""

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def logits(self, firsts: list[str], seconds: list[str]) -> torch.Tensor:
        """Raw logits of each pair, shape (pairs, num_labels), in length-sorted batches under the token budget."""
        classifier = self.model.classifier
        rows, _ = classifier.tokenize_pairs_unpadded(list(zip(firsts, seconds)))
        return run_in_sorted_batches(rows, len(rows), classifier.pad, self.model.device, classifier.logits, False)

    def get_config_dict(self) -> dict[str, Any]:
        return {}


class BinaryCrossEntropyLoss(CrossEncoderLoss):
    """Pairs labelled 0/1 (or with a 0-1 score): sigmoid cross-entropy on the single logit."""

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: Any, pos_weight: float | None = None) -> None:
        super().__init__(model)
        if model.num_labels != 1:
            raise ValueError(f"BinaryCrossEntropyLoss needs a model with num_labels=1, got {model.num_labels}")
        self.pos_weight = pos_weight

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        logits = self.logits(columns[0], columns[1]).view(-1)
        weight = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight)

    def get_config_dict(self) -> dict[str, Any]:
        return {"pos_weight": self.pos_weight}


class CrossEntropyLoss(CrossEncoderLoss):
    """Pairs with a class label: softmax cross-entropy over the model's labels."""

    columns = ColumnSpec(2, 2, "int")

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(columns[0], columns[1]), labels.long().view(-1))


class MSELoss(CrossEncoderLoss):
    """Pairs with a teacher score (or one per label): mean squared error of the activated output."""

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        outputs = self.model.activation_fn(self.logits(columns[0], columns[1]))
        labels = labels.to(outputs.dtype)
        return F.mse_loss(outputs.view(labels.shape) if labels.dim() == 1 else outputs, labels)


class MultipleNegativesRankingLoss(CrossEncoderLoss):
    """(query, positive[, negatives...]) rows: the positive must outscore the negatives and `num_negatives`
    other queries' positives from the batch (softmax over the activated scores times `scale`)."""

    columns = ColumnSpec(2, None)

    def __init__(self, model: Any, num_negatives: int = 4, scale: float = 10.0) -> None:
        super().__init__(model)
        self.num_negatives, self.scale = num_negatives, scale

    def forward(self, columns: list[list[str]], labels: torch.Tensor | None) -> torch.Tensor:
        queries, positives, hard_negatives = columns[0], columns[1], columns[2:]
        size = len(queries)
        borrowed = [
            [positives[(i + shift) % size] for i in range(size)]
            for shift in range(1, min(self.num_negatives, size - 1) + 1)
        ]
        candidates = [positives, *hard_negatives, *borrowed]
        firsts = [query for _ in candidates for query in queries]
        seconds = [text for column in candidates for text in column]
        scores = torch.sigmoid(self.logits(firsts, seconds).view(len(candidates), size).t()) * self.scale
        return F.cross_entropy(scores, torch.zeros(size, dtype=torch.long, device=scores.device))

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_negatives": self.num_negatives, "scale": self.scale}


class ListNetLoss(CrossEncoderLoss):
    """(query, documents list) rows with a list of relevance labels: cross-entropy between the softmax of the
    labels and the softmax of the scores, per query (a listwise loss). Padding labels of -1 are ignored."""

    columns = ColumnSpec(2, 2, "float-list")

    def forward(self, columns: list[list[Any]], labels: list[list[float]] | torch.Tensor) -> torch.Tensor:
        queries, documents = columns
        firsts = [query for query, docs in zip(queries, documents) for _ in docs]
        seconds = [doc for docs in documents for doc in docs]
        flat = self.logits(firsts, seconds).view(-1)
        losses, offset = [], 0
        for docs, relevance in zip(documents, labels):
            relevance = torch.as_tensor(relevance, dtype=flat.dtype, device=flat.device)[: len(docs)]
            scores = flat[offset : offset + len(docs)]
            offset += len(docs)
            keep = relevance != -1
            if keep.sum() > 0:
                target = F.softmax(relevance[keep], dim=0)
                losses.append(-(target * F.log_softmax(scores[keep], dim=0)).sum())
        return torch.stack(losses).mean()

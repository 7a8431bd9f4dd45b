"""SoftmaxLoss: a classifier over (u, v, |u - v|) of a pair's embeddings (the SBERT NLI objective)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss

CROSS_ENTROPY = torch.nn.CrossEntropyLoss()  # stateless, so one default instance is shared


class SoftmaxLoss(EmbeddingLoss):
    """Pairs with a class label; trains a linear classifier (owned by the loss) together with the model.

    Args:
        model: The SentenceTransformer being trained.
        embedding_dimension: The model's embedding dimension.
        num_labels: How many classes the labels (0 to num_labels - 1) name.
        concatenation_sent_rep: Feed u and v to the classifier. Default True.
        concatenation_sent_difference: Feed |u - v|. Default True.
        concatenation_sent_multiplication: Feed u * v. Default False.
        loss_fct: Compares the logits with the labels. Default `torch.nn.CrossEntropyLoss()`.
    """

    columns = ColumnSpec(2, 2, "int")

    def __init__(
        self,
        model: torch.nn.Module,
        embedding_dimension: int,
        num_labels: int,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        loss_fct: Callable = CROSS_ENTROPY,
    ) -> None:
        super().__init__(model)
        self.num_labels = num_labels
        self.loss_fct = loss_fct
        self.parts = (concatenation_sent_rep, concatenation_sent_difference, concatenation_sent_multiplication)
        width = embedding_dimension * (2 * self.parts[0] + self.parts[1] + self.parts[2])
        self.classifier = torch.nn.Linear(width, num_labels)
        self.classifier.to(next(model.parameters()).device)

    def features(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The classifier's input: the chosen concatenation of u, v, |u - v| and u * v.

        Args:
            u: The first texts' embeddings, (batch, dim).
            v: The second texts' embeddings, (batch, dim).

        Returns:
            (batch, width) features.
        """
        pieces = []
        if self.parts[0]:
            pieces += [u, v]
        if self.parts[1]:
            pieces.append((u - v).abs())
        if self.parts[2]:
            pieces.append(u * v)
        return torch.cat(pieces, dim=1)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        logits = self.classifier(self.features(embeddings[0], embeddings[1]))
        labels = labels.view(-1).long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_labels):
            raise ValueError(f"SoftmaxLoss labels must be in 0..{self.num_labels - 1}, got {labels.unique().tolist()}")
        return self.loss_fct(logits, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return {"num_labels": self.num_labels}

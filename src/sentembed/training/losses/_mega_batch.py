"""MegaBatchMarginLoss (ParaNMT, Wieting & Gimpel 2018): triplets from each pair's hardest in-batch negative."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sentembed.models import StaticEmbedding
from sentembed.similarity import cos_sim
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss
from sentembed.training.losses._cached import GradientCacheMixin, init_cache


def hardest_other_positives(anchors: torch.Tensor, positives: torch.Tensor, chunk: int) -> torch.Tensor:
    """For each anchor, the index of the most similar positive other than its own, `chunk` rows at a time."""
    picks = []
    with torch.no_grad():
        for start in range(0, len(anchors), chunk):
            scores = cos_sim(anchors[start : start + chunk], positives)
            rows = torch.arange(len(scores), device=scores.device)
            scores[rows, rows + start] = float("-inf")
            picks.append(scores.argmax(dim=1))
    return torch.cat(picks)


class MegaBatchMarginLoss(GradientCacheMixin, EmbeddingLoss):
    """(anchor, positive) pairs: cos(anchor, positive) above `positive_margin` and cos(anchor, hardest other
    positive) below `negative_margin`. The mini-batched version caches gradients: same loss, bounded memory.

    Args:
        model: The SentenceTransformer being trained.
        positive_margin: The cosine similarity an anchor must reach with its positive. Default 0.8.
        negative_margin: The cosine similarity an anchor must stay under with the hardest other positive.
            Default 0.3.
        use_mini_batched_version: Embed in mini-batches with cached gradients. Default True.
        mini_batch_size: Rows embedded at once. Default 50.
        mini_batch_num_tokens: Cut mini-batches by this many tokens instead of rows. Default None.
        show_progress_bar: Show progress over the mini-batches. Default False.

    Raises:
        ValueError: Mini-batch sizes that are not positive ints, or the mini-batched version with a
            StaticEmbedding model.
    """

    columns = ColumnSpec(2, 2)

    def __init__(
        self,
        model: torch.nn.Module,
        positive_margin: float = 0.8,
        negative_margin: float = 0.3,
        use_mini_batched_version: bool = True,
        mini_batch_size: int = 50,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(model)
        init_cache(self, mini_batch_size, mini_batch_num_tokens, show_progress_bar)
        if use_mini_batched_version and isinstance(model[0], StaticEmbedding):
            raise ValueError(
                "MegaBatchMarginLoss(use_mini_batched_version=True) cannot split the batches of a StaticEmbedding "
                "model (its rows are packed); pass use_mini_batched_version=False"
            )
        self.positive_margin = positive_margin
        self.negative_margin = negative_margin
        self.use_mini_batched_version = use_mini_batched_version

    def caches_gradients(self) -> bool:
        return self.use_mini_batched_version

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        if self.use_mini_batched_version:
            return GradientCacheMixin.forward(self, sentence_features, labels)
        return EmbeddingLoss.forward(self, sentence_features, labels)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        anchors, positives = embeddings
        negatives = positives[hardest_other_positives(anchors, positives, self.mini_batch_size)]
        positive_scores = F.cosine_similarity(anchors, positives)
        negative_scores = F.cosine_similarity(anchors, negatives)
        losses = F.relu(self.positive_margin - positive_scores) + F.relu(negative_scores - self.negative_margin)
        return losses.mean()

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "positive_margin": self.positive_margin,
            "negative_margin": self.negative_margin,
            "use_mini_batched_version": self.use_mini_batched_version,
            "mini_batch_size": self.mini_batch_size,
        }

"""GISTEmbedLoss: in-batch negatives ranking where a guide model removes likely false negatives."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sentembed.similarity import cos_sim
from sentembed.training.losses.base import ColumnSpec, EmbeddingLoss


class GISTEmbedLoss(EmbeddingLoss):
    """Candidates the guide scores above the anchor's own positive (minus `margin`) are masked out."""

    columns = ColumnSpec(2, 3)

    def __init__(self, model: torch.nn.Module, guide: Any, temperature: float = 0.01, margin: float = 0.0) -> None:
        super().__init__(model)
        if guide is None:
            raise ValueError("GISTEmbedLoss needs a guide model")
        self.guide = guide
        self.temperature = temperature
        self.margin = margin

    def _guide_embeddings(self, sentence_features: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        """Embed the same texts with the guide (re-tokenized when it uses a different tokenizer)."""
        with torch.no_grad():
            embeddings = []
            for features in sentence_features:
                texts = self.model.tokenizer.batch_decode(features["input_ids"], skip_special_tokens=True)
                embeddings.append(self.guide.encode(texts, convert_to_tensor=True).to(features["input_ids"].device))
            return embeddings

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        embeddings = self.embed(sentence_features)
        guides = self._guide_embeddings(sentence_features)
        anchor, positive, guide_anchor, guide_positive = embeddings[0], embeddings[1], guides[0], guides[1]
        guide_positive_scores = cos_sim(guide_anchor, guide_positive).diagonal().unsqueeze(1) - self.margin
        blocks = [(cos_sim(anchor, positive), cos_sim(guide_anchor, guide_positive), True)]
        blocks.append((cos_sim(anchor, anchor), cos_sim(guide_anchor, guide_anchor), False))
        blocks.append((cos_sim(positive, positive), cos_sim(guide_positive, guide_positive), False))
        if len(embeddings) > 2:
            blocks.append((cos_sim(anchor, embeddings[2]), cos_sim(guide_anchor, guides[2]), False))
        logits = []
        for scores, guide_scores, keep_diagonal in blocks:
            false_negative = guide_scores > guide_positive_scores
            if keep_diagonal:
                false_negative.fill_diagonal_(False)
            else:
                false_negative |= torch.eye(len(scores), dtype=torch.bool, device=scores.device)[:, : scores.shape[1]]
            logits.append(scores.masked_fill(false_negative, float("-inf")))
        logits = torch.cat(logits, dim=1) / self.temperature
        return F.cross_entropy(logits, torch.arange(len(anchor), device=logits.device))

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "guide": str(getattr(self.guide, "model_path", type(self.guide).__name__)),
            "temperature": self.temperature,
        }

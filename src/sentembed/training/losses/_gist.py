"""GISTEmbedLoss: in-batch negatives ranking where a guide model removes likely false negatives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

import torch

from sentembed.common.checks import check_choice
from sentembed.similarity import cos_sim
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss
from sentembed.training.losses._gathering import gather_with_grad, gather_without_grad, local_offset

MarginStrategy = Literal["absolute", "relative"]
MARGIN_STRATEGIES: tuple[str, ...] = get_args(MarginStrategy)


def same_tokenization(model: Any, guide: Any) -> bool:
    """Whether the guide reads the model's token ids as they are: the same vocabulary, and room for as many tokens."""
    model_tokenizer, guide_tokenizer = getattr(model, "tokenizer", None), getattr(guide, "tokenizer", None)
    if not hasattr(model_tokenizer, "get_vocab") or not hasattr(guide_tokenizer, "get_vocab"):
        return False
    model_length, guide_length = getattr(model, "max_seq_length", None), getattr(guide, "max_seq_length", None)
    if model_length is None or guide_length is None or guide_length < model_length:
        return False
    return model_tokenizer.get_vocab() == guide_tokenizer.get_vocab()


class GISTEmbedLoss(EmbeddingLoss):
    """Candidates the guide scores above the anchor's own positive (less the margin) are masked out.

    `margin_strategy` "absolute" keeps candidates under `positive - margin`, "relative" under
    `positive - |positive| * margin`; `contrast_anchors` / `contrast_positives` add the same-side blocks.

    Args:
        model: The SentenceTransformer being trained.
        guide: A SentenceTransformer whose similarities decide which candidates are false negatives.
        temperature: Divides the similarities before the softmax. Default 0.01.
        margin_strategy: "absolute" (default) or "relative" (see above).
        margin: How far below the anchor's positive a candidate must score to stay. Default 0.
        contrast_anchors: Also contrast each anchor with the other anchors. Default True.
        contrast_positives: Also contrast each positive with the other positives. Default True.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.

    Raises:
        ValueError: No guide, or an unknown margin_strategy.
    """

    columns = ColumnSpec(2, 3)

    def __init__(
        self,
        model: torch.nn.Module,
        guide: Any,
        temperature: float = 0.01,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(model)
        if guide is None:
            raise ValueError(f"{type(self).__name__} needs a guide model")
        self.guide = guide
        self.temperature = temperature
        self.margin_strategy = check_choice(margin_strategy, MARGIN_STRATEGIES, "margin_strategy")
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.must_retokenize = not same_tokenization(model, guide)
        self.cross_entropy_loss = torch.nn.CrossEntropyLoss()  # replaceable (reduction, class weights)

    def guide_embeddings(self, sentence_features: list[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        """The guide's embeddings of the same texts, without gradients: from the model's features when the guide
        tokenizes as the model does, else from the texts decoded and tokenized again by the guide.

        Args:
            sentence_features: One tokenized batch per text column.

        Returns:
            One (batch, guide dim) tensor per column.
        """
        with torch.no_grad():
            if not self.must_retokenize:
                return [self.guide(dict(features))["sentence_embedding"] for features in sentence_features]
            embeddings = []
            for features in sentence_features:
                texts = self.model.tokenizer.batch_decode(features["input_ids"], skip_special_tokens=True)
                embeddings.append(self.guide.encode(texts, convert_to_tensor=True).to(features["input_ids"].device))
            return embeddings

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> torch.Tensor:
        return self.guided_loss(self.embed(sentence_features), self.guide_embeddings(sentence_features))

    def prepare_loss(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor | None) -> Callable:
        """The loss as a function of the model's embeddings, with the guide's computed once.

        Args:
            sentence_features: One tokenized batch per text column.
            labels: Unused (GIST needs none).

        Returns:
            A function of the list of column embeddings giving the loss.
        """
        guides = self.guide_embeddings(sentence_features)
        return lambda embeddings: self.guided_loss(embeddings, guides)

    def _threshold(self, guide_positive_scores: torch.Tensor) -> torch.Tensor:
        if self.margin_strategy == "absolute":
            return guide_positive_scores - self.margin
        return guide_positive_scores - guide_positive_scores.abs() * self.margin

    def guided_loss(self, embeddings: list[torch.Tensor], guides: list[torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of each anchor over the candidates its guide does not flag as false negatives.

        Args:
            embeddings: The model's embeddings, one tensor per column.
            guides: The guide's embeddings of the same texts.

        Returns:
            The loss, a scalar tensor.
        """
        offset, rows = 0, len(embeddings[0])
        if self.gather_across_devices:
            offset = local_offset(rows)
            embeddings = [gather_with_grad(embedding) for embedding in embeddings]
            guides = [gather_without_grad(guide) for guide in guides]
        local = slice(offset, offset + rows)
        anchor = embeddings[0]
        own = torch.arange(offset, offset + rows, device=anchor.device)
        threshold = self._threshold(cos_sim(guides[0][local], guides[1]).gather(1, own[:, None]))
        # (source, candidates, what to do with the row's own column): its positive is the target, itself is
        # no negative, its own hard negative is kept.
        blocks = [(0, 1, "keep")]
        if self.contrast_anchors:
            blocks.append((0, 0, "mask"))
        if self.contrast_positives:
            blocks.append((1, 1, "mask"))
        if len(embeddings) > 2:
            blocks.append((0, 2, "filter"))
        own_column = torch.zeros(rows, len(anchor), dtype=torch.bool, device=anchor.device)
        own_column[torch.arange(rows), own] = True
        logits = []
        for source, target, own_rule in blocks:
            scores = cos_sim(embeddings[source][local], embeddings[target])
            false_negative = cos_sim(guides[source][local], guides[target]) > threshold
            if own_rule == "keep":
                false_negative &= ~own_column
            elif own_rule == "mask":
                false_negative |= own_column
            logits.append(scores.masked_fill(false_negative, float("-inf")))
        logits = torch.cat(logits, dim=1) / self.temperature
        return self.cross_entropy_loss(logits, own)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "guide": str(getattr(self.guide, "model_path", type(self.guide).__name__)),
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }

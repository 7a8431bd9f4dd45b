"""SequenceClassifier: a Hugging Face sequence-classification checkpoint that reads text pairs together."""

from __future__ import annotations

import os

import torch
from transformers import AutoModelForSequenceClassification

from sentembed.models.transformer import Transformer


class SequenceClassifier(Transformer):
    """The Transformer module with a classification head: pairs in, one logit per label out."""

    auto_model_class = AutoModelForSequenceClassification

    @property
    def num_labels(self) -> int:
        return self.auto_model.config.num_labels

    def logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The raw classifier output, shape (batch, num_labels)."""
        inputs = {
            name: features[name] for name in ("input_ids", "attention_mask", "token_type_ids") if name in features
        }
        return self.auto_model(**inputs, return_dict=True).logits

    def save_checkpoint(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write the plain transformers checkpoint and tokenizer, remembering `max_seq_length`."""
        os.makedirs(output_path, exist_ok=True)
        self.auto_model.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.tokenizer.model_max_length = self.max_seq_length
        self.tokenizer.save_pretrained(output_path)

"""SequenceClassifier: a Hugging Face sequence-classification checkpoint that reads text pairs together."""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from sentembed.common.types import Pair, Row
from sentembed.models.chat_formatter import ChatFormatter, is_message_list, is_pair
from sentembed.models.input_module import ProcessingKwargs
from sentembed.models.transformer import Transformer


class SequenceClassifier(Transformer):
    """The Transformer module with a classification head: pairs in, one logit per label out.

    When the tokenizer has a chat template (a reranker built on a chat model), each pair is rendered through it
    as a "query" and a "document" message before tokenizing; a template that drops either role is an error.
    """

    auto_model_class = AutoModelForSequenceClassification

    @property
    def num_labels(self) -> int:
        return self.auto_model.config.num_labels

    def logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The raw classifier output.

        Args:
            features: The padded batch (input_ids, attention_mask, token_type_ids).

        Returns:
            The (batch, num_labels) logits.
        """
        inputs = {
            name: features[name] for name in ("input_ids", "attention_mask", "token_type_ids") if name in features
        }
        return self.auto_model(**inputs, return_dict=True).logits

    def save_checkpoint(self, output_path: str | os.PathLike, safe_serialization: bool = True) -> None:
        """Write the plain transformers checkpoint and tokenizer, remembering `max_seq_length`.

        Args:
            output_path: The folder (created when missing).
            safe_serialization: Write weights as safetensors. Default True.
        """
        os.makedirs(output_path, exist_ok=True)
        self.auto_model.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.tokenizer.model_max_length = self.max_seq_length
        self.tokenizer.save_pretrained(output_path)

    # ----- chat templates ------------------------------------------------------------------------

    @property
    def processing_kwargs(self) -> ProcessingKwargs:
        """The module's own processing options by section; "chat_template" holds keywords for
        `apply_chat_template` (such as {"chat_template": "reranker"} to pick a named template)."""
        if "_processing_kwargs" not in self.__dict__:
            self.__dict__["_processing_kwargs"] = {}
        return self.__dict__["_processing_kwargs"]

    @property
    def input_formatter(self) -> ChatFormatter:
        """Renders pairs and messages through the tokenizer's chat template, with the module's options."""
        return self.formatter_for_call(None)

    def formatter_for_call(self, processing_kwargs: ProcessingKwargs | None) -> ChatFormatter:
        """The chat formatter for one call.

        Args:
            processing_kwargs: the call's options by section; its "chat_template" entry updates the module's.

        Returns:
            A formatter on the tokenizer with the merged `apply_chat_template` keywords.
        """
        options = {**(self.processing_kwargs.get("chat_template") or {})}
        options.update((processing_kwargs or {}).get("chat_template") or {})
        return ChatFormatter(self.tokenizer, options)

    @property
    def modality_config(self) -> dict[str, dict[str, str]]:
        """The inputs the module reads: text (and pairs of texts), and messages when the tokenizer has a chat
        template."""
        config = {"text": {"method": "__call__"}}
        if self.input_formatter.has_template:
            config["message"] = {"method": "apply_chat_template"}
        return config

    def tokenize_pairs_unpadded(
        self, pairs: list[Pair], processing_kwargs: ProcessingKwargs | None = None
    ) -> tuple[list[Row], int]:
        """Token rows of (first, second) pairs: through the chat template when the tokenizer has one (each pair
        rendered as "query" and "document" messages), else read as text pairs.

        Args:
            pairs: the (first, second) text pairs.
            processing_kwargs: per-call options by section ("text", "common", "chat_template").

        Returns:
            The token rows, and how many were cut at the maximum length.

        Raises:
            ValueError: the chat template drops the "query" or "document" text.
        """
        formatter = self.formatter_for_call(processing_kwargs)
        if not formatter.has_template:
            return super().tokenize_pairs_unpadded(pairs, processing_kwargs)
        formatter.check_pairs_fit()
        rendered = [formatter.render(formatter.pair_messages(first, second)) for first, second in pairs]
        return self.encode_rows([rendered], processing_kwargs)

    def preprocess(self, inputs: list[Any], processing_kwargs: ProcessingKwargs | None = None) -> dict[str, Any]:
        """The padded features of a batch whose items are texts, (first, second) pairs, or conversations (lists
        of {"role", "content"} messages, rendered through the chat template as they are).

        Args:
            inputs: the batch.
            processing_kwargs: per-call options by section ("text", "common", "chat_template").

        Returns:
            The padded features (`input_ids`, `attention_mask`, ...), one row per item.

        Raises:
            ValueError: a pair in a batch whose chat template drops the "query"/"document" roles, or a
                conversation without a chat template.
            TypeError: an item of another kind, or a pair that is not two texts.
        """
        formatter = self.formatter_for_call(processing_kwargs)
        if formatter.has_template and any(is_pair(item) for item in inputs):
            formatter.check_pairs_fit()
        rows = [self._row(item, formatter, processing_kwargs) for item in inputs]
        return dict(self.pad(rows))

    def _row(self, item: Any, formatter: ChatFormatter, processing_kwargs: ProcessingKwargs | None) -> Row:
        if isinstance(item, str):
            return self.tokenize_unpadded([item], processing_kwargs)[0][0]
        if is_message_list(item):
            if not formatter.has_template:
                raise ValueError("a conversation (a list of messages) needs a tokenizer with a chat template")
            return self.encode_rows([[formatter.render(item)]], processing_kwargs)[0][0]
        if is_pair(item) and all(isinstance(part, str) for part in item):
            return self.tokenize_pairs_unpadded([(item[0], item[1])], processing_kwargs)[0][0]
        raise TypeError(
            f"inputs must be texts, pairs of two texts, or lists of messages; got a {type(item).__name__}"
            + (f" of ({', '.join(type(part).__name__ for part in item)})" if isinstance(item, (list, tuple)) else "")
        )

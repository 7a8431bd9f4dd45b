"""The model side of the server: tokenizing a request as it arrives, and running many requests' rows in one
model call. Tokenizers are not safe to share between threads (a fast tokenizer's truncation is a setting),
so every tokenizer call of one model goes through that model's lock."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import torch

from sentembed.common.types import Row
from sentembed.cross_encoder import CrossEncoder
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.server.batcher import Job
from sentembed.server.errors import ApiError


@dataclass
class Tokenized:
    """A request's token rows, their token count, how many inputs were cut, and the model features it needs."""

    rows: list[Row]
    tokens: int
    truncated: int
    features: dict[str, Any]


def backend_tokenizer(tokenizer: Any) -> Any:
    """The `tokenizers.Tokenizer` behind a transformers fast tokenizer (or the tokenizer itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def vocabulary_size(tokenizer: Any) -> int:
    backend = backend_tokenizer(tokenizer)
    return backend.get_vocab_size(with_added_tokens=True)


def split_rows(outputs: torch.Tensor, jobs: list[Job]) -> list[torch.Tensor]:
    """One model output for the rows of several jobs, cut back into one tensor per job (on the CPU)."""
    outputs = outputs.float().cpu()
    parts, start = [], 0
    for job in jobs:
        parts.append(outputs[start : start + len(job.rows)])
        start += len(job.rows)
    return parts


class TextModel:
    """What both engines share: the tokenizer lock, token-id decoding and `/tokenize`."""

    def __init__(self, tokenizer: Any, max_length: int | None) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.lock = threading.Lock()

    def decode_ids(self, sequences: list[list[int]]) -> list[str]:
        """Token-id inputs as the texts they spell, so they are encoded as texts are; ids must be this model's."""
        size = vocabulary_size(self.tokenizer)
        for index, ids in enumerate(sequences):
            if not ids:
                raise ApiError(422, f"input[{index}] is an empty list of token ids", f"input[{index}]", "empty_input")
            bad = next((token for token in ids if not 0 <= token < size), None)
            if bad is not None:
                message = f"input[{index}] holds token id {bad}, outside this model's vocabulary of {size}"
                raise ApiError(422, message, f"input[{index}]", "invalid_token_id")
        with self.lock:
            return [self.tokenizer.decode(ids) for ids in sequences]

    def encode_untruncated(self, inputs: list, add_special_tokens: bool = True) -> list[Any]:
        """`tokenizers` encodings of texts or (first, second) pairs, whole: however long, nothing is cut."""
        backend = backend_tokenizer(self.tokenizer)
        with self.lock:
            truncation = backend.truncation
            backend.no_truncation()
            try:
                return backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
            finally:
                if truncation:
                    backend.enable_truncation(**truncation)

    def tokens(self, texts: list[str], add_special_tokens: bool) -> list[list[dict[str, Any]]]:
        """Each text's tokens: id, token text, whether special, and character offsets (None for special tokens)."""
        return [
            [
                {
                    "id": token_id,
                    "text": token,
                    "special": bool(special),
                    "start": None if special else start,
                    "stop": None if special else stop,
                }
                for token_id, token, special, (start, stop) in zip(
                    encoding.ids, encoding.tokens, encoding.special_tokens_mask, encoding.offsets
                )
            ]
            for encoding in self.encode_untruncated(texts, add_special_tokens)
        ]

    def cut_indices(self, inputs: list) -> list[int]:
        """Which inputs (texts, or (first, second) pairs) are longer than the model's limit."""
        if self.max_length is None:
            return []
        encodings = self.encode_untruncated(inputs)
        return [index for index, encoding in enumerate(encodings) if len(encoding) > self.max_length]


class Embedder(TextModel):
    """A SentenceTransformer behind the server."""

    def __init__(self, model: SentenceTransformer, batch_size: int) -> None:
        limit = model.max_seq_length
        super().__init__(model.tokenizer, limit if isinstance(limit, int) else None)
        self.model = model
        self.batch_size = batch_size
        self.dimension = model.get_embedding_dimension()

    def prompt(self, prompt_name: str | None) -> str | None:
        """The prompt `encode(prompt_name=...)` would apply, or a 422 naming the prompts the model has."""
        try:
            return self.model.resolve_prompt(None, prompt_name)
        except ValueError as error:
            raise ApiError(422, str(error), "prompt_name", "unknown_prompt") from None

    @staticmethod
    def prompted(texts: list[str], prompt: str | None) -> list[str]:
        """The texts as the model reads them: the prompt, if any, in front of each."""
        return [prompt + text for text in texts] if prompt else texts

    def tokenize(self, texts: list[str], prompt: str | None) -> Tokenized:
        """Token rows exactly as `encode` makes them (prompt first, cut at `max_seq_length`)."""
        with self.lock:
            rows, truncated = self.model.input_module.tokenize_unpadded(self.prompted(texts, prompt))
            features = {"prompt_length": self.model.prompt_length(prompt)} if prompt else {}
        tokens = sum(len(row["input_ids"]) for row in rows)
        return Tokenized(rows, tokens, truncated, features)

    def run(self, key: Hashable, jobs: list[Job]) -> list[torch.Tensor]:
        """Raw sentence embeddings of several jobs' rows (one prompt between them) from one `embed_rows` call."""
        rows = [row for job in jobs for row in job.rows]
        return split_rows(self.model.embed_rows(rows, self.batch_size, jobs[0].features), jobs)


class Reranker(TextModel):
    """A CrossEncoder behind the server; it gives one relevance score per (query, text) pair."""

    def __init__(self, model: CrossEncoder, batch_size: int) -> None:
        if model.num_labels != 1:
            raise ValueError(f"a reranker must give one score per pair; this cross-encoder has {model.num_labels}")
        super().__init__(model.tokenizer, model.max_length)
        self.model = model
        self.batch_size = batch_size

    def tokenize(self, query: str, texts: list[str]) -> Tokenized:
        with self.lock:
            rows, truncated = self.model.classifier.tokenize_pairs_unpadded([(query, text) for text in texts])
        return Tokenized(rows, sum(len(row["input_ids"]) for row in rows), truncated, {})

    def run(self, key: Hashable, jobs: list[Job]) -> list[torch.Tensor]:
        """Logits of several jobs' pairs from one `score_rows` call."""
        rows = [row for job in jobs for row in job.rows]
        return split_rows(self.model.score_rows(rows, self.batch_size).reshape(-1), jobs)

    def scores(self, logits: torch.Tensor, raw: bool) -> list[float]:
        """Relevance scores: the model's activation applied, unless `raw`."""
        return (logits if raw else self.model.scores_from_logits(logits.reshape(-1, 1))).reshape(-1).tolist()

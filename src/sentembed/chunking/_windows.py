"""Token windows over a text, found with the tokenizer's character offsets, never splitting a word."""

from __future__ import annotations

import bisect
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from sentembed.common.checks import check_choice, check_positive_int, check_text
from sentembed.common.protocols import EncoderModel

MIN_CHUNK_TOKENS = 8
ChunkPooling = Literal["mean", "max"]
POOLINGS: tuple[str, ...] = get_args(ChunkPooling)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: `text == source[start:end]`, and how many tokens it holds.

    Attributes:
        text: The chunk's text.
        start: Where it starts in the source text (a character offset).
        end: Where it ends in the source text (exclusive).
        tokens: How many tokens it holds (special tokens not counted).
    """

    text: str
    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class Chunking:
    """How to split long texts: windows of at most `chunk_tokens` tokens (default: as many as the model reads,
    less its special tokens), `overlap` tokens shared by neighbours, optionally packed by sentence; and how
    `encode(..., chunking=...)` pools a text's chunk vectors into one ("mean" or "max").

    Attributes:
        chunk_tokens: The most tokens a chunk holds. Default None: as many as the model reads, less its special
            tokens and the prompt's.
        overlap: Tokens shared by neighbouring chunks, from 0 (default) to chunk_tokens - 1.
        by_sentence: Pack whole sentences into chunks (a sentence longer than a chunk is split). Default False.
        pooling: How `encode` pools a text's chunk vectors: "mean" (default) or "max".
    """

    chunk_tokens: int | None = None
    overlap: int = 0
    by_sentence: bool = False
    pooling: ChunkPooling = "mean"

    @classmethod
    def coerce(cls, value: Any) -> Chunking:
        """The settings an `encode(chunking=...)` argument stands for.

        Args:
            value: A Chunking, True (the defaults), an int (chunk_tokens) or a dict of its fields.

        Returns:
            The Chunking.

        Raises:
            TypeError: Anything else, or a dict with unknown fields.
        """
        if isinstance(value, Chunking):
            return value
        if value is True:
            return cls()
        if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
            return cls(chunk_tokens=int(value))
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"chunking must be True, a number of tokens, a dict or a Chunking, got {type(value).__name__}")

    def split(self, texts: list[str], tokenizer: Any) -> list[list[Chunk]]:
        """The chunks of each text, with these settings as they are (resolve them with `for_model` first).

        Args:
            texts: The texts.
            tokenizer: A transformers fast tokenizer (one that gives character offsets).

        Returns:
            Per text, its chunks in order (at least one).
        """
        return [chunk_text(text, tokenizer, self.chunk_tokens, self.overlap, self.by_sentence) for text in texts]

    def for_model(self, model: EncoderModel, prompt: str | None = None) -> Chunking:
        """These settings with `chunk_tokens` resolved for `model` (and the prompt put before each chunk).

        Args:
            model: The model that will encode the chunks (with `tokenizer` and `max_seq_length`).
            prompt: The prompt put before each chunk, whose tokens the window must leave room for. Default None.

        Returns:
            A new Chunking with `chunk_tokens` set.

        Raises:
            ValueError: A model without a window, a prompt that leaves no room, or a `chunk_tokens`, `overlap`
                or `pooling` out of range.
        """
        limit = model_window(model, prompt)
        if prompt and limit < MIN_CHUNK_TOKENS:
            raise ValueError(
                f"the prompt takes {prompt_tokens(model.tokenizer, prompt)} tokens of the {model.max_seq_length} the "
                f"model reads, leaving no room for a chunk of {MIN_CHUNK_TOKENS} tokens; use a shorter prompt"
            )
        chunk_tokens = limit if self.chunk_tokens is None else check_positive_int(self.chunk_tokens, "chunk_tokens")
        if not MIN_CHUNK_TOKENS <= chunk_tokens <= limit:
            raise ValueError(
                f"chunk_tokens must be between {MIN_CHUNK_TOKENS} and {limit} (what the model reads, less its "
                f"special tokens), got {chunk_tokens}"
            )
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or not 0 <= self.overlap < chunk_tokens:
            raise ValueError(
                f"overlap must be an integer from 0 to chunk_tokens - 1 ({chunk_tokens - 1}), got {self.overlap!r}"
            )
        check_choice(self.pooling, POOLINGS, "chunk pooling")
        return Chunking(chunk_tokens, self.overlap, bool(self.by_sentence), self.pooling)


def model_window(model: EncoderModel, prompt: str | None = None) -> int:
    """How many text tokens one window of `model` holds: `max_seq_length` less the special tokens it adds and
    the prompt's tokens."""
    if model.max_seq_length is None or model.max_seq_length == math.inf:
        reader = type(getattr(model, "input_module", model)).__name__
        raise ValueError(
            f"chunking splits texts longer than the model's window, but {reader} reads texts of any length "
            "(it has no max_seq_length); encode without chunking"
        )
    tokenizer = model.tokenizer
    special = tokenizer.num_special_tokens_to_add(pair=False) if hasattr(tokenizer, "num_special_tokens_to_add") else 0
    return int(model.max_seq_length) - special - (prompt_tokens(tokenizer, prompt) if prompt else 0)


def prompt_tokens(tokenizer: Any, prompt: str) -> int:
    """How many tokens a prompt adds before each chunk."""
    return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def _token_spans(text: str, tokenizer: Any) -> tuple[list[tuple[int, int]], list[int | None]]:
    """Each token's (start, end) characters and word index, without special tokens."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    words = encoding.word_ids() if hasattr(encoding, "word_ids") else [None] * len(encoding["offset_mapping"])
    return [tuple(span) for span in encoding["offset_mapping"]], list(words)


def _windows(first: int, last: int, words: list[int | None], size: int, overlap: int) -> list[tuple[int, int]]:
    """Token ranges [a, b) covering [first, last) in steps of `size - overlap`, each ending on a word boundary
    where one lies in the window's second half."""
    windows, start = [], first
    while start < last:
        end = min(start + size, last)
        if end < last:
            for boundary in range(end, start + size // 2, -1):
                if words[boundary] is None or words[boundary] != words[boundary - 1]:
                    end = boundary
                    break
        windows.append((start, end))
        if end >= last:
            break
        start = max(end - overlap, start + 1)
    return windows


def _sentence_groups(text: str, spans: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Token ranges of consecutive whole sentences, packed up to `size` tokens (a longer sentence alone)."""
    starts = [0] + [match.end() for match in _SENTENCE_END.finditer(text)]
    sentence_of = [bisect.bisect_right(starts, token_start) - 1 for token_start, _ in spans]
    sentences, begin = [], 0
    for index in range(1, len(spans) + 1):
        if index == len(spans) or sentence_of[index] != sentence_of[index - 1]:
            sentences.append((begin, index))
            begin = index
    groups: list[tuple[int, int]] = []
    for first, last in sentences:
        if groups and last - groups[-1][0] <= size:
            groups[-1] = (groups[-1][0], last)
        else:
            groups.append((first, last))
    return groups


def chunk_text(
    text: str, tokenizer: Any, chunk_tokens: int, overlap: int = 0, by_sentence: bool = False
) -> list[Chunk]:
    """The chunks of one text: windows of at most `chunk_tokens` tokens sharing `overlap` tokens, or with
    `by_sentence` whole sentences packed into windows (a sentence longer than a window is split in windows).

    An empty text gives one empty chunk, so that every text has at least one.

    Args:
        text: The text.
        tokenizer: A transformers fast tokenizer (one that gives character offsets).
        chunk_tokens: The most tokens a chunk holds.
        overlap: Tokens shared by neighbouring chunks. Default 0.
        by_sentence: Pack whole sentences into chunks. Default False.

    Returns:
        The chunks, in order; windows end on a word boundary where one lies in their second half.

    Raises:
        TypeError: A text that is not a str.
    """
    check_text(text, "text")
    spans, words = _token_spans(text, tokenizer)
    if not spans:
        return [Chunk(text, 0, len(text), 0)]
    ranges = [(0, len(spans))]
    if by_sentence:
        ranges = _sentence_groups(text, spans, chunk_tokens)
    windows = [window for first, last in ranges for window in _windows(first, last, words, chunk_tokens, overlap)]
    chunks = []
    for first, last in windows:
        start, end = spans[first][0], spans[last - 1][1]
        chunks.append(Chunk(text[start:end], start, end, last - first))
    return chunks


def chunk_texts(
    texts: list[str], model: EncoderModel, chunking: Chunking | Any = True, prompt: str | None = None
) -> list[list[Chunk]]:
    """Split texts as `encode(..., chunking=...)` and `EmbeddingStore.build(chunk_tokens=...)` do.

    Args:
        texts: The texts.
        model: The model the chunks are for: its tokenizer splits, and its window bounds the chunks.
        chunking: A Chunking, True (the defaults), an int (chunk_tokens) or a dict of Chunking fields.
            Default True.
        prompt: The prompt put before each chunk when encoding. Default None.

    Returns:
        Per text, its chunks in order (at least one).

    Raises:
        TypeError: A `chunking` of another kind.
        ValueError: Settings the model's window cannot hold.
    """
    return Chunking.coerce(chunking).for_model(model, prompt).split(texts, model.tokenizer)

"""Input checks for `predict` and `rank`: what counts as a pair, and what a list of them is."""

from __future__ import annotations

from typing import Any

import numpy as np

Pair = tuple[str, str]


def _describe(item: Any) -> str:
    if isinstance(item, (list, tuple)):
        kinds = ", ".join(type(part).__name__ for part in item)
        return f"a {type(item).__name__} of {len(item)} ({kinds})"
    return f"a {type(item).__name__}"


def _as_pair(item: Any) -> Pair | None:
    if isinstance(item, np.ndarray):
        item = item.tolist()
    if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(part, str) for part in item):
        return item[0], item[1]
    return None


def check_pairs(sentences: Any) -> tuple[list[Pair], bool]:
    """Return the pairs as a list, and whether one single pair was given.

    A sequence whose first item is a string is one pair; otherwise it is a list of pairs.
    Anything that is not a pair of two strings is a TypeError naming its index.
    """
    if isinstance(sentences, np.ndarray):
        sentences = sentences.tolist()
    if isinstance(sentences, (str, bytes, dict)) or not isinstance(sentences, (list, tuple)):
        raise TypeError(
            f"sentences must be a pair of two strings or a list of such pairs, got {type(sentences).__name__}"
        )
    if sentences and isinstance(sentences[0], str):
        pair = _as_pair(sentences)
        if pair is None:
            raise TypeError(f"a single pair must be two strings, got {_describe(sentences)}")
        return [pair], True
    pairs = []
    for index, item in enumerate(sentences):
        pair = _as_pair(item)
        if pair is None:
            raise TypeError(f"sentences[{index}] must be a pair of two strings, got {_describe(item)}")
        pairs.append(pair)
    return pairs, False


def check_query_and_documents(query: Any, documents: Any) -> list[str]:
    """`rank` input: one query string and a list of document strings."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if isinstance(documents, np.ndarray):
        documents = documents.tolist()
    if isinstance(documents, str) or not isinstance(documents, (list, tuple)):
        raise TypeError(f"documents must be a list of str, got {type(documents).__name__}")
    for index, document in enumerate(documents):
        if not isinstance(document, str):
            raise TypeError(f"documents[{index}] must be a str, got {type(document).__name__}")
    return list(documents)


def check_top_k(top_k: Any) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")

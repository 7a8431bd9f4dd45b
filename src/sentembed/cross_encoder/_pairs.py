"""Input checks for `predict` and `rank`: what counts as a pair, and what a list of them is."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentembed.common.checks import check_text, check_text_list
from sentembed.common.types import Pair


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


def is_sized_iterable(value: Any) -> bool:
    """A column-like collection (with a length, iterable) that is not a list, tuple, string or mapping."""
    if isinstance(value, (list, tuple, str, bytes, dict)):
        return False
    return hasattr(value, "__len__") and hasattr(value, "__iter__")


def check_pairs(sentences: Any) -> tuple[list[Pair], bool]:
    """Return the pairs as a list, and whether one single pair was given.

    A sequence whose first item is a string is one pair; otherwise it is a list of pairs.
    Anything that is not a pair of two strings is a TypeError naming its index.
    """
    if isinstance(sentences, np.ndarray):
        sentences = sentences.tolist()
    elif is_sized_iterable(sentences):  # a datasets Column, a pandas Series, ...
        sentences = list(sentences)
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
        pairs.append((check_text(pair[0], f"sentences[{index}][0]"), check_text(pair[1], f"sentences[{index}][1]")))
    return pairs, False


def check_query_and_documents(query: Any, documents: Any) -> list[str]:
    """`rank` input: one query string and a list of document strings."""
    check_text(query, "query")
    return check_text_list(documents, "documents")

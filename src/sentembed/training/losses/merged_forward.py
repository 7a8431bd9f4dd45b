"""Several text columns embedded in one forward pass of the model.

A loss over (anchor, positive, negative...) columns needs each column's embeddings. Columns that the model would
treat alike (token tensors only, the same prompt length, Router task and modality) can be padded to one width
and embedded in one call, which launches the model once instead of once per column; attention masks keep the
padding out, so the embeddings are those of separate calls (up to float rounding). Anything else (images,
flattened token streams, per-column prompts or routes) is embedded column by column.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["column_merging_disabled", "embed_columns", "merge_feature_batches"]

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")
# Values that hold for a whole batch: columns merge only when theirs are equal.
METADATA_KEYS = ("prompt_length", "task", "modality")

_merging_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar("column_merging_disabled", default=False)


@contextmanager
def column_merging_disabled() -> Iterator[None]:
    """Within the block, `embed_columns` embeds every column in its own forward pass."""
    token = _merging_disabled.set(True)
    try:
        yield
    finally:
        _merging_disabled.reset(token)


def same_values(values: Sequence[Any]) -> bool:
    """Whether every column's value of a batch-wide key is the same (tensors: same shape and elements)."""
    first = values[0]
    for value in values[1:]:
        if isinstance(first, torch.Tensor) or isinstance(value, torch.Tensor):
            if not (isinstance(first, torch.Tensor) and isinstance(value, torch.Tensor)):
                return False
            if first.shape != value.shape or not torch.equal(first, value.to(first.device)):
                return False
        elif value != first:
            return False
    return True


def padded_to(tensor: torch.Tensor, width: int, side: str) -> torch.Tensor:
    """A (rows, tokens) tensor padded with zeros to `width` tokens, on the tokenizer's padding side."""
    missing = width - tensor.shape[1]
    if not missing:
        return tensor
    return F.pad(tensor, (missing, 0) if side == "left" else (0, missing))


def merge_feature_batches(columns: Sequence[dict[str, Any]], padding_side: str = "right") -> dict[str, Any] | None:
    """The columns' features as one batch (rows of the first column first), or None when they cannot share a
    forward pass.

    Args:
        columns: each column's tokenized batch.
        padding_side: where the tokenizer pads ("right" or "left"); shorter columns are padded on that side.

    Returns:
        The merged features: token tensors padded to the widest column and stacked; the batch-wide values
        (`prompt_length`, `task`, `modality`) carried over. None when there are fewer than two columns, their
        keys differ, a key is neither a token tensor nor a batch-wide value, a token tensor is not (rows, tokens)
        (a flattened stream), widths differ without an attention mask, or a batch-wide value differs.
    """
    if len(columns) < 2:
        return None
    keys = set(columns[0])
    if "input_ids" not in keys or not keys <= {*TOKEN_KEYS, *METADATA_KEYS}:
        return None
    if any(set(column) != keys for column in columns):
        return None
    tokens = [key for key in TOKEN_KEYS if key in keys]
    if any(not isinstance(column[key], torch.Tensor) or column[key].dim() != 2 for column in columns for key in tokens):
        return None
    width = max(column["input_ids"].shape[1] for column in columns)
    if "attention_mask" not in keys and any(column["input_ids"].shape[1] != width for column in columns):
        return None
    merged: dict[str, Any] = {}
    for key in keys - set(tokens):
        values = [column[key] for column in columns]
        if not same_values(values):
            return None
        merged[key] = values[0]
    for key in tokens:
        merged[key] = torch.cat([padded_to(column[key], width, padding_side) for column in columns])
    return merged


def embed_columns(model: Any, columns: Sequence[dict[str, Any]], separate_first: bool = True) -> list[torch.Tensor]:
    """Each column's sentence embeddings, merging the columns that can share a forward pass.

    Args:
        model: the model (or a training wrapper around it) that maps features to `sentence_embedding`.
        columns: each column's tokenized batch; they are not modified.
        separate_first: embed the first column (the anchors or queries, often much shorter than the candidates)
            on its own, and merge only the others (when there are at least two).

    Returns:
        One embedding tensor per column, in column order.
    """
    head, rest = (list(columns[:1]), list(columns[1:])) if separate_first else ([], list(columns))
    side = getattr(getattr(model, "tokenizer", None), "padding_side", "right")
    merged = None if _merging_disabled.get() else merge_feature_batches(rest, side)
    if merged is None:
        return [model(dict(features))["sentence_embedding"] for features in columns]
    alone = [model(dict(features))["sentence_embedding"] for features in head]
    together = model(merged)["sentence_embedding"]
    return alone + list(together.split([len(features["input_ids"]) for features in rest]))

"""Search results as the reference returns them: per query, a list of `{"corpus_id", "score"}` dicts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sentembed.common.types import Hit

__all__ = ["hits_from_top_k"]


def _as_lists(values: Any) -> list:
    return values.cpu().tolist() if isinstance(values, torch.Tensor) else np.asarray(values).tolist()


def hits_from_top_k(scores: Any, corpus_ids: Any, valid: Any = None) -> list[list[Hit]]:
    """Turn a top-k search's (n, k) scores and ids into hit lists, keeping their order.

    Args:
        scores: The (n, k) scores, a tensor or an array.
        corpus_ids: The (n, k) ids of the hits, a tensor or an array.
        valid: An (n, k) flag per entry; entries flagged False are left out. Default None: keep all.

    Returns:
        Per row, a list of {"corpus_id": id, "score": score} dicts.

    Raises:
        ValueError: Inputs whose shapes differ.
    """
    ids, values = _as_lists(corpus_ids), _as_lists(scores)
    keep = _as_lists(valid) if valid is not None else [[True] * len(row) for row in ids]
    return [
        [
            {"corpus_id": corpus_id, "score": score}
            for corpus_id, score, kept in zip(row_ids, row_scores, row_keep, strict=True)
            if kept
        ]
        for row_ids, row_scores, row_keep in zip(ids, values, keep, strict=True)
    ]

"""Paraphrase mining: the most similar pairs of texts within one collection."""

from __future__ import annotations

import numpy as np
import torch

from sentembed.common.checks import check_finite, check_positive_int, tensor_matrix
from sentembed.common.protocols import EncoderModel
from sentembed.common.types import ArrayLike
from sentembed.search.topk import ScoreFunction, chunked_top_k
from sentembed.similarity.functions import cos_sim


def paraphrase_mining(
    model: EncoderModel,
    sentences: list[str],
    show_progress_bar: bool = False,
    batch_size: int = 32,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
    truncate_dim: int | None = None,
    prompt_name: str | None = None,
    prompt: str | None = None,
) -> list[list[float | int]]:
    """Encode `sentences` with `model` and return `[score, i, j]` rows (i < j), best first."""
    embeddings = model.encode(
        sentences,
        show_progress_bar=show_progress_bar,
        batch_size=batch_size,
        convert_to_tensor=True,
        truncate_dim=truncate_dim,
        prompt_name=prompt_name,
        prompt=prompt,
    )
    return paraphrase_mining_embeddings(
        embeddings,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
        max_pairs=max_pairs,
        top_k=top_k,
        score_function=score_function,
    )


def paraphrase_mining_embeddings(
    embeddings: ArrayLike,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
) -> list[list[float | int]]:
    """Up to `max_pairs` rows `[score, i, j]` with i < j, no self-pairs and no duplicates, best first.

    Each text contributes its `top_k` nearest other texts as candidates; equal scores are ordered by (i, j).
    """
    for value, name in ((top_k, "top_k"), (max_pairs, "max_pairs")):
        check_positive_int(value, name)
    check_positive_int(query_chunk_size, "query_chunk_size")
    check_positive_int(corpus_chunk_size, "corpus_chunk_size")
    matrix = tensor_matrix(embeddings, "embeddings")
    check_finite(matrix, "embeddings")
    best = _empty_pairs()
    for start in range(0, len(matrix), query_chunk_size):
        values, indices = chunked_top_k(
            matrix[start : start + query_chunk_size],
            matrix,
            top_k + 1,
            query_chunk_size,
            corpus_chunk_size,
            score_function,
        )
        candidates = _neighbour_pairs(values, indices, start, top_k)
        best = _keep_best_pairs(best, candidates, max_pairs, len(matrix))
    return [[score, i, j] for score, i, j in zip(*_ordered(best), strict=True)]


def _empty_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)


def _neighbour_pairs(
    values: torch.Tensor, indices: torch.Tensor, start: int, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's first `top_k` neighbours other than itself, as (score, i, j) arrays with i < j."""
    scores = values.cpu().double().numpy()
    neighbours = indices.cpu().numpy()
    queries = np.arange(start, start + len(neighbours))[:, None].repeat(neighbours.shape[1], axis=1)
    not_self = neighbours != queries
    keep = not_self & (np.cumsum(not_self, axis=1) <= top_k)
    first, second = queries[keep], neighbours[keep]
    return scores[keep], np.minimum(first, second), np.maximum(first, second)


def _keep_best_pairs(best, candidates, max_pairs: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append candidates, drop pairs already held (first score wins), keep the `max_pairs` best."""
    scores, first, second = (np.concatenate([old, new]) for old, new in zip(best, candidates, strict=True))
    _, first_seen = np.unique(first * n + second, return_index=True)
    first_seen.sort()
    scores, first, second = scores[first_seen], first[first_seen], second[first_seen]
    if len(scores) > max_pairs:
        order = np.lexsort((second, first, -scores))[:max_pairs]
        order.sort()
        scores, first, second = scores[order], first[order], second[order]
    return scores, first, second


def _ordered(pairs) -> tuple[list[float], list[int], list[int]]:
    scores, first, second = pairs
    order = np.lexsort((second, first, -scores))
    return scores[order].tolist(), first[order].tolist(), second[order].tolist()

"""Paraphrase mining: the most similar pairs of texts within one collection."""

from __future__ import annotations

import numpy as np
import torch

from sentembed.common.checks import check_finite, check_positive_int, tensor_matrix
from sentembed.common.protocols import EncoderModel
from sentembed.common.types import ArrayLike
from sentembed.search._topk import ScoreFunction, chunked_top_k
from sentembed.similarity import cos_sim


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
    """Find the most similar pairs of texts within `sentences` (paraphrases, near-duplicates).

    Encodes `sentences` with `model`, then mines the pairs as `paraphrase_mining_embeddings` does.

    Args:
        model: The model to encode with (anything with a SentenceTransformer's `encode`).
        sentences: The texts.
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per encoding batch. Default 32.
        query_chunk_size: Texts whose neighbours are searched at once. Default 5000.
        corpus_chunk_size: Texts scored against at once. Default 100000.
        max_pairs: The most pairs returned. Default 500000.
        top_k: The nearest other texts each text contributes as candidates. Default 100.
        score_function: Scores every pair of two 2-D tensors, higher meaning closer. Default `cos_sim`.
        truncate_dim: Encode with only this many leading dimensions. Default None: the model's.
        prompt_name: The name of one of the model's prompts to encode with. Default None.
        prompt: A prompt to put before every text. Default None.

    Returns:
        Up to `max_pairs` rows [score, i, j] with i < j (indices into `sentences`), best first.

    Raises:
        ValueError: A chunk size, `max_pairs` or `top_k` that is not a positive int, or embeddings that are
            not finite.
    """
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
    """Find the most similar pairs of rows within one set of embeddings.

    Each row contributes its `top_k` nearest other rows as candidates; the pairs come without self-pairs or
    duplicates, and equal scores are ordered by (i, j).

    Args:
        embeddings: The rows, shape (n, dim): a tensor, a numpy array or a list.
        query_chunk_size: Rows whose neighbours are searched at once (a positive int). Default 5000.
        corpus_chunk_size: Rows scored against at once (a positive int). Default 100000.
        max_pairs: The most pairs returned (a positive int). Default 500000.
        top_k: The nearest other rows each row contributes as candidates (a positive int). Default 100.
        score_function: Scores every pair of two 2-D tensors, higher meaning closer. Default `cos_sim`.

    Returns:
        Up to `max_pairs` rows [score, i, j] with i < j, best first.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: A chunk size, `max_pairs` or `top_k` that is not a positive int, or embeddings that are
            not finite or not 2-D.
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

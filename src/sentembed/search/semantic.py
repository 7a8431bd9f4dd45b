"""`semantic_search`: the best corpus entries for each query, in bounded memory."""

from __future__ import annotations

import torch

from sentembed.search.topk import (
    ScoreFunction,
    as_embedding_matrix,
    check_finite,
    check_positive,
    check_same_dim,
    chunked_top_k,
)
from sentembed.similarity.functions import ArrayLike, cos_sim

Hit = dict[str, int | float]


def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500000,
    top_k: int = 10,
    score_function: ScoreFunction = cos_sim,
) -> list[list[Hit]]:
    """Per query, up to `top_k` hits `{"corpus_id", "score"}`, best first; equal scores keep corpus order.

    Memory holds one (query_chunk_size x corpus_chunk_size) block of scores at a time, never the full matrix.
    """
    check_positive(top_k, "top_k")
    check_positive(query_chunk_size, "query_chunk_size")
    check_positive(corpus_chunk_size, "corpus_chunk_size")
    queries = as_embedding_matrix(query_embeddings, "query_embeddings")
    corpus = as_embedding_matrix(corpus_embeddings, "corpus_embeddings")
    if len(corpus) == 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    check_same_dim(queries, corpus)
    check_finite(queries, "query_embeddings")
    queries = queries.to(device=corpus.device)
    values, indices = chunked_top_k(queries, corpus, top_k, query_chunk_size, corpus_chunk_size, score_function)
    return hits_from_top_k(values, indices)


def hits_from_top_k(values: torch.Tensor, indices: torch.Tensor) -> list[list[Hit]]:
    """Turn (n, k) score and index tensors into lists of `{"corpus_id", "score"}` dicts."""
    return [
        [{"corpus_id": corpus_id, "score": score} for corpus_id, score in zip(row_ids, row_scores)]
        for row_ids, row_scores in zip(indices.cpu().tolist(), values.cpu().tolist())
    ]

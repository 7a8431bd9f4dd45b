"""`semantic_search`: the best corpus entries for each query, in bounded memory."""

from __future__ import annotations

from sentembed.common.checks import check_finite, check_positive_int, tensor_matrix
from sentembed.common.hits import hits_from_top_k
from sentembed.common.types import ArrayLike, Hit
from sentembed.search.topk import ScoreFunction, check_same_dim, chunked_top_k
from sentembed.similarity.functions import cos_sim


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
    top_k = check_positive_int(top_k, "top_k")
    query_chunk_size = check_positive_int(query_chunk_size, "query_chunk_size")
    corpus_chunk_size = check_positive_int(corpus_chunk_size, "corpus_chunk_size")
    queries = tensor_matrix(query_embeddings, "query_embeddings")
    corpus = tensor_matrix(corpus_embeddings, "corpus_embeddings")
    if len(corpus) == 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    check_same_dim(queries, corpus)
    check_finite(queries, "query_embeddings")
    queries = queries.to(device=corpus.device)
    values, indices = chunked_top_k(queries, corpus, top_k, query_chunk_size, corpus_chunk_size, score_function)
    return hits_from_top_k(values, indices)

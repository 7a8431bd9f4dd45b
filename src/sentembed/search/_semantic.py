"""`semantic_search`: the best corpus entries for each query, in bounded memory."""

from __future__ import annotations

from sentembed.common.checks import check_finite, check_positive_int, tensor_matrix
from sentembed.common.hits import hits_from_top_k
from sentembed.common.types import ArrayLike, Hit
from sentembed.search._topk import ScoreFunction, check_same_dim, chunked_top_k
from sentembed.similarity import cos_sim


def semantic_search(
    query_embeddings: ArrayLike,
    corpus_embeddings: ArrayLike,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500000,
    top_k: int = 10,
    score_function: ScoreFunction = cos_sim,
) -> list[list[Hit]]:
    """Find, for each query embedding, the `top_k` most similar corpus embeddings, by exact search.

    Memory holds one (query_chunk_size x corpus_chunk_size) block of scores at a time, never the full matrix.
    The queries move to the corpus's device.

    Args:
        query_embeddings: Queries of shape (q, dim), or one of shape (dim,): a tensor, a numpy array or a list.
        corpus_embeddings: The corpus, shape (n, dim), in the same forms.
        query_chunk_size: Queries scored at once (a positive int). Default 100.
        corpus_chunk_size: Corpus rows scored at once (a positive int). Default 500000.
        top_k: Hits per query (a positive int; fewer when the corpus is smaller). Default 10.
        score_function: Scores every pair of two 2-D tensors, shape (q, n), higher meaning closer, such as
            `cos_sim` (default) or `dot_score` (for normalised embeddings, the same ranking, faster).

    Returns:
        One list per query of up to `top_k` dicts {"corpus_id": row of the corpus, "score": float}, best
        first; equal scores keep corpus order.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: A chunk size or `top_k` that is not a positive int, embeddings of different dimensions or
            of more than 2 dimensions, or queries that are not finite.
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

"""`semantic_search_faiss`: search float32, uint8 or ubinary corpora with a faiss index."""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np

from sentembed.common.checks import array_matrix
from sentembed.common.hits import hits_from_top_k
from sentembed.common.types import Hit
from sentembed.quantization._rescoring import (
    check_search_arguments,
    prepare_queries,
    require,
    rescore_candidates,
)

FAISS_PRECISIONS = ("float32", "uint8", "ubinary")


def semantic_search_faiss(
    query_embeddings: Any,
    corpus_embeddings: Any = None,
    corpus_index: Any = None,
    corpus_precision: Literal["float32", "uint8", "ubinary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[list[list[Hit]], float] | tuple[list[list[Hit]], float, Any]:
    """Search with faiss; returns (hits per query, search seconds[, the index to reuse]).

    Float queries are quantized like the corpus; with `rescore`, `top_k * rescore_multiplier` candidates are
    re-scored against the float queries. Scores are always "higher is closer": binary ones without
    re-scoring are negative Hamming distances.

    Args:
        query_embeddings: The queries, shape (q, dim) or (dim,): float (quantized like the corpus here) or
            already quantized in the corpus's precision.
        corpus_embeddings: The corpus, shape (n, dim), in `corpus_precision` (see `quantize_embeddings`), to
            index for this search. Give this or `corpus_index`.
        corpus_index: A faiss index returned by an earlier call with `output_index=True`, to search again
            without rebuilding it. Give this or `corpus_embeddings`.
        corpus_precision: The corpus's precision: "float32", "uint8" or "ubinary". Default "float32".
        top_k: Hits per query (a positive int). Default 10.
        ranges: int8/uint8: the (2, dim) per-dimension [min; max] the corpus was quantized with. Default None:
            from `calibration_embeddings`, else from the queries.
        calibration_embeddings: int8/uint8: embeddings to take the ranges from. Default None.
        rescore: Re-score the candidates against the float queries (float queries and a quantized corpus
            only). Default True.
        rescore_multiplier: Candidates fetched per hit when re-scoring (a positive int). Default 2.
        exact: Search a flat index (every row); False builds an HNSW graph (faster, approximate). Default True.
        output_index: Also return the index, to pass as `corpus_index` next time. Default False.

    Returns:
        (hits, seconds) or, with `output_index`, (hits, seconds, index): per query a list of up to `top_k`
        dicts {"corpus_id", "score"}, best first, and the seconds the search itself took.

    Raises:
        ImportError: faiss is not installed.
        ValueError: Both or neither of `corpus_embeddings` and `corpus_index`, an unsupported
            `corpus_precision`, a `top_k` or `rescore_multiplier` that is not a positive int, or queries that
            do not fit the index's dimension.
    """
    faiss = require("faiss", "faiss-cpu")
    check_search_arguments(
        corpus_embeddings, corpus_index, corpus_precision, FAISS_PRECISIONS, top_k, rescore_multiplier
    )
    queries = array_matrix(query_embeddings, "query_embeddings", allow_quantized=True)
    corpus = (
        None
        if corpus_embeddings is None
        else array_matrix(corpus_embeddings, "corpus_embeddings", allow_quantized=True)
    )
    if corpus_index is None:
        corpus_index = build_faiss_index(faiss, corpus, corpus_precision, exact)
    queries, float_queries, ranges = prepare_queries(queries, corpus_precision, rescore, ranges, calibration_embeddings)
    _check_index_dim(corpus_index, queries, corpus_precision)
    if corpus_index.ntotal == 0:  # an empty corpus: no hits for any query
        hits: list[list[Hit]] = [[] for _ in range(len(queries))]
        return (hits, 0.0, corpus_index) if output_index else (hits, 0.0)
    k = top_k * rescore_multiplier if float_queries is not None else top_k
    start = time.perf_counter()
    scores, ids = _search(corpus_index, queries, k, corpus_precision)
    valid = ids >= 0
    if float_queries is not None:
        safe_ids = np.where(valid, ids, 0)
        candidates = corpus[safe_ids] if corpus is not None else _stored_vectors(corpus_index, safe_ids)
        scores, ids, valid = rescore_candidates(float_queries, candidates, ids, valid, corpus_precision, ranges, top_k)
    seconds = time.perf_counter() - start
    hits = hits_from_top_k(scores, ids, valid)
    return (hits, seconds, corpus_index) if output_index else (hits, seconds)


def build_faiss_index(faiss: Any, corpus: np.ndarray, precision: str, exact: bool) -> Any:
    """An exact (flat) or approximate (HNSW) inner-product or Hamming index holding the corpus."""
    if precision == "ubinary":
        if corpus.dtype != np.uint8:
            raise ValueError(f"a ubinary corpus must be packed uint8 bits, got {corpus.dtype}")
        bits = corpus.shape[1] * 8
        index = faiss.IndexBinaryFlat(bits) if exact else faiss.IndexBinaryHNSW(bits, 16)
        index.add(np.ascontiguousarray(corpus))
        return index
    dim = corpus.shape[1]
    index = faiss.IndexFlatIP(dim) if exact else faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
    index.add(np.ascontiguousarray(corpus, dtype=np.float32))
    return index


def _check_index_dim(index: Any, queries: np.ndarray, precision: str) -> None:
    width = queries.shape[1] * 8 if precision == "ubinary" else queries.shape[1]
    if width != index.d:
        raise ValueError(f"query embeddings {queries.shape} ({precision}) do not fit an index of dimension {index.d}")


def _search(index: Any, queries: np.ndarray, k: int, precision: str) -> tuple[np.ndarray, np.ndarray]:
    if precision == "ubinary":
        distances, ids = index.search(np.ascontiguousarray(queries, dtype=np.uint8), k)
        return -distances.astype(np.float64), ids
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores.astype(np.float64), ids


def _stored_vectors(index: Any, ids: np.ndarray) -> np.ndarray:
    """The vectors the index holds for `ids` (n, c), shaped (n, c, width)."""
    flat = ids.reshape(-1)
    if hasattr(index, "reconstruct_batch"):
        vectors = index.reconstruct_batch(flat)
    else:
        vectors = np.stack([index.reconstruct(int(i)) for i in flat]) if len(flat) else np.empty((0, index.d // 8))
    return vectors.reshape(*ids.shape, -1)

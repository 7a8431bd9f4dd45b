"""`semantic_search_usearch`: search float32, int8, binary or ubinary corpora with a usearch index."""

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

USEARCH_PRECISIONS = ("float32", "int8", "binary", "ubinary")
BINARY = ("binary", "ubinary")


def semantic_search_usearch(
    query_embeddings: Any,
    corpus_embeddings: Any = None,
    corpus_index: Any = None,
    corpus_precision: Literal["float32", "int8", "binary", "ubinary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[list[list[Hit]], float] | tuple[list[list[Hit]], float, Any]:
    """Search with usearch; returns (hits per query, search seconds[, the index to reuse]).

    Scores are always "higher is closer": cosine for float32, inner product for int8, and negative
    Hamming distance for binary corpora unless re-scored against the float queries.

    Args:
        query_embeddings: The queries, shape (q, dim) or (dim,): float (quantized like the corpus here) or
            already quantized in the corpus's precision.
        corpus_embeddings: The corpus, shape (n, dim), in `corpus_precision` (see `quantize_embeddings`), to
            index for this search. Give this or `corpus_index`.
        corpus_index: A usearch index returned by an earlier call with `output_index=True`, to search again
            without rebuilding it. Give this or `corpus_embeddings`.
        corpus_precision: The corpus's precision: "float32", "int8", "binary" or "ubinary". Default "float32".
        top_k: Hits per query (a positive int). Default 10.
        ranges: int8/uint8: the (2, dim) per-dimension [min; max] the corpus was quantized with. Default None:
            from `calibration_embeddings`, else from the queries.
        calibration_embeddings: int8/uint8: embeddings to take the ranges from. Default None.
        rescore: Re-score the candidates against the float queries (float queries and a quantized corpus
            only). Default True.
        rescore_multiplier: Candidates fetched per hit when re-scoring (a positive int). Default 2.
        exact: Compare the queries with every row; False searches the HNSW graph (faster, approximate). Default True.
        output_index: Also return the index, to pass as `corpus_index` next time. Default False.

    Returns:
        (hits, seconds) or, with `output_index`, (hits, seconds, index): per query a list of up to `top_k`
        dicts {"corpus_id", "score"}, best first, and the seconds the search itself took.

    Raises:
        ImportError: usearch is not installed.
        ValueError: Both or neither of `corpus_embeddings` and `corpus_index`, an unsupported
            `corpus_precision`, a `top_k` or `rescore_multiplier` that is not a positive int, or queries that
            do not fit the index's dimension.
    """
    index_module = require("usearch.index", "usearch")
    check_search_arguments(
        corpus_embeddings, corpus_index, corpus_precision, USEARCH_PRECISIONS, top_k, rescore_multiplier
    )
    queries = array_matrix(query_embeddings, "query_embeddings", allow_quantized=True)
    if corpus_index is None:
        corpus = array_matrix(corpus_embeddings, "corpus_embeddings", allow_quantized=True)
        corpus_index = build_usearch_index(index_module, corpus, corpus_precision)
    queries, float_queries, ranges = prepare_queries(queries, corpus_precision, rescore, ranges, calibration_embeddings)
    queries = _raw_bits(queries) if corpus_precision in BINARY else queries
    _check_index_dim(corpus_index, queries, corpus_precision)
    k = top_k * rescore_multiplier if float_queries is not None else top_k
    start = time.perf_counter()
    scores, ids, valid = _search(corpus_index, queries, k, exact, corpus_precision)
    if float_queries is not None and valid.any():
        safe_ids = np.where(valid, ids, ids[valid][0])
        candidates = np.stack([np.stack(corpus_index.get(row)) for row in safe_ids])
        scores, ids, valid = rescore_candidates(float_queries, candidates, ids, valid, corpus_precision, ranges, top_k)
    seconds = time.perf_counter() - start
    hits = hits_from_top_k(scores, ids, valid)
    return (hits, seconds, corpus_index) if output_index else (hits, seconds)


def build_usearch_index(index_module: Any, corpus: np.ndarray, precision: str) -> Any:
    """A cosine (float32), inner-product (int8) or Hamming (binary) index keyed by corpus position."""
    if precision in BINARY:
        index = index_module.Index(ndim=corpus.shape[1] * 8, metric="hamming", dtype="b1")
        corpus = _raw_bits(corpus)
    elif precision == "int8":
        if corpus.dtype != np.int8:
            raise ValueError(f"an int8 corpus must hold int8 values, got {corpus.dtype}")
        index = index_module.Index(ndim=corpus.shape[1], metric="ip", dtype="i8")
    else:
        index = index_module.Index(ndim=corpus.shape[1], metric="cos", dtype="f32")
        corpus = corpus.astype(np.float32)
    if len(corpus):
        index.add(np.arange(len(corpus)), corpus)
    return index


def _raw_bits(packed: np.ndarray) -> np.ndarray:
    """Packed bits as plain bytes: `binary` stores them shifted by -128, which is undone here."""
    if packed.dtype == np.int8:
        return packed.view(np.uint8) ^ np.uint8(0x80)
    if packed.dtype != np.uint8:
        raise ValueError(f"binary embeddings must be packed int8 or uint8 bits, got {packed.dtype}")
    return packed


def _check_index_dim(index: Any, queries: np.ndarray, precision: str) -> None:
    width = queries.shape[1] * 8 if precision in BINARY else queries.shape[1]
    if width != index.ndim:
        raise ValueError(
            f"query embeddings {queries.shape} ({precision}) do not fit an index of dimension {index.ndim}"
        )


def _search(index: Any, queries: np.ndarray, k: int, exact: bool, precision: str):
    """(scores, keys, valid) of shape (n, k); usearch distances turned into higher-is-closer scores."""
    if len(index) == 0:
        empty = np.zeros((len(queries), 0))
        return empty, empty.astype(np.int64), empty.astype(bool)
    matches = index.search(queries, count=k, exact=exact)
    with np.errstate(invalid="ignore"):  # padding slots hold undefined distances
        distances = np.atleast_2d(matches.distances).astype(np.float64)
    keys = np.atleast_2d(matches.keys).astype(np.int64)
    counts = np.reshape(getattr(matches, "counts", keys.shape[1]), (-1, 1))
    valid = np.arange(keys.shape[1]) < counts
    scores = -distances if precision in BINARY else 1.0 - distances
    scores[~valid] = -np.inf
    return scores, keys, valid

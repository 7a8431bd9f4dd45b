"""`semantic_search_usearch`: search float32, int8, binary or ubinary corpora with a usearch index."""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np

from sentembed.common.checks import array_matrix
from sentembed.common.hits import hits_from_top_k
from sentembed.common.types import Hit
from sentembed.quantization.rescoring import (
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

"""Pieces shared by the faiss and usearch searches: argument checks, query preparation, float re-scoring."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

import numpy as np

from sentembed.common.checks import check_choice, check_positive_int, is_quantized
from sentembed.quantization._quantize import quantize_embeddings, scalar_ranges

logger = logging.getLogger(__name__)


def require(module: str, package: str) -> ModuleType:
    """Import an optional dependency, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"this search needs the optional package {package!r}: pip install {package} "
            f"(or pip install 'sentembed[{package.split('-')[0]}]')"
        ) from error


def check_search_arguments(
    corpus_embeddings: Any,
    corpus_index: Any,
    corpus_precision: str,
    allowed: tuple[str, ...],
    top_k: int,
    multiplier: int,
) -> None:
    """Exactly one of embeddings/index, a precision the backend supports, positive counts."""
    if (corpus_embeddings is None) == (corpus_index is None):
        raise ValueError("pass exactly one of corpus_embeddings or corpus_index")
    check_choice(corpus_precision, allowed, "corpus_precision")
    check_positive_int(top_k, "top_k")
    check_positive_int(multiplier, "rescore_multiplier")


def prepare_queries(queries: np.ndarray, precision: str, rescore: bool, ranges, calibration_embeddings):
    """(queries in the corpus precision, float queries kept for re-scoring or None, scalar ranges or None)."""
    if is_quantized(queries):
        if rescore:
            logger.warning("rescore needs float query embeddings; these are already quantized, so no re-scoring")
        return queries, None, ranges
    float_queries = queries.astype(np.float32)
    if precision in ("int8", "uint8"):
        ranges = scalar_ranges(float_queries, ranges, calibration_embeddings)
    quantized = quantize_embeddings(float_queries, precision, ranges=ranges)
    if not rescore:
        return quantized, None, ranges
    if precision == "float32":
        logger.warning("rescore has no effect on a float32 corpus; pass rescore=False or quantize the corpus")
        return quantized, None, ranges
    return quantized, float_queries, ranges


def rescore_candidates(
    float_queries: np.ndarray,
    candidates: np.ndarray,
    ids: np.ndarray,
    valid: np.ndarray,
    precision: str,
    ranges: np.ndarray | None,
    top_k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the stored candidates (n, c, bytes or dim) against the float queries; keep the best `top_k`.

    Binary candidates (raw packed bits) are unpacked to 0/1, scalar ones mapped back to their bucket's lower edge.
    """
    vectors = decode_stored(candidates, precision, ranges, float_queries.shape[1])
    scores = np.einsum("qd,qcd->qc", float_queries.astype(np.float64), vectors)
    scores[~valid] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    rows = np.arange(len(scores))[:, None]
    return scores[rows, order], ids[rows, order], valid[rows, order]


def decode_stored(candidates: np.ndarray, precision: str, ranges: np.ndarray | None, dim: int) -> np.ndarray:
    """Quantized vectors back to float64 coordinates comparable with a float query."""
    if precision in ("binary", "ubinary"):
        bits = np.unpackbits(candidates.astype(np.uint8), axis=-1)
        return bits[..., :dim].astype(np.float64)
    if precision in ("int8", "uint8"):
        ranges = np.asarray(ranges, dtype=np.float32)
        steps = (ranges[1] - ranges[0]) / 255
        steps = np.where(steps == 0, 1, steps)
        levels = candidates.astype(np.float64) + (128 if precision == "int8" else 0)
        return levels * steps + ranges[0]
    return candidates.astype(np.float64)

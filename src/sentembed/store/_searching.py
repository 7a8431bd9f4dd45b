"""Searching a store's segments: exact float32 search, or quantized candidates re-scored against float32."""

from __future__ import annotations

import numpy as np
import torch

from sentembed.quantization import quantize_embeddings
from sentembed.store import _scoring as scoring
from sentembed.store._segments import MappedSegments


def search_segments(
    segments: MappedSegments,
    queries: np.ndarray,
    precision: str,
    ranges: np.ndarray | None,
    top_k: int,
    rescore: bool,
    multiplier: int,
    allowed: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, k) scores and store positions of the best rows for each float32 query, best first; with `allowed`
    (a flag per store position), of the allowed rows only (fewer than k when fewer are allowed)."""
    if precision == "float32":
        return scoring.float_top_k(torch.from_numpy(queries), segments.floats, top_k, allowed)
    quantized_queries = quantize_embeddings(queries, precision, ranges=ranges)
    width = top_k * multiplier if rescore else top_k
    values, candidates = scoring.quantized_top_k(quantized_queries, segments.quantized, precision, width, allowed)
    if not rescore:
        return values, candidates
    candidates, _ = candidates.sort(dim=1)
    rows = segments.float_rows(candidates.numpy(), queries.shape[1])
    return scoring.rescore(queries, candidates, rows, top_k)

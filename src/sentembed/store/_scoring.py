"""Scoring a store's segments: exact float search, quantized candidate search, and float re-scoring."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from sentembed.search import chunk_top_k, chunked_top_k, merge_top_k
from sentembed.similarity import cos_sim

ROWS_PER_BLOCK = 16384


def float_top_k(
    queries: torch.Tensor, segments: list[np.ndarray], k: int, allowed: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact cosine top-k over float32 segments; indices are positions in the whole store. With `allowed`
    (one flag per store position), only the allowed rows are scored."""
    best = (queries.new_empty((len(queries), 0)), torch.empty((len(queries), 0), dtype=torch.long))
    for rows, positions in row_blocks(segments, allowed):
        values, indices = chunked_top_k(queries, torch.from_numpy(rows), k, 256, ROWS_PER_BLOCK, cos_sim)
        best = merge_top_k(best, (values, positions[indices]), k)
    return best


def row_blocks(segments: list[np.ndarray], allowed: np.ndarray | None) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Blocks of at most `ROWS_PER_BLOCK` rows in store order, with their store positions: slices of the memory
    maps, or with `allowed` the allowed rows gathered (a block whose rows are all allowed stays a slice)."""
    offset = 0
    for segment in segments:
        for start in range(0, len(segment), ROWS_PER_BLOCK):
            stop = min(start + ROWS_PER_BLOCK, len(segment))
            keep = None if allowed is None else np.flatnonzero(allowed[offset + start : offset + stop])
            if keep is None or len(keep) == stop - start:
                yield segment[start:stop], torch.arange(offset + start, offset + stop)
            elif len(keep):
                yield np.asarray(segment[start + keep]), torch.from_numpy(keep + offset + start)
        offset += len(segment)


def quantized_top_k(
    queries: np.ndarray, segments: list[np.ndarray], precision: str, k: int, allowed: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k by the quantized score: int8 inner product, or negative Hamming distance for ubinary; with
    `allowed`, over the allowed rows only."""
    total = sum(len(segment) for segment in segments)
    best = (torch.empty((len(queries), 0), dtype=torch.float64), torch.empty((len(queries), 0), dtype=torch.long))
    query_matrix = torch.from_numpy(queries.astype(np.float32)) if precision == "int8" else _bits(queries)
    for block, positions in row_blocks(segments, allowed):
        block = np.asarray(block)
        if precision == "int8":
            scores = (query_matrix @ torch.from_numpy(block.astype(np.float32)).T).double()
        else:
            scores = _hamming_keys(query_matrix, block, positions, total)
        values, indices = chunk_top_k(scores, k)
        best = merge_top_k(best, (values, positions[indices]), k)
    values, indices = best
    return (values if precision == "int8" else torch.ceil(values)), indices


def _hamming_keys(query_bits: torch.Tensor, block: np.ndarray, positions: torch.Tensor, total: int) -> torch.Tensor:
    """Negative Hamming distance minus position / (2 * total): integer distances tie constantly, and the
    fraction orders ties by store position without any tie handling; `ceil` recovers the distance."""
    return _hamming_scores(query_bits, block).double() - positions.double() / (2 * total)


def _hamming_scores(query_bits: torch.Tensor, block: np.ndarray) -> torch.Tensor:
    """Negative Hamming distance between unpacked query bits and packed bit rows, from one matrix product over
    0/1 bits: distance = |q| + |c| - 2 q·c, and float32 holds these small integers exactly."""
    block_bits = _bits(block)
    shared = query_bits @ block_bits.T
    return 2 * shared - query_bits.sum(dim=1, keepdim=True) - block_bits.sum(dim=1)


def _bits(packed: np.ndarray) -> torch.Tensor:
    """Packed uint8 rows as rows of 0.0/1.0, one column per bit."""
    return torch.from_numpy(np.unpackbits(packed, axis=1)).float()


def rescore(
    queries: np.ndarray, candidates: torch.Tensor, float_rows: np.ndarray, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact cosine of each query with its candidates' float32 rows (n, c, dim); keep the best k, stable."""
    query_tensor = F.normalize(torch.from_numpy(queries), dim=1)
    rows = F.normalize(torch.from_numpy(float_rows), dim=2)
    scores = torch.einsum("qd,qcd->qc", query_tensor, rows)
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    return scores[:, :k], candidates.gather(1, order)[:, :k]

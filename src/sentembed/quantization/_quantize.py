"""Scalar (int8/uint8) and binary quantization of float embeddings."""

from __future__ import annotations

import logging

import numpy as np
import torch

from sentembed.common.checks import as_array, check_choice, check_finite, is_quantized
from sentembed.common.types import PRECISIONS, Precision

logger = logging.getLogger(__name__)

QUANTIZE_BLOCK_ROWS = 4096
# Computing ranges needs at least two rows: from one, every dimension's range is a single point.
MIN_RANGE_ROWS = 2


def check_precision(precision: str) -> None:
    """Refuse a precision name we do not know, listing the valid ones.

    Args:
        precision: The name to check: one of PRECISIONS ("float32", "int8", "uint8", "binary", "ubinary").

    Raises:
        ValueError: Any other name, with the valid ones listed.
    """
    check_choice(precision, PRECISIONS, "precision")


def _as_float_array(embeddings, name: str = "embeddings") -> np.ndarray:
    """Float embeddings as a numpy array, refusing quantized ones and NaN or inf (naming the first such row)."""
    array = as_array(embeddings)
    if is_quantized(array):
        raise ValueError(f"{name} to quantize must be floats, got {array.dtype}")
    check_finite(array.reshape(-1, array.shape[-1]) if array.ndim else array, name)
    return array


def _min_max_ranges(embeddings: np.ndarray) -> np.ndarray:
    return np.vstack((embeddings.min(axis=0), embeddings.max(axis=0)))


def scalar_ranges(
    embeddings: np.ndarray, ranges: np.ndarray | None = None, calibration_embeddings: np.ndarray | None = None
) -> np.ndarray:
    """The (2, dim) per-dimension [min; max] used for int8/uint8: given, calibrated, or from the input."""
    if ranges is not None:
        ranges = np.asarray(ranges, dtype=np.float32)
        if ranges.shape != (2, embeddings.shape[-1]):
            raise ValueError(f"ranges must have shape (2, {embeddings.shape[-1]}), got {ranges.shape}")
        return ranges
    if calibration_embeddings is not None:
        return _min_max_ranges(_as_float_array(calibration_embeddings, "calibration_embeddings"))
    if embeddings.ndim < 2 or embeddings.shape[0] < MIN_RANGE_ROWS:
        rows = 1 if embeddings.ndim < 2 else embeddings.shape[0]
        raise ValueError(
            f"int8/uint8 ranges cannot be computed from {rows} embedding (each dimension's range would be a point); "
            "pass calibration_embeddings or ranges, or quantize more embeddings at once"
        )
    if embeddings.shape[0] < 100:
        logger.warning(
            "Computing int8 ranges from only %d embeddings; pass `calibration_embeddings` for stable ranges.",
            embeddings.shape[0],
        )
    return _min_max_ranges(embeddings)


def quantize_embeddings(
    embeddings: np.ndarray | torch.Tensor | list,
    precision: Precision,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray | list:
    """Quantize float embeddings to `precision`, to store and search them in less memory.

    int8/uint8 split each dimension's [min, max] into 256 steps; values outside the range are
    clipped to the end buckets. binary/ubinary pack the bits of `x > 0` into bytes.

    Args:
        embeddings: Float embeddings, shape (n, dim) or (dim,): a numpy array, a tensor or a list; or a list
            of (tokens, dim) matrices (multi-vector embeddings), each quantized with shared ranges.
        precision: "float32" (a float32 copy), "int8", "uint8", "binary" (packed bits as int8, shifted by
            -128) or "ubinary" (packed bits as uint8).
        ranges: int8/uint8: the (2, dim) per-dimension [min; max] to use. Default None: from
            `calibration_embeddings`, else from `embeddings` themselves.
        calibration_embeddings: int8/uint8: embeddings to take the ranges from (a representative sample of the
            corpus, so that the ranges do not depend on each batch). Default None.

    Returns:
        A numpy array: shape (n, dim) for float32, int8 and uint8, (n, ceil(dim / 8)) for the binary ones
        (a list of such arrays for a list of matrices; an empty list gives []).

    Raises:
        ValueError: An unknown precision, embeddings that are already quantized or not finite, `ranges` of
            the wrong shape, or int8/uint8 ranges that cannot be computed from a single embedding.
    """
    check_precision(precision)
    if isinstance(embeddings, list) and not embeddings:
        return []
    if is_matrix_list(embeddings):
        return _quantize_matrices(embeddings, precision, ranges, calibration_embeddings)
    array = _as_float_array(embeddings)
    if precision == "float32":
        return array.astype(np.float32)
    if precision in ("int8", "uint8") and array.size == 0:  # nothing to quantize, so no ranges are needed
        return np.empty(array.shape, dtype=np.int8 if precision == "int8" else np.uint8)
    if precision in ("int8", "uint8"):
        return _scalar_quantize(array, scalar_ranges(array, ranges, calibration_embeddings), precision)
    packed = np.packbits(array > 0, axis=-1)
    if precision == "ubinary":
        return packed
    return (packed.astype(np.int16) - 128).astype(np.int8)


def is_matrix_list(embeddings: object) -> bool:
    """A list of (tokens, dim) matrices: multi-vector embeddings, one matrix per text, of varying lengths."""
    return isinstance(embeddings, list) and all(getattr(item, "ndim", None) == 2 for item in embeddings)


def _quantize_matrices(
    matrices: list, precision: Precision, ranges: np.ndarray | None, calibration_embeddings: np.ndarray | None
) -> list[np.ndarray]:
    """Each matrix quantized with the same int8/uint8 ranges (from all their rows, unless given or calibrated);
    an empty (0, dim) matrix gives an empty matrix of the output width."""
    arrays = [_as_float_array(matrix, f"embeddings[{index}]") for index, matrix in enumerate(matrices)]
    if precision in ("int8", "uint8") and ranges is None:
        rows = np.concatenate(arrays)
        if len(rows) or calibration_embeddings is not None:
            ranges = scalar_ranges(rows, None, calibration_embeddings)
    return [quantize_embeddings(array, precision, ranges) for array in arrays]


def _scalar_quantize(array: np.ndarray, ranges: np.ndarray, precision: str) -> np.ndarray:
    """Bucket each value into one of 256 equal steps of its dimension's range (floor, then clip).

    Works through cache-sized blocks of rows in place, which is several times faster on large inputs
    than whole-array temporaries and gives the same numbers.
    """
    starts = ranges[0, :]
    steps = (ranges[1, :] - starts) / 255
    steps = np.where(steps == 0, 1.0, steps)
    dtype, shift = (np.uint8, 0) if precision == "uint8" else (np.int8, 128)
    flat = array.reshape(-1, array.shape[-1])
    output = np.empty(flat.shape, dtype=dtype)
    for start in range(0, len(flat), QUANTIZE_BLOCK_ROWS):
        levels = flat[start : start + QUANTIZE_BLOCK_ROWS] - starts
        levels /= steps
        np.floor(levels, out=levels)
        np.clip(levels, 0, 255, out=levels)
        levels -= shift
        output[start : start + QUANTIZE_BLOCK_ROWS] = levels
    return output.reshape(array.shape)

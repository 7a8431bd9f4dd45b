"""Embedding quantization: int8/uint8 scalar and binary/ubinary packing.

The names imported as `name as name` and left out of `__all__` (`scalar_ranges`, `require`,
`build_faiss_index`) are for the packages that build on this one (search, store), not for users.
"""

from sentembed.quantization._quantize import PRECISIONS, check_precision, quantize_embeddings
from sentembed.quantization._quantize import scalar_ranges as scalar_ranges
from sentembed.quantization._rescoring import require as require
from sentembed.quantization._search_faiss import build_faiss_index as build_faiss_index
from sentembed.quantization._search_faiss import semantic_search_faiss
from sentembed.quantization._search_usearch import semantic_search_usearch

__all__ = ["PRECISIONS", "check_precision", "quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"]

"""Embedding quantization: int8/uint8 scalar and binary/ubinary packing."""

from sentembed.quantization.quantize import PRECISIONS, check_precision, quantize_embeddings
from sentembed.quantization.search_faiss import semantic_search_faiss
from sentembed.quantization.search_usearch import semantic_search_usearch

__all__ = ["PRECISIONS", "check_precision", "quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"]

"""Embedding quantization: int8/uint8 scalar and binary/ubinary packing."""

from sentembed.quantization.quantize import PRECISIONS, check_precision, quantize_embeddings

__all__ = ["PRECISIONS", "check_precision", "quantize_embeddings"]

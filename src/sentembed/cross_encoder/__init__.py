"""Cross-encoders: score text pairs read together, and re-rank a bi-encoder's hits."""

from sentembed.cross_encoder.model import CrossEncoder
from sentembed.cross_encoder.rerank import EmbeddingRetriever, RetrieveAndRerank, StoreRetriever

__all__ = ["CrossEncoder", "EmbeddingRetriever", "RetrieveAndRerank", "StoreRetriever"]

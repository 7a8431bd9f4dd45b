"""Cross-encoders: score text pairs read together, and re-rank a bi-encoder's hits."""

from sentembed.cross_encoder.model import CrossEncoder
from sentembed.cross_encoder.rerank import EmbeddingRetriever, RetrieveAndRerank, StoreRetriever
from sentembed.loading.card_data import CrossEncoderModelCardData

__all__ = ["CrossEncoder", "CrossEncoderModelCardData", "EmbeddingRetriever", "RetrieveAndRerank", "StoreRetriever"]

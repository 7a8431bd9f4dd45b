"""Model card data, importable as in sentence-transformers (`from sentembed.model_card import ...`)."""

from sentembed.loading.card_data import CrossEncoderModelCardData, SentenceTransformerModelCardData

__all__ = ["CrossEncoderModelCardData", "SentenceTransformerModelCardData"]

"""Model cards, importable as in sentence-transformers 6 (`from sentembed.base.model_card import ...`)."""

from sentembed.loading.card_data import (
    BaseModelCardData,
    CrossEncoderModelCardData,
    SentenceTransformerModelCardData,
)
from sentembed.loading.model_card import generate_model_card

__all__ = [
    "BaseModelCardData",
    "CrossEncoderModelCardData",
    "SentenceTransformerModelCardData",
    "generate_model_card",
]

"""Model cards, importable as in sentence-transformers (`from sentembed.model_card import ...`).

A compatibility facade for `sentence_transformers.model_card`: it only re-exports names whose canonical homes are
`sentembed.loading.card_data` and `sentembed.loading.model_card`.
"""

from sentembed.loading.card_data import BaseModelCardData, CrossEncoderModelCardData, SentenceTransformerModelCardData
from sentembed.loading.model_card import generate_model_card

__all__ = ["BaseModelCardData", "CrossEncoderModelCardData", "SentenceTransformerModelCardData", "generate_model_card"]

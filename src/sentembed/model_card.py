"""Model cards, importable as in sentence-transformers (`from sentembed.model_card import ...`).

A compatibility facade for `sentence_transformers.model_card`: it only re-exports names whose canonical home is
`sentembed.loading`.
"""

from sentembed.loading import (
    BaseModelCardData,
    CrossEncoderModelCardData,
    SentenceTransformerModelCardData,
    generate_model_card,
)

__all__ = ["BaseModelCardData", "CrossEncoderModelCardData", "SentenceTransformerModelCardData", "generate_model_card"]

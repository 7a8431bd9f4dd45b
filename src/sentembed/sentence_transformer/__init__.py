"""The bi-encoder model class."""

from sentembed.sentence_transformer.model import SentenceTransformer

__all__ = ["SentenceTransformer"]

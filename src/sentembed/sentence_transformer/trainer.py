"""The bi-encoder trainer at its sentence-transformers 6 path (`sentembed.sentence_transformer.trainer`)."""

from sentembed.training.trainer import SentenceTransformerTrainer

__all__ = ["SentenceTransformerTrainer"]

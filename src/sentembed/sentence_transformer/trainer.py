"""The bi-encoder trainer at its sentence-transformers 6 path (`sentembed.sentence_transformer.trainer`).

A compatibility facade for `sentence_transformers.sentence_transformer.trainer`: it only re-exports names whose
canonical home is `sentembed.training.trainer`.
"""

from sentembed.training.trainer import SentenceTransformerTrainer

__all__ = ["SentenceTransformerTrainer"]

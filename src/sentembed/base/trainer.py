"""The trainer at its sentence-transformers 6 path (`sentembed.base.trainer`): the reference's `BaseTrainer` is the
base both model kinds' trainers share, which here is `SentenceTransformerTrainer` (CrossEncoderTrainer extends it).

A compatibility facade for `sentence_transformers.base.trainer`: it only re-exports names whose canonical home is
`sentembed.training.trainer`.
"""

from sentembed.training.trainer import SentenceTransformerTrainer

BaseTrainer = SentenceTransformerTrainer

__all__ = ["BaseTrainer"]

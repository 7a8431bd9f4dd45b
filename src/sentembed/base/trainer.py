"""The trainer at its sentence-transformers 6 path (`sentembed.base.trainer`): the reference's `BaseTrainer` is the
base both model kinds' trainers share, which here is `SentenceTransformerTrainer` (CrossEncoderTrainer extends it)."""

from sentembed.training.trainer import SentenceTransformerTrainer

BaseTrainer = SentenceTransformerTrainer

__all__ = ["BaseTrainer"]

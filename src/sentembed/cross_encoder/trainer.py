"""The cross-encoder trainer at its sentence-transformers path (`sentembed.cross_encoder.trainer`)."""

from sentembed.training.cross_encoder.trainer import CrossEncoderTrainer

__all__ = ["CrossEncoderTrainer"]

"""The cross-encoder trainer at its sentence-transformers path (`sentembed.cross_encoder.trainer`).

A compatibility facade for `sentence_transformers.cross_encoder.trainer`: it only re-exports names whose canonical
home is `sentembed.training.cross_encoder.trainer`.
"""

from sentembed.training.cross_encoder.trainer import CrossEncoderTrainer

__all__ = ["CrossEncoderTrainer"]

"""Cross-encoder training arguments at their sentence-transformers path (`sentembed.cross_encoder.training_args`).

A compatibility facade for `sentence_transformers.cross_encoder.training_args`: it only re-exports names whose
canonical home is `sentembed.training.cross_encoder.trainer`.
"""

from sentembed.training.cross_encoder.trainer import CrossEncoderTrainingArguments

__all__ = ["CrossEncoderTrainingArguments"]

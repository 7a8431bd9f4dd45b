"""Cross-encoder training arguments at their sentence-transformers path (`sentembed.cross_encoder.training_args`)."""

from sentembed.training.cross_encoder.trainer import CrossEncoderTrainingArguments

__all__ = ["CrossEncoderTrainingArguments"]

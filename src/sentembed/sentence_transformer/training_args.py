"""Training arguments at their sentence-transformers 6 path (`sentembed.sentence_transformer.training_args`)."""

from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers

__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]

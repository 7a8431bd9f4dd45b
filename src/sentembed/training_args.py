"""Training arguments, importable as in sentence-transformers (`from sentembed.training_args import BatchSamplers`)."""

from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers

__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]

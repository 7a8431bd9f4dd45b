"""Training arguments at their sentence-transformers 6 path (`sentembed.sentence_transformer.training_args`).

A compatibility facade for `sentence_transformers.sentence_transformer.training_args`: it only re-exports names
whose canonical homes are `sentembed.training.arguments` and `sentembed.training.samplers`.
"""

from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers

__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]

"""Training arguments, importable as in sentence-transformers (`from sentembed.training_args import BatchSamplers`).

A compatibility facade for `sentence_transformers.training_args`: it only re-exports names whose canonical homes are
`sentembed.training.arguments` and `sentembed.training.samplers`.
"""

from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers

__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]

"""The legacy datasets for `model.fit(...)`, importable as in sentence-transformers."""

from sentembed.training.legacy_datasets import (
    DenoisingAutoEncoderDataset,
    NoDuplicatesDataLoader,
    ParallelSentencesDataset,
    SentenceLabelDataset,
    SentencesDataset,
)

__all__ = [
    "DenoisingAutoEncoderDataset",
    "NoDuplicatesDataLoader",
    "ParallelSentencesDataset",
    "SentenceLabelDataset",
    "SentencesDataset",
]

"""The legacy datasets for `model.fit(...)`, importable as in sentence-transformers.

A compatibility facade for `sentence_transformers.datasets`: it only re-exports names whose canonical home is
`sentembed.training.legacy_datasets`.
"""

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

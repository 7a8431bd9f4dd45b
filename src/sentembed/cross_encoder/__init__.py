"""Cross-encoders: score text pairs read together, and re-rank a bi-encoder's hits.

Also a compatibility facade for `sentence_transformers.cross_encoder`: it re-exports `CrossEncoderModelCardData` and
the trainer and its arguments, whose canonical homes are `sentembed.loading` and
`sentembed.training.cross_encoder.trainer`.
"""

from sentembed.cross_encoder._rerank import EmbeddingRetriever, RetrieveAndRerank, StoreRetriever
from sentembed.cross_encoder.model import CrossEncoder
from sentembed.loading import CrossEncoderModelCardData

# The trainer needs the `train` extra (datasets, accelerate), so it is imported on first use.
_TRAINING = {
    "CrossEncoderTrainer": "sentembed.training.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "sentembed.training.cross_encoder.trainer",
}


def __getattr__(name: str):
    if name in _TRAINING:
        import importlib

        return getattr(importlib.import_module(_TRAINING[name]), name)
    raise AttributeError(f"module 'sentembed.cross_encoder' has no attribute {name!r}")


__all__ = [
    "CrossEncoder",
    "CrossEncoderModelCardData",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "EmbeddingRetriever",
    "RetrieveAndRerank",
    "StoreRetriever",
]

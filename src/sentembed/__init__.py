"""sentembed: turn text into embeddings and put them to work."""

from sentembed.backend import (
    export_dynamic_quantized_onnx_model,
    export_optimized_onnx_model,
    export_static_quantized_openvino_model,
)
from sentembed.common.errors import (
    CacheDamagedError,
    CacheError,
    SentembedError,
    ServerError,
    StoreDamagedError,
    StoreError,
    WorkerError,
)
from sentembed.common.runtime import LoggingHandler
from sentembed.cross_encoder import CrossEncoder
from sentembed.loading import SentenceTransformerModelCardData
from sentembed.quantization import quantize_embeddings
from sentembed.search import mine_hard_negatives
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.similarity import SimilarityFunction
from sentembed.training.input_example import InputExample
from sentembed.version import __version__

# The trainers need the `train` extra (datasets, accelerate), so they are imported on first use.
_TRAINING = {
    "SentenceTransformerTrainer": "sentembed.training.trainer",
    "SentenceTransformerTrainingArguments": "sentembed.training.arguments",
    "CrossEncoderTrainer": "sentembed.training.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "sentembed.training.cross_encoder.trainer",
}


def __getattr__(name: str):
    if name in _TRAINING:
        import importlib

        return getattr(importlib.import_module(_TRAINING[name]), name)
    raise AttributeError(f"module 'sentembed' has no attribute {name!r}")


__all__ = [
    "CacheDamagedError",
    "CacheError",
    "CrossEncoder",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "InputExample",
    "LoggingHandler",
    "SentembedError",
    "SentenceTransformer",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "ServerError",
    "SimilarityFunction",
    "StoreDamagedError",
    "StoreError",
    "WorkerError",
    "__version__",
    "export_dynamic_quantized_onnx_model",
    "export_optimized_onnx_model",
    "export_static_quantized_openvino_model",
    "mine_hard_negatives",
    "quantize_embeddings",
]

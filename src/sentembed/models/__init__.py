"""The pipeline modules models are built from. Module 0 is an `InputModule` (such as `Transformer`)."""

from sentembed.models.base import Module
from sentembed.models.classifier import SequenceClassifier
from sentembed.models.clip import CLIPModel
from sentembed.models.dense import Dense
from sentembed.models.input_module import InputModule
from sentembed.models.normalize import Normalize
from sentembed.models.pooling import Pooling
from sentembed.models.static_embedding import StaticEmbedding
from sentembed.models.transformer import Transformer

__all__ = [
    "CLIPModel",
    "Dense",
    "InputModule",
    "Module",
    "Normalize",
    "Pooling",
    "SequenceClassifier",
    "StaticEmbedding",
    "Transformer",
]

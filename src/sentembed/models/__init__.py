"""The pipeline modules models are built from. Module 0 is an `InputModule` (such as `Transformer`)."""

from sentembed.models.base import Module
from sentembed.models.bow import BoW
from sentembed.models.classifier import SequenceClassifier
from sentembed.models.clip import CLIPModel
from sentembed.models.cnn import CNN
from sentembed.models.dense import Dense
from sentembed.models.dropout import Dropout
from sentembed.models.input_module import InputModule
from sentembed.models.layer_norm import LayerNorm
from sentembed.models.lstm import LSTM
from sentembed.models.normalize import Normalize
from sentembed.models.pooling import Pooling
from sentembed.models.router import Asym, Router
from sentembed.models.static_embedding import StaticEmbedding
from sentembed.models.transformer import Transformer
from sentembed.models.weighted_layer_pooling import WeightedLayerPooling
from sentembed.models.word_embeddings import WordEmbeddings
from sentembed.models.word_tokenizer import WhitespaceTokenizer
from sentembed.models.word_weights import WordWeights

__all__ = [
    "Asym",
    "Router",
    "CNN",
    "LSTM",
    "BoW",
    "CLIPModel",
    "Dense",
    "Dropout",
    "InputModule",
    "LayerNorm",
    "Module",
    "Normalize",
    "Pooling",
    "SequenceClassifier",
    "StaticEmbedding",
    "Transformer",
    "WeightedLayerPooling",
    "WhitespaceTokenizer",
    "WordEmbeddings",
    "WordWeights",
]

"""The pipeline modules a SentenceTransformer is built from."""

from sentembed.models.base import Module
from sentembed.models.dense import Dense
from sentembed.models.normalize import Normalize
from sentembed.models.pooling import Pooling
from sentembed.models.transformer import Transformer

__all__ = ["Dense", "Module", "Normalize", "Pooling", "Transformer"]

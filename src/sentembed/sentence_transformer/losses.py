"""Bi-encoder losses at their sentence-transformers 6 path (`sentembed.sentence_transformer.losses`)."""

from sentembed.training.losses import *  # noqa: F403
from sentembed.training.losses import __all__  # noqa: F401

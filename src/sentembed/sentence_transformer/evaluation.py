"""Bi-encoder evaluators at their sentence-transformers 6 path (`sentembed.sentence_transformer.evaluation`)."""

from sentembed.training.evaluation import *  # noqa: F403
from sentembed.training.evaluation import __all__  # noqa: F401
